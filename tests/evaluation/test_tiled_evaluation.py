"""`genseg evaluate` on images larger than the model: predicted through `genseg segment`'s tiler
(the scores are those of the mask segment writes), or whole with --tile-size 0."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from genseg.cli.testing import run_cli
from genseg.evaluation.runner import evaluate_pipeline
from genseg.plugins.testing import build_tiny_pipeline, make_fake_dataset
from genseg.segment import segment_files

SIZE = (200, 170)  # more than 4× the tiny model's 32 px: segment tiles it in the generic domain


class _Recording:
    """The pipeline, noting the size of every image it is handed."""

    def __init__(self, pipe) -> None:
        self.pipe, self.sizes = pipe, []
        self.config = pipe.config

    def __call__(self, images, prompts, **kwargs):
        for image in images if isinstance(images, list) else [images]:
            self.sizes.append(tuple(np.asarray(image).shape[:2]))
        return self.pipe(images, prompts, **kwargs)


@pytest.fixture(scope="module")
def pipe():
    return build_tiny_pipeline("dit")


@pytest.fixture
def big(tmp_path):
    return make_fake_dataset(tmp_path / "big", n=1, size=SIZE, classes=("thing",))


def _iou(pred: np.ndarray, truth: np.ndarray) -> float:
    union = (pred | truth).sum()
    return float((pred & truth).sum() / union) if union else 1.0


def test_a_large_image_is_scored_on_the_mask_segment_writes(pipe, big, tmp_path):
    recording = _Recording(pipe)
    scores = evaluate_pipeline(recording, [big], progress=False)
    assert recording.sizes and set(recording.sizes) == {(32, 32)}  # tiles at the model's resolution
    segment_files(pipe, [big / "images" / "000.png"], ["thing"], tmp_path / "out", progress=False)
    written = np.asarray(Image.open(tmp_path / "out" / "000_mask.png")) > 0  # tiled by segment too
    truth = np.asarray(Image.open(big / "labels" / "000.png")) == 1
    assert written.shape == SIZE and 0 < written.mean() < 1  # a mask with something in it
    assert scores.per_class["thing"] == pytest.approx(_iou(written, truth))


def test_tile_size_0_predicts_the_image_whole(pipe, big):
    recording = _Recording(pipe)
    scores = evaluate_pipeline(recording, [big], progress=False, tile_size=0)
    assert recording.sizes == [SIZE]
    image = np.asarray(Image.open(big / "images" / "000.png"))
    whole = pipe(image, ["thing"], generator=torch.Generator().manual_seed(0)).masks[0, 0]
    truth = np.asarray(Image.open(big / "labels" / "000.png")) == 1
    assert scores.per_class["thing"] == pytest.approx(_iou(whole, truth))


def test_small_images_are_predicted_whole(pipe, tmp_path):
    small = make_fake_dataset(tmp_path / "small", n=1, size=(100, 90), classes=("thing",))  # ≤ 4×32
    recording = _Recording(pipe)
    evaluate_pipeline(recording, [small], progress=False)
    assert recording.sizes == [(100, 90)]
    recording.sizes.clear()
    evaluate_pipeline(recording, [small], progress=False, tile_size=48)  # as segment --tile-size 48
    assert set(recording.sizes) == {(48, 48)}


def test_evaluate_cli_tiles_by_default_and_not_with_tile_size_0(monkeypatch, capsys, pipe, big, tmp_path):
    pipe.save_pretrained(tmp_path / "model")
    runs = {}
    for name, extra in (("default", []), ("whole", ["--tile-size", "0"])):
        code, out, err = run_cli(
            monkeypatch,
            capsys,
            "evaluate",
            "-m",
            str(tmp_path / "model"),
            "-d",
            str(big),
            "--json",
            "-",
            *extra,
        )
        assert code == 0, err
        runs[name] = json.loads(out)
    assert runs["default"]["tile_size"] is None and runs["whole"]["tile_size"] == 0
    assert runs["default"]["per_class"]["thing"] == pytest.approx(
        evaluate_pipeline(pipe, [big], progress=False).per_class["thing"], abs=1e-6
    )
    code, _, err = run_cli(
        monkeypatch, capsys, "evaluate", "-m", str(tmp_path / "model"), "-d", str(big), "--tile-size", "3"
    )
    assert code != 0 and "--tile-size 3 is too small" in err
