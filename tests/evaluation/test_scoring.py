"""Predictions written once, scored from disk: by hand, twice alike, missing ones listed."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from PIL import Image

from genseg.errors import InputError
from genseg.evaluation.predictions import (
    PredictionIndex,
    PredictionRecord,
    QueryItem,
    image_id,
    predict_to_disk,
    write_index,
)
from genseg.evaluation.scoring import score_predictions
from genseg.plugins.testing import build_tiny_pipeline, make_fake_dataset


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)
    return path


def test_scores_from_disk_match_a_hand_computed_case(tmp_path):
    label = np.zeros((4, 4), np.uint8)
    label[:2, :2] = 1  # class "a": 4 pixels
    label[3, :] = 9  # ignored row
    _png(tmp_path / "label.png", label)
    pred = np.zeros((4, 4), np.uint8)
    pred[:2, :3] = 255  # 6 pixels: intersection 4, union 6
    pred[3, :] = 255  # on the ignored row: must not count
    _png(tmp_path / "preds" / "d" / "img" / "00_a.png", pred)
    _png(tmp_path / "preds" / "d" / "img" / "01_b.png", np.zeros((4, 4)))  # empty pred, empty truth
    common = dict(dataset="d", domain="generic", image="x.png", label=str(tmp_path / "label.png"))
    records = [
        PredictionRecord(**common, image_id="img", class_name="a", values=[1], ignore=[9], prompt="a",
                         file="d/img/00_a.png"),
        PredictionRecord(**common, image_id="img", class_name="b", values=[2], ignore=[9], prompt="b",
                         file="d/img/01_b.png"),
    ]  # fmt: skip
    write_index(tmp_path / "preds", PredictionIndex(records=records, complete=True))
    scored = score_predictions(tmp_path / "preds", plugin_metrics=False)
    group = scored.get("all", "all", "test")
    assert group.scores.per_class["a"] == pytest.approx(4 / 6)
    assert group.scores.per_class["b"] == pytest.approx(1.0)  # empty vs empty counts as perfect
    assert group.scores.ciou == pytest.approx(4 / 6)
    assert group.scores.giou == pytest.approx((4 / 6 + 1.0) / 2)


@pytest.fixture
def predictions(tmp_path):
    folder = make_fake_dataset(tmp_path / "fake", n=3, classes=("thing", "stuff"))
    items = [
        QueryItem("fake", "generic", folder / f"images/{i:03d}.png", folder / f"labels/{i:03d}.png",
                 image_id(folder, folder / f"images/{i:03d}.png"), [],
                 [("thing", [1], "thing", "test"), ("stuff", [2], "stuff", "test")])
        for i in range(3)
    ]  # fmt: skip
    out = tmp_path / "preds"
    predict_to_disk(build_tiny_pipeline("dit"), items, out, progress=False, meta={"method": "tiny"})
    return out


def test_scoring_saved_predictions_twice_gives_identical_numbers(predictions):
    first = score_predictions(predictions, bootstrap=200, seed=0).as_dict()
    second = score_predictions(predictions, bootstrap=200, seed=0).as_dict()
    assert first == second
    assert len(first["groups"]) == 3  # dataset, domain, all
    assert first["groups"][0]["counts"] == {"stuff": 3, "thing": 3}


def test_missing_predictions_are_listed_and_scored_empty_only_when_asked(predictions):
    missing = next(predictions.glob("fake/*/00_thing.png"))
    missing.unlink()
    with pytest.raises(InputError, match=r"1 of 6 predictions are missing: .*'thing'") as info:
        score_predictions(predictions)
    assert "--missing-as-empty" in info.value.fix
    scored = score_predictions(predictions, missing_as_empty=True)
    assert [r.prompt for r in scored.missing] == ["thing"]


def test_evaluate_cli_scores_a_predictions_folder(predictions, monkeypatch, capsys, tmp_path):
    from genseg.cli.app import main

    out = tmp_path / "scores.json"
    monkeypatch.setattr(
        sys, "argv", ["genseg", "evaluate", "--predictions", str(predictions), "--json", str(out)]
    )
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code or 0
    assert code == 0
    data = json.loads(out.read_text())
    assert data["method"] == "tiny" and not data["missing"]
    assert data == score_predictions(predictions).as_dict() | {"folder": str(predictions)}


def test_a_scan_saved_slice_by_slice_is_one_unit_with_per_volume_scores(tmp_path):
    nib = pytest.importorskip("nibabel")
    from genseg.evaluation.metrics import VolumeMeter

    truth = np.zeros((4, 8, 8), np.uint8)  # D×H×W, slices 3 mm apart
    truth[1:3, 2:6, 2:6] = 1
    pred = np.roll(truth, 1, axis=2)  # one 1 mm pixel to the side
    # the medical reader's array is the transpose of the voxel array (i, j, k)
    label = tmp_path / "label.nii.gz"
    nib.save(nib.Nifti1Image(truth.transpose(2, 1, 0), np.diag([1.0, 1.0, 3.0, 1.0])), label)
    common = dict(dataset="d", domain="medical", image="ct.nii.gz", label=str(label), image_id="ct",
                  class_name="organ", values=[1], prompt="organ")  # fmt: skip
    records = []
    for z in range(4):
        _png(tmp_path / "preds" / f"d/ct/{z}.png", pred[z] * 255)
        records.append(PredictionRecord(**common, file=f"d/ct/{z}.png", slice=z))
    write_index(tmp_path / "preds", PredictionIndex(records=records, complete=True))
    scores = score_predictions(tmp_path / "preds", plugin_metrics=False).get("all", "all", "test").scores
    assert scores.images == 1 and scores.unit == "volume" and scores.counts == {"organ": 4}
    direct = VolumeMeter()
    direct.update(pred, truth, "organ", "d/ct", spacing=(3.0, 1.0, 1.0))
    expected = direct.compute().as_dict()
    assert scores.volumes["per_volume"] == expected["per_volume"]
    assert scores.volumes["per_volume"]["hd95"]["organ"]["d/ct"] == pytest.approx(1.0)  # in mm
    assert scores.volumes["units"] == "mm"
    # a scan with a slice missing from the index keeps its slice pairs, without per-volume scores
    write_index(tmp_path / "preds", PredictionIndex(records=records[:3], complete=True))
    part = score_predictions(tmp_path / "preds", plugin_metrics=False).get("all", "all", "test").scores
    assert part.images == 1 and part.counts == {"organ": 3} and part.volumes == {}
