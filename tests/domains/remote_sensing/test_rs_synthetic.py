"""The generated multispectral sample data: georeferencing, band metadata, spectral signatures, textures.

The spectral claims of the docs are measured on the written GeoTIFFs (read back with
rasterio), not taken from the generator's tables: water darker in the NIR than any
vegetation, vegetation with a high NDVI, roofs bright in every visible band, bare soil
rising from blue to NIR, and textures that are spatially correlated like a photograph
rather than pixel noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from genseg.data.schema import load_dataset_spec, resolve_path
from genseg_remote_sensing import landscape, synthetic
from genseg_remote_sensing.landscape import BARREN, BUILDING, FARMLAND, FOREST, GRASSLAND, ROAD, WATER


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    """A small generated dataset shared by the read-only tests of this module."""
    return synthetic.make_rs_scenes(tmp_path_factory.mktemp("rs"), n_train=12, n_val=2, n_test=2, size=96)


def read_pairs(root: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(reflectance 4×H×W, label H×W) of every scene, reflectance from the stored scale."""
    spec = load_dataset_spec(root)
    pairs = []
    for entry in spec.training + spec.validation + spec.test:
        with rasterio.open(resolve_path(root, entry.image)) as src:
            reflectance = src.read().astype(np.float64) * np.asarray(src.scales)[:, None, None]
        with rasterio.open(resolve_path(root, entry.label)) as src:
            pairs.append((reflectance, src.read(1)))
    return pairs


def class_means(pairs) -> dict[int, np.ndarray]:
    sums, counts = np.zeros((8, 4)), np.zeros(8)
    for reflectance, label in pairs:
        for value in range(1, 8):
            sel = label == value
            sums[value] += reflectance[:, sel].sum(axis=1)
            counts[value] += sel.sum()
    assert (counts[1:] > 0).all(), f"a class never occurs: {counts}"
    return {v: sums[v] / counts[v] for v in range(1, 8)}


def test_dataset_json_lists_every_scene_with_vocabulary_classes(scenes):
    spec = load_dataset_spec(scenes)  # also checks that every listed file exists
    assert spec.name == "rs-scenes" and spec.domain == "remote-sensing"
    assert (len(spec.training), len(spec.validation), len(spec.test)) == (12, 2, 2)
    assert {k: c.name for k, c in spec.classes.items()} == {str(k): v for k, v in landscape.CLASSES.items()}
    assert "bare soil" in spec.classes["7"].synonyms and "cropland" in spec.classes["5"].synonyms
    assert spec.ignore == [0]
    assert spec.generator == {
        "kind": "rs-scenes",
        "version": synthetic.GENERATOR_VERSION,
        "seed": 0,
        "n_train": 12,
        "n_val": 2,
        "n_test": 2,
        "size": 96,
    }


def test_scenes_are_georeferenced_multispectral_geotiffs(scenes):
    spec = load_dataset_spec(scenes)
    corners = set()
    for entry in spec.training + spec.test:
        with (
            rasterio.open(resolve_path(scenes, entry.image)) as img,
            rasterio.open(resolve_path(scenes, entry.label)) as lab,
        ):
            assert img.driver == "GTiff" and img.crs.to_epsg() == 32633 and lab.crs == img.crs
            assert (
                img.transform.a == 10.0
                and img.transform.e == -10.0
                and img.transform.b == img.transform.d == 0
            )
            assert lab.transform == img.transform and (lab.width, lab.height) == (img.width, img.height) == (
                96,
                96,
            )
            assert img.count == 4 and img.dtypes == ("uint16",) * 4 and img.nodata == 0
            assert img.descriptions == ("blue", "green", "red", "nir")
            assert [img.tags(i)["wavelength_nm"] for i in range(1, 5)] == ["490", "560", "665", "842"]
            assert img.scales == (1e-4,) * 4 and img.tags()["reflectance_scale"] == "10000"
            assert img.compression.name.lower() == "deflate"
            assert lab.count == 1 and lab.dtypes == ("uint8",) and lab.nodata == 0
            assert lab.tags()["class_3"] == "water"
            corners.add((img.transform.c, img.transform.f))
            assert 166_000 <= img.transform.c <= 834_000  # inside UTM zone 33's easting range
    assert len(corners) == len(spec.training) + len(spec.test)  # every scene has its own place


def test_class_spectra_have_the_documented_signatures(scenes):
    m = class_means(read_pairs(scenes))
    blue, green, red, nir = range(4)
    vegetation = (FOREST, GRASSLAND, FARMLAND)

    def ndvi(v: int) -> float:
        return (m[v][nir] - m[v][red]) / (m[v][nir] + m[v][red])

    assert all(m[WATER][nir] < 0.2 * m[v][nir] for v in vegetation)  # water dark in the NIR
    assert m[WATER][nir] < m[WATER][red] < m[WATER][blue] and ndvi(WATER) < 0
    assert ndvi(FOREST) > 0.7 and ndvi(GRASSLAND) > 0.6 and ndvi(FARMLAND) > 0.4
    assert all(m[v][nir] > 0.25 for v in vegetation)
    assert all(m[BUILDING][b] > 1.5 * m[v][b] for v in (*vegetation, WATER, ROAD) for b in (blue, green, red))
    assert all(m[BUILDING][b] > 0.12 for b in range(4))  # bright in every band
    assert m[BARREN][blue] < m[BARREN][green] < m[BARREN][red] < m[BARREN][nir]  # soil rises towards NIR
    assert ndvi(BARREN) < 0.3 and ndvi(ROAD) < 0.3


def test_classes_carry_spatially_correlated_photo_textures(scenes):
    """Texture from a photograph: neighbours differ far more than sensor noise makes them (so there is
    texture inside each field, not only field-to-field brightness), yet agree far more than
    independent noise would (so it is an image's structure, not noise)."""
    for value in (FOREST, BARREN):
        pairs = []
        for reflectance, label in read_pairs(scenes):
            nir = reflectance[3]
            both = (label[:, :-1] == value) & (label[:, 1:] == value)
            pairs.append(np.stack([nir[:, :-1][both], nir[:, 1:][both]]))
        left, right = np.concatenate(pairs, axis=1)
        assert (left - right).std() > 4 * np.sqrt(2) * landscape.NOISE_SIGMA, value
        assert np.corrcoef(left, right)[0, 1] > 0.5, value


def test_nodata_edges_are_zero_in_every_band_and_in_the_label(scenes):
    spec = load_dataset_spec(scenes)
    with_edge = 0
    for i, entry in enumerate(spec.training):
        with rasterio.open(resolve_path(scenes, entry.image)) as src:
            counts, valid = src.read(), src.dataset_mask() > 0
        with rasterio.open(resolve_path(scenes, entry.label)) as src:
            label = src.read(1)
        empty = (counts == 0).all(axis=0)
        assert np.array_equal(empty, label == 0) and np.array_equal(valid, ~empty)
        assert not ((counts == 0).any(axis=0) & ~empty).any()  # no valid pixel has a zero band
        if i % 5 == 2:
            assert 0.05 < empty.mean() < 0.6
            with_edge += 1
        else:
            assert not empty.any()
    assert with_edge == 2  # scenes 2 and 7 of 12


def test_generation_is_seeded_and_skipped_when_nothing_changed(tmp_path):
    a = synthetic.make_rs_scenes(tmp_path / "a", n_train=2, n_val=1, n_test=1, size=48)
    b = synthetic.make_rs_scenes(tmp_path / "b", n_train=2, n_val=1, n_test=1, size=48)
    files = sorted(p.relative_to(a) for p in a.rglob("*.tif"))
    assert files == sorted(p.relative_to(b) for p in b.rglob("*.tif")) and len(files) == 8
    for rel in files:
        with rasterio.open(a / rel) as x, rasterio.open(b / rel) as y:
            assert np.array_equal(x.read(), y.read())
    stamps = {p: p.stat().st_mtime_ns for p in a.rglob("*")}
    synthetic.make_rs_scenes(tmp_path / "a", n_train=2, n_val=1, n_test=1, size=48)
    assert {p: p.stat().st_mtime_ns for p in a.rglob("*")} == stamps
    synthetic.make_rs_scenes(tmp_path / "a", n_train=2, n_val=1, n_test=1, size=48, seed=1)
    assert load_dataset_spec(a).generator["seed"] == 1
    with (
        rasterio.open(a / "images" / "training_0000.tif") as x,
        rasterio.open(b / "images" / "training_0000.tif") as y,
    ):
        assert not np.array_equal(x.read(), y.read())
    assert not list(a.rglob(".*tmp*"))  # no temporary file left behind


def test_big_scene_is_tiled_and_blocks_join_without_seams(tmp_path):
    image, label = tmp_path / "big.tif", tmp_path / "big_label.tif"
    origin = (400_000.0, 5_500_000.0)
    out = synthetic.write_scene(image, 300, 340, seed=5, label_path=label, origin=origin, block=128)
    assert out == image
    with rasterio.open(image) as src:
        assert src.profile["tiled"] and src.block_shapes == [(128, 128)] * 4
        assert src.compression.name.lower() == "deflate" and src.crs.to_epsg() == 32633
        assert src.transform == Affine(10.0, 0.0, 400_000.0, 0.0, -10.0, 5_500_000.0)
        assert (src.height, src.width) == (300, 340) and src.descriptions == ("blue", "green", "red", "nir")
    with rasterio.open(label) as src:
        blockwise = src.read(1)
        assert src.block_shapes == [(128, 128)]
    whole = tmp_path / "whole_label.tif"
    synthetic.write_scene(
        tmp_path / "whole.tif", 300, 340, seed=5, label_path=whole, origin=origin, block=None
    )
    with rasterio.open(whole) as src:
        assert np.array_equal(src.read(1), blockwise)  # a window's content depends only on its position
    assert len(np.unique(blockwise)) >= 5
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "big.tif",
        "big_label.tif",
        "whole.tif",
        "whole_label.tif",
    ]


def test_write_scene_refuses_bad_sizes(tmp_path):
    with pytest.raises(ValueError, match="multiples of 16"):
        synthetic.write_scene(tmp_path / "x.tif", 64, 64, block=100)
    with pytest.raises(ValueError, match="at least one pixel"):
        synthetic.write_scene(tmp_path / "x.tif", 0, 64)
    assert not list(tmp_path.iterdir())


def test_scene_windows_render_the_same_pixels_wherever_they_are_cut():
    scene = landscape.plan_scene(3, 200, 200, nodata_border=True)
    _, whole, valid = landscape.render(scene, 0, 0, 200, 200)
    _, part, part_valid = landscape.render(scene, 64, 80, 100, 90)
    assert np.array_equal(whole[64:164, 80:170], part) and np.array_equal(valid[64:164, 80:170], part_valid)
    assert not valid.all() and (whole[~valid] == 0).all() and (whole[valid] > 0).all()
