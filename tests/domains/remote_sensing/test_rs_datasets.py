"""The remote-sensing dataset registrations: cards, and loaders run on fake copies in the real layouts.

Each loader indexes a tiny seeded copy written by ``remote_sensing_fakes.py`` (beside it); the index
must list the right files, classes, ignored values and split sizes, land under
``$GENSEG_DATA_DIR/_index`` and leave the user's folder untouched. Image/label pairs on
different grids or CRSs must be refused with both files named.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import remote_sensing_fakes as fixtures
from affine import Affine
from PIL import Image

from genseg.data.schema import load_dataset_spec, resolve_path
from genseg.errors import DatasetError
from genseg.plugins import manager, registry
from genseg.plugins.schemas import DatasetCatalog, load_package_json, resolve_target
from genseg_remote_sensing import datasets as rd

CATALOG = load_package_json("genseg_remote_sensing", "data/datasets.json", DatasetCatalog)
CARDS = {reg.card.name: reg for reg in CATALOG.datasets}
PUBLIC = ["loveda", "inria", "deepglobe-landcover"]


@pytest.fixture(autouse=True)
def index_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Indexes go to tmp_path/_index; plugins are discovered afresh for each test."""
    monkeypatch.setenv("GENSEG_DATA_DIR", str(tmp_path))
    manager.use_plugins(None)
    yield tmp_path
    manager.use_plugins(None)


def listing(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its size and modification time, to prove nothing changed."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def sizes(spec) -> tuple[int, int, int]:
    return len(spec.training), len(spec.validation), len(spec.test)


def names(spec) -> dict[str, str]:
    return {k: c.name for k, c in spec.classes.items()}


# --- catalogue ------------------------------------------------------------------------------


def test_catalog_matches_known_providers_and_loaders_resolve():
    known = registry.known_providers()["datasets"]
    assert {n for n, dist in known.items() if dist == "genseg-plugin-remote-sensing"} == set(CARDS)
    assert set(CARDS) == {*PUBLIC, "rs-scenes", "landsat-nc"}
    for name, reg in CARDS.items():
        card = reg.card
        assert card.domain == "remote-sensing" and card.url.startswith("https://") and card.citation
        assert card.licence and card.layout and card.classes
        assert reg.loader.startswith("genseg_remote_sensing.datasets:")
        assert callable(resolve_target(reg.loader)), name
    assert "arXiv:2110.08733" in CARDS["loveda"].card.citation
    assert "CC BY-NC-SA 4.0" in CARDS["loveda"].card.licence
    assert "10.1109/IGARSS.2017.8127684" in CARDS["inria"].card.citation
    assert "arXiv:1805.06561" in CARDS["deepglobe-landcover"].card.citation


@pytest.mark.parametrize("name", PUBLIC)
def test_missing_root_names_the_download_url(name, tmp_path):
    root = tmp_path / "nowhere"
    with pytest.raises(DatasetError) as err:
        resolve_target(CARDS[name].loader)(root)
    assert CARDS[name].card.url in str(err.value) and str(root) in str(err.value)
    assert not root.exists()


# --- LoveDA ---------------------------------------------------------------------------------


def test_loveda_is_indexed_with_official_splits_and_no_data_ignored(tmp_path):
    root = fixtures.make_fake_loveda(tmp_path / "user", n=2)
    before = listing(root)
    folder = registry.load_dataset("loveda", root)
    assert folder == tmp_path / "_index" / "loveda"
    spec = load_dataset_spec(folder)
    assert spec.domain == "remote-sensing" and sizes(spec) == (4, 4, 4)
    assert names(spec) == {
        "2": "building",
        "3": "road",
        "4": "water",
        "5": "barren land",
        "6": "forest",
        "7": "farmland",
    }
    assert list(names(spec).values()) == CARDS["loveda"].card.classes
    assert "barren" in spec.classes["5"].synonyms and "agriculture" in spec.classes["7"].synonyms
    assert spec.ignore == [0] and "1" not in spec.classes  # background: negative for every prompt
    for split, folder_name in (("training", "Train"), ("validation", "Val")):
        entries = spec.entries(split)
        assert {Path(e.image).parts[-3] for e in entries} == {"Urban", "Rural"}
        for entry in entries:
            image, label = Path(entry.image), Path(entry.label)
            assert (
                image.is_absolute() and image.parts[-4] == folder_name and image.parent.name == "images_png"
            )
            assert label == image.parent.parent / "masks_png" / image.name
            assert not image.name.startswith("._")
    assert all(e.label is None and "Test" in Path(e.image).parts for e in spec.test)
    values = np.unique(np.asarray(Image.open(spec.training[0].label)))
    assert set(values) == set(range(8))  # every LoveDA value occurs, 0 included
    assert listing(root) == before


def test_loveda_missing_mask_is_named(tmp_path):
    root = fixtures.make_fake_loveda(tmp_path / "user", n=2)
    gone = sorted((root / "Val" / "Rural" / "masks_png").iterdir())[1]
    gone.unlink()
    with pytest.raises(DatasetError, match=gone.name) as err:
        rd.load_loveda(root)
    assert str(gone) in str(err.value)


def test_loveda_mask_of_another_size_names_both_files(tmp_path):
    root = fixtures.make_fake_loveda(tmp_path / "user", n=1, size=24)
    mask = next((root / "Train" / "Rural" / "masks_png").iterdir())
    Image.fromarray(np.zeros((20, 24), np.uint8)).save(mask)
    image = root / "Train" / "Rural" / "images_png" / mask.name
    with pytest.raises(DatasetError) as err:
        rd.load_loveda(root)
    assert str(mask) in str(err.value) and str(image) in str(err.value) and "24×20" in str(err.value)


# --- Inria ----------------------------------------------------------------------------------


def test_inria_is_indexed_with_tiles_one_to_five_as_validation(tmp_path):
    base = fixtures.make_fake_inria(tmp_path / "user")
    before = listing(base)
    folder = rd.load_inria(tmp_path / "user")  # the parent of AerialImageDataset works too
    spec = load_dataset_spec(folder)
    assert sizes(spec) == (4, 2, 2)
    assert {Path(e.image).name for e in spec.validation} == {"austin1.tif", "tyrol-w1.tif"}
    assert {Path(e.image).name for e in spec.training} == {
        "austin6.tif",
        "austin7.tif",
        "tyrol-w6.tif",
        "tyrol-w7.tif",
    }
    assert {k: (c.name, spec.class_values(k)) for k, c in spec.classes.items()} == {"1": ("building", [255])}
    for entry in spec.training + spec.validation:
        assert Path(entry.label) == base / "train" / "gt" / Path(entry.image).name
    assert {Path(e.image).name for e in spec.test} == {"bellingham1.tif", "innsbruck1.tif"}
    assert all(e.label is None for e in spec.test)
    assert listing(base) == before


def test_inria_fixture_has_real_georeferencing(tmp_path):
    base = fixtures.make_fake_inria(tmp_path / "user")
    with rasterio.open(base / "train" / "images" / "austin6.tif") as src:
        assert src.crs.to_epsg() == 26914 and src.count == 3 and src.dtypes[0] == "uint8"
        assert src.transform == Affine(0.3, 0.0, 616500.0 + 5 * 1500.0, 0.0, -0.3, 3345000.0)
    with rasterio.open(base / "train" / "gt" / "tyrol-w6.tif") as src:
        assert src.crs.to_epsg() == 32632 and src.count == 1
        assert set(np.unique(src.read(1))) == {0, 255}


def _rewrite(path: Path, **changes) -> None:
    """Write ``path`` again with its pixels and some profile fields changed."""
    with rasterio.open(path) as src:
        profile, data = src.profile, src.read()
    profile.update(changes)
    if "height" in changes:
        data = data[:, : changes["height"]]
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


@pytest.mark.parametrize(
    ("change", "word"),
    [
        ({"crs": "EPSG:32614"}, "CRS EPSG:32614 vs EPSG:26914"),
        ({"transform": Affine(0.3, 0.0, 616503.0 + 5 * 1500.0, 0.0, -0.3, 3345000.0)}, "transform"),
        ({"transform": Affine(0.6, 0.0, 616500.0 + 5 * 1500.0, 0.0, -0.6, 3345000.0)}, "transform"),
        ({"height": 30}, "size 40×30 vs 40×40"),
    ],
)
def test_inria_label_off_the_image_grid_names_both_files(tmp_path, change, word):
    base = fixtures.make_fake_inria(tmp_path / "user")
    label, image = base / "train" / "gt" / "austin6.tif", base / "train" / "images" / "austin6.tif"
    _rewrite(label, **change)
    with pytest.raises(DatasetError) as err:
        rd.load_inria(base)
    text = str(err.value)
    assert str(label) in text and str(image) in text and word in text
    assert not (tmp_path / "_index" / "inria" / "dataset.json").exists()


def test_raster_pair_check_accepts_equal_grids_and_reports_unreadable_files(tmp_path):
    base = fixtures.make_fake_inria(tmp_path / "user")
    image, label = base / "train" / "images" / "austin7.tif", base / "train" / "gt" / "austin7.tif"
    rd.check_raster_pair(image, label)
    label.write_bytes(b"not a tiff")
    with pytest.raises(DatasetError, match="cannot read the raster") as err:
        rd.check_raster_pair(image, label)
    assert err.value.path == str(label)


def test_inria_tile_names_split_into_place_and_number():
    assert rd.inria_tile(Path("tyrol-w12.tif")) == ("tyrol-w", 12)
    assert rd.inria_tile(Path("austin1.tif")) == ("austin", 1)
    with pytest.raises(DatasetError):
        rd.inria_tile(Path("readme.tif"))


# --- DeepGlobe Land Cover -------------------------------------------------------------------


def nearest_colour_classes(mask: np.ndarray) -> np.ndarray:
    """Independent reference: the class of the nearest table colour (1-6; unknown 0)."""
    table = np.array(list(rd.DEEPGLOBE_COLOURS.values()), float)
    distance = ((mask[..., None, :].astype(float) - table) ** 2).sum(-1)
    index = distance.argmin(-1)
    return np.where(index == len(table) - 1, 0, index + 1)


def test_deepglobe_colour_masks_become_label_maps_in_the_index(tmp_path):
    root = fixtures.make_fake_deepglobe(tmp_path / "user", n=5)
    before = listing(root)
    folder = registry.load_dataset("deepglobe-landcover", root)
    spec = load_dataset_spec(folder)
    assert names(spec) == {
        "1": "built-up area",
        "2": "farmland",
        "3": "grassland",
        "4": "forest",
        "5": "water",
        "6": "barren land",
    }
    assert spec.ignore == [0] and sizes(spec) == (3, 1, 1)
    entries = spec.training + spec.validation + spec.test
    ids = sorted(int(Path(e.image).name.split("_")[0]) for e in entries)
    assert [int(Path(e.image).name.split("_")[0]) for e in spec.test] == ids[:1]  # natural id order
    for entry in entries:
        image = Path(entry.image)
        assert image.parent == root / "train"
        label_path = resolve_path(folder, entry.label)
        assert label_path.parent == folder / "labels"
        label = np.asarray(Image.open(label_path))
        mask = np.asarray(Image.open(root / "train" / image.name.replace("_sat.jpg", "_mask.png")))
        assert np.array_equal(label, nearest_colour_classes(mask))
        assert set(np.unique(label)) == set(range(7))
    assert listing(root) == before


def test_deepglobe_labels_are_rebuilt_only_when_the_mask_is_newer(tmp_path):
    import os

    root = fixtures.make_fake_deepglobe(tmp_path / "user", n=3)
    folder = rd.load_deepglobe_landcover(root)
    labels = sorted((folder / "labels").iterdir())
    made = {p: p.stat().st_mtime_ns for p in labels}
    rd.load_deepglobe_landcover(root)
    assert {p: p.stat().st_mtime_ns for p in labels} == made
    mask = sorted(root.glob("train/*_mask.png"))[0]
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(mask)
    later = max(made.values()) + 10**9
    os.utime(mask, ns=(later, later))
    rd.load_deepglobe_landcover(root)
    rebuilt = folder / "labels" / mask.name.replace("_mask.png", ".png")
    assert rebuilt.stat().st_mtime_ns != made[rebuilt]
    assert not np.asarray(Image.open(rebuilt)).any()  # all unknown now


def test_deepglobe_missing_mask_and_wrong_size_are_named(tmp_path):
    root = fixtures.make_fake_deepglobe(tmp_path / "user", n=3)
    masks = sorted(root.glob("train/*_mask.png"))
    Image.fromarray(np.zeros((16, 32, 3), np.uint8)).save(masks[0])
    image = root / "train" / masks[0].name.replace("_mask.png", "_sat.jpg")
    with pytest.raises(DatasetError) as err:
        rd.load_deepglobe_landcover(root)
    assert str(masks[0]) in str(err.value) and str(image) in str(err.value)
    masks[1].unlink()
    with pytest.raises(DatasetError, match=masks[1].name):
        rd.load_deepglobe_landcover(root)


def test_deepglobe_label_binarises_each_channel_at_128():
    colours = np.array(
        [
            [[0, 255, 255], [250, 240, 3], [255, 0, 255], [10, 200, 12]],
            [[0, 0, 255], [129, 128, 200], [0, 0, 0], [255, 0, 0]],
        ],
        np.uint8,
    )
    assert rd.deepglobe_label(colours).tolist() == [[1, 2, 3, 4], [5, 6, 0, 0]]


# --- generated sample data through the registry ---------------------------------------------


def test_rs_scenes_are_generated_into_the_given_root(tmp_path):
    folder = registry.load_dataset("rs-scenes", tmp_path / "rs")
    assert folder == tmp_path / "rs"
    spec = load_dataset_spec(folder)
    assert sizes(spec) == (48, 8, 8) and list(names(spec).values()) == CARDS["rs-scenes"].card.classes
    assert "rangeland" in spec.classes["6"].synonyms and spec.ignore == [0]
