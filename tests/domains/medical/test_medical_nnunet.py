"""nnU-Net v2 and Decathlon folders used as datasets where they lie (genseg_medical.nnunet).

Tiny seeded copies of both layouts (``tests/domains/medical/medical_fakes.py``) are passed to
``genseg train -d FOLDER``; the index must name the right classes and splits, land under
``$GENSEG_DATA_DIR/_index`` and leave every byte of the user's folder as it was, and a
broken layout must stop with one error that names the file and the fix.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from pathlib import Path

import medical_fakes as fixtures
import pytest

from genseg.cli.testing import run_cli
from genseg.data.schema import load_dataset_spec
from genseg.datasets import resolve_dataset
from genseg.errors import DatasetError
from genseg.plugins import manager
from genseg_medical.datasets import LayoutWarning
from genseg_medical.nnunet import class_name, default_validation, load_nnunet


@pytest.fixture(autouse=True)
def index_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Indexes go to tmp_path/data/_index; plugins are discovered afresh for each test."""
    monkeypatch.setenv("GENSEG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("nnUNet_preprocessed", raising=False)
    manager.use_plugins(None)
    yield tmp_path
    manager.use_plugins(None)


def digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (and its folders), to prove nothing was written there."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
    }


def names(spec) -> dict[str, tuple[str, list[int]]]:
    return {k: (c.name, spec.class_values(k)) for k, c in spec.classes.items()}


def case(entry) -> str:
    """The nnU-Net case of an entry (its image name without ``_XXXX.nii.gz``)."""
    return re.sub(r"_\d{4}\.nii\.gz$", "", Path(entry.image).name)


# --- genseg train -d FOLDER -----------------------------------------------------------------


def test_genseg_index_dataset_folder_lets_train_read_nnunet_and_decathlon_folders(
    monkeypatch, capsys, tmp_path
):
    from genseg.plugins.testing import TINY_MODEL

    nnunet = fixtures.make_fake_nnunet(tmp_path / "user", n=5, n_test=1)
    msd = fixtures.make_fake_msd(tmp_path / "user", "Task01_BrainTumour", n=3, n_test=1)
    before = digest(tmp_path / "user")
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"model": TINY_MODEL, "warmup_steps": 0, "mixed_precision": "no"}))
    for folder, recorded in ((nnunet, {"modality": "CT"}), (msd, {"modality": "MR", "channel": "0"})):
        out = tmp_path / f"run-{folder.name}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LayoutWarning)  # the 4-channel task says which channel it reads
            code, stdout, err = run_cli(
                monkeypatch, capsys, "train", "-d", str(folder), "-o", str(out),
                "--steps", "2", "--batch-size", "2", "--config", str(config),
            )  # fmt: skip
        assert code == 0, err
        assert "trained 2 steps" in stdout and (out / "model_index.json").is_file()
        assert json.loads((out / "preprocessing.json").read_text()) == {"domains": {"medical": recorded}}
    assert digest(tmp_path / "user") == before
    assert sorted(p.name for p in (tmp_path / "data" / "_index").iterdir()) == [
        "msd-brain-tumour",
        "nnunet-dataset042-abdomen",
    ]


def test_genseg_dataset_json_is_used_as_it_is(tmp_path, genseg_fake_dataset):
    folder = genseg_fake_dataset(tmp_path / "mine", n=2)
    assert resolve_dataset(folder) == folder and resolve_dataset(folder / "dataset.json") == folder
    assert not (tmp_path / "data").exists()


# --- what the index says --------------------------------------------------------------------


def test_nnunet_index_classes_splits_and_files(tmp_path):
    root = fixtures.make_fake_nnunet(tmp_path / "user", n=6, n_test=2)
    before = digest(root)
    folder = resolve_dataset(root)
    assert folder == tmp_path / "data" / "_index" / "nnunet-dataset042-abdomen"
    spec = load_dataset_spec(folder)
    assert spec.name == "Dataset042_Abdomen" and spec.domain == "medical" and spec.license == "CC-BY-4.0"
    assert names(spec) == {
        "1": ("left kidney", [1]),
        "2": ("right kidney", [2]),
        "3": ("liver", [3]),
        "4": ("kidneys", [1, 2]),
    }
    assert "hepatic" in spec.classes["3"].synonyms
    cases = [f"case_{i:03d}" for i in range(6)]
    assert {case(e) for e in spec.validation} == default_validation(cases)
    assert len(spec.training) + len(spec.validation) == 6 and len(spec.validation) == 2
    for entry in spec.training + spec.validation:
        assert Path(entry.image).parent == root / "imagesTr" and entry.image.endswith("_0000.nii.gz")
        assert Path(entry.label) == root / "labelsTr" / f"{case(entry)}.nii.gz"
    assert [(Path(e.image).name, e.label) for e in spec.test] == [
        ("case_006_0000.nii.gz", None),
        ("case_007_0000.nii.gz", None),
    ]
    assert digest(root) == before


def test_default_split_is_nnunets_fold_zero():
    """nnU-Net's default split is scikit-learn's KFold(5, shuffle=True, random_state=12345) over
    the sorted case names; genseg's validation is its fold 0 without needing scikit-learn."""
    model_selection = pytest.importorskip("sklearn.model_selection")
    cases = [f"pat{i}" for i in (3, 10, 1, 22, 7, 5, 14, 9, 2, 11, 30, 4, 8)]
    ordered = sorted(cases)
    folds = list(model_selection.KFold(n_splits=5, shuffle=True, random_state=12345).split(ordered))
    for fold, (_, val) in enumerate(folds):
        assert default_validation(cases, fold) == {ordered[i] for i in val}
    assert len(default_validation(cases[:3])) == 1 and default_validation(cases[:1]) == set()


@pytest.mark.parametrize("where", ["folder", "nnUNet_preprocessed"])
def test_splits_final_json_gives_the_validation_cases(where, tmp_path, monkeypatch):
    root = fixtures.make_fake_nnunet(tmp_path / "user", n=5, n_test=0)
    folds = [{"train": ["case_000", "case_001", "case_002"], "val": ["case_003", "case_004"]}]
    folds.append({"train": ["case_002", "case_003", "case_004"], "val": ["case_000", "case_001"]})
    if where == "folder":
        target = root / "splits_final.json"
    else:
        target = tmp_path / "preprocessed" / root.name / "splits_final.json"
        target.parent.mkdir(parents=True)
        monkeypatch.setenv("nnUNet_preprocessed", str(tmp_path / "preprocessed"))
    target.write_text(json.dumps(folds))
    spec = load_dataset_spec(resolve_dataset(root))
    assert [case(e) for e in spec.validation] == ["case_003", "case_004"]
    assert [case(e) for e in spec.training] == ["case_000", "case_001", "case_002"]
    second = load_dataset_spec(load_nnunet(root, fold=1))
    assert [case(e) for e in second.validation] == ["case_000", "case_001"]


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("kidney_left", "left kidney"),
        ("left_kidney", "left kidney"),
        ("Right-Kidney", "right kidney"),
        ("RightKidney", "right kidney"),
        ("lung_upper_lobe_left", "left lung upper lobe"),
        ("hippocampus_R", "right hippocampus"),
        ("rib_left_7", "left rib 7"),
        ("whole tumor", "whole tumor"),
        ("PZ", "pz"),
    ],
)
def test_class_names_read_as_words_and_keep_their_side(label, expected):
    assert class_name(label) == expected


def test_multichannel_dataset_reads_one_channel_and_says_so(tmp_path):
    labels = {"background": 0, "edema": 1, "enhancing_tumor": 2, "whole tumor": [1, 2], "ignore": 3}
    root = fixtures.make_fake_nnunet(
        tmp_path / "user", "Dataset007_Brain", channels=("FLAIR", "T1", "T2"), labels=labels
    )
    with pytest.warns(LayoutWarning, match=r"3 channels \(0 FLAIR, 1 T1, 2 T2\).*channel 0 \(FLAIR\)"):
        first_index = resolve_dataset(root)
    first = load_dataset_spec(first_index)
    assert (
        first_index.name == "nnunet-dataset007-brain"
        and first.preprocessing == {"modality": "MR"}
        and first.ignore == [3]
    )
    assert names(first) == {"1": ("edema", [1]), "2": ("enhancing tumor", [2]), "4": ("whole tumor", [1, 2])}
    assert all(e.image.endswith("_0000.nii.gz") for e in first.training)
    with pytest.warns(LayoutWarning, match=r"channel 2 \(T2\)"):
        t2 = load_nnunet(root, channel="t2")
    assert t2.name == "nnunet-dataset007-brain-channel-2"
    assert all(e.image.endswith("_0002.nii.gz") for e in load_dataset_spec(t2).training)
    assert all(e.image.endswith("_0000.nii.gz") for e in load_dataset_spec(first_index).training)


def test_decathlon_index_picks_a_channel_of_4d_images_and_reads_nnunet_v1_files(tmp_path):
    spleen = load_dataset_spec(
        resolve_dataset(fixtures.make_fake_msd(tmp_path / "user", "Task09_Spleen", n=2))
    )
    assert spleen.preprocessing == {"modality": "CT"}
    brain = fixtures.make_fake_msd(tmp_path / "v1", "Task01_BrainTumour", n=2, n_test=0)
    for image in (brain / "imagesTr").glob("BRATS_*.nii.gz"):  # nnU-Net v1: one file per channel
        image.rename(image.with_name(image.name.replace(".nii.gz", "_0000.nii.gz")))
    with pytest.warns(LayoutWarning):
        spec = load_dataset_spec(resolve_dataset(brain))
    assert spec.preprocessing == {"modality": "MR"}  # no channel to pick: the file holds one
    assert all(e.image.endswith("_0000.nii.gz") for e in spec.training + spec.validation)


def test_nnunet_png_dataset_is_a_generic_2d_dataset(tmp_path):
    from genseg.data.folder_dataset import PromptedSegmentationDataset

    labels = {"background": 0, "road": 1}
    root = fixtures.make_fake_nnunet(
        tmp_path / "user", "Dataset120_Roads", n=3, labels=labels, file_ending=".png"
    )
    folder = resolve_dataset(root)
    spec = load_dataset_spec(folder)
    assert spec.domain == "generic" and spec.preprocessing == {} and names(spec) == {"1": ("road", [1])}
    item = PromptedSegmentationDataset(folder, "training", resolution=16)[0]
    assert item["image"].shape == (3, 16, 16) and set(item["mask"].unique().tolist()) <= {0.0, 1.0}


def test_explicit_file_list_of_the_dataset_key(tmp_path):
    root = fixtures.make_fake_nnunet(tmp_path / "user", n=2, n_test=0)
    raw = json.loads((root / "dataset.json").read_text())
    (root / "imagesTr" / "case_001_0000.nii.gz").rename(root / "scan_b.nii.gz")
    raw["dataset"] = {
        "a": {"images": ["imagesTr/case_000_0000.nii.gz"], "label": "labelsTr/case_000.nii.gz"},
        "b": {"images": ["scan_b.nii.gz"], "label": "labelsTr/case_001.nii.gz"},
    }
    (root / "dataset.json").write_text(json.dumps(raw))
    spec = load_dataset_spec(resolve_dataset(root))
    images = sorted(Path(e.image).name for e in spec.training + spec.validation)
    assert images == ["case_000_0000.nii.gz", "scan_b.nii.gz"]


# --- bad layouts: one error, naming the file and the fix ------------------------------------


def _edit_json(root: Path, **changes) -> None:
    raw = json.loads((root / "dataset.json").read_text())
    for key, value in changes.items():
        if value is None:
            raw.pop(key)
        else:
            raw[key] = value
    (root / "dataset.json").write_text(json.dumps(raw))


@pytest.mark.parametrize(
    ("breakage", "named", "message", "fix"),
    [
        (lambda r: _edit_json(r, file_ending=".mha"), "dataset.json", "'.mha'", "convert a copy to NIfTI"),
        (lambda r: _edit_json(r, numTraining=9), "dataset.json", "numTraining is 9", "set numTraining to 3"),
        (
            lambda r: _edit_json(r, labels={"liver": 1}),
            "dataset.json",
            '"background": 0',
            '{"background": 0, "NAME": 1',
        ),
        (
            lambda r: _edit_json(r, channel_names={"0": "CT", "1": "PET"}),
            "case_000_0001.nii.gz",
            "no image for a channel",
            "every channel in channel_names",
        ),
        (
            lambda r: (r / "labelsTr" / "case_001.nii.gz").unlink(),
            "case_001_0000.nii.gz",
            "has no label",
            "labelsTr/CASE.nii.gz",
        ),
        (
            lambda r: (r / "splits_final.json").write_text(
                json.dumps([{"train": ["x"], "val": ["case_000"]}])
            ),
            "splits_final.json",
            "'x'",
            "another dataset",
        ),
        (lambda r: (r / "labelsTr").rename(r / "labels"), "labelsTr", "needs labelsTr/", "DatasetNNN_Name"),
    ],
)
def test_broken_nnunet_layout_is_one_error_naming_the_file(breakage, named, message, fix, tmp_path):
    root = fixtures.make_fake_nnunet(tmp_path / "user", n=3, n_test=0)
    breakage(root)
    before = digest(root)
    with pytest.raises(DatasetError) as err:
        resolve_dataset(root)
    text = str(err.value)
    assert named in str(err.value.path) and message in text and fix in (err.value.fix or "")
    assert digest(root) == before and not (tmp_path / "data" / "_index").exists()


def test_foreign_dataset_json_without_the_medical_plugin_says_what_to_install(tmp_path, genseg_plugins):
    genseg_plugins()  # the built-in plugin only
    root = fixtures.make_fake_nnunet(tmp_path / "user", n=2, n_test=0)
    with pytest.raises(DatasetError, match=r"another tool's.*channel_names") as err:
        resolve_dataset(root)
    assert Path(err.value.path) == root / "dataset.json" and "genseg-plugin-medical" in err.value.fix
