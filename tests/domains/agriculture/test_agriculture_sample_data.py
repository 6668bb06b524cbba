"""Generated field scenes and diseased leaves: seeded, in the real layouts, labels that match the pixels."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genseg.data.schema import load_dataset_spec
from genseg.errors import DatasetError
from genseg.plugins import manager, registry
from genseg_agriculture import sample_data
from genseg_agriculture.scenes import CROP, PARTIAL_CROP, PARTIAL_WEED, WEED, render_field, render_leaf


@pytest.fixture(autouse=True)
def data_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GENSEG_DATA_DIR", str(tmp_path / "data"))
    manager.use_plugins(None)
    yield tmp_path
    manager.use_plugins(None)


def test_field_scene_has_rows_weeds_soil_and_ndvi_that_separates_plants():
    scene = render_field(np.random.default_rng(1), 96)
    values = set(np.unique(scene.label).tolist())
    assert {0, CROP, WEED} <= values <= {0, CROP, WEED, PARTIAL_CROP, PARTIAL_WEED}
    border = np.concatenate([scene.label[0], scene.label[-1], scene.label[:, 0], scene.label[:, -1]])
    interior = scene.label[5:-5, 5:-5]
    assert not np.isin(interior, [PARTIAL_CROP, PARTIAL_WEED]).all() and np.isin(border, [0, 3, 4]).all()
    red, nir = scene.rgb[..., 0].astype(np.float64), scene.nir.astype(np.float64)
    ndvi = (nir - red) / (nir + red)
    plant, soil = scene.label > 0, scene.label == 0
    assert np.median(ndvi[plant]) > 0.5 and np.median(ndvi[soil]) < 0.25
    assert scene.rgb[plant][:, 1].mean() > scene.rgb[plant][:, 0].mean()  # plants are green


def test_crops_stand_in_rows_and_weeds_mostly_between_them():
    """Crop pixels concentrate on a few parallel lines: project them across the rows."""
    scene = render_field(np.random.default_rng(3), 128)
    ys, xs = np.nonzero(np.isin(scene.label, [CROP, PARTIAL_CROP]))
    best = 0.0
    for theta in np.linspace(0, np.pi, 90, endpoint=False):
        across = ys * np.sin(theta) + xs * np.cos(theta)
        hist, _ = np.histogram(across, bins=64)
        best = max(best, hist.std() / (hist.mean() + 1e-9))
    assert best > 1.0  # a strongly peaked profile in the row direction


def test_leaf_lesions_lie_on_the_leaf_and_look_like_their_disease():
    rng = np.random.default_rng(5)
    seen = set()
    for _ in range(12):
        leaf = render_leaf(rng, 96)
        seen.add(leaf.disease)
        assert not (leaf.lesion & ~leaf.leaf).any()
        assert leaf.lesion.any() == (leaf.disease != "healthy")
        if leaf.disease == "rust":  # orange: red well above blue
            colour = leaf.rgb[leaf.lesion].mean(axis=0)
            assert colour[0] > colour[2] + 0.2
        if leaf.disease == "mildew":  # whitish: brighter than the healthy tissue around it
            assert leaf.rgb[leaf.lesion].mean() > leaf.rgb[leaf.leaf & ~leaf.lesion].mean() + 0.15
    assert {"rust", "blight", "mildew"} <= seen


def test_field_scenes_are_seeded_written_as_phenobench_and_trainable(tmp_path):
    root = sample_data.make_field_scenes(tmp_path / "fs", n_train=3, n_val=1, n_test=2, size=48)
    again = sample_data.make_field_scenes(tmp_path / "fs2", n_train=3, n_val=1, n_test=2, size=48)
    name = "field_00002.png"
    assert (root / "train" / "images" / name).read_bytes() == (again / "train" / "images" / name).read_bytes()
    assert (root / "test" / "semantics" / "field_00001.png").is_file()
    with Image.open(root / "train" / "semantics" / name) as im:
        assert im.mode == "L" and set(np.unique(np.asarray(im)).tolist()) <= {0, 1, 2, 3, 4}
    marker = json.loads((root / sample_data.MARKER).read_text())
    assert marker["complete"] is True and marker["params"]["counts"] == [3, 1, 2]
    from genseg_agriculture.datasets import index_phenobench

    spec = load_dataset_spec(index_phenobench("field-scenes", root))
    assert (len(spec.training), len(spec.validation), len(spec.test)) == (3, 1, 2)
    assert all(e.label for e in spec.test)  # unlike PhenoBench, the generated test split is scored


def test_generation_is_skipped_when_done_redone_when_interrupted_and_never_overwrites_foreign_files(tmp_path):
    root = sample_data.make_leaf_lesions(tmp_path / "ll", n=3, size=32)
    stamp = (root / "images" / "leaf_00000.jpg").stat().st_mtime_ns
    sample_data.make_leaf_lesions(root, n=3, size=32)
    assert (root / "images" / "leaf_00000.jpg").stat().st_mtime_ns == stamp  # nothing redone
    sample_data.make_leaf_lesions(root, n=2, size=32)  # other parameters: old files do not linger
    assert sorted(p.name for p in (root / "images").iterdir()) == ["leaf_00000.jpg", "leaf_00001.jpg"]
    marker = root / sample_data.MARKER
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "complete": False}))
    sample_data.make_leaf_lesions(root, n=2, size=32)  # an interrupted run is redone
    assert json.loads(marker.read_text())["complete"] is True
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(DatasetError, match="files that genseg did not generate"):
        sample_data.make_leaf_lesions(foreign, n=2)
    assert (foreign / "notes.txt").read_text() == "keep"


def test_leaf_lesions_load_through_the_registry_with_lesion_masks(tmp_path, monkeypatch):
    monkeypatch.setattr(
        sample_data, "make_leaf_lesions", _small(sample_data.make_leaf_lesions, n=10, size=40)
    )
    folder = registry.load_dataset("leaf-lesions")
    assert (tmp_path / "data" / "leaf-lesions" / "images" / "leaf_00009.jpg").is_file()
    spec = load_dataset_spec(folder)
    assert [c.name for c in spec.classes.values()] == ["lesion"]
    assert (len(spec.training), len(spec.validation), len(spec.test)) == (8, 1, 1)
    entry = spec.training[0]
    with (
        Image.open(folder / entry.label) as im,
        Image.open(tmp_path / "data" / "leaf-lesions" / "masks" / f"{Path(entry.image).stem}.png") as mask,
    ):
        np.testing.assert_array_equal(np.asarray(im) == 1, np.asarray(mask) >= 128)


def _small(make, **kwargs):
    def call(root):
        return make(root, **kwargs)

    return call


@pytest.mark.slow
def test_full_sample_datasets_generate_in_seconds(tmp_path):
    """The registered sizes, timed on this machine (printed with -s)."""
    start = time.perf_counter()
    fields = load_dataset_spec(registry.load_dataset("field-scenes"))
    middle = time.perf_counter()
    leaves = load_dataset_spec(registry.load_dataset("leaf-lesions"))
    end = time.perf_counter()
    print(f"field-scenes {middle - start:.1f} s, leaf-lesions {end - middle:.1f} s")
    assert (len(fields.training), len(fields.validation), len(fields.test)) == (120, 16, 24)
    assert len(leaves.training) + len(leaves.validation) + len(leaves.test) == 200
    assert middle - start < 60 and end - middle < 60
