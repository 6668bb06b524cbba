"""GeoTIFF reading, band choice, normalisation, writing and polygons: georeferencing kept."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from genseg.errors import InputError

BANDS = ["blue", "green", "red", "nir"]


def write_scene(path, height=96, width=120, nodata=0, crs="EPSG:32633", bands=BANDS, seed=0, border=8):
    """A seeded uint16 scene on a 10 m UTM grid; the top ``border`` rows are nodata."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    data = rng.integers(100, 4000, (len(bands), height, width)).astype(np.uint16)
    if nodata is not None and border:
        data[:, :border] = nodata
    profile = dict(
        driver="GTiff",
        height=height,
        width=width,
        count=len(bands),
        dtype="uint16",
        crs=crs,
        transform=from_origin(600000, 5500000, 10, 10),
        nodata=nodata,
    )
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for i, name in enumerate(bands):
            dst.set_band_description(i + 1, name)
    return path


def test_the_reader_keeps_crs_transform_nodata_and_bands(tmp_path):
    from genseg.plugins.registry import find_reader, read

    path = write_scene(tmp_path / "s.tif")
    plugin, spec = find_reader(path, "image")
    assert (plugin, spec.name) == ("remote-sensing", "geotiff")
    sample = read(path, "image")
    assert sample.array.shape == (96, 120, 4) and sample.array.dtype == np.uint16
    assert sample.meta["crs"].to_epsg() == 32633
    assert sample.meta["transform"].a == 10 and sample.meta["transform"].c == 600000
    assert sample.meta["nodata"] == 0 and sample.meta["band_descriptions"] == BANDS
    assert not sample.meta["valid_mask"][:8].any() and sample.meta["valid_mask"][8:].all()


def test_a_plain_tiff_without_georeferencing_is_left_to_the_generic_reader(tmp_path):
    import tifffile

    from genseg.plugins.registry import find_reader

    tifffile.imwrite(tmp_path / "plain.tif", np.zeros((16, 16, 3), np.uint8))
    assert find_reader(tmp_path / "plain.tif", "image")[0] == "generic"


def test_preprocessing_picks_named_bands_and_keeps_nodata_out_of_the_statistics(tmp_path):
    from genseg.data.io import load_image

    path = write_scene(tmp_path / "s.tif")
    rgb = load_image(path, "remote-sensing")
    assert (
        rgb.normalised and rgb.array.shape == (96, 120, 3) and rgb.meta["bands"] == ["red", "green", "blue"]
    )
    assert (rgb.array[:8] == 0).all()  # nodata rows
    # percentiles come from valid pixels only: the 2nd percentile is far above the nodata value 0
    assert rgb.meta["band_plan"]["low"][0] > 100
    fc = load_image(path, "remote-sensing", {"composite": "false-colour"})
    assert fc.meta["bands"] == ["nir", "red", "green"]
    by_index = load_image(path, "remote-sensing", {"composite": "4,3,2"})
    np.testing.assert_array_equal(by_index.array, fc.array)


def test_sentinel2_reflectance_preset_scales_by_ten_thousand(tmp_path):
    from genseg.data.io import load_image

    names = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"]
    path = write_scene(tmp_path / "s2.tif", bands=names, border=0)
    sample = load_image(path, "remote-sensing", {"sensor": "sentinel-2"})
    assert sample.meta["bands"] == ["red", "green", "blue"]
    raw = __import__("rasterio").open(path).read(4).astype(np.float32)  # B04 = red
    np.testing.assert_allclose(sample.array[..., 0], np.clip(raw * 1e-4 / 0.3, 0, 1), atol=1e-6)


def test_a_band_index_out_of_range_lists_the_bands(tmp_path):
    from genseg.data.io import load_image

    path = write_scene(tmp_path / "s.tif")
    with pytest.raises(InputError, match=r"band index 7 is out of range.*1:blue, 2:green, 3:red, 4:nir"):
        load_image(path, "remote-sensing", {"composite": "7,3,2"})
    with pytest.raises(InputError, match="no band named 'swir16'"):
        load_image(path, "remote-sensing", {"composite": "swir16,nir,red"})
    renamed = load_image(path, "remote-sensing", {"bands": "b,g,r,n", "composite": "n,r,g"})
    assert renamed.meta["bands"] == ["n", "r", "g"]
    with pytest.raises(InputError, match="names 3 bands"):
        load_image(path, "remote-sensing", {"bands": "r,g,b"})


def test_a_geotiff_without_crs_warns_and_is_refused_under_strict(tmp_path):
    from genseg.data.io import load_image

    path = write_scene(tmp_path / "nocrs.tif", crs=None)
    with pytest.warns(UserWarning, match="no CRS"):
        load_image(path, "remote-sensing")
    with pytest.raises(InputError, match="no CRS"):
        load_image(path, "remote-sensing", {"strict": "true"})


def test_a_truncated_geotiff_is_an_error_naming_the_file(tmp_path):
    from genseg.data.io import load_image

    path = write_scene(tmp_path / "whole.tif", height=256, width=256)
    cut = tmp_path / "cut.tif"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError) as info:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load_image(cut, "remote-sensing")
    assert "cut.tif" in str(info.value)


def test_the_label_geotiff_is_written_on_the_input_grid(tmp_path):
    import rasterio

    from genseg.data.io import load_image
    from genseg.plugins.registry import write

    path = write_scene(tmp_path / "s.tif", nodata=7)
    sample = load_image(path, "remote-sensing")
    mask = np.zeros((96, 120), np.uint8)
    mask[40:60, 30:90] = 1
    out = write(tmp_path / "m.tif", mask, reference=sample)
    with rasterio.open(path) as a, rasterio.open(out) as b:
        assert (b.crs, b.transform, b.shape) == (a.crs, a.transform, a.shape)
        assert b.nodata == 7  # the input's nodata value, free in a 0/1 label raster
        labels = b.read(1)
    assert (labels[:8] == 7).all() and (labels[40:60, 30:90] == 1).all()
    assert not list(tmp_path.glob(".*partial*"))


def test_polygons_join_across_strips_and_carry_class_prompt_and_score(tmp_path, monkeypatch):
    import geopandas as gpd

    from genseg.data.io import load_image
    from genseg_remote_sensing import vector

    monkeypatch.setattr(vector, "STRIP", 10)  # the square below crosses several strips
    sample = load_image(write_scene(tmp_path / "s.tif"), "remote-sensing")
    labels = np.zeros((96, 120), np.uint8)
    labels[20:50, 30:60] = 1  # one square of class 1
    labels[70:80, 10:20] = 2
    probs = np.zeros((2, 96, 120), np.float32)
    probs[0, 20:50, 30:60] = 0.8
    probs[1, 70:80, 10:20] = 0.6
    sink = vector.open_vector_sink(tmp_path / "p.gpkg", sample, ["buildings", "water"])
    for row in range(0, 96, 7):
        sink.write_rows(row, labels[row : row + 7], probs[:, row : row + 7])
    sink.close()
    build = gpd.read_file(tmp_path / "p.gpkg", layer="buildings")
    water = gpd.read_file(tmp_path / "p.gpkg", layer="water")
    assert len(build) == 1 and len(water) == 1
    assert build.crs.to_epsg() == 32633
    assert build.geometry[0].area == pytest.approx(30 * 30 * 100)  # 10 m pixels
    minx, miny, maxx, maxy = build.geometry[0].bounds
    assert (minx, maxy) == (600000 + 30 * 10, 5500000 - 20 * 10)
    assert (build["class"][0], build["prompt"][0], water["class"][0]) == (1, "buildings", 2)
    assert build["score"][0] == pytest.approx(0.8) and water["score"][0] == pytest.approx(0.6)


def test_an_output_name_for_a_vector_format_points_to_the_vector_flag(tmp_path):
    from genseg.plugins.registry import find_writer

    with pytest.raises(InputError, match="--vector"):
        find_writer(tmp_path / "x.gpkg")
    assert find_writer(tmp_path / "x.geojson", kind="vector")[1].name == "geojson"
