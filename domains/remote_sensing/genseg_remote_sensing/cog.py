"""Cloud-Optimised GeoTIFFs: GDAL's COG driver, and a check of the layout it promises.

A COG is a tiled GeoTIFF whose overviews are inside the file and whose headers and tiles are
ordered so that a client reads the part it shows with a few range requests (QGIS, GDAL's
/vsicurl/, web tilers). GDAL's COG driver only copies an existing dataset, so genseg writes a
tiled GTiff first and copies it (:func:`to_cog`); overviews are resampled by the most
frequent value (labels keep their classes) or by the mean (probabilities).
"""

from __future__ import annotations

from pathlib import Path

from genseg_remote_sensing.readers import gdal_env, raster_errors

COG_BLOCK = 512
"""Tile size of the COG (GDAL's default; a client reads 512×512 tiles)."""


def to_cog(src: Path, dst: Path, resampling: str, predictor: bool = False) -> None:
    """Copy the GTiff ``src`` to a COG at ``dst`` (DEFLATE, internal overviews by ``resampling``:
    ``MODE`` for labels, ``AVERAGE`` for probabilities); tags, colour table, band
    descriptions, nodata, CRS and transform carry over."""
    import rasterio.shutil

    options = {
        "compress": "DEFLATE",
        "blocksize": COG_BLOCK,
        "overview_resampling": resampling,
        "overviews": "AUTO",
        "bigtiff": "IF_SAFER",
    }
    if predictor:
        options["predictor"] = "YES"  # the floating-point predictor for float bands
    with gdal_env(), raster_errors(dst, "write the cloud-optimised GeoTIFF"):
        rasterio.shutil.copy(str(src), str(dst), driver="COG", **options)


def cog_problems(path: Path) -> list[str]:
    """What keeps ``path`` from being a cloud-optimised GeoTIFF (empty: it is one).

    The checks of GDAL's ``validate_cloud_optimized_geotiff.py``, through rasterio: a GTiff,
    tiled and with internal overviews when larger than 512 pixels, GDAL's COG layout marker
    (the ghost header the COG driver writes), the main image's header before its overviews'
    and every overview's tiles before those of the next larger level.
    """
    import rasterio

    problems: list[str] = []
    with gdal_env(), raster_errors(path, "open the raster"), rasterio.open(path) as src:
        if src.driver != "GTiff":
            return [f"driver is {src.driver}, not GTiff"]
        large = src.width > 512 or src.height > 512
        overviews = src.overviews(1)
        if large and src.block_shapes[0][1] == src.width and src.width > 1:
            problems.append("larger than 512 pixels but not tiled")
        if large and not overviews:
            problems.append("larger than 512 pixels but without internal overviews")
        if src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") != "COG":
            problems.append("no COG layout marker (ghost header) in the file")

        def item(name: str, ovr: int | None) -> int:
            value = src.get_tag_item(name, "TIFF", bidx=1, ovr=ovr)
            return int(value) if value else 0

        ifds = [item("IFD_OFFSET", None)] + [item("IFD_OFFSET", i) for i in range(len(overviews))]
        if ifds != sorted(ifds):
            problems.append(f"image headers out of order: {ifds}")
        data = [item("BLOCK_OFFSET_0_0", None)] + [item("BLOCK_OFFSET_0_0", i) for i in range(len(overviews))]
        for level in range(len(data) - 1):
            if data[level] and data[level + 1] and data[level] < data[level + 1]:
                problems.append(f"tiles of level {level} come before those of the smaller level {level + 1}")
    return problems
