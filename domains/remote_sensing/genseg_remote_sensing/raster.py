"""Window-by-window reading and writing of GeoTIFFs, so a scene never has to fit in memory.

:class:`GeoTiffSource` serves normalised windows (``genseg.tiling.RasterSource``);
:class:`GeoTiffSink` writes finished label rows block by block into a tiled, compressed
GeoTIFF on the source's grid (same CRS, transform, size, GCPs and RPCs; nodata wherever the
source's mask — nodata value, alpha band or internal mask — left a pixel out), under a
temporary name renamed on ``close()``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from genseg.errors import InputError
from genseg_remote_sensing.preprocessing import STATS_MAX_PIXELS, BandPlan, check_crs, plan_bands
from genseg_remote_sensing.readers import (
    dataset_mask,
    gdal_env,
    has_no_geotransform,
    open_raster,
    quiet_not_georeferenced,
    raster_errors,
    read_window,
    spatial_meta,
)

DOMAIN = "remote-sensing"
BLOCK = 512
NAME_MAX = 255
"""Longest file name most file systems take (bytes); the temporary name must fit it too."""


def _reference(path: Path, meta: dict[str, Any], bands: list[str]):
    """A Sample carrying the scene's metadata; its array is a zero-cost view of the right shape."""
    from genseg.data.sample import Sample

    shape = (meta["height"], meta["width"], 3)
    return Sample(
        array=np.broadcast_to(np.zeros(1, np.float32), shape),
        path=path,
        kind="image",
        reader="geotiff",
        meta={**meta, "bands": bands},
        normalised=True,
    )


class GeoTiffSource:
    """Normalised windows of a GeoTIFF (h×w×3 float32 in [0, 1]) and their validity masks.

    For the remote-sensing domain the band plan is computed once for the whole scene (exact
    statistics up to :data:`STATS_MAX_PIXELS` pixels, a decimated read beyond); another
    domain's preprocessing is applied to each window as it is read.
    """

    def __init__(
        self, path: str | Path, domain: str = DOMAIN, options: Mapping[str, Any] | None = None
    ) -> None:
        self.path = Path(path)
        self.domain = domain
        self.options = dict(options or {})
        with gdal_env(), open_raster(self.path) as src:
            self.meta = spatial_meta(src)
            self.height, self.width = src.height, src.width
            if domain == DOMAIN:
                check_crs(self.meta, self.path, self.options)
                self.plan: BandPlan | None = plan_bands(
                    list(src.descriptions),
                    src.dtypes[0],
                    lambda picks: self._stats(src, picks),
                    self.options,
                    self.path,
                )
            else:
                self.plan = None
        self._src = None
        self.reference = _reference(self.path, self.meta, self.plan.bands if self.plan else [])

    def _indexes(self, picks) -> list[int]:
        """File band indices (1-based) of 0-based positions among the data bands."""
        return [self.meta["data_bands"][p] for p in picks]

    def _stats(self, src, picks: list[int]) -> np.ndarray:
        pixels = src.height * src.width
        if pixels <= STATS_MAX_PIXELS:
            values = read_window(src, indexes=self._indexes(picks), what="image raster")
            valid = dataset_mask(src)
        else:
            f = (pixels / STATS_MAX_PIXELS) ** 0.5
            shape = (max(1, int(src.height / f)), max(1, int(src.width / f)))
            with raster_errors(self.path, "read the image raster"):  # nearest: a sample
                values = src.read(self._indexes(picks), out_shape=(len(picks), *shape))
            valid = dataset_mask(src, out_shape=shape)
        return np.moveaxis(values, 0, -1)[valid]

    def read(self, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        from rasterio.windows import Window

        if self._src is None:
            import rasterio

            # One bounded-cache environment for the whole streamed run (entering one per window
            # costs ~0.1 s); the sinks write inside it too, on the same thread.
            self._env = gdal_env()
            self._env.__enter__()
            with raster_errors(self.path, "open the raster"), quiet_not_georeferenced():
                self._src = rasterio.open(self.path)
        window = Window(col, row, width, height)
        valid = dataset_mask(self._src, window=window)
        if self.plan is not None:
            raw = read_window(self._src, window, self._indexes(self.plan.picks), "image raster")
            return self.plan.apply(np.moveaxis(raw, 0, -1), valid), valid
        raw = read_window(self._src, window, self.meta["data_bands"], "image raster")
        raw = np.moveaxis(raw, 0, -1)
        from genseg.data.sample import Sample
        from genseg.plugins.registry import preprocess

        meta = {**self.meta, "valid_mask": valid}
        sample = Sample(array=raw, path=self.path, kind="image", reader="geotiff", meta=meta)
        image = preprocess(sample, self.domain, self.options).array
        return np.asarray(image, np.float32)[..., :3], valid

    def thumbnail(self, shape: tuple[int, int]) -> np.ndarray:
        """The scene decimated to ``shape`` (h×w×3, normalised) for the overlay picture."""
        with gdal_env(), open_raster(self.path) as src:
            valid = dataset_mask(src, out_shape=shape)
            if self.plan is None:
                bands = self.meta["data_bands"][:3]
                with raster_errors(self.path, "read the image raster"):
                    raw = src.read(bands, out_shape=(len(bands), *shape))
                from genseg.data.readers import to_unit_float

                return to_unit_float(np.moveaxis(raw, 0, -1)) * valid[..., None]
            with raster_errors(self.path, "read the image raster"):
                plan = self.plan.composite()  # the picture shows the three-band composite
                raw = src.read(self._indexes(plan.picks), out_shape=(3, *shape))
            return plan.apply(np.moveaxis(raw, 0, -1), valid)

    def close(self) -> None:
        if self._src is not None:
            self._src.close()
            self._src = None
            self._env.__exit__(None, None, None)


def open_geotiff(path: Path, domain: str, options: Mapping[str, Any]) -> GeoTiffSource:
    """``ReaderSpec.open_windowed`` target."""
    return GeoTiffSource(path, domain, options)


def label_nodata(source_nodata: float | None, prompts: int, masked: bool = False) -> int | None:
    """The output's nodata: the source's value when a uint8 label can hold it without clashing
    with a class (0..P), else 255; 255 too when the source masks pixels without a nodata value
    (alpha band, internal mask); None when nothing is masked."""
    if source_nodata is None:
        return 255 if masked else None
    value = float(source_nodata)
    if value.is_integer() and prompts < value <= 255:
        return int(value)
    return 255


def label_tags(prompts: list[str]) -> dict[str, str]:
    return {
        "genseg_classes": "; ".join(f"{i + 1}={p}" for i, p in enumerate(prompts)),
        "genseg_background": "0",
    }


def _block(size: int) -> int:
    return BLOCK if size >= BLOCK else max(16, -(-size // 16) * 16)


def georeferencing(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The profile keys that place the label raster: CRS and transform, or the GCPs with their
    CRS (a GeoTIFF holds one or the other), plus any RPCs."""
    if meta.get("gcps"):
        placed = {"gcps": meta["gcps"], "crs": meta.get("gcp_crs")}
    else:
        placed = {"crs": meta.get("crs")}
        if not has_no_geotransform(meta.get("transform")):
            placed["transform"] = meta["transform"]
    if meta.get("rpcs"):
        placed["rpcs"] = meta["rpcs"]
    return placed


def label_profile(meta: Mapping[str, Any], prompts: list[str]) -> dict[str, Any]:
    """A tiled, DEFLATE-compressed uint8 GeoTIFF profile on the reference's grid."""
    valid = meta.get("valid_mask")
    masked = bool(meta.get("masked")) or (valid is not None and not np.asarray(valid).all())
    return {
        "driver": "GTiff",
        "height": meta["height"],
        "width": meta["width"],
        "count": 1,
        "dtype": "uint8",
        **georeferencing(meta),
        "nodata": label_nodata(meta.get("nodata"), len(prompts), masked),
        "tiled": True,
        "blockxsize": _block(meta["width"]),
        "blockysize": _block(meta["height"]),
        "compress": "deflate",
    }


def temporary_name(path: Path) -> Path:
    """A hidden sibling of ``path`` (same suffix) whose name still fits :data:`NAME_MAX` bytes."""
    tail = f".{os.getpid()}.partial{path.suffix}"
    room = NAME_MAX - 1 - len(tail.encode())
    head = path.name.encode()[:room].decode(errors="ignore")
    return path.with_name(f".{head}{tail}")


def _open_for_writing(path: Path, profile: Mapping[str, Any]):
    """``rasterio.open(path, "w")`` in a folder created if missing; failures name the output."""
    import rasterio

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create the output folder: {exc.strerror}",
            path=path.parent,
            fix="choose an output path in a folder you can write to",
        ) from None
    with raster_errors(path, "create the output raster"), quiet_not_georeferenced():
        return rasterio.open(path, "w", **profile)


class GeoTiffSink:
    """Label rows → a GeoTIFF, one block row at a time; committed by renaming on ``close()``."""

    def __init__(self, path: Path, reference, prompts: list[str]) -> None:
        self.path = Path(path)
        self.tmp = temporary_name(self.path)
        meta = dict(reference.meta)
        if "height" not in meta:  # a plain image (PNG, untagged TIFF) read in this domain: its own grid
            shape = getattr(reference, "spatial_shape", None) or np.asarray(reference.array).shape[:2]
            meta.setdefault("height", int(shape[0]))
            meta.setdefault("width", int(shape[1]))
        self.profile = label_profile(meta, prompts)
        self.nodata = self.profile["nodata"]
        self._dst = _open_for_writing(self.tmp, self.profile)
        self._dst.update_tags(**label_tags(prompts))
        self._dst.set_band_description(1, "label")
        self._pending: list[np.ndarray] = []
        self._row = 0  # first row not yet written

    def write_rows(self, row: int, labels: np.ndarray, probabilities: np.ndarray) -> None:
        self._pending.append(labels)
        if sum(p.shape[0] for p in self._pending) >= self.profile["blockysize"]:
            self._flush()

    def _flush(self) -> None:
        from rasterio.windows import Window

        if not self._pending:
            return
        rows = np.concatenate(self._pending, axis=0)
        self._dst.write(rows[None], window=Window(0, self._row, rows.shape[1], rows.shape[0]))
        self._row += rows.shape[0]
        self._pending = []

    def close(self) -> Path:
        self._flush()
        with gdal_env():
            self._dst.close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        if not self._dst.closed:
            self._dst.close()
        self.tmp.unlink(missing_ok=True)


def open_geotiff_sink(path: Path, reference, prompts: list[str]) -> GeoTiffSink:
    """``WriterSpec.stream`` target for GeoTIFF label rasters."""
    return GeoTiffSink(path, reference, prompts)


def write_geotiff(path: Path, mask: np.ndarray, reference=None) -> Path:
    """``WriterSpec.write`` target: a whole label map on the reference's grid (or none).

    A GeoTIFF keeps a raster's CRS, transform and nodata; a medical input's affine and
    spacing are lost, which is announced (write NIfTI or DICOM-SEG to keep them)."""
    from genseg.data.sample import warn_spatial_loss

    path = Path(path)
    warn_spatial_loss(path, reference, "GeoTIFF", stores=("crs", "transform", "nodata"))
    meta = dict(reference.meta) if reference is not None else {}
    meta.setdefault("height", mask.shape[0])
    meta.setdefault("width", mask.shape[1])
    classes = int(mask.max()) if mask.size else 0
    profile = label_profile(meta, [str(i + 1) for i in range(min(classes, 254))])
    label = mask.astype(np.uint8).copy()
    valid = meta.get("valid_mask")
    if valid is not None and profile["nodata"] is not None:
        label[~np.asarray(valid)] = profile["nodata"]
    tmp = temporary_name(path)
    try:
        with _open_for_writing(tmp, profile) as dst:
            dst.write(label[None])
            dst.set_band_description(1, "label")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
