"""The medical dataset registrations: cards, vocabulary, and loaders run on fake copies in the real layouts.

Each loader indexes a tiny seeded copy written by ``tests/domains/medical/medical_fakes.py`` in the layout the
source ships; the index must list the right files, classes and split sizes, land under
``$GENSEG_DATA_DIR/_index`` and leave the user's folder untouched.
"""

from __future__ import annotations

from pathlib import Path

import medical_fakes as fixtures
import numpy as np
import pytest
from PIL import Image

from genseg.data.schema import load_dataset_spec, resolve_path
from genseg.errors import DatasetError
from genseg.names import normalise
from genseg.plugins import manager
from genseg.plugins.schemas import DatasetCatalog, Vocabulary, load_package_json, resolve_target
from genseg_medical import datasets as md

CATALOG = load_package_json("genseg_medical", "data/datasets.json", DatasetCatalog)
CARDS = {reg.card.name: reg for reg in CATALOG.datasets}
VOCABULARY = load_package_json("genseg_medical", "data/vocabulary.json", Vocabulary)
TASK_OF = {name: task.folder for name, task in md.MSD_TASKS.items()}


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


def load(name: str, root: Path) -> Path:
    return resolve_target(CARDS[name].loader)(root)


def sizes(spec) -> tuple[int, int, int]:
    return len(spec.training), len(spec.validation), len(spec.test)


def class_names(spec) -> list[str]:
    return [c.name for c in spec.classes.values()]


# --- catalogue and vocabulary ---------------------------------------------------------------


def test_catalog_names_match_known_providers_and_loaders_resolve():
    from genseg.plugins.registry import known_providers

    known = known_providers()["datasets"]
    ours = {name for name, dist in known.items() if dist == "genseg-plugin-medical"}
    assert set(CARDS) == ours
    for name, reg in CARDS.items():
        assert reg.card.domain == "medical" and reg.card.url and reg.card.citation and reg.card.classes
        assert reg.loader.startswith("genseg_medical.datasets:")
        assert callable(resolve_target(reg.loader)), name
    for name in md.MSD_TASKS:
        card = CARDS[name].card
        assert card.url == "http://medicaldecathlon.com/" and card.licence == "CC-BY-SA 4.0"
        assert "Nature Communications 13, 4128" in card.citation and "arXiv:1902.09063" in card.citation


def test_vocabulary_is_valid_unique_and_covers_every_card_class():
    assert VOCABULARY.domain == "medical"
    seen: dict[str, str] = {}
    for term in VOCABULARY.terms:
        for text in (term.name, *term.synonyms):
            key = normalise(text)
            assert key not in seen, f"{text!r} of {term.name!r} is already used by {seen.get(key)!r}"
            seen[key] = term.name
        for code in term.codes.values():
            assert code.isdigit()
    codes = {t.name: t.codes.get("SNOMED CT") for t in VOCABULARY.terms}
    assert codes["liver"] == "10200004" and codes["kidney"] == "64033007" and codes["brain"] == "12738006"
    assert (codes["spleen"], codes["pancreas"], codes["lung"], codes["heart"]) == (
        "78961009",
        "15776009",
        "39607008",
        "80891009",
    )
    for a, b in [("tumour", "tumor"), ("grey matter", "gray matter"), ("oesophagus", "esophagus")]:
        assert VOCABULARY.lookup(a) is VOCABULARY.lookup(b) is not None
    for reg in CATALOG.datasets:
        for name in reg.card.classes:
            assert VOCABULARY.lookup(name) is not None, (
                f"{reg.card.name}: class {name!r} not in the vocabulary"
            )


# --- missing data ---------------------------------------------------------------------------


# ct-organs is built from the package registry when missing (its offline error: test_ct_organs.py),
# mni152 generated from nilearn's template (test_mni152.py)
@pytest.mark.parametrize("name", sorted(set(CARDS) - {"ct-organs", "mni152"}))
def test_missing_root_names_the_download_url(name, tmp_path):
    root = tmp_path / "nowhere"
    with pytest.raises(DatasetError) as err:
        load(name, root)
    text = str(err.value)
    assert CARDS[name].card.url in text and str(root) in text
    assert not root.exists()


# --- Medical Segmentation Decathlon ---------------------------------------------------------


@pytest.mark.parametrize("name", sorted(md.MSD_TASKS))
def test_msd_task_is_indexed_from_its_folder(name, tmp_path):
    task_dir = fixtures.make_fake_msd(tmp_path / "user", TASK_OF[name], n=6, n_test=2)
    before = listing(task_dir)
    folder = load(name, task_dir)
    assert folder == tmp_path / "_index" / name
    spec = load_dataset_spec(folder)
    assert spec.name == name and spec.domain == "medical"
    assert class_names(spec) == CARDS[name].card.classes
    assert sizes(spec) == (4, 2, 2)  # cases 1 and 6 are validation
    assert [Path(e.image).name for e in spec.validation] == [
        f"{fixtures.MSD_FAKE[TASK_OF[name]]['prefix']}_{i:03d}.nii.gz" for i in (1, 6)
    ]
    for entry in spec.training + spec.validation:
        assert Path(entry.image).is_absolute() and Path(entry.image).parent == task_dir / "imagesTr"
        assert Path(entry.label).parent == task_dir / "labelsTr"
    assert all(e.label is None and Path(e.image).parent == task_dir / "imagesTs" for e in spec.test)
    assert not any(Path(e.image).name.startswith("._") for e in spec.training + spec.validation)
    assert listing(task_dir) == before


def test_msd_classes_rename_and_extend_the_decathlon_labels(tmp_path):
    fixtures.make_fake_msd(tmp_path / "user", "Task01_BrainTumour", n=2)
    brain = load_dataset_spec(md.load_msd_brain_tumour(tmp_path / "user"))  # the parent folder works too
    assert {k: (c.name, brain.class_values(k)) for k, c in brain.classes.items()} == {
        "1": ("peritumoural oedema", [1]),
        "2": ("non-enhancing tumour", [2]),
        "3": ("enhancing tumour", [3]),
        "4": ("tumour core", [2, 3]),
        "5": ("brain tumour", [1, 2, 3]),
    }
    assert "peritumoral edema" in brain.classes["1"].synonyms
    liver_dir = fixtures.make_fake_msd(tmp_path / "user", "Task03_Liver", n=2)
    liver = load_dataset_spec(md.load_msd(liver_dir))  # recognised from the folder name
    assert liver.name == "msd-liver"
    assert [(c.name, liver.class_values(k)) for k, c in liver.classes.items()] == [
        ("liver", [1, 2]),
        ("liver tumour", [2]),
    ]
    assert "hepatic tumor" in liver.classes["2"].synonyms


def test_msd_task_not_among_the_ten_is_indexed_by_its_folder_name(tmp_path):
    task_dir = fixtures.make_fake_msd(tmp_path / "user", "Task06_Lung", n=3)
    renamed = task_dir.rename(task_dir.with_name("Task42_Kidney"))
    folder = md.load_msd(renamed)
    assert folder == tmp_path / "_index" / "msd-task42-kidney"
    spec = load_dataset_spec(folder)
    assert class_names(spec) == ["cancer"] and "malignant tumour" in spec.classes["1"].synonyms
    assert spec.license == "CC-BY-SA 4.0" and sizes(spec) == (2, 1, 2)


def test_msd_index_reads_through_the_installed_readers(tmp_path):
    from genseg.plugins import registry

    spec = load_dataset_spec(
        md.load_msd_prostate(fixtures.make_fake_msd(tmp_path / "user", "Task05_Prostate"))
    )
    entry = spec.training[0]
    image, label = registry.read(entry.image, "image"), registry.read(entry.label, "label")
    assert tuple(image.spatial_shape) == tuple(label.spatial_shape)  # the reader's axis order, either way
    assert sorted(label.spatial_shape) == sorted(fixtures._GRID)
    assert set(np.unique(label.array)) == {0, 1, 2}


def test_msd_label_listed_but_missing_is_named(tmp_path):
    task_dir = fixtures.make_fake_msd(tmp_path / "user", "Task09_Spleen", n=3)
    gone = task_dir / "labelsTr" / "spleen_002.nii.gz"
    gone.unlink()
    with pytest.raises(DatasetError, match="spleen_002.nii.gz"):
        md.load_msd_spleen(task_dir)


def test_msd_folder_of_another_task_is_refused(tmp_path):
    spleen = fixtures.make_fake_msd(tmp_path / "user", "Task09_Spleen", n=2)
    with pytest.raises(DatasetError, match="Task03_Liver"):
        md.load_msd_liver(spleen)


def test_msd_label_on_another_grid_is_refused(tmp_path):
    import nibabel as nib

    task_dir = fixtures.make_fake_msd(tmp_path / "user", "Task02_Heart", n=2)
    label = task_dir / "labelsTr" / "la_002.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.uint8), np.eye(4)), label)
    with pytest.raises(DatasetError, match="grid"):
        md.load_msd_heart(task_dir)


# --- Kvasir-SEG -----------------------------------------------------------------------------


def test_kvasir_masks_are_binarised_into_the_index(tmp_path):
    root = fixtures.make_fake_kvasir(tmp_path / "user" / "Kvasir-SEG", n=12)
    before = listing(root)
    folder = md.load_kvasir_seg(root.parent)  # the folder holding Kvasir-SEG/ works too
    assert folder == tmp_path / "_index" / "kvasir-seg"
    spec = load_dataset_spec(folder)
    assert class_names(spec) == ["polyp"] and sizes(spec) == (8, 2, 2)
    images = sorted((root / "images").glob("*.jpg"))
    assert [Path(e.image) for e in spec.test] == [images[0], images[10]]
    for entry in spec.training + spec.validation + spec.test:
        label_path = resolve_path(folder, entry.label)
        assert label_path.is_relative_to(folder) and label_path.suffix == ".png"
        label = np.asarray(Image.open(label_path))
        source = np.asarray(Image.open(root / "masks" / Path(entry.image).name).convert("L"))
        np.testing.assert_array_equal(label, (source >= 128).astype(np.uint8))
        assert set(np.unique(label)) == {0, 1}
    assert listing(root) == before


def test_kvasir_reindexing_reuses_labels_until_the_mask_changes(tmp_path):
    root = fixtures.make_fake_kvasir(tmp_path / "user" / "Kvasir-SEG", n=3)
    folder = md.load_kvasir_seg(root)
    labels = sorted((folder / "labels").glob("*.png"))
    stamps = [p.stat().st_mtime_ns for p in labels]
    md.load_kvasir_seg(root.parent)  # the same copy reached from its parent
    assert [p.stat().st_mtime_ns for p in labels] == stamps
    mask = root / "masks" / f"{labels[0].stem}.jpg"
    Image.fromarray(np.zeros(np.asarray(Image.open(mask)).shape[:2], np.uint8)).save(mask)
    md.load_kvasir_seg(root)
    assert not np.asarray(Image.open(labels[0])).any()


def test_kvasir_missing_mask_is_named(tmp_path):
    root = fixtures.make_fake_kvasir(tmp_path / "user", n=3)
    victim = sorted((root / "masks").glob("*.jpg"))[1]
    victim.unlink()
    with pytest.raises(DatasetError, match=victim.name):
        md.load_kvasir_seg(root)


# --- ISIC 2018 ------------------------------------------------------------------------------


def test_isic_official_splits_are_kept(tmp_path):
    root = fixtures.make_fake_isic2018(tmp_path / "user", n=5, n_validation=2, n_test=3)
    before = listing(root)
    spec = load_dataset_spec(md.load_isic_2018(root))
    assert class_names(spec) == ["skin lesion"] and spec.class_values("1") == [255]
    assert sizes(spec) == (5, 2, 3)
    for split, entries in (("Training", spec.training), ("Validation", spec.validation), ("Test", spec.test)):
        for entry in entries:
            image, label = Path(entry.image), Path(entry.label)
            assert image.parent == root / f"ISIC2018_Task1-2_{split}_Input"
            assert label == root / f"ISIC2018_Task1_{split}_GroundTruth" / f"{image.stem}_segmentation.png"
    assert listing(root) == before


def test_isic_without_validation_holds_out_training_and_test_may_be_unlabelled(tmp_path):
    root = fixtures.make_fake_isic2018(tmp_path / "user", n=12, n_validation=0, n_test=2, test_labels=False)
    spec = load_dataset_spec(md.load_isic_2018(root))
    assert sizes(spec) == (10, 2, 2)
    assert all(e.label is None for e in spec.test)


def test_isic_missing_ground_truth_is_named(tmp_path):
    root = fixtures.make_fake_isic2018(tmp_path / "user", n=3, n_validation=0, n_test=0)
    victim = sorted((root / "ISIC2018_Task1_Training_GroundTruth").glob("ISIC_*.png"))[2]
    victim.unlink()
    with pytest.raises(DatasetError, match=victim.name):
        md.load_isic_2018(root)


# --- BUSI -----------------------------------------------------------------------------------


def test_busi_masks_are_merged_with_the_pathology_kept(tmp_path):
    root = fixtures.make_fake_busi(tmp_path / "user", n=3)
    before = listing(root)
    folder = md.load_busi(root)
    spec = load_dataset_spec(folder)
    assert class_names(spec) == ["breast lesion"] and spec.class_values("1") == [1, 2]
    assert sizes(spec) == (3, 3, 3)  # per pathology: (1) test, (2) validation, (3) training
    gt = root / "Dataset_BUSI_with_GT"
    entries = {
        Path(e.image).name: resolve_path(folder, e.label) for e in spec.training + spec.validation + spec.test
    }
    assert set(entries) == {f"{p} ({i}).png" for p in ("benign", "malignant", "normal") for i in (1, 2, 3)}
    merged = np.asarray(Image.open(entries["benign (2).png"]))
    union = np.zeros_like(merged, dtype=bool)
    for mask in ("benign (2)_mask.png", "benign (2)_mask_1.png"):
        union |= np.asarray(Image.open(gt / "benign" / mask)) >= 128
    np.testing.assert_array_equal(merged, union.astype(np.uint8))
    assert set(np.unique(np.asarray(Image.open(entries["malignant (1).png"])))) == {0, 2}
    assert not np.asarray(Image.open(entries["normal (3).png"])).any()
    assert listing(root) == before


def test_busi_missing_mask_is_named(tmp_path):
    root = fixtures.make_fake_busi(tmp_path / "user", n=2)
    (root / "Dataset_BUSI_with_GT" / "malignant" / "malignant (2)_mask.png").unlink()
    with pytest.raises(DatasetError, match=r"malignant \(2\)_mask.png"):
        md.load_busi(root)


# --- through genseg -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("kvasir-seg", lambda r: fixtures.make_fake_kvasir(r, n=4), "polyp"),
        ("isic-2018", lambda r: fixtures.make_fake_isic2018(r, n=3, n_validation=1, n_test=0), "skin lesion"),
        ("busi", lambda r: fixtures.make_fake_busi(r, n=3), "breast lesion"),
    ],
)
def test_2d_datasets_load_in_the_prompted_dataset(name, make, expected, tmp_path):
    from genseg.data.folder_dataset import PromptedSegmentationDataset

    root = tmp_path / "user"
    make(root)
    folder = load(name, root)
    dataset = PromptedSegmentationDataset(folder, "training", resolution=32)
    assert len(dataset) > 0 and dataset.class_names() == [expected]
    item = dataset[0]
    assert tuple(item["image"].shape) == (3, 32, 32) and tuple(item["mask"].shape) == (1, 32, 32)
    assert item["mask"].sum() > 0 and item["dataset"] == name
    assert item["prompt"] in load_dataset_spec(folder).prompts_for("1")


def test_registered_names_load_through_the_registry(tmp_path):
    from genseg.plugins import registry

    registered = registry.datasets()
    if "kvasir-seg" not in registered:
        pytest.skip("genseg_medical.plugin does not implement genseg_register_datasets yet")
    assert set(CARDS) <= set(registered)
    assert all(registered[name][1] == reg for name, reg in CARDS.items())
    root = fixtures.make_fake_kvasir(tmp_path / "user", n=3)
    assert registry.load_dataset("kvasir-seg", root) == tmp_path / "_index" / "kvasir-seg"
