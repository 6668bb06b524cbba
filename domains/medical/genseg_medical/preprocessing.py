"""CT windowing and MR normalisation, declared as data (``data/preprocessing.json``).

A CT scan is turned into model input by a window in Hounsfield units (level ± width/2 →
[0, 1]); an MR scan, which has no absolute scale, by the 1st–99th percentile of its
foreground. Which applies comes from ``options["modality"]``, else the DICOM Modality,
else the values (air at about -1000 HU means CT; a warning says so). Spatial metadata is
never touched.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from genseg.plugins.api import ConfigError, InputError, Sample, check_option_keys, load_package_json

OPTION_KEYS = ("window", "modality", "channel", "strict")


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    level: float = Field(allow_inf_nan=False)  # window=nan,400 is refused, not a window of NaNs
    width: float = Field(gt=0, allow_inf_nan=False)
    aliases: list[str] = []


class MRNormalisation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lower_percentile: float = Field(1.0, ge=0, lt=100)
    upper_percentile: float = Field(99.0, gt=0, le=100)
    foreground_only: bool = True


class Preprocessing(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    ct_windows: dict[str, Window]
    default_ct_window: str
    mr: MRNormalisation = MRNormalisation()
    guess_ct_below_hu: float = -500.0

    @model_validator(mode="after")
    def _default_exists(self) -> Preprocessing:
        if self.default_ct_window not in self.ct_windows:
            raise ValueError(f"default_ct_window {self.default_ct_window!r} is not among ct_windows")
        return self

    def window(self, name_or_values: str) -> Window:
        """A preset by name or alias, or ``"LEVEL,WIDTH"`` in HU."""
        key = name_or_values.strip().lower()
        for name, win in self.ct_windows.items():
            if key == name or key in win.aliases:
                return win
        what = "unknown CT window"
        try:
            level, width = (float(v) for v in key.split(","))
        except (ValueError, TypeError):
            pass
        else:
            try:
                return Window(level=level, width=width)
            except ValueError:
                what = "CT window level and width must be finite numbers with width > 0, not"
        presets = ", ".join(f"{n} (L {w.level:g}, W {w.width:g})" for n, w in self.ct_windows.items())
        raise ConfigError(
            f"{what} {name_or_values!r}",
            fix=f"use one of: {presets}; or LEVEL,WIDTH in HU, e.g. window=40,400",
        )


@lru_cache(maxsize=1)
def presets() -> Preprocessing:

    return load_package_json("genseg_medical", "data/preprocessing.json", Preprocessing)


def apply_window(values: np.ndarray, window: Window) -> np.ndarray:
    """HU → [0, 1]: level - width/2 maps to 0, level + width/2 to 1, clipped."""
    low = window.level - window.width / 2.0
    return np.clip((values.astype(np.float32) - low) / np.float32(window.width), 0.0, 1.0)


def normalise_mr(values: np.ndarray, config: MRNormalisation) -> np.ndarray:
    """Percentile scaling over the foreground (voxels above the minimum) or all voxels."""
    data = values.astype(np.float32)
    pool = data[data > data.min()] if config.foreground_only else data.ravel()
    if pool.size == 0:
        return np.zeros_like(data)
    lo, hi = np.percentile(pool, [config.lower_percentile, config.upper_percentile])
    if hi <= lo:
        return np.zeros_like(data)
    return np.clip((data - lo) / (hi - lo), 0.0, 1.0)


def modality_of(sample: Sample, options: Mapping[str, Any], config: Preprocessing) -> str:
    chosen = options.get("modality") or sample.meta.get("modality")
    if chosen:
        return str(chosen).upper()
    if options.get("window"):
        return "CT"
    if float(np.nanmin(sample.array)) < config.guess_ct_below_hu:
        warnings.warn(
            f"{sample.path}: no modality recorded; values below {config.guess_ct_below_hu:g} look like CT "
            "in HU, so a CT window is applied (pass modality=MR to override)",
            UserWarning,
            stacklevel=3,
        )
        return "CT"
    return "MR"


def pick_channel(sample: Sample, options: Mapping[str, Any]) -> Sample:
    """One volume of a 4-D image (time points, echoes, modalities): ``-O channel=N``. Without
    it, an image with other than 1 or 3 channels is refused, since the model reads one
    grey volume (or an RGB photo) and guessing which volume was meant would be silent."""
    channels = int(sample.array.shape[-1])
    chosen = options.get("channel")
    if chosen is None:
        if channels in (1, 3):
            return sample
        raise InputError(
            f"the image holds {channels} volumes along its 4th axis (time points, echoes or "
            "modalities); genseg segments one volume at a time",
            path=sample.path,
            fix=f"pick one with -O channel=N (0 to {channels - 1}), or split the file (e.g. fslsplit)",
        )
    try:
        index = int(str(chosen))
    except ValueError:
        index = -1
    if not 0 <= index < channels:
        raise InputError(
            f"-O channel={chosen} is not a volume of this image (it has {channels}: 0 to {channels - 1})",
            path=sample.path,
            fix=f"pass -O channel=N with N from 0 to {channels - 1}",
        )
    meta = {**sample.meta, "channel": index}
    return sample.with_array(sample.array[..., index : index + 1], meta=meta)


def preprocess_medical(sample: Sample, options: Mapping[str, Any]) -> Sample:
    """The model input for a medical image: windowed CT or normalised MR, float32 in [0, 1]."""
    check_option_keys(options, OPTION_KEYS, "medical", "-O window=lung -O modality=CT")
    if sample.kind != "image" or sample.normalised:
        return sample
    sample = pick_channel(sample, options)
    config = presets()
    modality = modality_of(sample, options, config)
    if modality == "CT":
        window = config.window(str(options.get("window") or config.default_ct_window))
        array = apply_window(sample.array, window)
        info = {"window": {"level": window.level, "width": window.width}}
    else:
        array = normalise_mr(sample.array, config.mr)
        info = {"mr_percentiles": [config.mr.lower_percentile, config.mr.upper_percentile]}
    meta = {**sample.meta, "preprocessing": {"modality": modality, **info}}
    return sample.with_array(array, normalised=True, meta=meta)
