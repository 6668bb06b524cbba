"""Semantic prompting (every class on every image) against referring (present classes only),
computed by hand on two images and two classes, through `genseg evaluate`'s runner and
through predictions written to disk and scored by the shared scorer."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

# Two 4×4 images, classes a (label 1) and b (label 2). Image 0 has both (4 px each); image 1
# has only a. The prediction is exact everywhere except a 4-pixel "b" on image 1, where b is
# absent. Referring never asks for b on image 1: a = 8/8, b = 4/4, mIoU 1. Semantic does: b's
# cumulative union gains the 4 false-positive pixels, b = 4/(4 + 4) = 0.5, mIoU (1 + 0.5)/2 =
# 0.75, and the absent-class false-positive area is 4/16 on the one absent prompt.
A = np.zeros((4, 4), np.uint8)
A[:2, :2] = 1
LABELS = [A + np.pad(np.full((2, 2), 2, np.uint8), ((2, 0), (2, 0))), A]
FALSE_B = np.zeros((4, 4), bool)
FALSE_B[3, :] = True


def _dataset(root, labels_complete=True):
    from genseg.data.schema import DatasetEntry, DatasetSpec, write_dataset_spec

    entries = []
    for i, (label, grey) in enumerate(zip(LABELS, (40, 200), strict=True)):
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "labels").mkdir(exist_ok=True)
        Image.fromarray(np.full((4, 4, 3), grey, np.uint8)).save(root / f"images/{i}.png")
        Image.fromarray(label).save(root / f"labels/{i}.png")
        entries.append(DatasetEntry(image=f"images/{i}.png", label=f"labels/{i}.png"))
    spec = DatasetSpec(
        name="hand", classes={"1": {"name": "a"}, "2": {"name": "b"}}, test=entries,
        labels_complete=labels_complete,
    )  # fmt: skip
    write_dataset_spec(root, spec)
    return root


def _masks(image, names):
    """The hand-made prediction: truth for image 0 (dark), a + the false b for image 1."""
    bright = float(np.asarray(image).mean()) > 0.5
    label = LABELS[1 if bright else 0]
    out = []
    for name in names:
        m = label == {"a": 1, "b": 2}[name]
        out.append(m | FALSE_B if bright and name == "b" else m)
    return np.stack(out)


class _HandPipe:
    config = SimpleNamespace(resolution=4)  # the images' size: predicted whole, never tiled

    def __call__(self, image, names, **kwargs):
        return SimpleNamespace(masks=_masks(image, names)[None])


@pytest.mark.parametrize(
    ("prompting", "b_iou", "miou", "fp_area"), [("semantic", 0.5, 0.75, 0.25), ("referring", 1.0, 1.0, None)]
)
def test_semantic_and_referring_iou_by_hand(tmp_path, prompting, b_iou, miou, fp_area):
    from genseg.evaluation.runner import evaluate_pipeline

    folder = _dataset(tmp_path / "hand")
    s = evaluate_pipeline(_HandPipe(), [folder], progress=False, prompting=prompting)
    assert s.per_class == pytest.approx({"a": 1.0, "b": b_iou})
    assert s.miou == pytest.approx(miou)
    assert s.counts == ({"a": 2, "b": 2} if prompting == "semantic" else {"a": 2, "b": 1})
    assert s.absent_fp_area == (None if fp_area is None else pytest.approx(fp_area))


def test_semantic_is_the_default_and_incomplete_labels_fall_back_to_referring(tmp_path):
    from genseg.evaluation.runner import evaluate_pipeline, split_items

    assert evaluate_pipeline(_HandPipe(), [_dataset(tmp_path / "d")], progress=False).miou == pytest.approx(
        0.75
    )
    folder = _dataset(tmp_path / "partial", labels_complete=False)
    assert json.loads((folder / "dataset.json").read_text())["labels_complete"] is False
    assert {it.prompting for it in split_items(folder, "test", "semantic")} == {"referring"}
    assert evaluate_pipeline(_HandPipe(), [folder], progress=False).miou == pytest.approx(1.0)


@pytest.mark.parametrize(("prompting", "b_iou"), [("semantic", 0.5), ("referring", 1.0)])
def test_predictions_on_disk_score_the_same_and_say_their_prompting(tmp_path, prompting, b_iou):
    from genseg.evaluation.predictions import QueryItem, image_id, read_index, write_predictions
    from genseg.evaluation.runner import split_items
    from genseg.evaluation.scoring import score_predictions

    folder = _dataset(tmp_path / "hand")
    items = [
        QueryItem("hand", "generic", e.image, e.label, image_id(folder, e.image), [],
                  [(c, v, c, "test") for c, v in e.classes], prompting=e.prompting)
        for e in split_items(folder, "test", prompting)
    ]  # fmt: skip
    out = tmp_path / "preds"
    write_predictions(items, out, lambda item, sample: _masks(sample.array, [q[2] for q in item.queries]))
    assert {r.prompting for r in read_index(out).records} == {prompting}
    g = score_predictions(out, plugin_metrics=False).get("all", "all", "test")
    assert g.prompting == prompting
    assert g.scores.per_class["b"] == pytest.approx(b_iou)
    assert g.scores.absent_fp_area == (pytest.approx(0.25) if prompting == "semantic" else None)
