"""Reading RGB and RGB-NIR images: the rgb/ + nir/ pair, and plain PNG/JPEG/TIFF left to their readers."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

import genseg_agriculture.plugin
from genseg.errors import InputError
from genseg.plugins import registry
from genseg_agriculture.readers import nir_partner, read_rgb_nir


@pytest.fixture
def plugins(genseg_plugins):
    return genseg_plugins(genseg_agriculture.plugin)


def _pair(root, name="tile", rgb_size=(8, 6), nir_size=(8, 6), nir_mode="L"):
    rgb = np.zeros((rgb_size[1], rgb_size[0], 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 20, 30
    (root / "images" / "rgb").mkdir(parents=True, exist_ok=True)
    (root / "images" / "nir").mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(root / "images" / "rgb" / f"{name}.png")
    nir = np.full((nir_size[1], nir_size[0]), 200, np.uint8)
    Image.fromarray(nir).convert(nir_mode).save(root / "images" / "nir" / f"{name}.png")
    return root / "images" / "rgb" / f"{name}.png"


def test_an_rgb_image_with_a_nir_partner_is_read_as_four_bands(tmp_path, plugins):
    path = _pair(tmp_path)
    plugin, spec = registry.find_reader(path, "image", plugins)
    assert (plugin, spec.name) == ("genseg_agriculture.plugin", "rgb-nir-pair")
    sample = registry.read(path, "image", plugins)
    assert sample.array.shape == (6, 8, 4) and sample.array.dtype == np.float32
    assert sample.meta["bands"] == ["red", "green", "blue", "nir"]
    assert sample.array[0, 0].tolist() == pytest.approx([10 / 255, 20 / 255, 30 / 255, 200 / 255])
    out = registry.preprocess(sample, "agriculture", {"composite": "false-colour"}, plugins)
    assert out.meta["channels"] == ["nir", "red", "green"]
    assert out.array[0, 0].tolist() == pytest.approx([200 / 255, 10 / 255, 20 / 255])


def test_a_nir_jpeg_stored_as_rgb_gives_one_band(tmp_path, plugins):
    path = _pair(tmp_path, nir_mode="RGB")
    assert registry.read(path, "image", plugins).array.shape == (6, 8, 4)


def test_nir_of_another_size_is_an_error_naming_both_sizes(tmp_path, plugins):
    path = _pair(tmp_path, nir_size=(8, 7))
    with pytest.raises(InputError, match=r"NIR band is 8×7 but its RGB image tile.png is 8×6") as err:
        registry.read(path, "image", plugins)
    assert err.value.path.endswith("nir/tile.png")


def test_without_a_partner_the_generic_readers_answer(tmp_path, plugins, genseg_fake_image):
    lone = genseg_fake_image(tmp_path / "images" / "rgb" / "alone.png")
    elsewhere = _pair(tmp_path / "other")  # a pair, but asked for as a label: not ours
    assert nir_partner(lone) is None
    assert registry.find_reader(lone, "image", plugins)[1].name == "pillow"
    assert registry.find_reader(elsewhere, "label", plugins)[1].name == "pillow"
    not_rgb_folder = genseg_fake_image(tmp_path / "photos" / "tile.png")
    (tmp_path / "nir").mkdir()
    assert nir_partner(not_rgb_folder) is None
    with pytest.raises(InputError, match="no NIR partner"):
        read_rgb_nir(lone, "image")


def test_jpeg_png_and_multiband_tiff_go_through_the_generic_readers_with_declared_bands(tmp_path, plugins):
    jpeg = tmp_path / "leaf.jpg"
    Image.fromarray(np.full((5, 7, 3), 100, np.uint8)).save(jpeg, quality=95)
    out = registry.preprocess(registry.read(jpeg, "image", plugins), "agriculture", {}, plugins)
    assert out.array.shape == (5, 7, 3) and out.meta["bands"] == ["red", "green", "blue"]

    tiff = tmp_path / "multi.tif"
    planes = np.stack([np.full((4, 6), v, np.uint16) for v in (1000, 2000, 3000, 4000, 5000)])
    tifffile.imwrite(tiff, planes, photometric="minisblack", planarconfig="separate")
    sample = registry.read(tiff, "image", plugins)
    assert sample.array.shape == (4, 6, 5)
    options = {"bands": "blue,green,red,rededge,nir", "composite": "nir,rededge,red"}
    out = registry.preprocess(sample, "agriculture", options, plugins)
    assert out.meta["bands"] == ["blue", "green", "red", "rededge", "nir"]
    assert out.array[0, 0].tolist() == pytest.approx([5000 / 65535, 4000 / 65535, 3000 / 65535], abs=1e-6)
