"""Training windows of large images: a crop at the model's resolution, at native pixel size.

Resizing a 4000×3000 photo (or a 10 000-pixel scene) whole to a 128-pixel model shows the
network objects 30 times smaller than `genseg segment` will show them, since inference cuts
such an image into tiles at the model's resolution (:func:`genseg.segment_tiled.tiling_for`).
A training item of such an image is instead one R×R window of it, read at its own pixel
size, as TorchGeo's ``RandomGeoSampler`` draws windows in pixel space (no resampling, no
reprojection). The choice follows ``sampling.crop`` (:data:`CROPS`); ``auto`` crops exactly
the images `genseg segment` would tile, so training and inference see the same scale.

A window is drawn from its own random stream (:func:`window_rng`), so the items of images
that are not cropped keep the draws they always had. For an item whose prompted class is
present, the window holds at least one pixel of it (a pixel of the class is drawn, then a
window around it): a uniform window would mostly miss a small class and teach "absent" for
a prompt the sampling plan drew as present. A cropped sample's georeferencing follows the
window (the transform moves to the window's corner; GCP and RPC pixel offsets shift).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from genseg.data.sample import Sample
from genseg.segment_tiled import tiling_for

CROPS = ("auto", "resize", "random")
"""``resize``: every image shrunk (or enlarged) whole to R×R, as before; ``random``: every 2D
image larger than R on a side gives an R×R window; ``auto``: windows for the images
`genseg segment` tiles in the item's domain (any image larger than R where the domain
declares ``tiling``, else longer side above :data:`genseg.segment_tiled.WHOLE_UP_TO` × R)."""

_STREAM = 0xC407  # keeps the window draws apart from the item's prompt and augmentation draws


@dataclass(frozen=True)
class Window:
    """Rows ``row``…``row + height`` and columns ``col``…``col + width`` of an image."""

    row: int
    col: int
    height: int
    width: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.row, self.row + self.height), slice(self.col, self.col + self.width)


def check_crop(mode: str) -> str:
    if mode not in CROPS:
        raise ValueError(f"unknown crop {mode!r}; use one of {', '.join(CROPS)}")
    return mode


def crops(mode: str, domain: str, height: int, width: int, resolution: int) -> bool:
    """Whether a training image of ``height``×``width`` in ``domain`` is cropped under ``mode``."""
    if check_crop(mode) == "resize" or max(height, width) <= resolution:
        return False
    if mode == "random":
        return True
    return tiling_for(domain, None, resolution).tiles(height, width)


def window_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The random stream of item ``index``'s window (apart from the item's other draws)."""
    return np.random.default_rng([seed, epoch, index, _STREAM])


def random_window(
    height: int,
    width: int,
    size: int,
    rng: np.random.Generator,
    inside: np.ndarray | None = None,
) -> Window:
    """A ``size``×``size`` window of a ``height``×``width`` image (clipped to a side shorter than
    ``size``) at a uniformly drawn place; with ``inside`` (an H×W bool map), a place holding one
    of its pixels, drawn uniformly among them (uniform when it holds none)."""
    h, w = min(size, height), min(size, width)
    if inside is not None:
        where = np.flatnonzero(inside)
        if where.size:
            y, x = divmod(int(where[rng.integers(where.size)]), width)
            row = int(rng.integers(max(0, y - h + 1), min(y, height - h) + 1))
            col = int(rng.integers(max(0, x - w + 1), min(x, width - w) + 1))
            return Window(row, col, h, w)
    return Window(int(rng.integers(height - h + 1)), int(rng.integers(width - w + 1)), h, w)


def _shifted_points(points, row: int, col: int, row_key: str, col_key: str):
    """Copies of objects whose pixel position is ``row_key``/``col_key``, moved by the window."""
    out = []
    for point in points:
        moved = copy.copy(point)
        setattr(moved, row_key, getattr(point, row_key) - row)
        setattr(moved, col_key, getattr(point, col_key) - col)
        out.append(moved)
    return out


def crop_sample(sample: Sample, window: Window) -> Sample:
    """``sample`` (an H×W×C image or H×W label) narrowed to ``window``, with the metadata that
    locates pixels moved with it: ``transform`` to the window's corner, ``height``/``width``,
    the ``valid_mask``, GCP rows and columns, the RPCs' line and sample offsets."""
    rows, cols = window.slices
    meta = dict(sample.meta)
    transform = meta.get("transform")
    if transform is not None:
        if not hasattr(type(transform), "translation"):
            raise ValueError(f"cannot move a transform of type {type(transform).__name__} to a window")
        shift = type(transform).translation(window.col, window.row)
        meta["transform"] = transform @ shift if hasattr(transform, "__matmul__") else transform * shift
    if meta.get("valid_mask") is not None:
        meta["valid_mask"] = np.asarray(meta["valid_mask"])[rows, cols]
    if "height" in meta or "width" in meta:
        meta["height"], meta["width"] = window.height, window.width
    if meta.get("gcps"):
        meta["gcps"] = _shifted_points(meta["gcps"], window.row, window.col, "row", "col")
    if meta.get("rpcs") is not None:
        meta["rpcs"] = _shifted_points([meta["rpcs"]], window.row, window.col, "line_off", "samp_off")[0]
    return sample.with_array(sample.array[rows, cols], meta=meta)
