"""Where predictions are written: always under the predictions folder, whatever a dataset is named."""

from __future__ import annotations

import numpy as np
import pytest

from genseg.evaluation.predictions import QueryItem, dataset_folder, image_id, write_predictions
from genseg.plugins.testing import make_fake_dataset


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/absolute", "..", "a/../../b", ".hidden"])
def test_a_dataset_name_cannot_write_outside_the_predictions_folder(tmp_path, name):
    folder = make_fake_dataset(tmp_path / "data" / "fake", n=1, classes=("thing",))
    image = folder / "images/000.png"
    item = QueryItem(name, "generic", image, folder / "labels/000.png", image_id(folder, image), [],
                     [("thing", [1], "thing", "test")])  # fmt: skip
    out = tmp_path / "run" / "preds"
    out.parent.mkdir()
    before = {p for p in tmp_path.rglob("*")}

    index = write_predictions([item], out, lambda it, sample: np.ones((1, 32, 32), bool), progress=False)

    new = {p for p in tmp_path.rglob("*")} - before
    assert new and all(p.resolve().is_relative_to(out.resolve()) for p in new)
    assert index.records[0].dataset == name  # scoring still groups by the dataset's own name
    written = (out / index.records[0].file).resolve()
    assert written.is_file() and written.is_relative_to(out.resolve())


def test_plain_dataset_names_keep_their_folder():
    assert dataset_folder("sample-medical_2.v1") == "sample-medical_2.v1"
    assert dataset_folder("a/b") != dataset_folder("a_b")  # replaced names cannot collide
