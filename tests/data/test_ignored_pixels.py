"""Nodata and ignored label values are kept out of the loss and the metrics."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import torch

from genseg.objective.flow import FlowBatch, flow_loss


def _ignore_value(folder, value: int) -> None:
    path = folder / "dataset.json"
    raw = json.loads(path.read_text())
    raw["ignore"] = [value]
    path.write_text(json.dumps(raw))


def _label_with_ignored_block(folder, value: int) -> None:
    from PIL import Image

    for label in sorted((folder / "labels").glob("*.png")):
        arr = np.asarray(Image.open(label)).copy()
        arr[:8, :8] = value
        Image.fromarray(arr).save(label)


def test_the_dataset_marks_ignored_label_values_invalid(tmp_path):
    from genseg.data.folder_dataset import PromptedSegmentationDataset
    from genseg.plugins.testing import make_fake_dataset

    folder = make_fake_dataset(tmp_path / "ds", n=2, size=(32, 32), classes=("thing",))
    _label_with_ignored_block(folder, 9)
    _ignore_value(folder, 9)
    item = PromptedSegmentationDataset(folder, "test", resolution=32)[0]
    valid = item["valid"][0]
    assert valid.shape == (32, 32)
    assert (valid[:8, :8] == 0).all() and valid.sum() == 32 * 32 - 64
    assert (item["mask"][0][:8, :8] == 0).all()  # an ignored pixel is not the class either


def test_the_loss_does_not_see_invalid_positions():
    torch.manual_seed(0)
    x0, noise, v = (torch.randn(2, 4, 8, 8) for _ in range(3))
    t = torch.full((2,), 0.5)
    mask = torch.zeros(2, 1, 32, 32)
    valid = torch.ones(2, 1, 32, 32)
    valid[:, :, :16] = 0  # the top half of the image → the top half of the latent
    plain = flow_loss("latent_mse", FlowBatch(x0, noise, t, x0, v, mask))
    all_valid = flow_loss("latent_mse", FlowBatch(x0, noise, t, x0, v, mask, torch.ones_like(valid)))
    assert torch.allclose(plain, all_valid)
    masked = flow_loss("latent_mse", FlowBatch(x0, noise, t, x0, v, mask, valid))
    v2 = v.clone()
    v2[:, :, :4] += 10.0  # a huge error where the pixels are invalid
    assert torch.allclose(masked, flow_loss("latent_mse", FlowBatch(x0, noise, t, x0, v2, mask, valid)))
    v3 = v.clone()
    v3[:, :, 4:] += 10.0
    assert flow_loss("latent_mse", FlowBatch(x0, noise, t, x0, v3, mask, valid)) > masked + 50


class _FixedPipe:
    """Predicts the whole image as the class: errors fall wherever the truth is background."""

    config = SimpleNamespace(resolution=32)  # no image of the test is tiled

    def __call__(self, image, names, **kwargs):
        h, w = np.asarray(image).shape[:2]
        return SimpleNamespace(masks=np.ones((1, len(names), h, w), bool))


def test_ignored_pixels_are_neither_hits_nor_misses_in_the_scores(tmp_path):
    from PIL import Image

    from genseg.evaluation.runner import evaluate_pipeline
    from genseg.plugins.testing import make_fake_dataset

    folder = make_fake_dataset(tmp_path / "ds", n=1, size=(16, 16), classes=("thing",))
    label = np.zeros((16, 16), np.uint8)
    label[:, :8] = 1  # left half is the class
    label[:, 8:] = 9  # right half ignored: the all-ones prediction is wrong only there
    Image.fromarray(label).save(folder / "labels" / "000.png")
    scores_all = evaluate_pipeline(_FixedPipe(), [folder], progress=False)
    _ignore_value(folder, 9)
    scores_valid = evaluate_pipeline(_FixedPipe(), [folder], progress=False)
    assert abs(scores_all.per_class["thing"] - 0.5) < 1e-6
    assert abs(scores_valid.per_class["thing"] - 1.0) < 1e-6
