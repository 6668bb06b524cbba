"""The model's band layout: colour slots first, further bands placed by name, missing ones 0."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genseg.config import ModelConfig
from genseg.data.bands import RGB, arrange_bands, band_options, sample_extra_bands
from genseg.data.image_processor import to_image_tensor
from genseg.errors import InputError
from genseg.plugins.options import MODEL_BANDS, band_key, check_option_keys

LAYOUT = ("red", "green", "blue", "nir", "swir16")


def _image(channels: int, h: int = 4, w: int = 5) -> np.ndarray:
    rng = np.random.default_rng(channels)
    return rng.random((h, w, channels), dtype=np.float32)


def test_an_rgb_model_sees_exactly_what_it_saw_before_bands_were_named():
    rgb, grey = _image(3), _image(1)
    np.testing.assert_array_equal(arrange_bands(rgb, None, RGB), rgb)
    np.testing.assert_array_equal(arrange_bands(grey, None, RGB), np.repeat(grey, 3, axis=2))
    with pytest.raises(InputError, match="grayscale or RGB"):
        arrange_bands(_image(4), None, RGB)


def test_further_bands_go_to_their_named_slots_and_missing_ones_read_zero():
    image = _image(6)  # a composite, then blue, nir, coastal
    names = ["red", "green", "blue", "Blue", "NIR", "coastal"]
    out = arrange_bands(image, names, LAYOUT)
    assert out.shape == (4, 5, 5)
    np.testing.assert_array_equal(out[..., :3], image[..., :3])
    np.testing.assert_array_equal(out[..., 3], image[..., 4])  # nir, matched whatever its case
    assert not out[..., 4].any()  # swir16: not in the image
    # an RGB photo or a grey slice in a multispectral model: colour slots, then zeros
    grey = _image(1)
    out = arrange_bands(grey, None, LAYOUT)
    np.testing.assert_array_equal(out[..., :3], np.repeat(grey, 3, axis=2))
    assert not out[..., 3:].any()


def test_the_pipeline_pads_missing_bands_and_takes_a_laid_out_image_as_it_is():
    rgb = _image(3)
    padded = to_image_tensor(rgb, channels=5)
    assert padded.shape == (5, 4, 5) and not padded[3:].any()
    torch.testing.assert_close(padded[:3], torch.from_numpy(rgb).permute(2, 0, 1))
    laid_out = _image(5)
    torch.testing.assert_close(
        to_image_tensor(laid_out, channels=5), torch.from_numpy(laid_out).permute(2, 0, 1)
    )
    with pytest.raises(InputError, match="the model's bands"):
        to_image_tensor(_image(6), channels=5)


def test_band_options_ask_the_domain_for_the_further_bands_only_when_the_model_reads_them():
    assert band_options(RGB, {"composite": "rgb"}) == {"composite": "rgb"}
    assert band_options(LAYOUT, {})[MODEL_BANDS] == "nir,swir16"
    assert band_options("auto", None) == {MODEL_BANDS: "auto"}
    # genseg's own key is accepted by every domain's option check
    check_option_keys({MODEL_BANDS: "nir"}, ("composite",), "remote-sensing", "-O composite=rgb")


def test_band_names_are_keys_and_a_mislabelled_sample_brings_no_bands():
    assert band_key("Near Infrared") == "near_infrared"
    assert sample_extra_bands({"bands": ["red", "green", "blue", "NIR"]}, 4) == ["nir"]
    assert sample_extra_bands({"bands": ["red", "green", "blue"]}, 4) == []  # names do not match channels
    assert sample_extra_bands({}, 3) == []


def test_the_layout_is_validated_and_refused_where_a_vae_codec_cannot_read_it():
    assert ModelConfig().band_layout == list(RGB)  # auto, not yet resolved against data
    assert ModelConfig(bands=list(LAYOUT)).band_layout == list(LAYOUT)
    with pytest.raises(ValueError, match="must start with red, green, blue"):
        ModelConfig(bands=["nir", "red", "green"])
    with pytest.raises(ValueError, match="codec.kind=tiny_autoencoder_kl"):
        ModelConfig(bands=list(LAYOUT), codec={"kind": "tiny_autoencoder_kl"})
    with pytest.raises(ValueError, match="mask_as_image"):
        ModelConfig(bands=list(LAYOUT), codec={"mask_as_image": True})
    assert not ModelConfig(codec={"mask_as_image": True}).reads_extra_bands  # auto stays RGB
