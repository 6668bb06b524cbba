"""The model's band layout: which image channels the network reads, by band name.

A model reads three colour slots (red, green, blue) and, when trained so, further named
bands after them (``model.bands``, e.g. ``[red, green, blue, nir, swir16, swir22]``). The
three slots take what every domain gives today: an RGB image, a grey image repeated, or a
domain's three-band composite. The further slots are filled by name from the bands a domain
plugin keeps beside its composite (``Sample.meta["bands"]`` lists every channel's name); a
band the image lacks is zero, so an RGB photo and a 6-band scene train one model together.

The network's first layer is then the learned band projection (as Earth-observation models
learn one per sensor band instead of a fixed composite): the random forest a remote-sensing
user would train reads every band, and a model that sees three of them starts behind it
(docs/results.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genseg.errors import InputError
from genseg.plugins.options import MODEL_BANDS, band_key

RGB: tuple[str, str, str] = ("red", "green", "blue")
"""The three colour slots every layout starts with."""

AUTO = "auto"
"""``model.bands: auto``: the colour slots plus every further band the training data gives."""


def extra_bands(layout: Sequence[str]) -> tuple[str, ...]:
    """The named slots after the colour ones (empty for an RGB model)."""
    return tuple(layout[len(RGB) :])


def layout_of(pipe: Any) -> list[str]:
    """The band layout a pipeline reads; RGB for any predictor that does not say."""
    return list(getattr(pipe, "band_layout", None) or RGB)


def band_options(layout: Sequence[str] | str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``options`` plus the request that a domain keep the bands the model reads beyond its
    composite (:data:`genseg.plugins.options.MODEL_BANDS`); unchanged for an RGB model."""
    out = dict(options or {})
    if layout == AUTO:
        out[MODEL_BANDS] = AUTO
    elif extra_bands(layout):
        out[MODEL_BANDS] = ",".join(extra_bands(layout))
    return out


def sample_extra_bands(meta: Mapping[str, Any], channels: int) -> list[str]:
    """Names of the channels after the first three (the composite), as the domain recorded them."""
    names = list(meta.get("bands") or [])
    if channels <= len(RGB) or len(names) != channels:  # no further bands, or names that do not fit
        return []
    return [band_key(n) for n in names[len(RGB) :]]


def arrange_bands(
    image: np.ndarray, names: Sequence[str] | None, layout: Sequence[str], path: str | Path | None = None
) -> np.ndarray:
    """H×W×C → H×W×len(layout), float32: the first three channels (grey repeated) fill the
    colour slots, channel ``3 + j`` goes to the slot named ``names[3 + j]``; slots the image
    lacks are 0, and bands the layout does not name are left out."""
    if image.ndim != 3:
        raise InputError(f"image must be H×W×C, got shape {image.shape}", path=path)
    channels = image.shape[2]
    if channels == 1:
        base = np.repeat(image, 3, axis=2)
    elif channels >= 3:
        base = image[..., :3]
    else:
        raise InputError(
            f"image has {channels} channels; a model reads grey, RGB or a three-band composite first",
            path=path,
            fix="select three bands first (a domain plugin does this for multispectral data)",
        )
    extras = extra_bands(layout)
    if not extras:
        if channels not in (1, 3) and names is None:
            raise InputError(
                f"image has {channels} channels; the generic dataset takes grayscale or RGB",
                path=path,
                fix="select three bands first (a domain plugin does this for multispectral data)",
            )
        return base
    out = np.zeros((*image.shape[:2], len(layout)), np.float32)
    out[..., :3] = base
    given = [band_key(n) for n in list(names or [])[len(RGB) :]] if channels > 3 else []
    for j, name in enumerate(given):
        if name in extras:
            out[..., len(RGB) + extras.index(name)] = image[..., len(RGB) + j]
    return out


def model_input(
    image: np.ndarray, names: Sequence[str] | None, layout: Sequence[str], path: str | Path | None = None
) -> np.ndarray:
    """An image as the pipeline takes it: for an RGB model its first three channels as they are
    (the pipeline repeats grey as a view, so a large scan is not copied), else laid out by
    :func:`arrange_bands`."""
    if not extra_bands(layout):
        return image[..., :3] if image.ndim == 3 else image
    return arrange_bands(image, names, layout, path)


def resolve_auto_layout(folders: Sequence[str | Path]) -> list[str]:
    """``auto`` against data: the colour slots, then every further band that the first training
    image of each dataset brings through its domain (first-seen order). RGB and grey data give
    ``[red, green, blue]``, the layout of every model before bands were named."""
    from genseg.data.io import load_image
    from genseg.data.schema import load_dataset_spec, preprocessing_options, resolve_path

    extras: dict[str, None] = {}
    for folder in folders:
        spec = load_dataset_spec(folder)
        entries = spec.entries("training")
        if not entries:
            continue
        path = resolve_path(folder, entries[0].image)
        sample = load_image(path, spec.domain, band_options(AUTO, preprocessing_options(spec)))
        for name in sample_extra_bands(sample.meta, sample.array.shape[-1]):
            if name not in RGB:
                extras.setdefault(name, None)
    return [*RGB, *extras]
