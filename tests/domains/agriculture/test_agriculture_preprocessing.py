"""Vegetation indices and illumination normalisation: hand values, data-declared formulas, band errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from genseg.data.sample import Sample
from genseg.errors import ConfigError, InputError
from genseg_agriculture import formulas
from genseg_agriculture.preprocessing import (
    Preprocessing,
    channel_stack,
    normalise_illumination,
    preprocess_agriculture,
    presets,
)


def _image(pixels, bands=None, reader="test", dtype=np.uint8, meta=None) -> Sample:
    array = np.asarray(pixels, dtype=dtype)
    return Sample(
        array, Path("field.tif"), "image", reader, {**({"bands": bands} if bands else {}), **(meta or {})}
    )


def test_ndvi_of_a_known_tiff_equals_the_hand_value(tmp_path, genseg_plugins):
    """NIR 200, red 50 (8-bit): NDVI = (200 - 50) / (200 + 50) = 0.6, read through the registry."""
    import genseg_agriculture.plugin
    from genseg.plugins import registry

    plugins = genseg_plugins(genseg_agriculture.plugin)
    bands = np.zeros((4, 6, 5), np.uint8)
    bands[0], bands[1], bands[2], bands[3] = 50, 120, 30, 200  # red, green, blue, nir
    bands[3, 0, 0] = 50  # one pixel where nir == red: NDVI 0
    path = tmp_path / "field.tif"
    tifffile.imwrite(path, bands, photometric="minisblack", planarconfig="separate")

    sample = registry.read(path, "image", plugins)
    out = registry.preprocess(
        sample, "agriculture", {"bands": "red,green,blue,nir", "composite": "red,green,ndvi"}
    )
    ndvi = out.array[..., 2] * 2.0 - 1.0  # the channel maps NDVI's [-1, 1] onto [0, 1]
    assert out.meta["channels"] == ["red", "green", "ndvi"]
    assert ndvi[1, 1] == pytest.approx(0.6, abs=1e-6)
    assert ndvi[0, 0] == pytest.approx(0.0, abs=1e-6)
    assert out.array[1, 1, 0] == pytest.approx(50 / 255) and out.array[1, 1, 1] == pytest.approx(120 / 255)


def test_exg_and_exgr_follow_their_papers_on_chromatic_coordinates():
    # R, G, B = 60, 120, 20: r = 0.3, g = 0.6, b = 0.1
    # ExG = 2g - r - b = 0.8 (Woebbecke et al. 1995)
    # ExR = 1.4r - g = -0.18, ExGR = ExG - ExR = 0.98 (Meyer & Neto 2008)
    config = presets()
    planes = {"red": np.array([60.0]), "green": np.array([120.0]), "blue": np.array([20.0])}
    exg = formulas.evaluate(config.indices["exg"].formula, planes, config.derived)
    exgr = formulas.evaluate(config.indices["exgr"].formula, planes, config.derived)
    assert exg[0] == pytest.approx(0.8) and exgr[0] == pytest.approx(0.98)
    # the same in the stack: channel = (value - low) / (high - low)
    stack, names = channel_stack(_image([[[60, 120, 20]]]), {"indices": "exg,exgr"})
    assert names == ["red", "green", "blue", "exg", "exgr"]
    assert stack[0, 0, 3] == pytest.approx((0.8 + 1.0) / 3.0, abs=1e-6)
    assert stack[0, 0, 4] == pytest.approx((0.98 + 2.4) / 5.4, abs=1e-6)


def test_black_pixels_give_index_zero_not_nan():
    stack, _ = channel_stack(
        _image(np.zeros((2, 2, 4)), ["red", "green", "blue", "nir"]), {"indices": "ndvi,exg"}
    )
    assert np.isfinite(stack).all()
    assert stack[..., 4] == pytest.approx(0.5)  # NDVI 0 → channel 0.5


def test_ndvi_on_an_image_without_nir_names_the_bands_found():
    with pytest.raises(
        InputError, match=r"ndvi needs the bands nir, red, but the image has red, green, blue"
    ) as err:
        preprocess_agriculture(_image(np.zeros((3, 3, 3))), {"indices": "ndvi"})
    assert "assumed for 3 channels" in str(err.value) and "exg, exgr" in str(err.value)
    with pytest.raises(InputError, match=r"has red, green, blue \(declared by bands=\)"):
        preprocess_agriculture(_image(np.zeros((3, 3, 3))), {"bands": "r,g,b", "composite": "rg-ndvi"})


def test_declared_band_order_drives_the_composite_and_meta():
    pixels = np.stack([np.full((4, 4), v, np.uint8) for v in (10, 20, 30, 200)], axis=-1)  # b, g, r, n
    out = preprocess_agriculture(_image(pixels), {"bands": "blue,green,red,nir", "composite": "false-colour"})
    assert out.meta["bands"] == ["blue", "green", "red", "nir"]
    assert out.meta["channels"] == ["nir", "red", "green"]
    assert out.array[0, 0].tolist() == pytest.approx([200 / 255, 30 / 255, 20 / 255])
    assert out.normalised and out.array.dtype == np.float32 and out.array.shape == (4, 4, 3)


def test_reader_bands_and_geotiff_descriptions_are_used_and_other_meta_kept():
    pixels = np.arange(2 * 2 * 4, dtype=np.uint8).reshape(2, 2, 4)
    meta = {
        "crs": "EPSG:32633",
        "transform": (1, 0, 0, 0, -1, 0),
        "band_descriptions": ["NIR", "Red", "Green", "Blue"],
    }
    out = preprocess_agriculture(_image(pixels, meta=meta), {})
    assert out.meta["bands"] == ["nir", "red", "green", "blue"]
    assert out.meta["channels"] == ["red", "green", "blue"]
    assert out.array[0, 0].tolist() == pytest.approx([1 / 255, 2 / 255, 3 / 255])
    assert out.meta["crs"] == "EPSG:32633" and out.meta["transform"] == (1, 0, 0, 0, -1, 0)


def test_four_unnamed_channels_are_assumed_rgbn_with_a_warning_or_refused_under_strict():
    pixels = np.zeros((2, 2, 4), np.uint8)
    with pytest.warns(UserWarning, match=r"field.tif: no band order declared; assuming red,green,blue,nir"):
        out = preprocess_agriculture(_image(pixels), {"indices": "ndvi"})
    assert out.meta["preprocessing"]["stack"] == ["red", "green", "blue", "nir", "ndvi"]
    with pytest.raises(InputError, match="--strict"):
        preprocess_agriculture(_image(pixels), {"strict": "true"})
    with pytest.raises(InputError, match="has 5 channels and no declared band order"):
        preprocess_agriculture(_image(np.zeros((2, 2, 5), np.uint8)), {})


def test_wrong_band_count_unknown_options_and_bad_composites_are_clear_errors():
    rgb = _image(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(InputError, match="names 4 bands .* but the image has 3 channels"):
        preprocess_agriculture(rgb, {"bands": "red,green,blue,nir"})
    with pytest.raises(ConfigError, match="unknown agriculture option.*window"):
        preprocess_agriculture(rgb, {"window": "lung"})
    with pytest.raises(ConfigError, match="exactly 3"):
        preprocess_agriculture(rgb, {"composite": "red,green"})
    with pytest.raises(InputError, match="not among this image's red, green, blue"):
        preprocess_agriculture(rgb, {"composite": "red,green,rededge"})
    with pytest.raises(ConfigError, match="unknown vegetation index 'savi'.*ndvi, exg, exgr"):
        preprocess_agriculture(rgb, {"indices": "savi"})
    with pytest.raises(ConfigError, match="unknown illumination normalisation 'retinex'"):
        preprocess_agriculture(rgb, {"illumination": "retinex"})


def test_grey_image_is_repeated_into_three_channels():
    out = preprocess_agriculture(_image(np.full((3, 3, 1), 128, np.uint8)), {})
    assert out.meta["channels"] == ["grey", "grey", "grey"] and out.array.shape == (3, 3, 3)


def test_percentile_stretch_and_grey_world_by_hand():
    rng = np.random.default_rng(0)
    bands = rng.uniform(0.1, 0.3, (50, 50, 3)).astype(np.float32)
    bands[..., 0] *= 2.0  # a red cast
    stretched = normalise_illumination(bands, ["red", "green", "blue"], "percentile")
    for i in range(3):
        lo, hi = np.percentile(bands[..., i], [2, 98])
        expected = np.clip((bands[..., i] - lo) / (hi - lo), 0, 1)
        np.testing.assert_allclose(stretched[..., i], expected, atol=1e-6)
    balanced = normalise_illumination(bands, ["red", "green", "blue"], "grey-world")
    means = balanced.reshape(-1, 3).mean(axis=0)
    assert means == pytest.approx([bands.mean()] * 3, rel=1e-4)  # each band's mean = the mean of all
    valid = np.zeros((50, 50), bool)
    valid[:25] = True
    masked = normalise_illumination(bands, ["red", "green", "blue"], "percentile", valid)
    lo, hi = np.percentile(bands[:25, :, 1], [2, 98])
    np.testing.assert_allclose(
        masked[:25, :, 1], np.clip((bands[:25, :, 1] - lo) / (hi - lo), 0, 1), atol=1e-6
    )


def test_indices_use_the_bands_as_read_not_the_normalised_ones():
    pixels = np.zeros((2, 2, 4), np.uint8)
    pixels[..., 0], pixels[..., 3] = 40, 160  # red, nir: NDVI 0.6 whatever the stretch does
    pixels[0, 0] = (20, 20, 20, 20)
    out = preprocess_agriculture(
        _image(pixels, ["red", "green", "blue", "nir"]),
        {"composite": "rg-ndvi", "illumination": "percentile"},
    )
    assert out.array[1, 1, 2] * 2 - 1 == pytest.approx(0.6, abs=1e-6)


def test_the_formula_file_is_validated():
    raw = presets().model_dump()
    bad_band = {**raw, "indices": {**raw["indices"], "ndvi": {**raw["indices"]["ndvi"], "bands": ["nir"]}}}
    with pytest.raises(ValueError, match="the formula uses"):
        Preprocessing.model_validate(bad_band)
    call = {**raw, "indices": {**raw["indices"], "ndvi": {**raw["indices"]["ndvi"], "formula": "abs(nir)"}}}
    with pytest.raises(ValueError, match="only \\+ - \\* /"):
        Preprocessing.model_validate(call)
    with pytest.raises(ValueError, match="operator other than"):
        formulas.parse("nir ** 2")
    assert {"ndvi", "exg", "exgr"} <= set(presets().indices)
    for spec in presets().indices.values():
        assert spec.citation and spec.range[0] < spec.range[1]


def test_labels_and_other_domains_pass_through(genseg_plugins):
    import genseg_agriculture.plugin
    from genseg.plugins import registry

    plugins = genseg_plugins(genseg_agriculture.plugin)
    label = Sample(np.ones((2, 2), np.int64), Path("l.png"), "label", "test")
    assert preprocess_agriculture(label, {"indices": "ndvi"}) is label
    image = _image(np.full((2, 2, 3), 255, np.uint8))
    assert genseg_agriculture.plugin.genseg_preprocess(image, "medical", {}) is None
    generic = registry.preprocess(image, "generic", {}, plugins)
    assert "channels" not in generic.meta and generic.array.max() == pytest.approx(1.0)
