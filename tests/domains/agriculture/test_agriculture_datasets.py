"""The agricultural dataset loaders on fake copies in the real layouts: images, masks and class names.

Each loader indexes a tiny seeded copy written by ``agriculture_fakes.py`` (beside this file); the index
must list the right files, merge labels exactly as documented, name the classes from the
vocabulary, land under ``$GENSEG_DATA_DIR/_index`` and leave the user's folder untouched.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import agriculture_fakes as fixtures
import numpy as np
import pytest
from PIL import Image

from genseg.data.schema import load_dataset_spec, resolve_path
from genseg.errors import DatasetError
from genseg.plugins import manager, registry
from genseg.plugins.schemas import DatasetCatalog, load_package_json, resolve_target
from genseg_agriculture import datasets as ad

CATALOG = {
    reg.card.name: reg
    for reg in load_package_json("genseg_agriculture", "data/datasets.json", DatasetCatalog).datasets
}


@pytest.fixture(autouse=True)
def index_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Indexes go to tmp_path/_index; plugins are discovered afresh for each test."""
    monkeypatch.setenv("GENSEG_DATA_DIR", str(tmp_path / "data"))
    manager.use_plugins(None)
    yield tmp_path
    manager.use_plugins(None)


def listing(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def grey(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("L")) >= 128


def label_of(folder: Path, entry) -> np.ndarray:
    with Image.open(resolve_path(folder, entry.label)) as im:
        return np.asarray(im).astype(np.int64)


def test_cards_match_known_providers_and_loaders_resolve():
    known = registry.known_providers()["datasets"]
    ours = {name for name, dist in known.items() if dist == "genseg-plugin-agriculture"}
    assert ours <= set(CATALOG) and {"field-scenes", "leaf-lesions"} <= set(CATALOG)
    for name, reg in CATALOG.items():
        card = reg.card
        assert (
            card.domain == "agriculture" and card.url and card.licence and card.citation and card.classes
        ), name
        assert callable(resolve_target(reg.loader)), name
    assert "arXiv:2001.01306" in CATALOG["agriculture-vision"].card.citation
    assert CATALOG["phenobench"].card.licence == "CC-BY-SA 4.0"


# --- Agriculture-Vision ---------------------------------------------------------------------


def test_agriculture_vision_classes_labels_and_splits(tmp_path):
    base = fixtures.make_fake_agriculture_vision(tmp_path / "av")
    before = listing(tmp_path / "av")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every 2021 folder is known to the vocabulary
        folder = ad.load_agriculture_vision(tmp_path / "av")
    assert folder == tmp_path / "data" / "_index" / "agriculture-vision"
    assert listing(tmp_path / "av") == before  # nothing written into the user's folder
    spec = load_dataset_spec(folder)
    assert spec.domain == "agriculture"
    names = [c.name for c in spec.classes.values()]
    assert names == [
        "double plant",
        "planter skip",
        "standing water",
        "waterway",
        "weed cluster",
        "nutrient deficiency",
        "drydown",
        "endrow",
        "storm damage",
    ]
    assert "water" in spec.classes["3"].synonyms  # the 2021 folder name is a synonym
    assert (len(spec.training), len(spec.validation), len(spec.test)) == (3, 2, 2)
    assert all(e.label is None for e in spec.test)
    folder_of = {ad.av_vocabulary_name(f): f for f in fixtures.AV_CLASSES_2021}
    overlaps, highest = 0, 0
    for split, entries in (("train", spec.training), ("val", spec.validation)):
        for entry in entries:
            image = Path(entry.image)
            assert image.parent == base / split / "images" / "rgb"
            label = label_of(folder, entry)
            highest = max(highest, int(label.max()))
            valid = grey(base / split / "boundaries" / f"{image.stem}.png") & grey(
                base / split / "masks" / f"{image.stem}.png"
            )
            assert valid.sum() < valid.size and not label[~valid].any()  # invalid pixels are in no class
            for key, cls in spec.classes.items():
                source = grey(base / split / "labels" / folder_of[cls.name] / f"{image.stem}.png")
                np.testing.assert_array_equal(np.isin(label, spec.class_values(key)), source & valid)
            overlaps += int(
                (np.isin(label, spec.class_values("1")) & np.isin(label, spec.class_values("2"))).sum()
            )
    assert overlaps > 0  # the fixture's first two classes overlap and both survive the merge
    assert highest >= 2**8  # nine classes: bit 8 needs the 16-bit label maps


def test_agriculture_vision_images_read_as_rgb_nir_and_train_as_three_channels(tmp_path):
    from genseg.data.folder_dataset import PromptedSegmentationDataset

    fixtures.make_fake_agriculture_vision(
        tmp_path / "av", classes=fixtures.AV_CLASSES_2020, folder="Agriculture-Vision"
    )
    folder = ad.load_agriculture_vision(tmp_path / "av")
    spec = load_dataset_spec(folder)
    assert [c.name for c in spec.classes.values()][:2] == ["cloud shadow", "double plant"]
    sample = registry.read(spec.training[0].image, "image")
    assert sample.reader == "rgb-nir-pair" and sample.array.shape == (24, 24, 4)
    assert label_of(folder, spec.training[0]).max() < 2**6  # six classes: 8-bit label maps
    data = PromptedSegmentationDataset([folder], "validation", resolution=24, transform=_identity)
    item = data[0]
    assert item["image"].shape == (3, 24, 24) and item["mask"].shape == (1, 24, 24)
    assert item["prompt"] == item["class_name"] and item["class_name"] in [
        c.name for c in spec.classes.values()
    ]


def test_agriculture_vision_label_of_another_size_is_refused(tmp_path):
    base = fixtures.make_fake_agriculture_vision(tmp_path / "av", counts=(2, 0, 0))
    stem = sorted((base / "train" / "images" / "rgb").iterdir())[0].stem
    bad = base / "train" / "labels" / "weed_cluster" / f"{stem}.png"
    Image.fromarray(np.zeros((20, 24), np.uint8)).save(bad)
    with pytest.raises(DatasetError, match=rf"mask is 24×20 but its image {stem}.jpg is 24×24") as err:
        ad.load_agriculture_vision(tmp_path / "av")
    assert err.value.path == str(bad)


def test_agriculture_vision_unknown_class_folder_warns_and_keeps_its_name(tmp_path):
    base = fixtures.make_fake_agriculture_vision(
        tmp_path / "av", counts=(2, 1, 0), classes=("weed_cluster", "hail_damage")
    )
    with pytest.warns(
        UserWarning, match=r"labels/hail_damage: class folder 'hail_damage' is not in the agriculture"
    ):
        folder = ad.load_agriculture_vision(tmp_path / "av")
    spec = load_dataset_spec(folder)
    classes = {c.name: key for key, c in spec.classes.items()}
    assert set(classes) == {"weed cluster", "hail_damage"}
    assert spec.classes[classes["hail_damage"]].synonyms == ["hail damage"]
    entry = spec.training[0]
    source = grey(base / "train" / "labels" / "hail_damage" / f"{Path(entry.image).stem}.png")
    valid = grey(base / "train" / "boundaries" / f"{Path(entry.image).stem}.png") & grey(
        base / "train" / "masks" / f"{Path(entry.image).stem}.png"
    )
    np.testing.assert_array_equal(
        np.isin(label_of(folder, entry), spec.class_values(classes["hail_damage"])), source & valid
    )


def test_agriculture_vision_reindex_with_a_new_class_folder_rebuilds_every_label(tmp_path):
    base = fixtures.make_fake_agriculture_vision(
        tmp_path / "av", counts=(2, 0, 0), classes=("waterway", "weed_cluster")
    )
    folder = ad.load_agriculture_vision(tmp_path / "av")
    first = load_dataset_spec(folder)
    stems = [Path(e.image).stem for e in first.training]
    for stem in stems:  # a new class that sorts first in the vocabulary: every bit moves
        Image.fromarray(np.full((24, 24), 255, np.uint8)).save(
            (base / "train" / "labels" / "cloud_shadow").mkdir(exist_ok=True)
            or base / "train" / "labels" / "cloud_shadow" / f"{stem}.png"
        )
    spec = load_dataset_spec(ad.load_agriculture_vision(tmp_path / "av"))
    assert [c.name for c in spec.classes.values()] == ["cloud shadow", "waterway", "weed cluster"]
    for entry in spec.training:
        label = label_of(folder, entry)
        ww = grey(base / "train" / "labels" / "waterway" / f"{Path(entry.image).stem}.png")
        valid = label > 0  # cloud shadow covers every valid pixel
        np.testing.assert_array_equal(np.isin(label, spec.class_values("2")), ww & valid)


def test_agriculture_vision_missing_nir_or_folders_are_errors(tmp_path):
    with pytest.raises(DatasetError, match="no train/, val/ or test/ folder with images/rgb/") as err:
        ad.load_agriculture_vision(tmp_path)
    assert "agriculture-vision.com" in str(err.value)
    base = fixtures.make_fake_agriculture_vision(tmp_path / "av", counts=(2, 0, 0))
    nir = sorted((base / "train" / "images" / "nir").iterdir())[0]
    nir.unlink()
    with pytest.raises(DatasetError, match="an Agriculture-Vision train file is missing") as err:
        ad.load_agriculture_vision(tmp_path / "av")
    assert err.value.path == str(nir)


# --- PhenoBench -----------------------------------------------------------------------------


def test_phenobench_semantics_classes_and_splits(tmp_path):
    from genseg.data.folder_dataset import PromptedSegmentationDataset

    base = fixtures.make_fake_phenobench(tmp_path / "pb")
    before = listing(tmp_path / "pb")
    folder = registry.load_dataset("phenobench", tmp_path / "pb")
    assert listing(tmp_path / "pb") == before
    spec = load_dataset_spec(folder)
    assert {c.name: spec.class_values(k) for k, c in spec.classes.items()} == {
        "crop": [1, 3],
        "weed": [2, 4],
        "plant": [1, 2, 3, 4],
    }
    assert "weeds between the rows" in spec.classes["2"].synonyms
    assert (len(spec.training), len(spec.validation), len(spec.test)) == (3, 2, 2)
    assert all(e.label is None and Path(e.image).name.startswith("phenoBench_") for e in spec.test)
    entry = spec.training[0]
    assert Path(entry.label) == base / "train" / "semantics" / Path(entry.image).name  # used where it lies
    semantics = label_of(folder, entry)
    assert {1, 2, 3, 4} <= set(np.unique(semantics).tolist())
    data = PromptedSegmentationDataset([folder], "training", resolution=32, transform=_identity)
    crop = next(
        data[i] for i in range(len(data)) if data.items[i][0] == entry and data[i]["class_name"] == "crop"
    )
    np.testing.assert_array_equal(crop["mask"][0].numpy() > 0, np.isin(semantics, [1, 3]))


def _identity(image, mask):
    return {"image": image, "mask": mask}


def test_phenobench_semantics_of_another_size_or_missing_is_refused(tmp_path):
    base = fixtures.make_fake_phenobench(tmp_path / "pb", counts=(2, 0, 0))
    first = sorted((base / "train" / "semantics").iterdir())[0]
    Image.fromarray(np.zeros((16, 32), np.uint8)).save(first)
    with pytest.raises(DatasetError, match="semantics map is 32×16 but its image is 32×32"):
        ad.load_phenobench(tmp_path / "pb")
    first.unlink()
    with pytest.raises(DatasetError, match="a train image has no semantics map"):
        ad.load_phenobench(tmp_path / "pb")


# --- leaf disease ---------------------------------------------------------------------------


def test_leaf_disease_originals_binarised_and_split_by_group(tmp_path):
    root = fixtures.make_fake_leaf_disease(tmp_path / "leaf")
    before = listing(root)
    folder = ad.load_leaf_disease(root)
    assert listing(root) == before
    spec = load_dataset_spec(folder)
    assert [c.name for c in spec.classes.values()] == ["lesion"] and "leaf disease" in spec.classes[
        "1"
    ].synonyms
    assert (len(spec.training), len(spec.validation), len(spec.test)) == (8, 2, 2)
    assert all(Path(e.image).parent == root / "data" / "data" / "images" for e in spec.training)
    for entry in spec.training:
        stem = Path(entry.image).stem
        np.testing.assert_array_equal(
            label_of(folder, entry), grey(root / "data" / "data" / "masks" / f"{stem}.png")
        )


def test_leaf_disease_augmented_copies_stay_with_their_original(tmp_path):
    root = fixtures.make_fake_leaf_disease(tmp_path / "leaf", n=12, augmented=2)
    spec = load_dataset_spec(ad.load_leaf_disease(root / "aug_data" / "aug_data"))
    splits = {"training": spec.training, "validation": spec.validation, "test": spec.test}
    groups = {
        split: {ad.leaf_group(Path(e.image).stem) for e in entries} for split, entries in splits.items()
    }
    assert groups["test"] == {"00000", "00010"} and groups["validation"] == {"00001", "00011"}
    assert not (groups["training"] & (groups["test"] | groups["validation"]))
    assert len(spec.test) == 4  # both copies of each test group


def test_leaf_disease_missing_or_misfit_masks_are_refused(tmp_path):
    with pytest.raises(DatasetError, match="no images/ and masks/ folders"):
        ad.load_leaf_disease(tmp_path)
    root = fixtures.make_fake_leaf_disease(tmp_path / "leaf", n=3, augmented=0)
    mask = root / "data" / "data" / "masks" / "00001.png"
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(mask)
    with pytest.raises(DatasetError, match="mask is 10×10 but its image 00001.jpg is 28×28"):
        ad.load_leaf_disease(root)
    mask.unlink()
    with pytest.raises(DatasetError, match="a leaf image has no mask") as err:
        ad.load_leaf_disease(root)
    assert err.value.path == str(mask)
