"""GeoTIFF / Cloud-Optimised GeoTIFF through rasterio, with the georeferencing in ``meta``.

``meta`` holds ``crs`` (a ``rasterio.crs.CRS`` or None), ``transform`` (an
``affine.Affine``, pixel → CRS coordinates), ``nodata``, ``band_descriptions``, ``dtype``
and, for images, ``valid_mask`` (GDAL's dataset mask: False where the pixel is nodata).
Values are the file's own (no scaling here; the domain's preprocessing scales them), and
nothing is reprojected or resampled.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from genseg.errors import InputError

_FIX_CORRUPT = (
    "the file is truncated or not a GeoTIFF; download or export it again (gdalinfo FILE shows what is wrong)"
)


GDAL_CACHE_MB = 128
"""GDAL's block cache while genseg reads and writes rasters. GDAL's default (5 % of RAM) would
let a scene's memory grow with its size; a window row of a 100,000-pixel-wide scene fits."""


def gdal_env():
    """A rasterio environment with the bounded block cache (enter it around reads and writes)."""
    import rasterio

    return rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 2**20)  # rasterio passes bytes to GDALSetCacheMax


@contextmanager
def open_raster(path: Path):
    """``rasterio.open`` with errors that name the file (and without the not-georeferenced warning)."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(path)
    except RasterioError as exc:
        raise InputError(f"cannot open the raster: {exc}", path=path, fix=_FIX_CORRUPT) from None
    with src:
        yield src


def read_window(src, window=None, indexes=None, what: str = "raster") -> np.ndarray:
    """``src.read`` whose failure (a truncated tile) is an InputError naming the file."""
    from rasterio.errors import RasterioError

    try:
        return src.read(indexes, window=window)
    except RasterioError as exc:
        raise InputError(f"cannot read the {what}: {exc}", path=Path(src.name), fix=_FIX_CORRUPT) from None


def dataset_mask(src, window=None, out_shape=None) -> np.ndarray:
    from rasterio.errors import RasterioError

    try:
        return src.dataset_mask(window=window, out_shape=out_shape) > 0
    except RasterioError as exc:
        raise InputError(
            f"cannot read the raster mask: {exc}", path=Path(src.name), fix=_FIX_CORRUPT
        ) from None


def is_georeferenced(path: Path) -> bool:
    """A TIFF with a CRS or a geotransform: read by this plugin so the georeferencing is kept.

    Asked each time a TIFF is looked up (a training epoch reads every file), so the answer is
    kept per file version (size and modification time) instead of reopening the file.
    """
    try:
        stat = Path(path).stat()
    except OSError:
        return False
    return _georeferenced(str(Path(path).absolute()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4096)
def _georeferenced(path: str, size: int, mtime_ns: int) -> bool:
    from affine import Affine

    try:
        with open_raster(Path(path)) as src:
            return src.crs is not None or src.transform != Affine.identity() or bool(src.gcps[0])
    except InputError:
        return False


def spatial_meta(src) -> dict[str, Any]:
    return {
        "crs": src.crs,
        "transform": src.transform,
        "nodata": src.nodata,
        "band_descriptions": list(src.descriptions),
        "dtype": src.dtypes[0],
        "width": src.width,
        "height": src.height,
    }


def read_geotiff(path: Path, kind: str):
    """A GeoTIFF as a Sample: images H×W×C (all bands, file values), labels H×W int64."""
    from genseg.data.sample import Sample

    path = Path(path)
    with open_raster(path) as src:
        meta = spatial_meta(src)
        if kind == "label":
            array = read_window(src, indexes=1, what="label raster").astype(np.int64)
        else:
            array = np.moveaxis(read_window(src, what="image raster"), 0, -1)
            meta["valid_mask"] = dataset_mask(src)
    return Sample(array=array, path=path, kind=kind, reader="geotiff", meta=meta)
