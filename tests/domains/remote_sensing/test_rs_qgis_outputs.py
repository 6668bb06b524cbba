"""Label rasters QGIS opens with named, coloured classes (COG, colour table, RAT, QML), the
probability raster, and polygons sieved and simplified with shared edges kept."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from test_rs_raster_io import write_scene

from genseg.errors import InputError

HEIGHT, WIDTH = 600, 700  # larger than a 512-pixel COG tile, so the COG has an overview
CLASSES = [
    {"value": 1, "prompt": "the buildings", "name": "buildings", "colour": (10, 20, 30)},
    {"value": 2, "prompt": "water", "name": "open water", "colour": (40, 50, 60)},
]


def _labels(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, (HEIGHT, WIDTH)).astype(np.uint8)
    labels[100:300, 200:500] = 1
    return labels


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from genseg_remote_sensing.raster import GeoTiffSource

    scene = write_scene(tmp_path_factory.mktemp("scene") / "s.tif", height=HEIGHT, width=WIDTH)
    return GeoTiffSource(scene).reference


def _stream(sink, labels, probabilities=None, rows: int = 37):
    probabilities = np.zeros((2, *labels.shape), np.float32) if probabilities is None else probabilities
    for row in range(0, labels.shape[0], rows):
        sink.write_rows(row, labels[row : row + rows], probabilities[:, row : row + rows])
    return sink.close()


def _rat(path) -> list[list[str]]:
    table = ET.parse(f"{path}.aux.xml").getroot().find("PAMRasterBand/GDALRasterAttributeTable")
    names = [f.findtext("Name") for f in table.findall("FieldDefn")]
    assert names == ["Value", "Class", "Prompt", "Red", "Green", "Blue", "Alpha"]
    return [[f.text or "" for f in row.findall("F")] for row in table.findall("Row")]


def _qml_palette(path) -> dict[str, tuple[str, str]]:
    palette = ET.parse(path.with_suffix(".qml")).getroot().find("pipe/rasterrenderer")
    assert palette.get("type") == "paletted"
    return {e.get("value"): (e.get("label"), e.get("color")) for e in palette.iter("paletteEntry")}


def test_the_streamed_label_raster_is_a_cog_with_colours_attribute_table_and_style(reference, tmp_path):
    import rasterio

    from genseg_remote_sensing.cog import cog_problems
    from genseg_remote_sensing.raster import open_geotiff_sink

    labels = _labels()
    labels[:8] = 255  # the scene's nodata border (write_scene), as the tiler marks it
    out = _stream(
        open_geotiff_sink(tmp_path / "m.tif", reference, ["the buildings", "water"], CLASSES), labels
    )
    assert cog_problems(out) == []
    with rasterio.open(out) as b:
        assert (b.crs, b.transform, b.shape) == (
            reference.meta["crs"],
            reference.meta["transform"],
            (600, 700),
        )
        assert b.nodata == 255 and b.overviews(1) == [2]
        assert b.colormap(1)[1][:3] == (10, 20, 30) and b.colormap(1)[2][:3] == (40, 50, 60)
        assert b.tags()["genseg_classes"] == "1=buildings; 2=open water"
        np.testing.assert_array_equal(b.read(1), labels)
    assert _rat(out) == [
        ["0", "background", "", "0", "0", "0", "0"],
        ["1", "buildings", "the buildings", "10", "20", "30", "255"],
        ["2", "open water", "water", "40", "50", "60", "255"],
    ]
    assert _qml_palette(out) == {
        "0": ("background", "#000000"),
        "1": ("buildings", "#0a141e"),
        "2": ("open water", "#28323c"),
    }
    assert not list(tmp_path.glob(".*"))  # no temporary left


def test_overviews_take_the_most_frequent_label_not_a_mean(reference, tmp_path):
    import rasterio

    from genseg_remote_sensing.raster import open_geotiff_sink

    labels = np.ones((HEIGHT, WIDTH), np.uint8)
    labels[::2, ::2] = 3  # a mean of 1 and 3 would invent class 2
    labels[::2, 1::2] = 3
    labels[1::2, ::2] = 3
    out = _stream(open_geotiff_sink(tmp_path / "m.tif", reference, ["a", "b", "c"]), labels)
    with rasterio.open(out) as b:
        overview = b.read(1, out_shape=(HEIGHT // 2, WIDTH // 2))
    assert set(np.unique(overview)) == {3}


def test_without_class_records_the_prompts_and_overlay_colours_name_the_values(reference, tmp_path):
    import rasterio

    from genseg.data.classes import class_colour
    from genseg_remote_sensing.raster import open_geotiff_sink

    out = _stream(open_geotiff_sink(tmp_path / "m.tif", reference, ["road", "field"]), _labels())
    with rasterio.open(out) as b:
        assert b.colormap(1)[2][:3] == class_colour(1)
    assert [row[1] for row in _rat(out)] == ["background", "road", "field"]


def test_the_whole_raster_writer_through_the_registry_puts_the_sidecars_beside_the_output(
    reference, tmp_path
):
    from genseg.data.sample import Sample
    from genseg.plugins.registry import write
    from genseg_remote_sensing.cog import cog_problems

    sample = Sample(
        np.zeros((HEIGHT, WIDTH, 3), np.float32), reference.path, "image", "geotiff", reference.meta
    )
    out = write(tmp_path / "whole.tif", _labels(), reference=sample, classes=CLASSES, model="tiny")
    assert cog_problems(out) == []
    assert [row[1] for row in _rat(out)] == ["background", "buildings", "open water"]
    assert _qml_palette(out)["2"][0] == "open water"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["whole.qml", "whole.tif", "whole.tif.aux.xml"]


def test_a_whole_label_map_without_classes_names_the_values_it_holds(tmp_path):
    from genseg_remote_sensing.raster import write_geotiff

    labels = np.zeros((40, 50), np.uint8)
    labels[5:10, 5:10], labels[20:30, 20:30] = 2, 5
    out = write_geotiff(tmp_path / "m.tif", labels)
    assert [row[:2] for row in _rat(out)] == [["0", "background"], ["2", "class 2"], ["5", "class 5"]]


def test_a_plain_tiled_geotiff_is_no_cog(tmp_path):
    import rasterio

    from genseg_remote_sensing.cog import cog_problems

    profile = dict(driver="GTiff", height=HEIGHT, width=WIDTH, count=1, dtype="uint8", tiled=True)
    with rasterio.open(tmp_path / "plain.tif", "w", **profile) as dst:
        dst.write(_labels()[None])
    problems = cog_problems(tmp_path / "plain.tif")
    assert "larger than 512 pixels but without internal overviews" in problems
    assert any("layout marker" in p for p in problems)


def test_the_probability_raster_has_a_named_band_per_prompt_in_percent(reference, tmp_path):
    import rasterio

    from genseg_remote_sensing.cog import cog_problems
    from genseg_remote_sensing.raster import open_probability_sink

    labels = _labels()
    labels[:8] = 255
    probs = np.random.default_rng(1).random((2, HEIGHT, WIDTH)).astype(np.float32)
    out = _stream(
        open_probability_sink(tmp_path / "m.probabilities.tif", reference, ["a", "b"], CLASSES), labels, probs
    )
    assert cog_problems(out) == []
    with rasterio.open(out) as b:
        assert (b.count, b.dtypes[0], b.nodata, b.scales) == (2, "uint8", 255, (0.01, 0.01))
        assert b.descriptions == ("buildings", "open water") and b.transform == reference.meta["transform"]
        assert [c.name for c in b.colorinterp] == ["gray", "undefined"]  # no band read as RGB or alpha
        stored = b.read()
    assert (stored[:, :8] == 255).all()  # nodata where the label raster has nodata
    np.testing.assert_array_equal(stored[:, 8:], np.rint(probs[:, 8:] * 100).astype(np.uint8))


def _squares(cells: dict[tuple[int, int], int], size: int = 1):
    """Polygons of unit pixels grouped by id: {(row, col): id} → {id: polygon}."""
    from shapely import box, union_all

    groups: dict[int, list] = {}
    for (r, c), key in cells.items():
        groups.setdefault(key, []).append(box(c, r, c + size, r + size))
    return {k: union_all(v) for k, v in groups.items()}


def test_a_small_region_joins_the_neighbour_it_shares_most_edge_with_and_small_holes_fill():
    from shapely import Polygon, box

    from genseg_remote_sensing.generalise import sieve_polygons

    big_a = box(0, 0, 10, 10).difference(box(2, 2, 3, 3))  # a one-pixel hole
    big_b = box(10, 0, 20, 10)
    speck = box(9, 10, 12, 11)  # 3 px under both: 1 px of edge with A, 2 px with B
    lone = box(30, 30, 31, 31)  # background all around
    kept, index = sieve_polygons([big_a, big_b, speck, lone], [1, 2, 1, 2], min_area=4)
    assert index == [0, 1]
    assert kept[0].equals(Polygon(box(0, 0, 10, 10).exterior))  # hole filled, speck not taken
    assert kept[1].area == pytest.approx(100 + 3) and kept[1].covers(speck)


def test_coverage_simplification_keeps_neighbours_sharing_their_edges():
    from shapely import coverage_is_valid, get_num_coordinates, union_all

    from genseg_remote_sensing.generalise import simplify_coverage

    # two classes split along a pixel staircase (the diagonal of a 40-pixel square)
    cells = {(r, c): 1 if c < r else 2 for r in range(40) for c in range(40)}
    raw = list(_squares(cells).values())
    simple = simplify_coverage(raw, 1.0)
    assert coverage_is_valid(np.asarray(simple, dtype=object))
    assert sum(g.area for g in simple) == pytest.approx(1600)  # no gap, no overlap
    assert union_all(simple).area == pytest.approx(1600)
    assert (
        get_num_coordinates(np.asarray(simple, dtype=object)).sum()
        < get_num_coordinates(np.asarray(raw, dtype=object)).sum() / 4
    )


def test_the_vector_sink_sieves_and_simplifies_by_default_and_not_when_told(reference, tmp_path):
    import geopandas as gpd

    from genseg_remote_sensing.vector import open_vector_sink

    labels = np.zeros((HEIGHT, WIDTH), np.uint8)
    rows, cols = np.mgrid[:HEIGHT, :WIDTH]
    labels[(rows - 300) ** 2 + (cols - 350) ** 2 < 150**2] = 1  # a staircase-edged disc
    labels[10:11, 10:12] = 2  # a two-pixel speck
    counts = {}
    for name, simplify, min_area in (("raw", 0, 0), ("default", None, None)):
        sink = open_vector_sink(tmp_path / f"{name}.geojson", reference, ["a", "b"], CLASSES)
        sink.generalise(simplify, min_area)
        frame = gpd.read_file(_stream(sink, labels))
        counts[name] = (len(frame), int(frame.geometry.count_coordinates().sum()))
        assert list(frame["name"][:1]) == ["buildings"]
    assert counts["raw"][0] == 2 and counts["default"][0] == 1  # the speck is under 4 pixels
    assert counts["default"][1] < counts["raw"][1] / 2


def test_a_negative_tolerance_is_one_clear_error(reference, tmp_path):
    from genseg_remote_sensing.vector import open_vector_sink

    sink = open_vector_sink(tmp_path / "p.gpkg", reference, ["a"])
    with pytest.raises(InputError, match="--min-area must be 0 or more"):
        sink.generalise(None, -1.0)


@pytest.mark.parametrize("tiles", ["streamed", "whole"])
def test_segment_probabilities_writes_the_probability_raster_beside_the_mask(
    rs_segment, model_dir, tmp_path, tiles
):
    import rasterio

    scene = write_scene(tmp_path / "scene.tif", height=70, width=90)
    out = tmp_path / "out" / "land.tif"
    extra = ["--tile-size", "0"] if tiles == "whole" else []
    result = rs_segment(
        model_dir, "-p", "forest", "-p", "water", "-o", str(out), "--probabilities", *extra, str(scene)
    )
    assert result.exit_code == 0, result.output
    with rasterio.open(out.with_name("land.probabilities.tif")) as p, rasterio.open(out) as m:
        assert p.descriptions == ("forest", "water") and (p.crs, p.transform) == (m.crs, m.transform)
        np.testing.assert_array_equal(p.read(1) == 255, m.read(1) == 255)  # the same nodata pixels
    assert (tmp_path / "out" / "land.qml").is_file() and (tmp_path / "out" / "land.tif.aux.xml").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "m.png", "--probabilities"], "no installed writer stores probabilities as .png"),
        (["-o", "m.tif", "--simplify", "5"], "no --vector output was given"),
    ],
)
def test_options_that_cannot_apply_fail_before_anything_is_written(
    rs_segment, model_dir, tmp_path, args, message
):
    scene = write_scene(tmp_path / "scene.tif", height=40, width=40)
    args = [str(tmp_path / a) if a.startswith("m.") else a for a in args]
    result = rs_segment(model_dir, "-p", "forest", *args, str(scene))
    assert result.exit_code != 0 and message in str(result.exception or result.output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.tif"]
