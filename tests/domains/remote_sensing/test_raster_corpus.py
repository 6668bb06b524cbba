"""Real-world raster layouts through `genseg segment`: every valid file reads, every bad one
gets one clear line, and no georeferencing or mask is lost.

The cases are small seeded rasters written with rasterio in a fixture (the equivalents of
rasterio's own test files: alpha band, internal mask, GCPs, RPCs, rotated transform, float
NaN nodata, all-nodata, uint16 with alpha). Each is segmented streamed (tile by tile) and
whole (``--tile-size 0``); the label GeoTIFF must keep the grid (size, CRS and transform, or
GCPs; RPCs) and hold nodata exactly where the source's mask leaves pixels out. When
rasterio's test files are present (``/work/shared/corpus/rasterio``, not part of a clone),
they go through the same checks.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from genseg.errors import GenSegError

SHAPE = (48, 72)
CORPUS = Path(os.environ.get("GENSEG_RASTERIO_CORPUS", "/work/shared/corpus/rasterio"))


def _profile(count: int, dtype: str, **extra) -> dict:
    from rasterio.transform import from_origin

    profile = dict(
        driver="GTiff",
        height=SHAPE[0],
        width=SHAPE[1],
        count=count,
        dtype=dtype,
        crs="EPSG:32618",
        transform=from_origin(500000, 4500000, 30, 30),
    )
    profile.update(extra)
    return {k: v for k, v in profile.items() if v is not None}


def _pixels(count: int, dtype: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = 255 if dtype == "uint8" else 4000
    return rng.integers(1, top, (count, *SHAPE)).astype(dtype)


def _outside(seed: int) -> np.ndarray:
    """A seeded ragged border left out of the image (True = masked out), like a scene's edge."""
    rows, cols = np.mgrid[: SHAPE[0], : SHAPE[1]]
    edge = 6 + np.random.default_rng(seed).integers(0, 5, SHAPE[0])[:, None]
    return (cols < edge) | (rows > SHAPE[0] - 8)


def write_alpha(path: Path, dtype: str = "uint8") -> Path:
    """RGB + alpha (like RGBA.byte.tif / RGBA.uint16.tif / alpha.tif): alpha 0 outside."""
    import rasterio

    data = _pixels(4, dtype, 1)
    data[3] = np.where(_outside(1), 0, np.iinfo(dtype).max)
    with rasterio.open(path, "w", **_profile(4, dtype, photometric="RGB", alpha="YES")) as dst:
        dst.write(data)
    return path


def write_internal_mask(path: Path) -> Path:
    """RGB with an internal per-dataset mask and no CRS (like goes.tif)."""
    import rasterio

    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(path, "w", **_profile(3, "uint8", crs=None)) as dst:
            dst.write(_pixels(3, "uint8", 2))
            dst.write_mask(np.where(_outside(2), 0, 255).astype(np.uint8))
    return path


def gcps_for(height: int, width: int) -> list:
    from rasterio.control import GroundControlPoint

    corners = [(0, 0), (0, width), (height, 0), (height, width), (height / 2, width / 2)]
    return [
        GroundControlPoint(row=r, col=c, x=-77.0 + c * 3e-4 - r * 1e-5, y=39.0 - r * 3e-4, z=0.0)
        for r, c in corners
    ]


def write_gcps(path: Path) -> Path:
    """RGB georeferenced by ground control points only, nodata 0 (like RGB.byte.gcp.vrt)."""
    import rasterio
    from rasterio.crs import CRS

    data = _pixels(3, "uint8", 3)
    data[:, _outside(3)] = 0
    profile = _profile(3, "uint8", crs=None, transform=None, nodata=0)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        dst.gcps = (gcps_for(*SHAPE), CRS.from_epsg(4326))
    return path


def rpcs_for(height: int, width: int):
    from rasterio.rpc import RPC

    num = [0.0] * 20
    den = [1.0] + [0.0] * 19
    return RPC(
        height_off=50.0,
        height_scale=500.0,
        lat_off=39.0,
        lat_scale=0.01,
        line_den_coeff=den,
        line_num_coeff=[0.0, 0.0, -1.0] + num[3:],
        line_off=height / 2,
        line_scale=height / 2,
        long_off=-77.0,
        long_scale=0.01,
        samp_den_coeff=den,
        samp_num_coeff=[0.0, 1.0] + num[2:],
        samp_off=width / 2,
        samp_scale=width / 2,
    )


def write_rpcs(path: Path) -> Path:
    """RGB in sensor geometry with RPCs and no CRS/transform, nodata 0 (like RGB.byte.rpc.vrt)."""
    import rasterio

    data = _pixels(3, "uint8", 4)
    data[:, _outside(4)] = 0
    profile = _profile(3, "uint8", crs=None, transform=None, nodata=0, rpcs=rpcs_for(*SHAPE))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def write_rotated(path: Path) -> Path:
    """One band on a transform with rotation terms (like rotated.tif)."""
    import rasterio
    from affine import Affine

    transform = Affine.translation(500000, 4500000) @ Affine.rotation(30) @ Affine.scale(30, -30)
    with rasterio.open(path, "w", **_profile(1, "uint8", transform=transform)) as dst:
        dst.write(_pixels(1, "uint8", 5))
    return path


def write_float_nan(path: Path) -> Path:
    """Float32 reflectance ×10000 (values far above 1) with NaN nodata (like float_nan.tif)."""
    import rasterio

    data = _pixels(3, "uint16", 6).astype("float32")
    data[:, _outside(6)] = np.nan
    with rasterio.open(path, "w", **_profile(3, "float32", nodata=float("nan"))) as dst:
        dst.write(data)
    return path


def write_all_nodata(path: Path) -> Path:
    """uint16, every pixel nodata (like all-nodata.tif)."""
    import rasterio

    with rasterio.open(path, "w", **_profile(3, "uint16", nodata=0)) as dst:
        dst.write(np.zeros((3, *SHAPE), np.uint16))
    return path


CASES: dict[str, Callable[[Path], Path]] = {
    "alpha": write_alpha,
    "internal-mask": write_internal_mask,
    "gcps": write_gcps,
    "rpcs": write_rpcs,
    "rotated": write_rotated,
    "float-nan": write_float_nan,
    "all-nodata": write_all_nodata,
    "uint16-alpha": lambda path: write_alpha(path, "uint16"),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("corpus")
    return {name: write(folder / f"{name}.tif") for name, write in CASES.items()}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    from genseg.plugins.testing import build_tiny_pipeline

    path = tmp_path_factory.mktemp("model") / "tiny"
    build_tiny_pipeline("dit").save_pretrained(path)
    return path


def segment(model_dir: Path, src: Path, out: Path, *args: str):
    """`genseg segment --domain remote-sensing` in process (warnings silenced)."""
    from genseg.cli.app import app

    cmd = ["segment", "-m", str(model_dir), "--domain", "remote-sensing", "-p", "road", "-o", str(out)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CliRunner().invoke(app, [*cmd, *args, str(src)])


def assert_same_grid(src: Path, out: Path) -> None:
    """``out`` is on ``src``'s grid and holds nodata exactly where ``src`` is masked out."""
    import rasterio

    with rasterio.open(src) as a, rasterio.open(out) as b:
        assert b.shape == a.shape and b.count == 1
        if a.gcps[0]:
            assert b.gcps[1] == a.gcps[1]
            got = [v for p in b.gcps[0] for v in (p.row, p.col, p.x, p.y)]
            assert got == pytest.approx([v for p in a.gcps[0] for v in (p.row, p.col, p.x, p.y)])
        else:
            assert b.crs == a.crs and b.transform.almost_equals(a.transform)
        if a.rpcs:
            assert b.rpcs is not None
            for key, value in a.rpcs.to_dict().items():
                assert b.rpcs.to_dict()[key] == pytest.approx(value, rel=1e-12)
        masked = a.dataset_mask() == 0
        labels = b.read(1)
    if masked.any():
        assert b.nodata is not None
        np.testing.assert_array_equal(labels == b.nodata, masked)
    else:
        assert b.nodata is None or not (labels == b.nodata).any()


@pytest.mark.parametrize("how", ["streamed", "whole"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_generated_case_keeps_its_grid_and_masked_pixels_are_nodata(corpus, model_dir, tmp_path, case, how):
    out = tmp_path / f"{case}.tif"
    args = ["--tile-size", "0"] if how == "whole" else []
    result = segment(model_dir, corpus[case], out, *args)
    assert result.exit_code == 0, result.output + str(result.exception)
    assert_same_grid(corpus[case], out)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_the_generated_masks_are_what_gdal_sees(corpus):
    """Each case exercises the mask it stands for (alpha, internal mask, nodata)."""
    import rasterio
    from rasterio.enums import MaskFlags

    flags = {}
    for name, path in corpus.items():
        with rasterio.open(path) as src:
            flags[name] = set(src.mask_flag_enums[0])
            assert (src.dataset_mask() == 0).any() == (name not in ("rotated",))
    assert flags["alpha"] == flags["uint16-alpha"] == {MaskFlags.per_dataset, MaskFlags.alpha}
    assert flags["internal-mask"] == {MaskFlags.per_dataset}
    assert flags["float-nan"] == flags["all-nodata"] == flags["gcps"] == {MaskFlags.nodata}
    assert flags["rotated"] == {MaskFlags.all_valid}


def test_the_alpha_band_is_a_mask_not_a_band(corpus):
    from genseg.data.io import load_image
    from genseg.plugins.registry import read

    raw = read(corpus["uint16-alpha"], "image")
    assert raw.array.shape == (*SHAPE, 3) and raw.meta["data_bands"] == [1, 2, 3]
    assert raw.meta["masked"] and not raw.meta["valid_mask"].all()
    rgb = load_image(corpus["uint16-alpha"], "remote-sensing")
    assert (rgb.array[~rgb.meta["valid_mask"]] == 0).all()


def test_a_raster_placed_by_gcps_or_rpcs_is_not_reported_as_lacking_a_crs(corpus):
    from genseg.data.io import load_image

    for case in ("gcps", "rpcs"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            load_image(corpus[case], "remote-sensing", {"strict": "true"})


@pytest.mark.parametrize("case", ["gcps", "rpcs"])
def test_polygons_from_a_raster_without_geotransform_are_one_clear_error(corpus, model_dir, tmp_path, case):
    out, polys = tmp_path / "m.tif", tmp_path / "m.gpkg"
    result = segment(model_dir, corpus[case], out, "--vector", str(polys))
    assert result.exit_code != 0 and isinstance(result.exception, GenSegError)
    assert "polygons need a geotransform" in str(result.exception)
    assert "gdalwarp" in str(result.exception)
    assert list(tmp_path.iterdir()) == []  # nothing written, no partial mask


def test_float_values_above_one_are_scaled_or_announced(corpus):
    from genseg.data.io import load_image

    path = corpus["float-nan"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scaled = load_image(path, "remote-sensing")  # percentiles: no clipping, no warning
    valid = scaled.meta["valid_mask"]
    assert 0.4 < scaled.array[valid].mean() < 0.6
    with pytest.warns(UserWarning, match=r"100\.0% of the float values .* --domain remote-sensing"):
        load_image(path, "generic")
    with pytest.warns(UserWarning, match="normalise=dtype"):
        load_image(path, "remote-sensing", {"normalise": "dtype"})


def test_a_raster_over_the_pixel_limit_is_refused_whole_but_streams(corpus, model_dir, tmp_path, monkeypatch):
    from genseg.data.io import load_image

    monkeypatch.setenv("GENSEG_MAX_RASTER_PIXELS", "1000")
    with pytest.raises(GenSegError, match=r"72×48 = 3,456 pixels, over the 1,000-pixel limit") as info:
        load_image(corpus["rotated"], "generic")
    assert "GENSEG_MAX_RASTER_PIXELS=3456" in str(info.value)
    result = segment(model_dir, corpus["rotated"], tmp_path / "m.tif")  # streamed: no whole read
    assert result.exit_code == 0, result.output + str(result.exception)
    monkeypatch.setenv("GENSEG_MAX_RASTER_PIXELS", "lots")
    with pytest.raises(GenSegError, match="not a whole number"):
        load_image(corpus["rotated"], "generic")


@pytest.mark.parametrize("how", ["streamed", "whole"])
def test_the_label_geotiff_goes_into_a_new_folder_and_takes_a_long_name(corpus, tmp_path, how):
    import rasterio

    from genseg.data.sample import Sample
    from genseg_remote_sensing.raster import GeoTiffSink, GeoTiffSource, write_geotiff

    source = GeoTiffSource(corpus["alpha"])
    labels = np.ones(SHAPE, np.uint8)
    for out in (tmp_path / "new" / "folder" / "m.tif", tmp_path / ("x" * 245 + ".tif")):
        if how == "streamed":
            sink = GeoTiffSink(out, source.reference, ["road"])
            sink.write_rows(0, labels, np.ones((1, *SHAPE), np.float32))
            sink.close()
        else:
            meta = {**source.meta, "valid_mask": None}
            write_geotiff(out, labels, reference=Sample(labels, corpus["alpha"], "image", "geotiff", meta))
        with rasterio.open(out) as b:
            assert (b.crs, b.transform, b.shape) == (source.meta["crs"], source.meta["transform"], SHAPE)
            assert b.nodata == 255  # the alpha band masks pixels, so the label raster has a nodata
    assert not [p for p in tmp_path.rglob(".*")]


def test_a_vrt_whose_source_is_missing_names_the_missing_file(tmp_path, model_dir):
    vrt = tmp_path / "scene.vrt"
    vrt.write_text(
        '<VRTDataset rasterXSize="72" rasterYSize="48"><SRS>EPSG:32618</SRS>'
        "<GeoTransform>500000, 30, 0, 4500000, 0, -30</GeoTransform>"
        '<VRTRasterBand dataType="Byte" band="1"><SimpleSource>'
        '<SourceFilename relativeToVRT="1">gone.tif</SourceFilename><SourceBand>1</SourceBand>'
        "</SimpleSource></VRTRasterBand></VRTDataset>"
    )
    result = segment(model_dir, vrt, tmp_path / "m.tif")
    assert result.exit_code != 0 and isinstance(result.exception, GenSegError)
    line = result.exception.one_line()
    assert "scene.vrt" in line and "gone.tif" in line and "VRT refers to is missing" in line
    assert not (tmp_path / "m.tif").exists()


def _corpus_files() -> list[Path]:
    return sorted(CORPUS.iterdir()) if CORPUS.is_dir() else []


@pytest.mark.slow
@pytest.mark.skipif(not _corpus_files(), reason=f"rasterio's test rasters are not in {CORPUS}")
def test_rasterio_test_files_read_or_fail_with_one_clear_line(model_dir, tmp_path):
    import rasterio

    read, errors = [], []
    for src in _corpus_files():
        out = tmp_path / f"{src.stem}.tif"
        result = segment(model_dir, src, out)
        if result.exit_code == 0:
            assert_same_grid(src, out)
            read.append(src.name)
            continue
        assert isinstance(result.exception, GenSegError), f"{src.name}: {result.exception!r}"
        assert "\n" not in result.exception.one_line()
        errors.append(src.name)
        with pytest.raises(rasterio.errors.RasterioError):  # the file really is unreadable
            with rasterio.open(src) as ds:
                ds.read()
    assert set(errors) == {"corrupt.tif", "white-gemini-iv.vrt"}
    assert len(read) == len(_corpus_files()) - 2
