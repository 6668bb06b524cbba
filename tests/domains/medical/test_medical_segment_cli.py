"""`genseg segment --domain medical` end to end: a DICOM series and a NIfTI in, NIfTI out on the same grid."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from genseg_medical.synthetic import write_ct_series, write_nifti_volume


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from genseg.plugins.testing import build_tiny_pipeline

    path = tmp_path_factory.mktemp("model") / "tiny"
    build_tiny_pipeline("dit").save_pretrained(path)
    return path


def _segment(model_dir, *args: str, ok: bool = True):
    """``genseg segment -m MODEL --domain medical ARGS`` in process."""
    from genseg.cli.app import app

    cmd = ["segment", "-m", str(model_dir), "--domain", "medical", *args]
    result = CliRunner().invoke(app, cmd, catch_exceptions=not ok)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_a_dicom_series_folder_gives_a_nifti_on_the_series_grid(model_dir, tmp_path):
    import nibabel as nib

    from genseg_medical.readers import read_medical

    series = tmp_path / "scan"
    write_ct_series(series, shape=(5, 24, 20))
    out = tmp_path / "liver.nii.gz"
    _segment(model_dir, "-p", "liver", "-O", "window=abdomen", "-o", str(out), str(series))
    written = nib.load(out)
    source = read_medical(series, "image")
    assert written.shape == (20, 24, 5)  # columns, rows, slices
    np.testing.assert_allclose(written.affine, source.meta["affine"], atol=1e-4)
    assert set(np.unique(np.asarray(written.dataobj))) <= {0, 1}
    assert (tmp_path / "liver_overlay.png").is_file()


def test_a_nifti_file_with_two_prompts_gives_a_label_volume_with_the_same_affine(model_dir, tmp_path):
    import nibabel as nib

    src = write_nifti_volume(tmp_path / "ct.nii.gz", shape=(20, 16, 6))
    out_dir = tmp_path / "out"
    result = _segment(
        model_dir, "-p", "liver", "-p", "spleen", "--batch-size", "4", "-o", str(out_dir), str(src)
    )
    written = nib.load(out_dir / "ct_mask.nii.gz")  # folder mode keeps the input's format
    assert written.shape == (20, 16, 6)
    np.testing.assert_allclose(written.affine, nib.load(src).affine, atol=1e-6)
    assert set(np.unique(np.asarray(written.dataobj))) <= {0, 1, 2}
    assert "ct_mask.nii.gz" in result.output


def test_unknown_window_is_one_clear_error(model_dir, tmp_path):
    from genseg.errors import ConfigError

    src = write_nifti_volume(tmp_path / "ct.nii.gz", shape=(8, 8, 2))
    result = _segment(
        model_dir, "-p", "liver", "-O", "window=lungs", "-o", str(tmp_path / "m.nii.gz"), str(src), ok=False
    )
    assert isinstance(result.exception, ConfigError) and "soft-tissue" in str(result.exception)
    assert not (tmp_path / "m.nii.gz").exists()


def test_evaluate_scores_every_slice_of_a_volume_dataset(model_dir, tmp_path, monkeypatch):
    from medical_fakes import make_fake_msd

    from genseg.evaluation.runner import evaluate_pipeline
    from genseg.pipeline import load_pipeline
    from genseg_medical.datasets import load_msd_liver

    monkeypatch.setenv("GENSEG_DATA_DIR", str(tmp_path / "data"))
    folder = load_msd_liver(make_fake_msd(tmp_path / "msd", task="Task03_Liver", n=5))
    pipe = load_pipeline(str(model_dir))
    scores = evaluate_pipeline(pipe, [folder], split="validation", progress=False)
    import nibabel as nib

    from genseg.data.schema import load_dataset_spec, resolve_path

    spec = load_dataset_spec(folder)
    depth = sum(nib.load(resolve_path(folder, e.image)).shape[2] for e in spec.validation)
    assert depth > 1 and max(scores.counts.values()) == depth  # one score per slice of every volume
    # scans, not slices, are the bootstrap unit, and each gets per-volume scores in mm
    assert scores.unit == "volume" and scores.images == len(spec.validation)
    assert scores.volumes["count"] == len(spec.validation) and scores.volumes["units"] == "mm"
    assert set(scores.volumes["mean"]) == {"dice", "iou", "hd95", "nsd"}


def test_evaluate_reports_per_volume_scores_with_their_protocol(model_dir, tmp_path, monkeypatch):
    import json

    from medical_fakes import make_fake_msd

    from genseg.cli.app import app
    from genseg_medical.datasets import load_msd_liver

    monkeypatch.setenv("GENSEG_DATA_DIR", str(tmp_path / "data"))
    folder = load_msd_liver(make_fake_msd(tmp_path / "msd", task="Task03_Liver", n=5))
    out = tmp_path / "scores.json"
    cmd = ["evaluate", "-m", str(model_dir), "-d", str(folder), "--split", "validation", "--json", str(out),
           "--bootstrap", "20", "--nsd-tolerance", "1.5"]  # fmt: skip
    result = CliRunner().invoke(app, cmd, catch_exceptions=False, terminal_width=200)
    assert result.exit_code == 0, result.output
    scores = json.loads(out.read_text())
    assert scores["bootstrap"]["unit"] == "volume"
    volumes = scores["volumes"]
    assert volumes["nsd_tolerance"] == 1.5 and "HD95" in volumes["protocol"]
    assert set(volumes["per_class"]) == {"dice", "iou", "hd95", "nsd"}
    assert "per volume" in result.output and "NSD@1.5mm" in result.output


def _loss_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if "cannot store" in str(w.message)]


@pytest.mark.parametrize(("name", "fmt"), [("m.tif", "GeoTIFF"), ("m.png", "PNG")])
def test_a_medical_image_written_as_tif_or_png_warns_once_that_affine_and_spacing_are_lost(
    model_dir, tmp_path, name, fmt
):
    from pathlib import Path

    from pydicom.data import get_testdata_file

    src = Path(get_testdata_file("CT_small.dcm"))  # one frame: a 2D image with an affine
    with pytest.warns(UserWarning) as caught:
        _segment(model_dir, "-p", "liver", "-o", str(tmp_path / name), str(src))
    (message,) = _loss_warnings(caught)
    assert f"a {fmt} cannot store the affine, spacing" in message and "CT_small.dcm" in message
    assert ".nii.gz (NIfTI) or .dcm (DICOM-SEG)" in message and ".tif" not in message.split(";")[1]
    assert (tmp_path / name).is_file()


@pytest.mark.parametrize("name", ["x.mgz", "x.mgh", "x.hdr", "x.nii.gz", "x.nii"])
def test_folder_mode_names_a_medical_mask_after_the_input_without_its_extension(tmp_path, name):
    from pathlib import Path

    from genseg.segment import plan_outputs

    src = Path(tmp_path / name)
    mask = plan_outputs([src], tmp_path / "out", {src})[src]["mask"]
    expected = "x_mask.nii" if name == "x.nii" else "x_mask.nii.gz"  # no writer for MGH/Analyze
    assert mask == tmp_path / "out" / expected


def test_a_2d_analyze_image_gets_a_nifti_mask_with_its_affine_in_folder_mode(model_dir, tmp_path):
    import warnings

    import nibabel as nib

    affine = np.diag([0.8, 0.6, 2.0, 1.0])
    data = np.random.default_rng(0).integers(0, 1000, (20, 16)).astype(np.int16)
    nib.save(nib.Nifti1Pair(data, affine), tmp_path / "x.hdr")  # x.hdr + x.img
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # nothing is lost: no warning
        _segment(model_dir, "-p", "liver", "-o", str(tmp_path / "out"), str(tmp_path / "x.hdr"))
    written = nib.load(tmp_path / "out" / "x_mask.nii.gz")
    assert written.shape[:2] == (20, 16)
    np.testing.assert_allclose(written.affine, affine, atol=1e-6)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_a_volume_written_as_a_flat_image_is_one_error_before_writing(model_dir, tmp_path, suffix):
    from genseg.errors import InputError

    src = write_nifti_volume(tmp_path / "ct.nii.gz", shape=(8, 8, 3))
    out = tmp_path / "new" / f"m{suffix}"
    result = _segment(model_dir, "-p", "liver", "-o", str(out), str(src), ok=False)
    assert isinstance(result.exception, InputError)
    assert f"cannot be written as {suffix}" in str(result.exception) and ".nii.gz" in str(result.exception)
    assert not (tmp_path / "new").exists()


def test_a_folder_of_series_folders_gives_one_mask_volume_per_series_and_pngs_stay_images(
    model_dir, tmp_path
):
    import nibabel as nib

    from genseg.plugins.testing import make_fake_image

    patient = tmp_path / "patient"
    write_ct_series(patient / "ct_arterial", shape=(4, 20, 16))
    write_ct_series(patient / "ct_venous", shape=(3, 20, 16))
    make_fake_image(patient / "scout.png", size=(20, 16))  # a 2D picture beside the series
    (patient / "notes").mkdir()
    (patient / "notes" / "report.txt").write_text("no images here")
    out = tmp_path / "out"
    result = _segment(model_dir, "-p", "liver", "-O", "window=abdomen", "-o", str(out), str(patient))
    assert "3 inputs: 3 written" in result.output
    assert nib.load(out / "ct_arterial_mask.nii.gz").shape == (16, 20, 4)
    assert nib.load(out / "ct_venous_mask.nii.gz").shape == (16, 20, 3)
    assert (out / "scout_mask.png").is_file()
