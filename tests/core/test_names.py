"""genseg.names: one way to key class names and one way to make file-name parts."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from genseg.data.schema import DatasetSpec
from genseg.evaluation.protocol import TrainSpec, training_prompts
from genseg.generation.captions import caption_for_label
from genseg.names import normalise, slug
from genseg.plugins.options import band_key
from genseg.plugins.schemas import Term, Vocabulary

ALPHABET = "aAbZ09 _-.·\t\nÉé/\\()!"


def random_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 12))) for _ in range(n)]


@pytest.mark.parametrize(
    ("text", "key"),
    [("Liver", "liver"), ("  Liver \t Tumour\n", "liver tumour"), ("", ""), ("RED  circle", "red circle")],
)
def test_normalise_keys_case_and_spacing_away(text, key):
    assert normalise(text) == key


def test_normalise_is_what_every_part_computed_and_is_idempotent():
    for text in random_texts(500):
        assert normalise(text) == " ".join(text.lower().split())
        assert normalise(normalise(text)) == normalise(text)


@pytest.mark.parametrize(
    ("text", "kwargs", "expected"),
    [
        ("Liver tumour!", {}, "liver-tumour"),
        ("?!", {}, "prompt"),
        ("Task03_Liver", {"default": "task"}, "task03-liver"),
        ("Near Infrared", {"default": "band", "sep": "_", "keep": "_"}, "near_infrared"),
        ("My.Adapter v2", {"default": "adapter", "keep": "._-"}, "my.adapter-v2"),
    ],
)
def test_slug_examples(text, kwargs, expected):
    assert slug(text, **kwargs) == expected


def test_slug_variants_match_the_rules_they_name():
    for text in random_texts(500, seed=1):
        lower = text.lower()
        assert slug(text) == (re.sub(r"[^a-z0-9]+", "-", lower).strip("-") or "prompt")
        assert band_key(text) == (re.sub(r"[^a-z0-9_]+", "_", lower.strip()).strip("_") or "band")
        adapter = slug(text, default="adapter", keep="._-")
        assert adapter == (re.sub(r"[^a-z0-9._-]+", "-", lower).strip("-._") or "adapter")
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug(text)) or slug(text) == "prompt"


def test_exclusion_captions_vocabulary_and_leak_check_agree_on_a_name():
    """A class excluded as "red circle" is the dataset's "Red  Circle" everywhere: kept out of
    captions and out of the prompts the open-vocabulary leak check counts as trained."""
    spec = DatasetSpec(
        name="shapes",
        classes={"1": {"name": "Red  Circle", "synonyms": ["round red"]}, "2": {"name": "blue square"}},
    )
    label = np.array([[0, 1], [2, 2]])
    assert caption_for_label(label, spec, exclude=["red circle"]) == "blue square"
    trained = training_prompts(
        {"shapes": spec}, TrainSpec(datasets=["shapes"], exclude_classes=["RED circle "])
    )
    assert trained == {"blue square"}
    vocabulary = Vocabulary(
        domain="generic", name="v", terms=[Term(name="red circle", synonyms=["Round  Red"])]
    )
    assert vocabulary.lookup(" round RED") is vocabulary.terms[0]
