"""The shared image processor: training (augmentation off) and inference feed the network the
same tensor for the same file, and masks/probabilities go back to the input's size."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from genseg.data.image_processor import ImageProcessor, resize_image, resize_mask, resize_probabilities


def _folder(root, size, channels):
    rng = np.random.default_rng(3)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    h, w = size
    image = rng.integers(0, 256, (h, w, channels) if channels == 3 else (h, w), dtype=np.uint8)
    label = np.zeros((h, w), np.uint8)
    label[h // 4 : h // 2, w // 3 : w - 2] = 1
    Image.fromarray(image).save(root / "images" / "a.png")
    Image.fromarray(label).save(root / "labels" / "a.png")
    entry = {"image": "images/a.png", "label": "labels/a.png"}
    spec = {"name": "toy", "classes": {"1": {"name": "cat"}}, "training": [entry], "test": [entry]}
    (root / "dataset.json").write_text(json.dumps(spec))
    return root


@pytest.mark.parametrize(
    "size,channels",
    [((45, 70), 3), ((20, 27), 3), ((45, 70), 1)],
    ids=["rgb-larger-nonsquare", "rgb-smaller-nonsquare", "grey"],
)
def test_training_item_is_the_tensor_the_pipeline_feeds_the_network(tmp_path, monkeypatch, size, channels):
    from genseg.data.folder_dataset import PromptedSegmentationDataset
    from genseg.data.io import load_image
    from genseg.plugins.testing import build_tiny_pipeline

    root = _folder(tmp_path / "toy", size, channels)
    pipe = build_tiny_pipeline("unet")
    res = pipe.config.resolution
    assert all(s % res for s in size)  # not a multiple of the resolution
    # augmentation off: any split but training (build_transform(train=False))
    item = PromptedSegmentationDataset([root], split="test", resolution=res)[0]

    seen = []
    encode = pipe.codec.encode_image
    monkeypatch.setattr(pipe.codec, "encode_image", lambda x: seen.append(x.clone()) or encode(x))
    pipe(load_image(root / "images" / "a.png").array, "cat")  # what `genseg segment` passes
    pipe(Image.open(root / "images" / "a.png"), "cat")  # the public API with a PIL image
    assert len(seen) == 2
    for fed in seen:
        assert fed.shape == (1, 3, res, res)
        assert torch.equal(fed[0].float(), item["image"])


def test_training_transform_without_augmentation_is_the_processor():
    from genseg.data.transforms import build_transform

    rng = np.random.default_rng(0)
    image = rng.random((45, 70, 3), dtype=np.float32)
    mask = (rng.random((45, 70, 2)) > 0.5).astype(np.uint8)  # mask + validity channels
    out = build_transform(32, train=False)(image=image, mask=mask)
    expected = ImageProcessor(32).preprocess(image)[0].permute(1, 2, 0).numpy()
    assert np.array_equal(out["image"], expected)
    assert out["mask"].shape == (32, 32, 2) and out["mask"].dtype == np.uint8
    assert np.array_equal(out["mask"][..., 0], resize_mask(mask[..., 0], 32))


def test_mask_round_trips_to_the_original_size():
    proc = ImageProcessor(32)
    rng = np.random.default_rng(1)
    small = torch.from_numpy(rng.integers(0, 3, (32, 32), dtype=np.uint8))
    original = resize_mask(small, (45, 70))  # a mask the model's grid can hold
    at_model = proc.preprocess_mask(original)
    assert at_model.shape == (32, 32) and at_model.dtype == torch.uint8
    assert torch.equal(at_model, small)
    back = proc.postprocess_mask(at_model, (45, 70))
    assert back.shape == (45, 70) and torch.equal(back, original)
    # numpy, channels last, values never blended
    arr = original.numpy()[..., None].repeat(2, axis=2)
    resized = resize_mask(arr, 32, channels_last=True)
    assert resized.shape == (32, 32, 2) and np.array_equal(resized[..., 1], small.numpy())
    assert set(np.unique(resized)) <= set(np.unique(arr))


def test_probabilities_and_images_resize_as_documented():
    proc = ImageProcessor(32)
    probs = torch.rand(2, 3, 32, 32)
    up = proc.postprocess(probs, (45, 70))
    assert up.shape == (2, 3, 45, 70) and up.dtype == torch.float32
    assert torch.equal(resize_probabilities(probs, (32, 32)), probs)
    tile = torch.rand(1, 3, 32, 32)  # a tile at the model's resolution passes unchanged
    assert torch.allclose(resize_image(tile, 32), tile, atol=1e-6)
    batch = proc.preprocess([np.zeros((45, 70, 3), np.uint8), np.full((45, 70), 255, np.uint8)])
    assert batch.shape == (2, 3, 32, 32) and batch[0].max() == 0
    assert torch.allclose(batch[1], torch.ones(3, 32, 32))  # grey replicated


def test_the_flip_is_set_in_one_place():
    from genseg.data.transforms import FLIP_P, HORIZONTAL_FLIP_P, build_transform

    names = lambda t: [type(s).__name__ for s in t.augment.transforms]  # noqa: E731
    assert FLIP_P == HORIZONTAL_FLIP_P == 0.5
    assert "HorizontalFlip" in names(build_transform(32, train=True).for_domain("generic"))
    assert "HorizontalFlip" not in names(build_transform(32, train=True, flip_p=0.0).for_domain("generic"))
