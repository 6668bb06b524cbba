"""dataset.json: a good file loads; every malformed one is a DatasetError that names the file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from genseg.data.schema import DatasetSpec, load_dataset_spec, normalise_split, write_dataset_spec
from genseg.errors import DatasetError


def _folder(tmp_path, spec: dict, files=("img/a.png", "lbl/a.png")):
    for rel in files:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / rel)
    (tmp_path / "dataset.json").write_text(json.dumps(spec))
    return tmp_path


GOOD = {
    "name": "toy",
    "classes": {
        "1": {"name": "liver", "synonyms": ["hepar", "Liver", "liver "]},
        "2": "tumour",
        "3": {"name": "organ", "values": [1, 2]},
    },
    "training": [{"image": "img/a.png", "label": "lbl/a.png"}],
    "test": [{"image": "img/a.png"}],
    "modality": {"0": "CT"},  # extra Decathlon keys are ignored
}


def test_good_spec_loads_with_defaults(tmp_path):
    spec = load_dataset_spec(_folder(tmp_path, GOOD))
    assert spec.domain == "generic" and spec.validation == [] and spec.test[0].label is None
    assert spec.class_values("1") == [1] and spec.class_values(3) == [1, 2]
    assert spec.prompts_for("1") == ["liver", "hepar"]  # deduplicated, case-insensitive
    assert spec.classes["2"].name == "tumour"  # "2": "tumour" shorthand
    assert spec.entries("train") is spec.training


def test_write_then_load_round_trips(tmp_path):
    spec = load_dataset_spec(_folder(tmp_path, GOOD))
    spec = spec.model_copy(update={"generator": {"name": "x", "seed": 1}})
    write_dataset_spec(tmp_path, spec)
    again = load_dataset_spec(tmp_path)
    assert again == spec
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def test_missing_folder_and_missing_json(tmp_path):
    with pytest.raises(DatasetError, match="not found") as err:
        load_dataset_spec(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(err.value)
    with pytest.raises(DatasetError, match="dataset.json is missing") as err:
        load_dataset_spec(tmp_path)
    assert str(tmp_path / "dataset.json") in str(err.value)


def test_invalid_json_reports_the_line(tmp_path):
    (tmp_path / "dataset.json").write_text('{\n  "name": "x",\n  "classes": {,}\n}')
    with pytest.raises(DatasetError, match="line 3") as err:
        load_dataset_spec(tmp_path)
    assert str(tmp_path / "dataset.json") in str(err.value)


def test_top_level_must_be_an_object(tmp_path):
    (tmp_path / "dataset.json").write_text("[1, 2]")
    with pytest.raises(DatasetError, match="JSON object"):
        load_dataset_spec(tmp_path)


@pytest.mark.parametrize(
    ("classes", "needle"),
    [
        ({"0": {"name": "bg"}}, "class key '0' must be an integer >= 1"),
        ({"liver": {"name": "liver"}}, "class key 'liver'"),
        ({"1": {"synonyms": []}}, "classes.1.name"),
        ({"1": {"name": "a", "values": [0]}}, "values must be integers >= 1"),
        ({"1": {"name": "a"}, "2": {"name": "a"}}, "share the name"),
        ({}, "at least one class"),
    ],
)
def test_validation_errors_are_one_line_and_name_the_file(tmp_path, classes, needle):
    spec = {**GOOD, "classes": classes}
    with pytest.raises(DatasetError, match="invalid dataset.json") as err:
        load_dataset_spec(_folder(tmp_path, spec))
    message = str(err.value)
    assert needle in message and "\n" not in message
    assert str(tmp_path / "dataset.json") in message


def test_missing_name_field(tmp_path):
    spec = {k: v for k, v in GOOD.items() if k != "name"}
    with pytest.raises(DatasetError, match="name: Field required"):
        load_dataset_spec(_folder(tmp_path, spec))


def test_missing_referenced_files_are_counted_and_the_first_named(tmp_path):
    spec = {
        **GOOD,
        "training": [
            {"image": "img/a.png", "label": "lbl/a.png"},
            {"image": "img/gone.png", "label": "lbl/gone.png"},
        ],
    }
    with pytest.raises(DatasetError, match="2 referenced file") as err:
        load_dataset_spec(_folder(tmp_path, spec))
    assert str(tmp_path / "img" / "gone.png") in str(err.value)
    assert load_dataset_spec(tmp_path, check_files=False).training[1].image == "img/gone.png"


def test_unknown_split_name():
    assert normalise_split("val") == "validation"
    with pytest.raises(DatasetError, match="unknown split 'dev'"):
        normalise_split("dev")


def test_spec_can_be_built_in_code():
    spec = DatasetSpec(name="x", classes={"1": {"name": "a", "synonyms": ["b", "a"]}})
    assert spec.prompts_for(1) == ["a", "b"]
