"""Volume datasets train slice by slice: NIfTI files and DICOM series folders in dataset.json,
read through the medical reader and its CT windowing (the dataset's ``preprocessing``), a
bounded volume cache, class-balanced sampling with absent prompts, and the options recorded
in the trained model. Fixtures are generated in tmp_path (8×24×24 volumes, a few KiB).
"""

from __future__ import annotations

import json
import warnings

import nibabel as nib
import numpy as np
import pytest
import torch

from genseg.cli.testing import run_cli as _run_cli
from genseg.config import SamplingConfig
from genseg.data.folder_dataset import PromptedSegmentationDataset, VolumeSlice
from genseg.errors import ConfigError, InputError
from genseg_medical.preprocessing import apply_window, presets
from genseg_medical.synthetic import ct_hounsfield, ellipsoid_mask, write_ct_series

SHAPE = (8, 24, 24)  # slices, rows, columns: the reader's D×H×W
CLASSES = {"1": {"name": "liver", "synonyms": ["hepatic tissue"]}, "2": {"name": "lesion"}}


def _save_nifti(array: np.ndarray, path) -> str:
    """A D×H×W array saved so the medical reader returns it as D×H×W (voxels are (i, j, k))."""
    nib.save(nib.Nifti1Image(np.ascontiguousarray(array.transpose(2, 1, 0)), np.eye(4)), str(path))
    return path.name


def _label(shape=SHAPE, rare_slice: int | None = None) -> np.ndarray:
    label = ellipsoid_mask(shape, radii=(shape[0] / 2.5, shape[1] / 3, shape[2] / 3)).astype(np.uint8)
    if rare_slice is not None:  # the rare class: a 3×3 spot in one slice
        label[rare_slice, 10:13, 10:13] = 2
    return label


def _nifti_dataset(root, n=3, preprocessing=None, label_shape=None, **extra):
    """``n`` CT volumes in HU; "lesion" occurs in one slice of the first volume only."""
    root.mkdir(parents=True)
    entries = []
    for i in range(n):
        image = _save_nifti(ct_hounsfield(SHAPE, seed=i).astype(np.int16), root / f"ct{i}.nii.gz")
        label = _label(label_shape or SHAPE, rare_slice=3 if i == 0 else None)
        entries.append({"image": image, "label": _save_nifti(label, root / f"ct{i}_label.nii.gz")})
    spec = {
        "name": "toy-ct",
        "domain": "medical",
        "classes": CLASSES,
        "training": entries,
        "test": entries[:1],
    }
    if preprocessing is not None:
        spec["preprocessing"] = preprocessing
    (root / "dataset.json").write_text(json.dumps({**spec, **extra}))
    return root


def test_volume_items_are_slices_windowed_as_the_dataset_says(tmp_path):
    root = _nifti_dataset(tmp_path / "ct", n=1, preprocessing={"window": "lung"})
    ds = PromptedSegmentationDataset(root, "test", resolution=24)
    assert all(isinstance(e, VolumeSlice) for e, _, _ in ds.items)
    label = _label(rare_slice=3)
    expected = [(z, k) for z in range(SHAPE[0]) for k in ("1", "2") if (label[z] == int(k)).any()]
    assert [(e.slice, k) for e, k, _ in ds.items] == expected
    index = next(i for i, (e, k, _) in enumerate(ds.items) if e.slice == 3 and k == "1")
    item = ds[index]
    assert item["image"].shape == (3, 24, 24) and item["slice"] == 3 and item["absent"] is False
    assert torch.equal(item["image"][0], item["image"][2])  # one channel repeated, as for 2D gray
    np.testing.assert_array_equal(item["mask"][0].numpy(), (label[3] == 1).astype(np.float32))
    windowed = apply_window(ct_hounsfield(SHAPE, seed=0)[3], presets().window("lung"))
    np.testing.assert_allclose(item["image"][0].numpy(), windowed, atol=1e-5)
    assert ds.preprocessing == {"medical": {"window": "lung"}}


def test_volume_cache_holds_only_a_few_volumes(tmp_path):
    ds = PromptedSegmentationDataset(_nifti_dataset(tmp_path / "ct"), "training", 24, volume_cache=1)
    seen = {ds[i]["image_path"] for i in range(len(ds))}
    assert len(seen) == 3 and len(ds._volumes) == 1


def test_one_epoch_samples_every_class_and_absent_prompts_at_the_set_rate(tmp_path):
    root = _nifti_dataset(tmp_path / "ct")
    sampling = SamplingConfig(class_balanced=True, absent_fraction=0.25)
    ds = PromptedSegmentationDataset(root, "training", resolution=24, seed=5, sampling=sampling)
    n = len(ds.items)  # (slice, class present) pairs; "lesion" is one of them
    assert sum(k == "2" for _, k, _ in ds.items) == 1 and len(ds) == n
    ds.set_epoch(0)
    items = [ds[i] for i in range(len(ds))]
    absent = [it for it in items if it["absent"]]
    assert len(absent) == round(0.25 * n)
    assert all(it["mask"].sum() == 0 for it in absent)
    present = [it for it in items if not it["absent"]]
    assert all(it["mask"].sum() > 0 for it in present)
    counts = {name: sum(it["class_name"] == name for it in present) for name in ("liver", "lesion")}
    assert abs(counts["liver"] - counts["lesion"]) <= 1  # balanced: the rare class is no longer rare
    assert {it["class_name"] for it in absent} <= {"liver", "lesion"}
    # resumable: another instance (a resumed run, a worker) draws the same epoch; the next differs
    again = PromptedSegmentationDataset(root, "training", resolution=24, seed=5, sampling=sampling)
    for i in (0, n // 2, n - 1):
        a, b = ds[i], again[i]
        assert (a["class_name"], a["slice"], a["absent"]) == (b["class_name"], b["slice"], b["absent"])
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
    ds.set_epoch(1)
    assert [(ds[i]["slice"], ds[i]["class_name"]) for i in range(n)] != [
        (it["slice"], it["class_name"]) for it in items
    ]


def test_incomplete_labels_get_no_absent_prompts(tmp_path):
    root = _nifti_dataset(tmp_path / "ct", n=1, labels_complete=False)
    ds = PromptedSegmentationDataset(root, "training", 24, sampling=SamplingConfig(absent_fraction=0.5))
    assert not any(ds[i]["absent"] for i in range(len(ds)))


def test_label_volume_on_another_grid_names_both_files_and_shapes(tmp_path):
    root = _nifti_dataset(tmp_path / "ct", n=1, label_shape=(8, 24, 20))
    with pytest.raises(InputError) as err:
        PromptedSegmentationDataset(root, "training", resolution=24)
    text = str(err.value)
    assert "ct0.nii.gz" in text and "ct0_label.nii.gz" in text
    assert "8×24×24" in text and "8×24×20" in text


def test_unknown_preprocessing_option_lists_the_known_ones(tmp_path):
    from genseg.data.schema import load_dataset_spec

    root = _nifti_dataset(tmp_path / "ct", n=1, preprocessing={"windw": "lung"})
    with pytest.raises(ConfigError) as err:
        load_dataset_spec(root)
    text = str(err.value)
    assert "windw" in text and "window" in text and "modality" in text and "dataset.json" in text


def _dicom_dataset(root, two_series=False):
    """A DICOM series folder (plus, with ``two_series``, a second series in the same folder)."""
    series = root / "series"
    write_ct_series(series, shape=SHAPE, seed=0)
    if two_series:
        write_ct_series(series, shape=SHAPE, seed=1)
    label = _save_nifti(_label(rare_slice=2), root / "series_label.nii.gz")
    spec = {
        "name": "toy-dicom",
        "domain": "medical",
        "classes": CLASSES,
        "preprocessing": {"window": "abdomen"},
        "training": [{"image": "series", "label": label}],
    }
    (root / "dataset.json").write_text(json.dumps(spec))
    return root


def test_a_folder_with_two_dicom_series_is_named_with_its_uids(tmp_path):
    root = _dicom_dataset(tmp_path / "dicom", two_series=True)
    with pytest.raises(InputError, match=r"2 DICOM series; SeriesInstanceUIDs") as err:
        PromptedSegmentationDataset(root, "training", resolution=24)
    assert "series" in str(err.value)


def test_conflicting_options_for_one_domain_warn_and_options_apply_per_dataset(tmp_path):
    from genseg.data.recorded_preprocessing import PreprocessingWarning

    lung = _nifti_dataset(tmp_path / "a", n=1, preprocessing={"window": "lung"})
    bone = _nifti_dataset(tmp_path / "b", n=1, preprocessing={"window": "bone"})
    with pytest.warns(PreprocessingWarning, match=r"window=lung and window=bone"):
        ds = PromptedSegmentationDataset([lung, bone], "test", resolution=24)
    assert ds.preprocessing == {"medical": {"window": "lung"}}
    first, second = ds[0], ds[len(ds) // 2 + 1]
    assert first["image_path"] != second["image_path"]
    hu = ct_hounsfield(SHAPE, seed=0)
    for item, window in ((first, "lung"), (second, "bone")):
        expected = apply_window(hu[item["slice"]], presets().window(window))
        np.testing.assert_allclose(item["image"][0].numpy(), expected, atol=1e-5)


def test_evaluation_reads_with_the_dataset_options(tmp_path):
    from genseg.evaluation.runner import load_pair, split_items

    root = _nifti_dataset(tmp_path / "ct", n=1, preprocessing={"window": "bone"})
    (item,) = split_items(root, "test")
    assert item.options == {"window": "bone"}
    image, _, _ = load_pair(item.image, item.label, item.domain, item.ignore, item.options)
    expected = apply_window(ct_hounsfield(SHAPE, seed=0), presets().window("bone"))
    np.testing.assert_allclose(image.array[..., 0], expected, atol=1e-5)


def test_recorded_options_apply_unless_asked_otherwise():
    from genseg.data.recorded_preprocessing import PreprocessingWarning, apply_recorded

    recorded = {"medical": {"window": "abdomen"}}
    assert apply_recorded(recorded, "medical", {}) == {"window": "abdomen"}
    assert apply_recorded(recorded, "generic", {}) == {}
    with pytest.warns(PreprocessingWarning, match=r"window=abdomen.*window=lung"):
        assert apply_recorded(recorded, "medical", {"window": "lung"}) == {"window": "lung"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        apply_recorded(recorded, "medical", {"window": "abdomen"})


def test_train_cli_runs_on_nifti_volumes_and_a_dicom_series(monkeypatch, capsys, tmp_path):
    from genseg.plugins.testing import TINY_MODEL

    nifti = _nifti_dataset(tmp_path / "ct", n=2, preprocessing={"window": "abdomen"})
    dicom = _dicom_dataset(tmp_path / "dicom")
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"model": TINY_MODEL, "warmup_steps": 0, "mixed_precision": "no"}))
    for data, out in ((nifti, tmp_path / "run-nifti"), (dicom, tmp_path / "run-dicom")):
        code, stdout, err = _run_cli(
            monkeypatch, capsys, "train", "--dataset", str(data), "--output", str(out),
            "--steps", "2", "--batch-size", "2", "--config", str(config),
        )  # fmt: skip
        assert code == 0, err
        assert "trained 2 steps" in stdout and (out / "model_index.json").is_file()
        recorded = json.loads((out / "preprocessing.json").read_text())
        assert recorded == {"domains": {"medical": {"window": "abdomen"}}}


def test_segment_cli_uses_the_recorded_options(monkeypatch, capsys, tmp_path):
    import genseg.segment
    from genseg.data.recorded_preprocessing import PreprocessingWarning, write_preprocessing
    from genseg.pipeline import build_pipeline
    from genseg.plugins.testing import tiny_model_config

    model = tmp_path / "model"
    build_pipeline(tiny_model_config(), seed=0).save_pretrained(model)
    write_preprocessing(model, {"medical": {"window": "abdomen"}})
    seen = []
    monkeypatch.setattr(
        genseg.segment,
        "segment_files",
        lambda pipe, inputs, prompts, output, inference, **kw: (
            seen.append(dict(inference.options)) or genseg.segment.SegmentResults()
        ),
    )
    scan = tmp_path / "ct.nii.gz"
    _save_nifti(ct_hounsfield(SHAPE).astype(np.int16), scan)
    args = ["segment", "-m", str(model), "--domain", "medical", "-p", "liver", "-o", str(tmp_path / "o")]
    assert _run_cli(monkeypatch, capsys, *args, str(scan))[0] == 0
    with pytest.warns(PreprocessingWarning, match=r"window=abdomen; using window=lung"):
        assert _run_cli(monkeypatch, capsys, *args, "-O", "window=lung", str(scan))[0] == 0
    assert seen == [{"window": "abdomen"}, {"window": "lung"}]
