"""Training crops: large images give R×R windows at native pixel size, seeded; small ones are
the items they always were; a cropped GeoTIFF's georeferencing follows the window."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from genseg.config import SamplingConfig, TrainConfig, load_train_config
from genseg.data.crops import Window, crop_sample, crops, random_window
from genseg.data.folder_dataset import PromptedSegmentationDataset
from genseg.data.image_processor import ImageProcessor
from genseg.data.sample import Sample
from genseg.errors import ConfigError

R = 32


def _dataset(root, sizes, domain="generic", seed=0):
    """One RGB noise image per size; class "disc" a small square at a seeded place, class
    "band" the top rows (so several classes are drawn per image)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    entries = []
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / "images" / f"{i}.png")
        label = np.zeros((h, w), np.uint8)
        y, x = int(rng.integers(h - 6)), int(rng.integers(w - 6))
        label[y : y + 6, x : x + 6] = 1
        label[:3] = 2
        Image.fromarray(label).save(root / "images" / f"{i}_label.png")
        entries.append({"image": f"images/{i}.png", "label": f"images/{i}_label.png"})
    spec = {"name": "toy", "domain": domain, "classes": {"1": "disc", "2": "band"}, "training": entries}
    (root / "dataset.json").write_text(json.dumps(spec))
    return root


def _items(ds, epochs=(0, 1)):
    out = []
    for epoch in epochs:
        ds.set_epoch(epoch)
        out += [ds[i] for i in range(len(ds))]
    return out


def _same(a, b) -> bool:
    keys = ("image", "mask", "valid", "prompt", "class_name", "absent", "window")
    return all(torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k] for k in keys)


def test_small_images_give_the_same_items_whatever_the_crop(tmp_path):
    # up to 4×R in the generic domain (segment shrinks those whole): auto resizes, as before
    root = _dataset(tmp_path / "a", [(24, 30), (R, R), (100, 120), (4 * R, 3 * R)])
    sampling = SamplingConfig(absent_fraction=0.25, epoch_size=10, prompts_per_image=2)
    made = {
        crop: PromptedSegmentationDataset(root, "training", R, seed=4, sampling=sampling, crop=crop)
        for crop in ("auto", "resize")
    }
    auto, resize = (_items(made[c]) for c in ("auto", "resize"))
    assert all(_same(a, b) for a, b in zip(auto, resize, strict=True))
    assert {tuple(it["window"][:2].tolist()) for it in auto} == {(0, 0)}  # whole images
    # images no larger than R are whole under random crops too, with the same draws
    small = _dataset(tmp_path / "b", [(24, 30), (R, R)])
    rand, plain = (
        _items(PromptedSegmentationDataset(small, "training", R, seed=4, sampling=sampling, crop=c))
        for c in ("random", "resize")
    )
    assert all(_same(a, b) for a, b in zip(rand, plain, strict=True))


def test_a_large_image_does_not_change_the_items_of_the_small_ones(tmp_path):
    root = _dataset(tmp_path / "a", [(24, 30), (600, 700), (R, R)])
    auto = PromptedSegmentationDataset(root, "training", R, seed=2, crop="auto")
    resize = PromptedSegmentationDataset(root, "training", R, seed=2, crop="resize")
    for index, (entry, _, _) in enumerate(auto.items):
        a, b = auto[index], resize[index]
        if entry.image == "images/1.png":
            assert a["window"][2:].tolist() == [R, R] and not _same(a, b)
        else:
            assert _same(a, b)


def test_windows_are_native_pixels_seeded_and_hold_the_prompted_class(tmp_path):
    root = _dataset(tmp_path / "a", [(300, 400)])
    image = np.asarray(Image.open(root / "images" / "0.png"), np.float32) / 255
    label = np.asarray(Image.open(root / "images" / "0_label.png"))
    sampling = SamplingConfig(absent_fraction=0.0, epoch_size=16, class_balanced=True)

    def dataset(seed):  # no augmentation: the item is exactly the window's pixels
        return PromptedSegmentationDataset(
            root, "training", R, transform=ImageProcessor(R), seed=seed, sampling=sampling
        )

    ds = dataset(7)
    windows = []
    for item in _items(ds, epochs=(0, 1, 2)):
        row, col, h, w = item["window"].tolist()
        assert (h, w) == (R, R)
        np.testing.assert_allclose(
            item["image"].numpy(), image[row : row + h, col : col + w].transpose(2, 0, 1), atol=1e-6
        )
        value = 1 if item["class_name"] == "disc" else 2
        expected = label[row : row + h, col : col + w] == value
        np.testing.assert_array_equal(item["mask"][0].numpy(), expected)
        assert expected.any()  # a present prompt's window holds some of its class
        windows.append((row, col))
    assert len(set(windows)) > 8  # windows move between items and epochs
    ds.set_epoch(1)
    again = dataset(7)
    again.set_epoch(1)
    assert all(_same(ds[i], again[i]) for i in range(len(ds)))  # same seed and epoch, same windows
    other = dataset(8)
    other.set_epoch(1)
    assert any(not torch.equal(ds[i]["window"], other[i]["window"]) for i in range(len(ds)))


def test_absent_prompts_get_a_window_anywhere(tmp_path):
    root = _dataset(tmp_path / "a", [(200, 260)])
    spec = json.loads((root / "dataset.json").read_text())
    spec["classes"]["3"] = "never"
    (root / "dataset.json").write_text(json.dumps(spec))
    sampling = SamplingConfig(absent_fraction=0.5, epoch_size=12)
    items = _items(PromptedSegmentationDataset(root, "training", R, sampling=sampling))
    absent = [it for it in items if it["absent"]]
    assert absent and all(it["mask"].sum() == 0 and it["window"][2:].tolist() == [R, R] for it in absent)


def test_which_images_are_cropped():
    # generic photos: above 4×R (where segment tiles); remote sensing tiles anything above R
    assert not crops("auto", "generic", 4 * R, 4 * R, R) and crops("auto", "generic", 4 * R + 1, 10, R)
    assert crops("auto", "remote-sensing", R + 1, R, R) and not crops("auto", "remote-sensing", R, R, R)
    assert crops("random", "generic", R + 1, 5, R) and not crops("random", "generic", R, R, R)
    assert not crops("resize", "remote-sensing", 10 * R, 10 * R, R)
    with pytest.raises(ValueError, match="unknown crop"):
        crops("grid", "generic", 10, 10, R)


def test_a_window_of_a_narrow_image_is_clipped_and_holds_the_pixels_asked_for():
    rng = np.random.default_rng(0)
    inside = np.zeros((20, 500), bool)
    inside[5, 480] = True
    for _ in range(20):
        win = random_window(20, 500, R, rng, inside)
        assert (win.height, win.width) == (20, R) and inside[win.slices].any()
        assert 0 <= win.col <= 500 - R and win.row == 0


def test_crop_config_is_validated(tmp_path):
    assert TrainConfig().sampling.crop == "auto"
    path = tmp_path / "cfg.yaml"
    path.write_text("sampling:\n  crop: tiles\n")
    with pytest.raises(ConfigError, match="sampling.crop"):
        load_train_config(path)
    path.write_text("sampling:\n  crop: random\n")
    assert load_train_config(path).sampling.crop == "random"


def test_a_cropped_geotiff_keeps_its_place_on_the_ground():
    rasterio = pytest.importorskip("rasterio")
    from rasterio.control import GroundControlPoint
    from rasterio.rpc import RPC
    from rasterio.transform import from_origin

    transform = from_origin(500000.0, 4200000.0, 30.0, 30.0)
    rpc = RPC(
        height_off=0, height_scale=1, lat_off=0, lat_scale=1, line_den_coeff=[1] * 20,
        line_num_coeff=[0] * 20, line_off=100.0, line_scale=1, long_off=0, long_scale=1,
        samp_den_coeff=[1] * 20, samp_num_coeff=[0] * 20, samp_off=50.0, samp_scale=1,
    )  # fmt: skip
    meta = {
        "crs": "EPSG:32633",
        "transform": transform,
        "height": 100,
        "width": 120,
        "valid_mask": np.arange(100 * 120).reshape(100, 120) % 7 > 0,
        "gcps": [GroundControlPoint(row=40, col=60, x=1.0, y=2.0)],
        "rpcs": rpc,
    }
    sample = Sample(np.zeros((100, 120, 3), np.float32), path=None, kind="image", reader="geotiff", meta=meta)
    win = Window(row=10, col=20, height=R, width=R)
    out = crop_sample(sample, win)
    assert out.array.shape == (R, R, 3) and (out.meta["height"], out.meta["width"]) == (R, R)
    # the window's top-left pixel lies where pixel (10, 20) of the scene lay
    assert out.meta["transform"] @ (0, 0) == transform @ (20, 10)
    assert (
        rasterio.windows.transform(rasterio.windows.Window(20, 10, R, R), transform) == out.meta["transform"]
    )
    np.testing.assert_array_equal(out.meta["valid_mask"], meta["valid_mask"][10 : 10 + R, 20 : 20 + R])
    gcp = out.meta["gcps"][0]
    assert (gcp.row, gcp.col, gcp.x, gcp.y) == (30, 40, 1.0, 2.0) and meta["gcps"][0].row == 40
    assert (out.meta["rpcs"].line_off, out.meta["rpcs"].samp_off) == (90.0, 30.0) and rpc.line_off == 100.0
    assert out.meta["crs"] == "EPSG:32633"
