"""Band order, vegetation indices and illumination normalisation, declared as data
(``data/preprocessing.json``) and applied by ``genseg_preprocess`` for ``--domain agriculture``.

A file's bands are named by ``-O bands=...``, else by its reader (``meta["bands"]``, or a
GeoTIFF's band descriptions), else by a default for its channel count (a warning says so
beyond three channels; an error under ``--strict``). Indices (NDVI, ExG, ExGR) are computed
from the bands *as read* and appended after them as extra channels; the bands then get the
chosen illumination normalisation. genseg's model reads three channels, so ``-O composite=``
picks which three of that stack it sees: a named composite (``rgb``, the default;
``false-colour``; ``rg-ndvi``) or three channel names (``nir,red,green``, ``red,green,exg``).
The returned array holds exactly those three channels, named in ``meta["channels"]``;
:func:`channel_stack` gives the whole stack to code that wants every channel.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from genseg.plugins.api import (
    ConfigError,
    InputError,
    Sample,
    check_option_keys,
    is_strict,
    load_package_json,
    to_unit_float,
)
from genseg_agriculture import formulas

OPTIONS = ("bands", "indices", "composite", "illumination", "strict")
"""The ``-O KEY=VALUE`` keys this domain understands (``strict`` is set by ``--strict``)."""
MODEL_CHANNELS = 3
ILLUMINATION_METHODS = ("none", "percentile", "grey-world")
_BAND_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IndexSpec(_Strict):
    """A vegetation index: its formula over band (or derived) names and where it comes from."""

    title: str
    formula: str
    bands: list[str] = Field(min_length=1, description="the bands the formula needs")
    range: tuple[float, float] = Field(description="exact value range, mapped onto [0, 1] as a channel")
    citation: str = Field(min_length=1)

    @field_validator("formula")
    @classmethod
    def _parses(cls, formula: str) -> str:
        formulas.parse(formula)
        return formula

    @field_validator("range")
    @classmethod
    def _ordered(cls, span: tuple[float, float]) -> tuple[float, float]:
        if not span[0] < span[1]:
            raise ValueError(f"range {span} must go from low to high")
        return span


class IlluminationSpec(_Strict):
    description: str = ""
    lower_percentile: float | None = Field(None, ge=0, lt=100)
    upper_percentile: float | None = Field(None, gt=0, le=100)
    bands: list[str] | None = None


class Preprocessing(_Strict):
    """The content of ``data/preprocessing.json``."""

    description: str = ""
    bands: dict[str, list[str]] = Field(description="canonical band name -> accepted aliases")
    default_bands: dict[str, list[str]] = Field(description="channel count -> assumed band order")
    assume_quietly_up_to: int = Field(3, ge=1, description="warn when assuming a band order beyond this")
    derived: dict[str, str] = {}
    indices: dict[str, IndexSpec]
    illumination: dict[str, IlluminationSpec]
    default_illumination: str
    composites: dict[str, list[str]]
    default_composite: str

    @model_validator(mode="after")
    def _consistent(self) -> Preprocessing:
        aliases = [a for names in self.bands.values() for a in names]
        clash = (set(aliases) & set(self.bands)) | {a for a in aliases if aliases.count(a) > 1}
        if clash:
            raise ValueError(f"band aliases {sorted(clash)} are ambiguous")
        for count, order in self.default_bands.items():
            if not count.isdigit() or int(count) != len(order) or set(order) - set(self.bands):
                raise ValueError(f"default_bands[{count!r}] must list {count} known band names")
        if set(self.derived) & set(self.bands):
            raise ValueError("a derived name may not be a band name")
        for name, spec in self.indices.items():
            if name in self.bands or name in self.derived:
                raise ValueError(f"index {name!r} shadows a band or derived name")
            try:
                needed = formulas.names(spec.formula, self.derived)
            except KeyError as exc:  # a derived formula names something undefined
                raise ValueError(f"index {name!r}: unknown name {exc}") from None
            if needed != set(spec.bands):
                raise ValueError(
                    f"index {name!r}: the formula uses {sorted(needed)}, bands lists {spec.bands}"
                )
        if set(self.illumination) != set(ILLUMINATION_METHODS):
            raise ValueError(f"illumination must define exactly {', '.join(ILLUMINATION_METHODS)}")
        if self.default_illumination not in self.illumination:
            raise ValueError(f"default_illumination {self.default_illumination!r} is not defined")
        for name, channels in self.composites.items():
            if len(channels) != MODEL_CHANNELS or set(channels) - set(self.bands) - set(self.indices):
                raise ValueError(f"composite {name!r} must name {MODEL_CHANNELS} bands or indices")
        if self.default_composite not in self.composites:
            raise ValueError(f"default_composite {self.default_composite!r} is not defined")
        return self

    def canonical_band(self, name: str) -> str:
        """``name`` (any case, or an alias such as ``n``) as its canonical band name."""
        key = name.strip().lower()
        for band, aliases in self.bands.items():
            if key == band or key in aliases:
                return band
        return key


@lru_cache(maxsize=1)
def presets() -> Preprocessing:

    return load_package_json("genseg_agriculture", "data/preprocessing.json", Preprocessing)


def _as_list(value: Any) -> list[str]:
    """``"a,b"`` or ``["a", "b"]`` → ``["a", "b"]`` (CLI options arrive as text, adapters as lists)."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(item).strip() for item in items if str(item).strip()]


def _described_bands(sample: Sample, config: Preprocessing) -> list[str] | None:
    """Band names from a GeoTIFF's band descriptions, when every band has a known one."""
    descriptions = sample.meta.get("band_descriptions") or []
    names = [config.canonical_band(str(d)) for d in descriptions if d]
    if len(names) == sample.array.shape[-1] and set(names) <= set(config.bands):
        return names
    return None


def band_names(sample: Sample, options: Mapping[str, Any], config: Preprocessing) -> tuple[list[str], str]:
    """The image's band names, and where they came from (for messages)."""
    count = sample.array.shape[-1]
    described = _described_bands(sample, config)
    if options.get("bands"):
        names, source = [config.canonical_band(b) for b in _as_list(options["bands"])], "declared by bands="
    elif sample.meta.get("bands"):
        names, source = [config.canonical_band(str(b)) for b in sample.meta["bands"]], f"from {sample.reader}"
    elif described:
        names, source = described, "from the file's band descriptions"
    elif str(count) in config.default_bands:
        names, source = list(config.default_bands[str(count)]), f"assumed for {count} channels"
        if count > config.assume_quietly_up_to:
            if is_strict(options):
                raise InputError(
                    f"no band order declared for its {count} channels (--strict)",
                    path=sample.path,
                    fix=f"declare it, e.g. -O bands={','.join(names)}",
                )
            warnings.warn(
                f"{sample.path}: no band order declared; assuming {','.join(names)} for its {count} channels "
                "(pass -O bands=... if that is wrong)",
                UserWarning,
                stacklevel=4,
            )
    else:
        raise InputError(
            f"the image has {count} channels and no declared band order",
            path=sample.path,
            fix=f"name its {count} bands in file order, e.g. -O bands=blue,green,red,rededge,nir",
        )
    if len(names) != count:
        raise InputError(
            f"bands= names {len(names)} bands ({','.join(names)}) but the image has {count} channels",
            path=sample.path,
            fix=f"list exactly {count} band names in file order",
        )
    if any(not _BAND_NAME.match(n) for n in names) or len(set(names)) != len(names):
        raise ConfigError(
            f"band names must be distinct words, got {','.join(names)}",
            path=sample.path,
            fix=f"use names such as {', '.join(config.bands)}",
        )
    return names, source


def _missing_bands_error(
    index: str, spec: IndexSpec, bands: list[str], source: str, sample: Sample
) -> InputError:
    possible = [n for n, s in presets().indices.items() if set(s.bands) <= set(bands)]
    other = f"; indices these bands allow: {', '.join(possible)}" if possible else ""
    return InputError(
        f"{index} needs the bands {', '.join(spec.bands)}, but the image has {', '.join(bands)} ({source})",
        path=sample.path,
        fix="if the file holds those bands, declare its band order with -O bands=... "
        f"(e.g. bands=red,green,blue,nir){other}",
    )


def index_values(spec: IndexSpec, planes: Mapping[str, np.ndarray]) -> np.ndarray:
    """The index computed pixel-wise from band planes, in its own units (float64)."""
    return formulas.evaluate(spec.formula, planes, presets().derived)


def index_channel(spec: IndexSpec, planes: Mapping[str, np.ndarray]) -> np.ndarray:
    """The index's values mapped from its range onto [0, 1] (float32)."""
    low, high = spec.range
    return np.clip((index_values(spec, planes) - low) / (high - low), 0.0, 1.0).astype(np.float32)


def normalise_illumination(
    stack: np.ndarray, bands: list[str], method: str, valid: np.ndarray | None = None
) -> np.ndarray:
    """Bands (float32 in [0, 1], channel-last) under illumination ``method``; statistics are
    taken over the ``valid`` pixels only (a GeoTIFF's nodata never shifts them)."""
    config = presets()
    if method not in config.illumination:
        raise ConfigError(
            f"unknown illumination normalisation {method!r}",
            fix=f"use one of: {', '.join(f'{k} ({v.description})' for k, v in config.illumination.items())}",
        )
    spec = config.illumination[method]
    out = stack.astype(np.float32, copy=True)
    pixels = out[valid] if valid is not None else out.reshape(-1, out.shape[-1])
    if method == "percentile" and pixels.size:
        low = np.percentile(pixels, spec.lower_percentile or 0.0, axis=0)
        high = np.percentile(pixels, spec.upper_percentile or 100.0, axis=0)
        span = np.where(high > low, high - low, 1.0)
        out = np.where(high > low, (out - low) / span, 0.0)
    elif method == "grey-world" and pixels.size:
        chosen = [i for i, b in enumerate(bands) if b in (spec.bands or bands)]
        means = pixels[:, chosen].mean(axis=0) if chosen else np.zeros(0)
        target = means.mean() if means.size else 0.0
        for i, mean in zip(chosen, means, strict=True):
            out[..., i] *= target / mean if mean > 0 else 1.0
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _composite(options: Mapping[str, Any], config: Preprocessing) -> list[str] | None:
    """The three channel names asked for with ``composite=`` (a preset name or three names)."""
    value = options.get("composite")
    if not value:
        return None
    if isinstance(value, str) and value.strip().lower() in config.composites:
        return list(config.composites[value.strip().lower()])
    chosen = [config.canonical_band(c) for c in _as_list(value)]
    if len(chosen) != MODEL_CHANNELS:
        raise ConfigError(
            f"composite={value} names {len(chosen)} channel(s); the model sees exactly {MODEL_CHANNELS}",
            fix=f"name three bands or indices (e.g. composite=nir,red,green) or a preset: "
            f"{', '.join(config.composites)}",
        )
    return chosen


def channel_stack(sample: Sample, options: Mapping[str, Any] | None = None) -> tuple[np.ndarray, list[str]]:
    """The bands (illumination-normalised) followed by the requested indices, and their names.

    Indices named in ``composite`` are computed even if ``indices`` does not list them.
    """

    options = dict(options or {})
    check_option_keys(options, OPTIONS, "agriculture", "-O bands=red,green,blue,nir -O indices=ndvi")
    config = presets()
    bands, source = band_names(sample, options, config)
    raw = to_unit_float(np.asarray(sample.array))
    valid = sample.meta.get("valid_mask")
    valid = np.asarray(valid, bool) if valid is not None and np.shape(valid) == raw.shape[:-1] else None
    planes = {name: raw[..., i] for i, name in enumerate(bands)}
    wanted = [i.lower() for i in _as_list(options.get("indices", ""))]
    wanted += [c for c in _composite(options, config) or [] if c in config.indices]
    names = list(bands)
    extra = []
    for index in dict.fromkeys(wanted):
        if index not in config.indices:
            raise ConfigError(
                f"unknown vegetation index {index!r}",
                path=sample.path,
                fix=f"use one of: {', '.join(config.indices)}",
            )
        spec = config.indices[index]
        if not set(spec.bands) <= set(bands):
            raise _missing_bands_error(index, spec, bands, source, sample)
        extra.append(index_channel(spec, planes))
        names.append(index)
    method = str(options.get("illumination") or config.default_illumination).strip().lower()
    stack = normalise_illumination(raw, bands, method, valid)
    if extra:
        stack = np.concatenate([stack, np.stack(extra, axis=-1)], axis=-1)
    if valid is not None:
        stack[~valid] = 0.0
    return stack, names


def model_channels(
    names: list[str], bands: list[str], options: Mapping[str, Any], sample: Sample
) -> list[str]:
    """The three channel names the model sees: ``composite=``, else RGB, else the first bands."""
    config = presets()
    chosen = _composite(options, config)
    if chosen is None:
        default = config.composites[config.default_composite]
        return list(default) if set(default) <= set(names) else (bands * MODEL_CHANNELS)[:MODEL_CHANNELS]
    unknown = [c for c in chosen if c not in names]
    if unknown:
        raise InputError(
            f"composite channel(s) {', '.join(unknown)} not among this image's {', '.join(names)}",
            path=sample.path,
            fix="declare the file's band order with -O bands=... or choose among the names listed",
        )
    return chosen


def preprocess_agriculture(sample: Sample, options: Mapping[str, Any] | None = None) -> Sample:
    """Model input for an agricultural image: three chosen channels, float32 in [0, 1].

    ``meta`` keeps everything the reader put there and gains ``bands`` (the file's bands),
    ``channels`` (what the three channels are) and ``preprocessing`` (what was done).
    """
    if sample.kind != "image":
        return sample
    options = dict(options or {})
    stack, names = channel_stack(sample, options)
    bands = names[: sample.array.shape[-1]]
    chosen = model_channels(names, bands, options, sample)
    array = np.ascontiguousarray(stack[..., [names.index(c) for c in chosen]], dtype=np.float32)
    config = presets()
    meta = {
        **sample.meta,
        "bands": bands,
        "channels": chosen,
        "preprocessing": {
            "illumination": str(options.get("illumination") or config.default_illumination).strip().lower(),
            "stack": names,
            "index_ranges": {n: list(config.indices[n].range) for n in names[len(bands) :]},
        },
    }
    return sample.with_array(array, normalised=True, meta=meta)
