"""CT windows and MR normalisation: values by hand, presets from data, metadata untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genseg.data.sample import Sample
from genseg.errors import ConfigError
from genseg_medical.preprocessing import apply_window, preprocess_medical, presets


def _ct(values, modality="CT") -> Sample:
    array = np.asarray(values, dtype=np.float32).reshape(1, 1, -1, 1)
    meta = {"affine": np.diag([0.7, 0.7, 2.5, 1.0]), "spacing": (2.5, 0.7, 0.7), "modality": modality}
    return Sample(array, Path("ct.nii.gz"), "image", "nifti", meta)


def test_presets_are_valid_data_with_the_usual_windows():
    config = presets()
    assert config.window("abdomen") == config.ct_windows["soft-tissue"]
    assert (config.window("lung").level, config.window("lung").width) == (-600, 1500)
    assert (config.window("brain").level, config.window("brain").width) == (40, 80)
    custom = config.window("40,400")
    assert (custom.level, custom.width) == (40, 400)
    with pytest.raises(ConfigError, match="unknown CT window 'lungs'.*soft-tissue"):
        config.window("lungs")
    for bad in ("nan,400", "40,nan", "inf,400", "40,0", "40,-5"):  # never a window of NaNs or zeros
        with pytest.raises(ConfigError, match="finite numbers with width > 0.*LEVEL,WIDTH"):
            config.window(bad)


def test_a_window_maps_level_minus_half_width_to_0_and_plus_half_width_to_1():
    window = presets().window("soft-tissue")  # L 50, W 400: -150 .. 250 HU
    got = apply_window(np.array([-1000, -150, 50, 250, 3000], dtype=np.int16), window)
    assert got.tolist() == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.0])


def test_ct_sample_is_windowed_and_keeps_its_metadata():
    sample = _ct([-1000, 50, 1000])
    out = preprocess_medical(sample, {"window": "lung"})  # -1350 .. 150
    assert out.normalised and out.array.dtype == np.float32
    assert out.array.ravel().tolist() == pytest.approx([350 / 1500, 1400 / 1500, 1.0])
    np.testing.assert_array_equal(out.meta["affine"], sample.meta["affine"])
    assert out.meta["spacing"] == sample.meta["spacing"]
    assert out.meta["preprocessing"] == {"modality": "CT", "window": {"level": -600.0, "width": 1500.0}}


def test_mr_is_scaled_by_foreground_percentiles():
    values = np.concatenate([np.zeros(50), np.linspace(100, 200, 101)])
    out = preprocess_medical(_ct(values, modality="MR"), {})
    flat = out.array.ravel()
    assert flat[:50].tolist() == [0.0] * 50  # background below the 1st percentile
    assert flat[-1] == 1.0 and 0.45 < flat[50 + 50] < 0.55  # the median voxel lands mid-range


def test_unknown_modality_is_guessed_from_hounsfield_values_with_a_warning():
    with pytest.warns(UserWarning, match="look like CT"):
        out = preprocess_medical(_ct([-1000, 0, 100], modality=None), {})
    assert out.meta["preprocessing"]["modality"] == "CT"
    explicit = preprocess_medical(_ct([-1000, 0, 100], modality=None), {"modality": "mr"})
    assert explicit.meta["preprocessing"]["modality"] == "MR"


def test_the_plugin_hook_preprocesses_only_the_medical_domain(genseg_plugins):
    from genseg.plugins import registry

    genseg_plugins(autoload=True)
    sample = _ct([-1000, 50, 1000])
    assert registry.preprocess(sample, "medical").meta["preprocessing"]["modality"] == "CT"
    generic = registry.preprocess(sample, "generic")  # the built-in plugin: clip, no window
    assert generic.array.ravel().tolist() == [0.0, 1.0, 1.0] and "preprocessing" not in generic.meta


def test_a_4d_image_is_refused_naming_its_volumes_and_one_is_picked_with_channel():
    from genseg.errors import InputError

    rng = np.random.default_rng(0)
    array = (rng.random((5, 4, 3, 2)) * 2000 - 1000).astype(np.float32)
    sample = Sample(array, Path("fmri.nii.gz"), "image", "nifti", {"modality": "CT"})
    with pytest.raises(InputError, match=r"holds 2 volumes along its 4th axis") as err:
        preprocess_medical(sample, {})
    assert err.value.path == "fmri.nii.gz" and "-O channel=N (0 to 1)" in err.value.fix
    with pytest.raises(InputError, match="channel=2 is not a volume"):
        preprocess_medical(sample, {"channel": "2"})
    second = preprocess_medical(sample, {"channel": "1", "window": "soft-tissue"})
    expected = apply_window(array[..., 1:2], presets().window("soft-tissue"))
    assert second.array.shape == (5, 4, 3, 1) and np.allclose(second.array, expected)
    assert second.meta["channel"] == 1
