"""Reading 2D images and label maps, and writing masks and overlays, for the generic plugin.

Images come back as float32 H×W×C in [0, 1] whatever their bit depth, so the rest of the
pipeline sees one convention; labels come back as int64 H×W with their values untouched.
Every failure is an :class:`~genseg.errors.InputError` naming the file and what to do.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from genseg.data.atomic import atomic_write
from genseg.data.overlay import to_rgb_uint8
from genseg.data.overlay import write_overlay_png as write_overlay_png
from genseg.data.palette import OVERLAY_COLOURS as OVERLAY_COLOURS
from genseg.data.palette import label_palette
from genseg.data.sample import Sample, warn_spatial_loss
from genseg.errors import GenSegError, InputError

if TYPE_CHECKING:
    from genseg.plugins.schemas import ClassInfo

PILLOW_IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp")
TIFF_EXTS = (".tif", ".tiff")
IMAGE_EXTS = PILLOW_IMAGE_EXTS + TIFF_EXTS
LABEL_EXTS = (".png",) + TIFF_EXTS

_PLUGIN_FIX = "convert it to PNG or TIFF, or install the domain plugin that reads this format"

MAX_PIXELS_ENV = "GENSEG_MAX_RASTER_PIXELS"
DEFAULT_MAX_PIXELS = 16384 * 16384
"""Largest image or raster (pixels, all pages) decoded whole, whatever its format; a Sentinel-2
tile (10980²) fits. It stands in for Pillow's own limit (a DecompressionBombWarning over 89 MP,
an error over 179 MP), which genseg lifts while it opens a PNG, JPEG or BMP."""


def max_raster_pixels() -> int:
    """The whole-read pixel limit: ``$GENSEG_MAX_RASTER_PIXELS`` (0 = none) or the default."""
    import os

    from genseg.errors import ConfigError

    text = os.environ.get(MAX_PIXELS_ENV, "").strip().replace("_", "")
    if not text:
        return DEFAULT_MAX_PIXELS
    if not text.isdigit():
        raise ConfigError(
            f"{MAX_PIXELS_ENV}={text!r} is not a whole number",
            fix=f"set {MAX_PIXELS_ENV} to a pixel count such as 500000000, or 0 for no limit",
        )
    return int(text)


def _check_tiff_pixels(shape: tuple[int, ...], axes: str, path: Path) -> None:
    """Refuse, from the header alone, a TIFF with more pixels than :func:`max_raster_pixels`
    (a few KB of compressed zeros can decode to gigabytes)."""
    known = len(axes) == len(shape)
    sizes = [n for a, n in zip(axes, shape, strict=False) if a not in "SC"] if known else list(shape)
    _check_pixels(sizes, "TIFF", path)


def _check_pixels(sizes: Sequence[int], fmt: str, path: Path) -> None:
    """The decompression-bomb guard: an InputError when ``sizes`` (from the header) hold more
    pixels than :func:`max_raster_pixels`, naming the fix for a trusted file."""
    pixels = int(np.prod(sizes, dtype=np.int64)) if len(sizes) else 0
    limit = max_raster_pixels()
    if limit and pixels > limit:
        dims = "×".join(str(n) for n in sizes)
        raise InputError(
            f"the {fmt} is {dims} = {pixels:,} pixels, over the {limit:,}-pixel limit for decoding an "
            "image (a guard against decompression bombs)",
            path=path,
            fix=f"if the file is trusted, raise the limit with {MAX_PIXELS_ENV}={pixels} (0 = no limit); "
            "or cut it into smaller tiles",
        )


_PILLOW_LIMIT_LOCK = threading.Lock()


@contextmanager
def _without_pillow_limit() -> Iterator[None]:
    """Pillow's bomb check off while genseg opens a file, since :func:`_check_pixels` applies
    genseg's own limit: a 100-MP PNG would otherwise get Pillow's generic
    DecompressionBombWarning, and one over 179 MP an error that ``$GENSEG_MAX_RASTER_PIXELS``
    cannot lift. Pillow's setting is a module global, so it is restored on the way out, under
    a lock so that two threads opening at once cannot leave it off."""
    with _PILLOW_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _check_path(path: Path, allowed: tuple[str, ...], what: str) -> str:
    ext = path.suffix.lower()
    if ext not in allowed:
        fix = _PLUGIN_FIX
        if what == "label" and ext in (".jpg", ".jpeg"):
            fix = "save labels losslessly as PNG or TIFF: JPEG compression changes label values"
        raise InputError(
            f"unknown {what} file extension {ext or '(none)'!r}; supported: {', '.join(allowed)}",
            path=path,
            fix=fix,
        )
    if not path.is_file():
        raise InputError(f"{what} file not found", path=path, fix="check the path")
    return ext


def _open_pillow(path: Path, what: str) -> Image.Image:
    """The decoded image, refused from its header when over genseg's pixel limit (and closed,
    file and pixels, on any failure)."""
    im = None
    try:
        with _without_pillow_limit():
            im = Image.open(path)
        _check_pixels((im.height, im.width), im.format or path.suffix.lstrip(".").upper(), path)
        im.load()
    except GenSegError:
        im.close()
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        if im is not None:
            im.close()
        raise InputError(
            f"cannot read {what}: {exc}", path=path, fix="the file is corrupt or truncated; re-export it"
        ) from None
    return im


def _read_tiff(path: Path, what: str) -> tuple[np.ndarray, str, bool]:
    """Array of the first series, its axes string, and whether its last sample is alpha."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tf:
            series = tf.series[0]
            _check_tiff_pixels(tuple(series.shape), series.axes, path)
            arr = series.asarray()
            axes = series.axes
            page = tf.pages[0]
            extra = getattr(page, "extrasamples", ()) or ()
            has_alpha = any(int(e) in (1, 2) for e in extra)  # associated / unassociated alpha
    except GenSegError:
        raise
    except Exception as exc:  # tifffile raises many types (TiffFileError, ValueError, KeyError, ...)
        raise InputError(
            f"cannot read {what} TIFF: {exc}",
            path=path,
            fix="the file is corrupt or not a TIFF; re-export it",
        ) from None
    return arr, axes, has_alpha


CLIP_WARN_SHARE = 0.01  # warn when taking floats as [0, 1] clips more than this share of the pixels


GENERIC_CLIP_FIX = (
    "rescale the image to [0, 1] first, or segment with --domain remote-sensing, which scales each band "
    "by its 2nd..98th percentile"
)


def warn_float_clipping(
    arr: np.ndarray, path, valid=None, how: str = "the generic domain", fix: str = GENERIC_CLIP_FIX
) -> None:
    """Floats are taken as [0, 1]; a float image mostly outside that range would be clipped
    without a word, so say how much and what to do."""
    if not np.issubdtype(arr.dtype, np.floating):
        return
    values = arr if valid is None else arr[np.asarray(valid)]
    finite = values[np.isfinite(values)]
    share = float(((finite < 0) | (finite > 1)).mean()) if finite.size else 0.0
    if share > CLIP_WARN_SHARE:
        import warnings

        warnings.warn(
            f"{path}: {share:.1%} of the float values lie outside [0, 1] (range "
            f"{float(finite.min()):g}..{float(finite.max()):g}) and are clipped by {how}; {fix}",
            UserWarning,
            stacklevel=3,
        )


def to_unit_float(arr: np.ndarray) -> np.ndarray:
    """Scale integers by their dtype's maximum; keep floats, clipped to [0, 1]."""
    if arr.dtype == bool:
        return arr.astype(np.float32)
    # in place on one float32 copy: a 100-megapixel image must not need several
    if np.issubdtype(arr.dtype, np.integer):
        out = arr.astype(np.float32)
        out /= float(np.iinfo(arr.dtype).max)
        return np.clip(out, 0.0, 1.0, out=out)
    if np.issubdtype(arr.dtype, np.floating):
        out = arr.astype(np.float32)
        np.nan_to_num(out, copy=False)
        return np.clip(out, 0.0, 1.0, out=out)
    raise ValueError(f"unsupported pixel type {arr.dtype}")


def _pillow_image_array(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("1", "LA", "La"):
        im = im.convert("L")
    elif mode not in ("L", "RGB", "RGBA", "F", "I") and not mode.startswith("I;16"):
        im = im.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX, PA ...
    arr = np.asarray(im)
    if im.mode == "I":
        # Pillow's 32-bit integer mode holds at most 16-bit data for PNG/BMP sources.
        arr = np.clip(arr, 0, 65535).astype(np.uint16)
    elif im.mode.startswith("I;16"):
        arr = arr.astype(np.uint16)
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]  # drop alpha
    return arr


def _tiff_to_hwc(arr: np.ndarray, axes: str, has_alpha: bool, path: Path) -> np.ndarray:
    if len(axes) == arr.ndim:
        axes = "".join(a for a, n in zip(axes, arr.shape, strict=False) if n != 1)
    else:
        axes = ""
    arr = np.squeeze(arr) if arr.ndim > 2 else arr
    if arr.ndim == 2:
        return arr[:, :, None]
    if arr.ndim == 3:
        if len(axes) == 3 and (axes[0] in "SC" or axes[2] in "SC"):
            planar = axes[0] in "SC"
        else:  # axes unknown (e.g. a stack of pages): guess that a short first axis holds channels
            planar = arr.shape[0] <= 4 < arr.shape[2]
        if planar:
            arr = np.moveaxis(arr, 0, -1)  # C×H×W -> H×W×C
        if has_alpha and arr.shape[2] in (2, 4):
            arr = arr[:, :, :-1]
        return arr
    raise InputError(
        f"expected a 2D image (H×W or H×W×C), found shape {arr.shape}",
        path=path,
        fix="store one 2D image per file, or use a domain plugin that reads volumes or stacks",
    )


def read_image(path: str | Path) -> np.ndarray:
    """Read PNG/JPEG/BMP/TIFF as float32 H×W×C in [0, 1] (C=1 for grayscale; alpha dropped)."""
    path = Path(path)
    ext = _check_path(path, IMAGE_EXTS, "image")
    if ext in TIFF_EXTS:
        arr, axes, has_alpha = _read_tiff(path, "image")
        arr = _tiff_to_hwc(arr, axes, has_alpha, path)
    else:
        im = _open_pillow(path, "image")
        try:
            arr = _pillow_image_array(im)
        finally:
            im.close()  # frees the decoded pixels (leaving ``with`` does not) before the float copy
        if arr.ndim == 2:
            arr = arr[:, :, None]
    warn_float_clipping(arr, path)
    try:
        return np.ascontiguousarray(to_unit_float(arr))
    except ValueError as exc:
        raise InputError(str(exc), path=path, fix="store integer or floating-point pixels") from None


def read_image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) from the file header where possible, without decoding all pixels."""
    path = Path(path)
    ext = _check_path(path, IMAGE_EXTS, "image")
    if ext in TIFF_EXTS:
        return tuple(read_image(path).shape[:2])  # type: ignore[return-value]
    try:
        with _without_pillow_limit(), Image.open(path) as im:
            width, height = im.size
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(
            f"cannot read image: {exc}", path=path, fix="the file is corrupt or truncated; re-export it"
        ) from None
    return height, width


def _rgb_label_error(path: Path, shape: tuple[int, ...]) -> InputError:
    return InputError(
        f"label is a colour image (shape {shape}); labels must be single-channel integer maps",
        path=path,
        fix="save one class value per pixel (PNG mode L/P/I;16 or a 2D integer TIFF), not colours",
    )


def read_label(path: str | Path) -> np.ndarray:
    """Read a PNG/TIFF integer label map as int64 H×W with its values unchanged."""
    path = Path(path)
    ext = _check_path(path, LABEL_EXTS, "label")
    if ext in TIFF_EXTS:
        arr, _axes, _alpha = _read_tiff(path, "label")
        arr = np.squeeze(arr) if arr.ndim > 2 else arr
    else:
        with _open_pillow(path, "label") as im:
            if im.mode in ("RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"):
                raise _rgb_label_error(path, (im.height, im.width, len(im.getbands())))
            # "1" reads as bool; the first band of LA / PA holds the values, the second is alpha.
            arr = np.asarray(im.getchannel(0) if im.mode in ("LA", "La", "PA") else im)
    if arr.ndim != 2:
        raise _rgb_label_error(path, arr.shape)
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.floating):
        if np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            return arr.astype(np.int64)
        raise InputError(
            "label holds non-integer values", path=path, fix="store integer class values, not probabilities"
        )
    raise InputError(f"unsupported label pixel type {arr.dtype}", path=path, fix="store integers")


def read_sample(path: str | Path, kind: str) -> Sample:
    """The built-in readers' entry point: an image ([0, 1], normalised) or a label map.

    Plain TIFFs carry no spatial metadata here; GeoTIFF georeferencing is the
    remote-sensing plugin's job, which claims ``*.tif`` before this reader does.
    """
    path = Path(path)
    if kind == "image":
        return Sample(read_image(path), path, "image", reader="pillow/tiff", normalised=True)
    if kind == "label":
        return Sample(read_label(path), path, "label", reader="pillow/tiff")
    raise ValueError(f"kind must be 'image' or 'label', got {kind!r}")


def write_mask_sample(
    path: Path,
    mask: np.ndarray,
    reference: Sample | None = None,
    classes: Sequence[ClassInfo | Mapping[str, Any]] | None = None,
) -> Path:
    """The built-in PNG writer's entry point. A PNG cannot hold spatial metadata, so when the
    input had some the loss is announced, never silent.

    A label map of several classes is written as a palette PNG (:func:`label_colours`):
    viewers show each class in its overlay colour, programs read the class index. A single
    prompt's mask stays 8-bit grey 0/255, as genseg has always written it.
    """
    warn_spatial_loss(path, reference, "PNG")
    return write_png_mask(path, mask, palette=label_colours(mask, classes))


def label_colours(
    mask: np.ndarray, classes: Sequence[ClassInfo | Mapping[str, Any]] | None = None
) -> dict[int, tuple[int, int, int]] | None:
    """Label value → colour for writing ``mask`` as a palette PNG, or None for a grey PNG.

    With ``classes`` (what each value means, hookspec 1.4): their colours when there are
    several, None for one (a binary mask). Without: the overlay colours when ``mask`` holds
    integer class indices (values within 0..254, so not a 0/255 mask), None otherwise.
    """
    if classes is not None:
        if len(classes) < 2:
            return None
        return {int(_field(c, "value")): tuple(int(v) for v in _field(c, "colour")) for c in classes}
    mask = np.asarray(mask)
    if mask.dtype == bool or not np.issubdtype(mask.dtype, np.integer) or mask.size == 0:
        return None
    lo, hi = int(mask.min()), int(mask.max())
    return {} if lo >= 0 and 0 < hi < 255 else None


def _field(record: ClassInfo | Mapping[str, Any], name: str) -> Any:
    return record[name] if isinstance(record, Mapping) else getattr(record, name)


def write_png_mask(
    path: str | Path, mask: np.ndarray, palette: Mapping[int, Sequence[int]] | None = None
) -> Path:
    """Write a 2D mask or label map as PNG, atomically.

    bool masks become 0/255 (viewable); integers in 0..255 are written as 8-bit, values up
    to 65535 as 16-bit, unchanged. With ``palette`` (label value → RGB; other values take
    the overlay colours, :func:`genseg.data.palette.label_palette`) an 8-bit map is written
    as an indexed (mode "P") PNG: the values stay the same, viewers show colours.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"write_png_mask expects a 2D array, got shape {mask.shape}")
    if mask.dtype == bool:
        mask = mask.astype(np.uint8)
        mask *= 255
    elif not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(f"write_png_mask expects an integer or bool array, got {mask.dtype}")
    lo, hi = (int(mask.min()), int(mask.max())) if mask.size else (0, 0)
    if lo < 0 or hi > 65535:
        raise ValueError(f"mask values {lo}..{hi} do not fit a PNG (0..65535)")
    # no full-size copy when the type already fits: Pillow reads a uint8 array where it lies
    im = Image.fromarray(mask.astype(np.uint8 if hi <= 255 else np.uint16, copy=False))
    if palette is not None and hi <= 255:
        im.putpalette(label_palette(palette))  # an "L" image becomes "P", its values kept
    return atomic_write(Path(path), lambda tmp: im.save(tmp, format="PNG"))


def write_image_png(path: str | Path, image: np.ndarray) -> Path:
    """Write a float [0, 1] H×W(×C) image (C = 1 or 3) as an 8-bit PNG, atomically."""
    im = Image.fromarray(to_rgb_uint8(image, keep_gray=True))
    return atomic_write(Path(path), lambda tmp: im.save(tmp, format="PNG"))
