"""`pipe(path, ..., domain="medical")` on volume files: a NIfTI and a DICOM series folder are
read and windowed by the medical plugin and segmented slice by slice, as `genseg segment` does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genseg.data.io import load_image
from genseg.errors import InputError
from genseg.plugins.testing import build_tiny_pipeline
from genseg.volumes import segment_volume
from genseg_medical.synthetic import ct_hounsfield, write_ct_series

WINDOW = {"window": "abdomen"}


@pytest.fixture(scope="module")
def pipe():
    return build_tiny_pipeline("dit")


@pytest.fixture
def nifti(tmp_path):
    nib = pytest.importorskip("nibabel")
    hu = ct_hounsfield((4, 24, 20), seed=1).transpose(2, 1, 0).astype(np.int16)  # x, y, z
    path = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(hu, np.diag([0.8, 0.7, 2.5, 1.0])), path)
    return path


@pytest.fixture
def series(tmp_path):
    write_ct_series(tmp_path / "series", shape=(5, 24, 20))
    return tmp_path / "series"


@pytest.mark.parametrize("kind", ["nifti", "series"])
def test_a_volume_file_gives_masks_shaped_like_the_scan_as_segment_volume_does(pipe, request, kind):
    path = request.getfixturevalue(kind)
    scan = load_image(path, "medical", WINDOW).array  # D×H×W×1, windowed
    out = pipe(
        path,
        ["liver", "spleen"],
        domain="medical",
        options=WINDOW,
        generator=torch.Generator().manual_seed(2),
    )
    assert out.masks.shape == (1, 2, *scan.shape[:3])
    direct = segment_volume(pipe, scan, ["liver", "spleen"], seed=2, progress=False)
    np.testing.assert_array_equal(out.masks[0], direct.masks)


def test_the_medical_window_reaches_the_slices(pipe, nifti):
    lung = pipe(nifti, "liver", domain="medical", options={"window": "lung"}).probabilities
    abdomen = pipe(nifti, "liver", domain="medical", options=WINDOW).probabilities
    assert lung.shape == abdomen.shape and not np.array_equal(lung, abdomen)


def test_volume_false_on_a_volume_file_is_an_error_naming_the_fix(pipe, nifti):
    with pytest.raises(InputError, match="is a volume") as err:
        pipe(nifti, "liver", domain="medical", volume=False)
    assert "leave volume out" in err.value.fix
