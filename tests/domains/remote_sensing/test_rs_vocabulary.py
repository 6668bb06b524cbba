"""The remote-sensing vocabulary: unique prompts, the issue's land-cover terms, and exact class-set codes.

LoveDA's and DeepGlobe's class names are written out here from their sources (TorchGeo's
loaders, DeepGlobe's class_dict.csv), independently of the plugin's constants, so a typo in
either place fails.
"""

from __future__ import annotations

import pytest

from genseg.names import normalise
from genseg.plugins import manager, registry
from genseg.plugins.schemas import DatasetCatalog, Vocabulary, load_package_json
from genseg_remote_sensing import datasets as rd

VOCABULARY = load_package_json("genseg_remote_sensing", "data/vocabulary.json", Vocabulary)
CATALOG = load_package_json("genseg_remote_sensing", "data/datasets.json", DatasetCatalog)
LOVEDA = ["background", "building", "road", "water", "barren", "forest", "agriculture"]  # values 1-7
DEEPGLOBE = ["urban_land", "agriculture_land", "rangeland", "forest_land", "water", "barren_land", "unknown"]


def coded(class_set: str) -> dict[str, str]:
    """Code → term name for one class set."""
    out: dict[str, str] = {}
    for term in VOCABULARY.terms:
        if class_set in term.codes:
            code = term.codes[class_set]
            assert code not in out, f"{class_set} {code!r} is coded twice ({out.get(code)}, {term.name})"
            out[code] = term.name
    return out


def test_every_prompt_text_belongs_to_one_term():
    assert VOCABULARY.domain == "remote-sensing"
    seen: dict[str, str] = {}
    for term in VOCABULARY.terms:
        for text in (term.name, *term.synonyms):
            key = normalise(text)
            assert key not in seen, f"{text!r} of {term.name!r} is already used by {seen.get(key)!r}"
            seen[key] = term.name
    assert all(t.count("{}") == 1 for t in VOCABULARY.templates) and len(VOCABULARY.templates) >= 3


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("buildings", "building"),
        ("rooftops", "building"),
        ("urban land", "built-up area"),
        ("streets", "road"),
        ("lake", "water"),
        ("tree", "forest"),
        ("woodland", "forest"),
        ("cropland", "farmland"),
        ("agriculture", "farmland"),
        ("rangeland", "grassland"),
        ("pasture", "grassland"),
        ("bare soil", "barren land"),
        ("barren", "barren land"),
    ],
)
def test_issue_terms_and_their_synonyms_are_found(text, term):
    assert VOCABULARY.lookup(text).name == term
    assert VOCABULARY.lookup(text.upper()).name == term


def test_loveda_codes_cover_its_six_named_classes_exactly():
    assert coded("LoveDA") == {
        "building": "building",
        "road": "road",
        "water": "water",
        "barren": "barren land",
        "forest": "forest",
        "agriculture": "farmland",
    }
    assert set(coded("LoveDA")) == set(LOVEDA) - {"background"}  # the catch-all has no term
    assert [rd.LOVEDA_LABELS[v] for v in range(1, 8)] == LOVEDA and rd.LOVEDA_LABELS[0] == "no-data"


def test_deepglobe_codes_cover_its_land_cover_classes_exactly():
    assert coded("DeepGlobe") == {
        "urban_land": "built-up area",
        "agriculture_land": "farmland",
        "rangeland": "grassland",
        "forest_land": "forest",
        "water": "water",
        "barren_land": "barren land",
    }
    assert list(rd.DEEPGLOBE_COLOURS) == DEEPGLOBE
    assert rd.DEEPGLOBE_COLOURS["urban_land"] == (0, 255, 255)
    assert rd.DEEPGLOBE_COLOURS["rangeland"] == (255, 0, 255)
    assert rd.DEEPGLOBE_COLOURS["unknown"] == (0, 0, 0)
    assert coded("Inria") == {"building": "building"}


def test_term_for_resolves_codes_and_refuses_unknown_ones():
    assert rd.term_for("DeepGlobe", "rangeland") == "grassland"
    assert rd.term_for("LoveDA", "agriculture") == "farmland"
    with pytest.raises(KeyError, match="background"):
        rd.term_for("LoveDA", "background")


def test_every_card_class_is_a_vocabulary_term_by_its_canonical_name():
    for reg in CATALOG.datasets:
        for name in reg.card.classes:
            term = VOCABULARY.lookup(name)
            assert term is not None and term.name == name, f"{reg.card.name}: {name!r}"


def test_the_installed_plugin_serves_this_vocabulary():
    manager.use_plugins(None)
    try:
        ((plugin, vocabulary),) = registry.vocabulary("remote-sensing")
    finally:
        manager.use_plugins(None)
    assert plugin == "remote-sensing"
    assert vocabulary == VOCABULARY
