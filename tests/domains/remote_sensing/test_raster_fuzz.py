"""Fuzzing the raster readers: damaged GeoTIFFs give a GenSegError, never anything else.

A small seeded GeoTIFF (tiled and DEFLATE-compressed, or striped and raw) is damaged by
hypothesis (truncated, bytes overwritten anywhere, or bytes of the header overwritten) and
handed to every entry point that reads rasters: the claim check, the whole-file reader (image
and label) and the window-by-window source. Each may succeed or raise a GenSegError; any
other exception is a bug. ``GENSEG_FUZZ_EXAMPLES`` sets the number of examples (default 25).
"""

from __future__ import annotations

import itertools
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from genseg.errors import GenSegError  # noqa: E402

EXAMPLES = int(os.environ.get("GENSEG_FUZZ_EXAMPLES", "25"))
HEADER = 512
"""Bytes at the start of the file holding the TIFF header and (for these files) the first IFD."""

_names = itertools.count()


def _geotiff_bytes(folder: Path, tiled: bool) -> bytes:
    """A 3-band uint8 GeoTIFF with a CRS, a nodata border and an alpha-free layout."""
    import rasterio
    from rasterio.transform import from_origin

    data = np.random.default_rng(7).integers(1, 255, (3, 40, 48)).astype(np.uint8)
    data[:, :4] = 0
    layout = dict(tiled=True, blockxsize=16, blockysize=16, compress="deflate") if tiled else {}
    path = folder / f"base-{tiled}.tif"
    profile = dict(driver="GTiff", height=40, width=48, count=3, dtype="uint8", nodata=0)
    profile.update(crs="EPSG:32633", transform=from_origin(600000, 5500000, 10, 10), **layout)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path.read_bytes()


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[bool, bytes]:
    folder = tmp_path_factory.mktemp("fuzz-base")
    return {tiled: _geotiff_bytes(folder, tiled) for tiled in (True, False)}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def damage(base: bytes, how: str, cut: int, edits: list[tuple[int, int]]) -> bytes:
    """``base`` truncated at ``cut`` (a fraction of its length), or with ``edits`` applied:
    (position, byte) pairs, positions anywhere or (``header``) within the first bytes."""
    if how == "truncate":
        return base[: cut % len(base)]
    data = bytearray(base)
    span = HEADER if how == "header" else len(data)
    for position, value in edits:
        data[position % span] = value
    return bytes(data)


def read_everything(path: Path) -> None:
    """Every raster entry point of the plugin, as `genseg segment`/`train` would call them."""
    from genseg_remote_sensing.raster import GeoTiffSource
    from genseg_remote_sensing.readers import is_georeferenced, read_geotiff

    is_georeferenced(path)
    for kind in ("image", "label"):
        try:
            read_geotiff(path, kind)
        except GenSegError:
            pass
    source = GeoTiffSource(path)
    try:
        source.read(0, 0, min(16, source.height), min(16, source.width))
        source.thumbnail((8, 8))
    finally:
        source.close()


@pytest.mark.fuzz
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    tiled=st.booleans(),
    how=st.sampled_from(["truncate", "anywhere", "header"]),
    cut=st.integers(0, 2**31),
    edits=st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_a_damaged_geotiff_raises_only_genseg_errors(bases, scratch, tiled, how, cut, edits):
    path = scratch / f"case-{next(_names)}.tif"  # a new name: the claim check caches per file
    path.write_bytes(damage(bases[tiled], how, cut, edits))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            read_everything(path)
    except GenSegError as exc:
        assert exc.path is not None and "\n" not in exc.one_line()
    finally:
        path.unlink(missing_ok=True)


def test_the_undamaged_base_reads_through_every_entry_point(bases):
    with tempfile.TemporaryDirectory() as folder:
        for tiled, data in bases.items():
            path = Path(folder) / f"ok-{tiled}.tif"
            path.write_bytes(data)
            read_everything(path)


def test_a_crs_name_that_is_not_utf8_is_a_clear_error(tmp_path):
    """Found by the fuzz test: rasterio decodes a local CRS's name as UTF-8."""
    import rasterio
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    from genseg_remote_sensing.readers import is_georeferenced, read_geotiff

    wkt = 'LOCAL_CS["genseg zone",UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]'
    good = tmp_path / "local.tif"
    profile = dict(driver="GTiff", height=8, width=8, count=1, dtype="uint8")
    with rasterio.open(good, "w", crs=CRS.from_wkt(wkt), transform=from_origin(0, 0, 1, 1), **profile) as dst:
        dst.write(np.ones((1, 8, 8), np.uint8))
    data = good.read_bytes()
    assert b"genseg zone" in data
    bad = tmp_path / "bad.tif"
    bad.write_bytes(data.replace(b"genseg zone", b"genseg\xaezone"))
    assert is_georeferenced(bad)  # claimed, so the error below is what the user sees
    with pytest.raises(GenSegError, match="metadata is not valid text"):
        read_geotiff(bad, "image")
