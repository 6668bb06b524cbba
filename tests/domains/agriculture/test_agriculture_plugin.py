"""The agriculture plugin as genseg sees it: hooks validate, the vocabulary covers the issue,
importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import genseg_agriculture.plugin
from genseg.names import normalise
from genseg.plugins.schemas import Vocabulary, load_package_json
from genseg.plugins.validate import validate_plugin

VOCABULARY = load_package_json("genseg_agriculture", "data/vocabulary.json", Vocabulary)


def test_every_hook_validates(genseg_plugins):
    plugins = genseg_plugins(genseg_agriculture.plugin)
    report = validate_plugin("genseg_agriculture.plugin", plugins)
    assert report.ok, report.problems
    assert not report.warnings, report.warnings
    record = plugins.record("genseg_agriculture.plugin")
    assert set(record.hooks) == {
        "genseg_get_reader",
        "genseg_preprocess",
        "genseg_register_datasets",
        "genseg_register_domains",
        "genseg_register_vocabularies",
    }


@pytest.mark.parametrize(
    "prompt, term",
    [
        ("weeds between the rows", "weed"),
        ("crop rows", "crop"),
        ("Bare Soil", "soil"),
        ("vegetation", "plant"),
        ("leaves", "leaf"),
        ("leaf disease", "lesion"),
        ("rust lesions", "rust"),
        ("early blight", "blight"),
        ("powdery mildew", "mildew"),
        ("fruits", "fruit"),
        ("cloud shadows", "cloud shadow"),
        ("double plant", "double plant"),
        ("planter skip", "planter skip"),
        ("water", "standing water"),
        ("waterway", "waterway"),
        ("weed patch", "weed cluster"),
        ("nutrient deficiency", "nutrient deficiency"),
        ("dry down", "drydown"),
        ("end rows", "endrow"),
    ],
)
def test_vocabulary_maps_synonyms_to_the_issue_terms(prompt, term):
    found = VOCABULARY.lookup(prompt)
    assert found is not None and found.name == term


def test_vocabulary_has_no_synonym_twice_and_codes_every_agriculture_vision_folder():
    from agriculture_fakes import AV_CLASSES_2020, AV_CLASSES_2021

    from genseg_agriculture.datasets import av_vocabulary_name

    seen: dict[str, str] = {}
    for term in VOCABULARY.terms:
        for text in (term.name, *term.synonyms):
            key = normalise(text)
            assert key not in seen, f"{text!r} of {term.name!r} is already used by {seen[key]!r}"
            seen[key] = term.name
    assert all(av_vocabulary_name(folder) for folder in {*AV_CLASSES_2020, *AV_CLASSES_2021})
    assert av_vocabulary_name("hail_damage") is None


def test_importing_the_plugin_imports_nothing_heavy():
    code = (
        "import sys, genseg_agriculture.plugin as p; "
        "p.genseg_register_domains(); p.genseg_register_datasets(); p.genseg_register_vocabularies(); "
        "heavy = [m for m in ('numpy', 'PIL', 'skimage', 'scipy', 'torch', 'tifffile') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == ""
