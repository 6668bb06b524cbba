"""Window-by-window reading and writing of GeoTIFFs, so a scene never has to fit in memory.

:class:`GeoTiffSource` serves normalised windows (``genseg.tiling.RasterSource``);
:class:`GeoTiffSink` writes finished label rows block by block into a tiled, compressed
GeoTIFF on the source's grid (same CRS, transform, size, GCPs and RPCs; nodata wherever the
source's mask — nodata value, alpha band or internal mask — left a pixel out) and copies it
to a cloud-optimised GeoTIFF with overviews, colour table, attribute table and QGIS style
(:mod:`genseg_remote_sensing.cog`, :mod:`genseg_remote_sensing.styles`) under a temporary
name renamed on ``close()``. :class:`ProbabilitySink` does the same for the per-prompt
probabilities (one band per prompt, in percent).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from genseg.plugins.api import InputError, Sample, preprocess, to_unit_float, warn_spatial_loss
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
from genseg_remote_sensing.styles import LabelClass, classes_in, colour_table, label_classes, write_sidecars

DOMAIN = "remote-sensing"
BLOCK = 512
NAME_MAX = 255
"""Longest file name most file systems take (bytes); the temporary name must fit it too."""


def _reference(path: Path, meta: dict[str, Any], bands: list[str]):
    """A Sample carrying the scene's metadata; its array is a zero-cost view of the right shape."""

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


def label_tags(classes: list[LabelClass], model: str | None = None) -> dict[str, str]:
    """GeoTIFF metadata naming each value (read by any GDAL client, kept by the COG copy)."""
    tags = {
        "genseg_classes": "; ".join(f"{c.value}={c.name}" for c in classes),
        "genseg_prompts": "; ".join(f"{c.value}={c.prompt}" for c in classes),
        "genseg_background": "0",
    }
    if model:
        tags["genseg_model"] = model
    return tags


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


def temporary_name(path: Path, tag: str = "partial") -> Path:
    """A hidden sibling of ``path`` (same suffix) whose name still fits :data:`NAME_MAX` bytes."""
    tail = f".{os.getpid()}.{tag}{path.suffix}"
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


def _grid(reference) -> dict[str, Any]:
    """The reference's metadata with its size, also for a plain image (PNG, untagged TIFF)
    read in this domain, which has no raster metadata: its own grid."""
    meta = dict(reference.meta) if reference is not None else {}
    if "height" not in meta and reference is not None:
        shape = getattr(reference, "spatial_shape", None) or np.asarray(reference.array).shape[:2]
        meta.setdefault("height", int(shape[0]))
        meta.setdefault("width", int(shape[1]))
    return meta


def _discard(path: Path) -> None:
    """Remove a temporary raster and the PAM file GDAL may have put beside it."""
    path.unlink(missing_ok=True)
    pam = path.name + ".aux.xml"
    if len(pam.encode()) <= NAME_MAX:  # else GDAL could not have written it either
        path.with_name(pam).unlink(missing_ok=True)


class _RowsToCog:
    """Rows → a tiled temporary GTiff, one block row at a time; ``close()`` copies it to a
    cloud-optimised GeoTIFF under a second temporary name and renames that to ``path``."""

    resampling = "MODE"
    predictor = False

    def __init__(self, path: Path, profile: dict[str, Any]) -> None:
        self.path = Path(path)
        self.tmp = temporary_name(self.path)
        self.profile = profile
        self._dst = _open_for_writing(self.tmp, profile)
        self._pending: list[np.ndarray] = []
        self._row = 0  # first row not yet written

    def _add(self, rows: np.ndarray) -> None:
        """``rows``: bands × h × width, in order."""
        self._pending.append(rows)
        if sum(p.shape[1] for p in self._pending) >= self.profile["blockysize"]:
            self._flush()

    def _flush(self) -> None:
        from rasterio.windows import Window

        if not self._pending:
            return
        rows = np.concatenate(self._pending, axis=1)
        self._dst.write(rows, window=Window(0, self._row, rows.shape[2], rows.shape[1]))
        self._row += rows.shape[1]
        self._pending = []

    def _commit(self) -> Path:
        """The COG at ``path`` (temporaries removed whatever happens)."""
        from genseg_remote_sensing.cog import to_cog

        cog = temporary_name(self.path, "cog")
        try:
            self._flush()
            with gdal_env():
                self._dst.close()
            to_cog(self.tmp, cog, self.resampling, self.predictor)
            os.replace(cog, self.path)
        finally:
            for leftover in (self.tmp, cog):
                _discard(leftover)
        return self.path

    def close(self) -> Path:
        return self._commit()

    def abort(self) -> None:
        if not self._dst.closed:
            self._dst.close()
        _discard(self.tmp)


class GeoTiffSink(_RowsToCog):
    """Label rows → a cloud-optimised label GeoTIFF with a colour table (overviews by mode),
    its attribute table (``.aux.xml``) and QGIS style (``.qml``) beside it; committed by
    renaming on ``close()``."""

    def __init__(
        self, path: Path, reference, prompts: list[str], classes=None, model: str | None = None
    ) -> None:
        meta = _grid(reference)
        self.classes = label_classes(prompts, classes)
        profile = label_profile(meta, prompts)
        self.nodata = profile["nodata"]
        super().__init__(path, profile)
        self._dst.update_tags(**label_tags(self.classes, model))
        self._dst.set_band_description(1, "label")
        self._dst.write_colormap(1, colour_table(self.classes, self.nodata))

    def write_rows(self, row: int, labels: np.ndarray, probabilities: np.ndarray) -> None:
        self._add(labels[None])

    def close(self) -> Path:
        sidecars = write_sidecars(self.path, self.classes)
        try:
            return self._commit()
        except BaseException:
            for sidecar in sidecars:
                sidecar.unlink(missing_ok=True)
            raise


def open_geotiff_sink(
    path: Path, reference, prompts: list[str], classes=None, model: str | None = None
) -> GeoTiffSink:
    """``WriterSpec.stream`` target for GeoTIFF label rasters."""
    return GeoTiffSink(path, reference, prompts, classes, model)


PROBABILITY_NODATA = 255
PROBABILITY_SCALE = 0.01
"""Probabilities are stored as whole percent (0-100, uint8) with GDAL scale 0.01: a client that
applies the scale reads 0-1, one that does not reads percent. On a 1-megapixel scene with
four prompts this takes 2.4 MB against 13.1 MB as float32, for a step of 0.01."""


class ProbabilitySink(_RowsToCog):
    """Probability rows → a cloud-optimised GeoTIFF, one band per prompt (described by its class
    name) in percent (:data:`PROBABILITY_SCALE`), on the label raster's grid; nodata (255)
    where the label raster has nodata, overviews by the mean."""

    resampling = "AVERAGE"
    predictor = True

    def __init__(
        self, path: Path, reference, prompts: list[str], classes=None, model: str | None = None
    ) -> None:
        from rasterio.enums import ColorInterp

        meta = _grid(reference)
        self.classes = label_classes(prompts, classes)
        self.nodata = label_profile(meta, prompts)["nodata"]  # the label raster's, to mark the same pixels
        valid = meta.get("valid_mask")
        self._valid = np.asarray(valid, bool) if valid is not None else None
        profile = {
            **label_profile(meta, prompts),
            "count": len(prompts),
            "nodata": PROBABILITY_NODATA,
            "predictor": 2,
            "photometric": "MINISBLACK",  # separate measurements, not red, green, blue and alpha
        }
        super().__init__(path, profile)
        self._dst.colorinterp = [ColorInterp.gray] + [ColorInterp.undefined] * (len(prompts) - 1)
        tags = label_tags(self.classes, model)
        self._dst.update_tags(**tags, genseg_values="probability in percent (0-100; scale 0.01 gives 0-1)")
        self._dst.scales = (PROBABILITY_SCALE,) * len(prompts)
        self._dst.offsets = (0.0,) * len(prompts)
        for band, c in enumerate(self.classes, start=1):
            self._dst.set_band_description(band, c.name)

    def write_rows(self, row: int, labels: np.ndarray, probabilities: np.ndarray) -> None:
        percent = np.rint(np.clip(probabilities, 0.0, 1.0) * 100).astype(np.uint8)
        invalid = labels == self.nodata if self.nodata is not None else np.zeros(labels.shape, bool)
        if self._valid is not None:
            invalid |= ~self._valid[row : row + labels.shape[0]]
        percent[:, invalid] = PROBABILITY_NODATA
        self._add(percent)


def open_probability_sink(
    path: Path, reference, prompts: list[str], classes=None, model: str | None = None
) -> ProbabilitySink:
    """``WriterSpec.stream`` target of the probability raster (``NAME.probabilities.tif``)."""
    return ProbabilitySink(path, reference, prompts, classes, model)


def write_geotiff(
    path: Path, mask: np.ndarray, reference=None, classes=None, model: str | None = None
) -> Path:
    """``WriterSpec.write`` target: a whole label map on the reference's grid (or none), as a
    cloud-optimised GeoTIFF with colour table, attribute table and QGIS style.

    A GeoTIFF keeps a raster's CRS, transform and nodata; a medical input's affine and
    spacing are lost, which is announced (write NIfTI or DICOM-SEG to keep them)."""

    path = Path(path)
    warn_spatial_loss(path, reference, "GeoTIFF", stores=("crs", "transform", "nodata"))
    meta = _grid(reference)
    meta.setdefault("height", mask.shape[0])
    meta.setdefault("width", mask.shape[1])
    found = label_classes([], classes) if classes else classes_in(mask, None)
    top = max([c.value for c in found], default=1)  # the nodata value must not clash with a class
    profile = label_profile(meta, [""] * min(top, 254))
    if not classes and profile["nodata"] is not None:
        found = [c for c in found if c.value != profile["nodata"]]
    label = mask.astype(np.uint8).copy()
    valid = meta.get("valid_mask")
    if valid is not None and profile["nodata"] is not None:
        label[~np.asarray(valid)] = profile["nodata"]
    sink = _RowsToCog(path, profile)
    try:
        sink._dst.update_tags(**label_tags(found, model))
        sink._dst.set_band_description(1, "label")
        sink._dst.write_colormap(1, colour_table(found, profile["nodata"]))
        sink._add(label[None])
    except BaseException:
        sink.abort()
        raise
    # beside the temporary name genseg gives a writer, the registry moves them with the output
    sidecars = write_sidecars(path, found)
    try:
        sink.close()
    except BaseException:
        for sidecar in sidecars:
            sidecar.unlink(missing_ok=True)
        raise
    return path
