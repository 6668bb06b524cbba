"""`genseg segment --domain remote-sensing`: tiled, streamed, georeferenced outputs and polygons."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_rs_raster_io import write_scene


def _message(result) -> str:
    return result.output + str(result.exception or "")


def test_segment_writes_a_label_geotiff_and_polygons_on_the_scene_grid(rs_segment, model_dir, tmp_path):
    import geopandas as gpd
    import pyogrio
    import rasterio

    scene = write_scene(tmp_path / "scene.tif", height=100, width=130)
    out, polys = tmp_path / "buildings.tif", tmp_path / "buildings.gpkg"
    raw = ("--simplify", "0", "--min-area", "0")  # the polygons follow the pixels exactly
    result = rs_segment(
        model_dir, "-p", "buildings", "-p", "water", "-o", str(out), "--vector", str(polys), *raw, str(scene)
    )
    assert result.exit_code == 0, result.output
    with rasterio.open(scene) as a, rasterio.open(out) as b:
        assert (b.crs, b.transform, b.shape, b.count, b.dtypes[0]) == (
            a.crs,
            a.transform,
            a.shape,
            1,
            "uint8",
        )
        assert b.profile["tiled"] and b.profile["compress"] == "deflate"
        labels, valid = b.read(1), a.dataset_mask() > 0
    assert b.nodata == 255  # the scene's nodata (0) is background in a label map, so 255 stands for it
    np.testing.assert_array_equal(labels == 255, ~valid)  # nodata exactly where the scene had it
    assert set(np.unique(labels[valid])) <= {0, 1, 2}
    layers = dict(pyogrio.list_layers(polys))
    assert set(layers) == {"buildings", "water"}
    frame = gpd.read_file(polys, layer="buildings")
    assert frame.crs.to_epsg() == 32633
    assert list(frame.columns) == ["class", "name", "prompt", "score", "geometry"]
    # the polygons cover exactly the class-1 pixels (10 m × 10 m each)
    assert frame.geometry.area.sum() == pytest.approx((labels == 1).sum() * 100)
    assert (tmp_path / "buildings_overlay.png").is_file()


def test_a_streamed_run_equals_the_in_memory_run_tile_for_tile(model_dir, tmp_path):
    from genseg.data.io import load_image
    from genseg.pipeline import load_pipeline
    from genseg.tiling import ArraySink, ArraySource, pipeline_predictor, segment_raster
    from genseg_remote_sensing.raster import GeoTiffSource

    scene = write_scene(tmp_path / "scene.tif", height=90, width=110)
    pipe = load_pipeline(str(model_dir))
    whole = load_image(scene, "remote-sensing")
    runs = []
    for source in (GeoTiffSource(scene), ArraySource(whole.array, whole.meta["valid_mask"])):
        sink = ArraySink(90, 110, 2)
        predict = pipeline_predictor(pipe, ["buildings", "water"], seed=3)
        segment_raster(predict, source, sink, 2, tile=32, overlap=8, batch_size=5, progress=False)
        runs.append(sink)
    np.testing.assert_allclose(runs[0].probabilities, runs[1].probabilities, atol=1e-5)
    np.testing.assert_array_equal(runs[0].labels, runs[1].labels)


def test_an_all_nodata_tile_is_skipped_and_written_as_nodata(model_dir, tmp_path):
    import rasterio

    from genseg.pipeline import load_pipeline
    from genseg.segment_tiled import segment_tiled
    from genseg_remote_sensing.raster import GeoTiffSource

    scene = write_scene(
        tmp_path / "scene.tif", height=64, width=64, nodata=0, border=32
    )  # top tile row empty
    outputs = {"mask": tmp_path / "m.tif", "overlay": tmp_path / "m_overlay.png"}
    _, _, report = segment_tiled(
        load_pipeline(str(model_dir)),
        scene,
        ["road"],
        outputs,
        32,
        overlap=0,
        source=GeoTiffSource(scene),
        progress=False,
    )
    assert report.tiles == 4 and report.skipped_nodata == 2 and report.predicted == 2
    with rasterio.open(outputs["mask"]) as b:
        labels = b.read(1)
    assert (labels[:32] == b.nodata).all() and (labels[32:] != b.nodata).all()


def test_strict_refuses_a_scene_without_crs_and_writes_nothing(rs_segment, model_dir, tmp_path):
    scene = write_scene(tmp_path / "nocrs.tif", crs=None)
    out = tmp_path / "out.tif"
    result = rs_segment(model_dir, "-p", "road", "--strict", "-o", str(out), str(scene))
    assert result.exit_code != 0 and "no CRS" in _message(result)
    assert not out.exists() and not list(tmp_path.glob("*overlay*"))
    warned = rs_segment(model_dir, "-p", "road", "-o", str(out), str(scene))
    assert warned.exit_code == 0, warned.output
    assert out.exists()


def test_a_bad_vector_name_fails_before_anything_is_written(rs_segment, model_dir, tmp_path):
    scene = write_scene(tmp_path / "scene.tif")
    out = tmp_path / "out.tif"
    result = rs_segment(
        model_dir, "-p", "road", "-o", str(out), "--vector", str(tmp_path / "p.shp"), str(scene)
    )
    assert result.exit_code != 0 and "vector writer" in _message(result)
    assert not out.exists()


def test_a_plain_png_written_as_tif_in_this_domain_gets_a_label_tiff_on_its_own_grid(
    rs_segment, model_dir, tmp_path
):
    import rasterio

    from genseg.plugins.testing import make_fake_image

    src = make_fake_image(tmp_path / "field.png", size=(40, 56))
    out = tmp_path / "labels.tif"
    result = rs_segment(model_dir, "-p", "buildings", "-o", str(out), str(src))
    assert result.exit_code == 0, _message(result)
    with rasterio.open(out) as ds:
        assert (ds.height, ds.width, ds.count) == (40, 56, 1) and ds.crs is None


def test_a_scene_with_a_crs_but_no_geotransform_warns_once_in_genseg_words(rs_segment, model_dir, tmp_path):
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    scene = tmp_path / "crs_only.tif"
    data = np.random.default_rng(0).integers(0, 255, (3, 40, 40), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(
            scene, "w", driver="GTiff", height=40, width=40, count=3, dtype="uint8", crs="EPSG:32617"
        ) as dst:
            dst.write(data)
    out = tmp_path / "out.tif"
    refused = rs_segment(model_dir, "-p", "road", "--strict", "-o", str(out), str(scene))
    assert refused.exit_code != 0 and "no geotransform" in _message(refused)
    assert not out.exists()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = rs_segment(model_dir, "-p", "road", "-o", str(out), str(scene))
    assert result.exit_code == 0, _message(result)
    assert not [w for w in caught if issubclass(w.category, NotGeoreferencedWarning)]
    assert [str(w.message) for w in caught if "no geotransform" in str(w.message)] == [
        f"{scene}: the raster has a CRS (EPSG:32617) but no geotransform, "
        "so its outputs cannot be placed on a map"
    ]
