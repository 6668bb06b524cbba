"""Raw band values → the three [0, 1] channels the model sees, the same way for every tile.

The mapping is linear per band, ``(value - low) / (high - low)`` clipped to [0, 1], with
``low``/``high`` from the sensor's reflectance scale (``reflectance``), the 2nd/98th
percentile of the *valid* pixels of the whole scene (``percentile``), or the pixel type's
range (``dtype``). It is computed once per scene (:func:`plan_bands`) and applied to every
window (:meth:`BandPlan.apply`), so a tiled run sees the same values as a whole-image run.
Nodata pixels never enter the statistics and come out as 0 with ``valid`` False.

Float rasters are scaled by percentiles by default; ``normalise=dtype`` takes them as
already in [0, 1] and warns when that clips a noticeable share of the valid values
(:func:`genseg.data.readers.warn_float_clipping`, the generic domain's own check).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genseg.plugins.api import (
    MODEL_BANDS,
    InputError,
    band_key,
    check_option_keys,
    is_strict,
    warn_float_clipping,
)
from genseg_remote_sensing.readers import has_no_geotransform

STATS_MAX_PIXELS = 2048 * 2048
"""Scenes up to this size get exact statistics; larger ones a decimated sample of this size."""

OPTION_KEYS = (
    "sensor",
    "bands",
    "composite",
    "normalise",
    "percentiles",
    "offset",
    "reflectance_max",
    "strict",
)


@dataclass(frozen=True)
class BandPlan:
    """Which bands the model sees and how their raw values map to [0, 1]."""

    names: tuple[str, ...]  # every band of the file, canonical names
    # 0-based indices of the bands shown to the model: the three of the composite, then the
    # further bands a model with a wider band layout reads (genseg.data.bands)
    picks: tuple[int, ...]
    mode: str
    low: tuple[float, ...]
    high: tuple[float, ...]

    @property
    def bands(self) -> list[str]:
        return [self.names[i] for i in self.picks]

    def apply(self, raw: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """``raw`` h×w×N (the picked bands, file values) → float32 h×w×N in [0, 1]."""
        low = np.asarray(self.low, np.float32)
        span = np.maximum(np.asarray(self.high, np.float32) - low, 1e-12)
        out = np.clip((np.nan_to_num(raw.astype(np.float32)) - low) / span, 0.0, 1.0)
        out[~valid] = 0.0
        return out

    def composite(self) -> BandPlan:
        """The plan of the three composite bands alone (for pictures)."""
        return BandPlan(self.names, self.picks[:3], self.mode, self.low[:3], self.high[:3])

    def describe(self) -> dict[str, Any]:
        return {"bands": self.bands, "normalise": self.mode, "low": list(self.low), "high": list(self.high)}


def check_crs(meta: Mapping[str, Any], path: Path | None, options: Mapping[str, Any]) -> None:
    """A GeoTIFF without a CRS (nor GCPs or RPCs): a warning, or an error under ``strict``."""
    if meta.get("gcps") or meta.get("rpcs") or path is None or path.suffix.lower() not in (".tif", ".tiff"):
        return
    if meta.get("crs") is None:
        problem, fix = "has no CRS", "assign one, e.g. gdal_edit.py -a_srs EPSG:32633 FILE"
    elif has_no_geotransform(meta.get("transform")):
        problem = f"has a CRS ({meta['crs']}) but no geotransform"
        fix = "set its corner coordinates, e.g. gdal_edit.py -a_ullr ULX ULY LRX LRY FILE"
    else:
        return
    if is_strict(options):
        raise InputError(f"the raster {problem} (--strict)", path=path, fix=f"{fix}, or run without --strict")
    warnings.warn(f"{path}: the raster {problem}, so its outputs cannot be placed on a map", stacklevel=2)


def plan_bands(
    descriptions: list[str | None],
    dtype: str,
    stats: Callable[[list[int]], np.ndarray],
    options: Mapping[str, Any],
    path: Path | None = None,
) -> BandPlan:
    """Choose the bands and their scaling. ``stats(picks)`` returns N×3 values of valid pixels
    of the picked bands (the whole scene, or a decimated sample of it)."""
    from genseg_remote_sensing.bands import band_names, presets, select_bands

    check_option_keys(
        options, OPTION_KEYS, "remote-sensing", "-O sensor=sentinel-2 -O composite=false-colour"
    )
    sensor = presets().sensor(options["sensor"]) if options.get("sensor") else None
    names = band_names(descriptions, sensor, path, options.get("bands"))
    picks = select_bands(names, options.get("composite"), path) + model_extra_picks(
        names, options.get(MODEL_BANDS), path
    )
    n = len(picks)
    default = sensor.normalise if sensor else ("dtype" if dtype == "uint8" else "percentile")
    mode = str(options.get("normalise", default)).strip().lower()
    if mode == "reflectance":
        if sensor is None:
            raise InputError(
                "normalise=reflectance needs the sensor's scale",
                path=path,
                fix="pass -O sensor=NAME (presets: docs/remote_sensing.md), or -O normalise=percentile",
            )
        offset = float(options.get("offset", sensor.offset))
        rmax = float(options.get("reflectance_max", sensor.reflectance_max))
        low = [(0.0 - offset) / sensor.scale] * n
        high = [(rmax - offset) / sensor.scale] * n
    elif mode == "dtype":
        if np.issubdtype(np.dtype(dtype), np.integer):
            info = np.iinfo(np.dtype(dtype))
            low, high = [float(max(info.min, 0))] * n, [float(info.max)] * n
        else:
            low, high = [0.0] * n, [1.0] * n
            warn_float_clipping(
                stats(picks),
                path,
                how="normalise=dtype",
                fix="use -O normalise=percentile (the default for floats)",
            )
    elif mode == "percentile":
        lo_q, hi_q = (float(q) for q in str(options.get("percentiles", "2,98")).split(","))
        values = stats(picks)
        if values.size == 0:
            low, high = [0.0] * n, [1.0] * n  # all nodata: nothing will be predicted anyway
        else:
            low = [float(v) for v in np.percentile(values, lo_q, axis=0)]
            high = [float(v) for v in np.percentile(values, hi_q, axis=0)]
    else:
        raise InputError(
            f"unknown normalisation {mode!r}",
            path=path,
            fix="pass -O normalise=percentile, reflectance (with -O sensor=NAME) or dtype",
        )
    return BandPlan(tuple(names), tuple(picks), mode, tuple(low), tuple(high))


def model_extra_picks(names: list[str], wanted: str | None, path: Path | None = None) -> list[int]:
    """0-based indices of the bands a model reads after the composite (``MODEL_BANDS``, set by
    genseg from ``model.bands``): ``auto`` takes every band of the file, a comma list the bands
    so named; a named band the file lacks is left to genseg (it reads zero there)."""
    if not wanted:
        return []
    if str(wanted).strip().lower() == "auto":
        return list(range(len(names)))
    asked = {band_key(w) for w in str(wanted).split(",") if w.strip()}
    return [i for i, name in enumerate(names) if band_key(name) in asked]


def preprocess_remote_sensing(sample, options: Mapping[str, Any]):
    """A read scene (any reader) → its three-band composite (then any further bands the model
    reads, ``MODEL_BANDS``), normalised, with ``valid``, the band names and the plan in meta."""
    if sample.normalised or sample.kind != "image":
        return sample
    array = sample.array
    check_crs(sample.meta, sample.path, options)
    valid = sample.meta.get("valid_mask")
    if valid is None:
        valid = np.ones(array.shape[:2], bool)
    descriptions = sample.meta.get("band_descriptions") or [None] * array.shape[-1]

    def stats(picks: list[int]) -> np.ndarray:
        values = array[..., picks][valid]
        if values.shape[0] > STATS_MAX_PIXELS:
            step = int(np.ceil(values.shape[0] / STATS_MAX_PIXELS))
            values = values[::step]
        return values

    plan = plan_bands(list(descriptions), str(array.dtype), stats, options, sample.path)
    out = plan.apply(array[..., list(plan.picks)], valid)
    meta = {**sample.meta, "valid_mask": valid, "bands": plan.bands, "band_plan": plan.describe()}
    return sample.with_array(out, meta=meta, normalised=True)
