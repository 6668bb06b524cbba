"""GeoTIFF / Cloud-Optimised GeoTIFF through rasterio, with the georeferencing in ``meta``.

``meta`` holds ``crs`` (a ``rasterio.crs.CRS`` or None), ``transform`` (an
``affine.Affine``, pixel → CRS coordinates), ``gcps`` and ``gcp_crs`` (ground control
points, when the raster is georeferenced by them), ``rpcs`` (rational polynomial
coefficients, or None), ``nodata``, ``masked`` (True when GDAL masks any pixel: a nodata
value, an alpha band or an internal mask), ``data_bands`` (1-based indices of the bands
that hold data: alpha bands are a mask, not data), ``band_descriptions`` (of those bands),
``dtype`` and, for images, ``valid_mask`` (GDAL's dataset mask: False where the pixel is
nodata or masked out). Values are the file's own (no scaling here; the domain's
preprocessing scales them), and nothing is reprojected or resampled.

A whole-raster read is refused above :func:`max_pixels` (a decompression-bomb guard);
window-by-window reads (:mod:`genseg_remote_sensing.raster`) are not limited.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

# one limit for every whole read of a raster or TIFF, the generic reader's included
from genseg.plugins.api import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV, InputError, Sample  # noqa: F401 (re-exported)
from genseg.plugins.api import max_raster_pixels as max_pixels

GDAL_CACHE_MB = 128
"""GDAL's block cache while genseg reads and writes rasters. GDAL's default (5 % of RAM) would
let a scene's memory grow with its size; a window row of a 100,000-pixel-wide scene fits."""


def gdal_env():
    """A rasterio environment with the bounded block cache (enter it around reads and writes)."""
    import rasterio

    return rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 2**20)  # rasterio passes bytes to GDALSetCacheMax


class MetadataTextError(InputError):
    """GDAL opened the raster but a text field (CRS name, tag) is not valid UTF-8."""


def _fix_for(path: Path) -> str:
    """What to do about a raster GDAL cannot read, by kind of file."""
    if path.suffix.lower() == ".vrt":
        return (
            "a file this VRT refers to is missing or damaged; check its SourceFilename entries "
            "(gdalinfo FILE shows what is wrong)"
        )
    return (
        "the file is truncated or not a GeoTIFF; download or export it again "
        "(gdalinfo FILE shows what is wrong)"
    )


def _reason(exc: BaseException) -> str:
    """GDAL's own message: rasterio often wraps it as the cause of a generic 'Read failed'."""
    cause = exc.__cause__ or exc.__context__
    text = str(exc).strip()
    if cause is not None and "previous exception" in text:
        text = str(cause).strip() or text
    return " ".join(text.split()) or type(exc).__name__


@contextmanager
def raster_errors(path: str | Path, what: str) -> Iterator[None]:
    """Turn rasterio/GDAL failures inside the block into one InputError naming the file."""
    from rasterio._err import CPLE_BaseError
    from rasterio.errors import RasterioError

    try:
        yield
    except (RasterioError, CPLE_BaseError) as exc:
        path = Path(path)
        raise InputError(f"cannot {what}: {_reason(exc)}", path=path, fix=_fix_for(path)) from None
    except UnicodeDecodeError as exc:  # a damaged CRS name or tag that rasterio decodes as UTF-8
        path = Path(path)
        raise MetadataTextError(
            f"cannot {what}: its metadata is not valid text ({exc.reason} at byte {exc.start})",
            path=path,
            fix=_fix_for(path),
        ) from None


@contextmanager
def quiet_not_georeferenced():
    """Silence GDAL's NotGeoreferencedWarning: the domain says it once, in its own words and
    naming the file (``check_crs``), and ``--strict`` refuses such a raster."""
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        yield


@contextmanager
def open_raster(path: Path):
    """``rasterio.open`` with errors that name the file (and without the not-georeferenced warning)."""
    import rasterio

    with raster_errors(path, "open the raster"), quiet_not_georeferenced():
        src = rasterio.open(path)
    with src:
        yield src


def read_window(src, window=None, indexes=None, what: str = "raster") -> np.ndarray:
    """``src.read`` whose failure (a truncated tile) is an InputError naming the file."""
    with raster_errors(src.name, f"read the {what}"):
        return src.read(indexes, window=window)


def dataset_mask(src, window=None, out_shape=None) -> np.ndarray:
    """GDAL's dataset mask as booleans (True = valid): nodata, alpha and internal masks."""
    with raster_errors(src.name, "read the raster mask"):
        return src.dataset_mask(window=window, out_shape=out_shape) > 0


def is_georeferenced(path: Path) -> bool:
    """A TIFF with a CRS, a geotransform, GCPs or RPCs: read by this plugin so they are kept.

    Asked each time a TIFF is looked up (a training epoch reads every file), so the answer is
    kept per file version (size and modification time) instead of reopening the file.
    """
    try:
        stat = Path(path).stat()
    except OSError:
        return False
    return _georeferenced(str(Path(path).absolute()), stat.st_size, stat.st_mtime_ns)


def has_no_geotransform(transform: Any) -> bool:
    """GDAL reports a raster without a geotransform as the identity (one unit per pixel at 0, 0)."""
    from affine import Affine

    return transform is None or transform == Affine.identity()


@lru_cache(maxsize=4096)
def _georeferenced(path: str, size: int, mtime_ns: int) -> bool:
    try:
        with open_raster(Path(path)) as src, raster_errors(path, "read the georeferencing"):
            placed = src.crs is not None or not has_no_geotransform(src.transform)
            return placed or bool(src.gcps[0]) or bool(src.rpcs)
    except MetadataTextError:
        return True  # a GeoTIFF whose metadata is damaged: this reader says so clearly
    except InputError:
        return False


def data_bands(src) -> list[int]:
    """1-based indices of the bands holding data (alpha bands left out, unless all are)."""
    from rasterio.enums import ColorInterp

    bands = [i + 1 for i, c in enumerate(src.colorinterp) if c != ColorInterp.alpha]
    return bands or list(range(1, src.count + 1))


def has_mask(src) -> bool:
    """True when GDAL can mask pixels of this raster (nodata value, alpha band, internal mask)."""
    from rasterio.enums import MaskFlags

    return any(MaskFlags.all_valid not in flags for flags in src.mask_flag_enums)


def spatial_meta(src) -> dict[str, Any]:
    """The raster's georeferencing and band layout (see the module docstring)."""
    with raster_errors(src.name, "read the raster's metadata"):
        bands = data_bands(src)
        gcps, gcp_crs = src.gcps
        descriptions = list(src.descriptions)
        return {
            "crs": src.crs,
            "transform": src.transform,
            "gcps": list(gcps) or None,
            "gcp_crs": gcp_crs if gcps else None,
            "rpcs": src.rpcs,
            "nodata": src.nodata,
            "masked": has_mask(src),
            "data_bands": bands,
            "band_descriptions": [descriptions[b - 1] for b in bands],
            "dtype": src.dtypes[0],
            "width": src.width,
            "height": src.height,
        }


def check_pixel_limit(src, path: Path) -> None:
    """Refuse to read a raster whole when it is larger than :func:`max_pixels`."""
    limit = max_pixels()
    pixels = src.width * src.height
    if limit and pixels > limit:
        raise InputError(
            f"the raster is {src.width}×{src.height} = {pixels:,} pixels, over the {limit:,}-pixel "
            "limit for reading a raster whole (a guard against decompression bombs)",
            path=path,
            fix=f"segment it with --domain remote-sensing (streamed tile by tile, no limit), "
            f"or raise the limit with {MAX_PIXELS_ENV}={pixels} (0 = no limit)",
        )


def read_geotiff(path: Path, kind: str):
    """A GeoTIFF as a Sample: images H×W×C (the data bands, file values), labels H×W int64."""

    path = Path(path)
    with open_raster(path) as src:
        meta = spatial_meta(src)
        check_pixel_limit(src, path)
        if kind == "label":
            array = read_window(src, indexes=1, what="label raster").astype(np.int64)
        else:
            array = np.moveaxis(read_window(src, indexes=meta["data_bands"], what="image raster"), 0, -1)
            meta["valid_mask"] = dataset_mask(src)
    return Sample(array=array, path=path, kind=kind, reader="geotiff", meta=meta)
