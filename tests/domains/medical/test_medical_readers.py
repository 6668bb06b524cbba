"""Medical readers: one layout out (D×H×W×C, (i, j, k) RAS affine), geometry checked against
values computed here from the headers, and a clear InputError for every bad input.

Fixtures are generated into tmp_path by genseg_medical.synthetic (tiny: 6 slices of 32×40)
or are pydicom's bundled test files (real scanner data, offline).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from genseg.errors import InputError
from genseg_medical.readers import is_dicom_file, read_medical
from genseg_medical.synthetic import ct_hounsfield, write_ct_series, write_multiframe_ct, write_nifti_volume

SHAPE = (6, 32, 40)  # slices, rows, columns
SPACING = (2.5, 0.75, 0.625)  # slice step, row spacing, column spacing (exact in float32)
ORIGIN = (-12.0, -20.0, 30.0)
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _testdata(name: str) -> Path:
    return Path(get_testdata_file(name))


def _series(folder: Path, **kwargs) -> list[Path]:
    kwargs = {"shape": SHAPE, "spacing": SPACING, "origin": ORIGIN, **kwargs}
    return write_ct_series(folder, **kwargs)


def header_affine(first_slice: Path, slice_step: float) -> np.ndarray:
    """The (i, j, k) → RAS affine computed by hand from one slice's header (DICOM PS3.3 C.7.6.2.1.1)."""
    ds = pydicom.dcmread(first_slice, stop_before_pixels=True)
    iop = np.array([float(v) for v in ds.ImageOrientationPatient])
    row, col = iop[:3], iop[3:]
    dr, dc = (float(v) for v in ds.PixelSpacing)
    lps = np.eye(4)
    lps[:3, 0] = row * dc  # i: column index, moves along the row direction
    lps[:3, 1] = col * dr  # j: row index
    lps[:3, 2] = np.cross(row, col) * slice_step
    lps[:3, 3] = [float(v) for v in ds.ImagePositionPatient]
    return LPS_TO_RAS @ lps


# --------------------------------------------------------------------------------------------
# dispatch and sniffing
# --------------------------------------------------------------------------------------------


def test_is_dicom_file_checks_the_preamble_only(tmp_path):
    nii = write_nifti_volume(tmp_path / "v.nii.gz")
    assert is_dicom_file(_testdata("CT_small.dcm"))
    assert not is_dicom_file(nii)
    assert not is_dicom_file(tmp_path)  # a folder
    assert not is_dicom_file(tmp_path / "missing.dcm")


def test_dicom_without_extension_is_recognised(tmp_path):
    target = tmp_path / "IM0001"
    shutil.copy(_testdata("CT_small.dcm"), target)
    sample = read_medical(target, "image")
    assert sample.array.shape == (128, 128, 1) and sample.reader == "dicom"


def test_unknown_format_and_missing_file_are_input_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="not a NIfTI"):
        read_medical(tmp_path / "notes.txt", "image")
    with pytest.raises(InputError, match="not found"):
        read_medical(tmp_path / "nothing.nii.gz", "image")


# --------------------------------------------------------------------------------------------
# DICOM series
# --------------------------------------------------------------------------------------------


def test_series_is_sorted_by_position_and_in_hounsfield_units(tmp_path):
    paths = _series(tmp_path / "ct")
    assert sorted(paths) != paths  # file names do not follow the slice order
    sample = read_medical(tmp_path / "ct", "image")
    assert sample.array.shape == (*SHAPE, 1) and sample.array.dtype == np.float32
    assert sample.reader == "dicom-series" and sample.kind == "image" and not sample.normalised
    np.testing.assert_array_equal(sample.array[..., 0], ct_hounsfield(SHAPE))  # HU, exact
    meta = sample.meta
    assert meta["spacing"] == SPACING
    assert meta["orientation"] == "LPS" and meta["axes"] == "kji"
    assert meta["modality"] == "CT" and meta["source_format"] == "dicom-series"
    assert meta["series_uid"] == pydicom.dcmread(paths[0]).SeriesInstanceUID
    assert meta["source_files"] == [str(p) for p in paths]  # slice order, for the SEG writer
    assert meta["slice_positions"] == [30.0, 32.5, 35.0, 37.5, 40.0, 42.5]


def test_series_affine_equals_the_header_geometry(tmp_path):
    paths = _series(tmp_path / "ct")
    sample = read_medical(tmp_path / "ct", "image")
    expected = header_affine(paths[0], SPACING[0])
    np.testing.assert_allclose(sample.meta["affine"], expected, atol=1e-9)
    assert nib.aff2axcodes(sample.meta["affine"]) == tuple(sample.meta["orientation"])
    # and every slice k lies where its own header says
    for k, f in enumerate(sample.meta["source_files"]):
        ipp = np.array([float(v) for v in pydicom.dcmread(f).ImagePositionPatient])
        np.testing.assert_allclose(
            sample.meta["affine"] @ [0, 0, k, 1], [-ipp[0], -ipp[1], ipp[2], 1], atol=1e-9
        )


def test_oblique_series_places_every_slice_at_its_position(tmp_path):
    c, s = np.cos(np.deg2rad(25)), np.sin(np.deg2rad(25))
    cb, sb = np.cos(np.deg2rad(15)), np.sin(np.deg2rad(15))
    orientation = (c, s, 0.0, -s * cb, c * cb, -sb)  # orthonormal row and column cosines
    _series(tmp_path / "ob", orientation=orientation)
    sample = read_medical(tmp_path / "ob", "image")
    affine = sample.meta["affine"]
    for k, f in enumerate(sample.meta["source_files"]):
        ds = pydicom.dcmread(f)
        ipp = np.array([float(v) for v in ds.ImagePositionPatient])
        row = np.array([float(v) for v in ds.ImageOrientationPatient[:3]])
        col = np.array([float(v) for v in ds.ImageOrientationPatient[3:]])
        # voxel (i=3, j=5, k) = IPP + 3 * column spacing * row cosine + 5 * row spacing * column cosine
        lps = ipp + 3 * SPACING[2] * row + 5 * SPACING[1] * col
        np.testing.assert_allclose(affine @ [3, 5, k, 1], LPS_TO_RAS @ [*lps, 1], atol=1e-6)
    assert sample.meta["spacing"] == pytest.approx(SPACING)


@pytest.mark.parametrize("numbers", ["descending", "none"])
def test_series_order_does_not_depend_on_instance_numbers(tmp_path, numbers):
    _series(tmp_path / "ct", instance_numbers=numbers)
    sample = read_medical(tmp_path / "ct", "image")
    np.testing.assert_array_equal(sample.array[..., 0], ct_hounsfield(SHAPE))
    assert sample.meta["slice_positions"] == sorted(sample.meta["slice_positions"])


def test_series_matches_monai_where_monai_is_right_and_shows_where_it_is_not(tmp_path):
    """MONAI's own folder read stacks by InstanceNumber: same result when the numbers ascend
    along the normal; reversed slices (and a consistent, flipped affine) when they descend."""
    from monai.data import PydicomReader
    from monai.transforms import LoadImage

    for numbers in ("ascending", "descending"):
        folder = tmp_path / numbers
        _series(folder, instance_numbers=numbers)
        ours = read_medical(folder, "image")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img, meta = LoadImage(image_only=False)(str(folder), reader=PydicomReader())
        monai_vox, monai_affine = np.asarray(img), np.asarray(meta["affine"], dtype=np.float64)
        ours_vox = np.transpose(ours.array[..., 0], (2, 1, 0))
        if numbers == "ascending":
            np.testing.assert_allclose(monai_affine, ours.meta["affine"], atol=1e-6)
            np.testing.assert_array_equal(monai_vox, ours_vox)
        else:
            flip_k = np.diag([1.0, 1.0, -1.0, 1.0])
            flip_k[2, 3] = SHAPE[0] - 1
            np.testing.assert_allclose(monai_affine, ours.meta["affine"] @ flip_k, atol=1e-6)
            np.testing.assert_array_equal(monai_vox, ours_vox[:, :, ::-1])


def test_gap_in_positions_warns_naming_the_missing_position(tmp_path):
    _series(tmp_path / "gap", gap_at=2)  # slice 2 lies at z = 30 + 2 * 2.5 = 35 mm
    with pytest.warns(UserWarning, match=r"missing at position\(s\) 35\.00 mm"):
        sample = read_medical(tmp_path / "gap", "image")
    assert sample.array.shape == (5, *SHAPE[1:], 1)
    assert sample.meta["missing_positions"] == [35.0]
    assert sample.meta["slice_positions"] == [30.0, 32.5, 37.5, 40.0, 42.5]
    assert sample.meta["spacing"][0] == 2.5  # the regular step, not the average


def test_two_series_in_one_folder_list_their_uids(tmp_path):
    a = _series(tmp_path / "mixed", seed=0)
    b = _series(tmp_path / "mixed", seed=1)
    uids = {pydicom.dcmread(a[0]).SeriesInstanceUID, pydicom.dcmread(b[0]).SeriesInstanceUID}
    assert len(uids) == 2
    with pytest.raises(InputError) as info:
        read_medical(tmp_path / "mixed", "image")
    message = str(info.value)
    assert "2 DICOM series" in message and all(uid in message for uid in uids)
    assert "sub-folder" in info.value.fix and "remove" in info.value.fix


def test_truncated_slice_is_an_error_naming_the_file(tmp_path):
    paths = _series(tmp_path / "ct")
    victim = paths[3]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) - 700])  # pixel data cut short
    with pytest.raises(InputError, match="corrupt DICOM") as info:
        read_medical(tmp_path / "ct", "image")
    assert info.value.path == str(victim)


def test_garbage_after_the_preamble_is_an_error_naming_the_file(tmp_path):
    paths = _series(tmp_path / "ct")
    victim = paths[1]
    head = victim.read_bytes()[:132]
    victim.write_bytes(head + np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match="corrupt DICOM") as info:
        read_medical(tmp_path / "ct", "image")
    assert info.value.path == str(victim)


def test_non_dicom_named_dcm_is_an_error(tmp_path):
    fake = tmp_path / "slice.dcm"
    fake.write_text("this is not DICOM\n" * 20)
    with pytest.raises(InputError, match="not a DICOM file") as info:
        read_medical(fake, "image")
    assert info.value.path == str(fake)
    _series(tmp_path / "ct")
    shutil.copy(fake, tmp_path / "ct" / "IM_extra.dcm")  # in a series folder too
    with pytest.raises(InputError, match="not a DICOM file") as info:
        read_medical(tmp_path / "ct", "image")
    assert info.value.path.endswith("IM_extra.dcm")


def test_folder_without_dicom_is_an_error_and_points_to_sub_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README.txt").write_text("no images")
    with pytest.raises(InputError, match="no DICOM image files"):
        read_medical(tmp_path / "empty", "image")
    _series(tmp_path / "patient" / "series1")
    with pytest.raises(InputError, match="series1") as info:
        read_medical(tmp_path / "patient", "image")
    assert "sub-folder" in info.value.fix


def test_non_dicom_side_files_are_ignored(tmp_path):
    _series(tmp_path / "ct")
    (tmp_path / "ct" / "notes.json").write_text("{}")
    (tmp_path / "ct" / ".DS_Store").write_bytes(b"\0\1")
    assert read_medical(tmp_path / "ct", "image").array.shape == (*SHAPE, 1)


def test_series_as_label_must_hold_whole_numbers(tmp_path):
    _series(tmp_path / "ct")
    label = read_medical(tmp_path / "ct", "label")  # HU values are integers: a (strange) label
    assert label.array.shape == SHAPE and np.issubdtype(label.array.dtype, np.integer)


# --------------------------------------------------------------------------------------------
# NIfTI
# --------------------------------------------------------------------------------------------


def test_nifti_layout_affine_and_spacing(tmp_path):
    path = write_nifti_volume(tmp_path / "v.nii.gz", shape=(20, 24, 8))
    ref = nib.load(path)
    vox = np.asarray(ref.dataobj)
    sample = read_medical(path, "image")
    assert sample.array.shape == (8, 24, 20, 1) and sample.array.dtype == np.float32
    assert sample.reader == "nifti" and not sample.normalised
    np.testing.assert_array_equal(sample.array[..., 0], np.transpose(vox, (2, 1, 0)))
    assert sample.array[5, 7, 3, 0] == vox[3, 7, 5]
    np.testing.assert_array_equal(sample.meta["affine"], ref.affine)
    np.testing.assert_allclose(sample.meta["spacing"], ref.header.get_zooms()[::-1], rtol=1e-6)
    assert sample.meta["orientation"] == "".join(nib.aff2axcodes(ref.affine))
    assert sample.meta["modality"] is None and sample.meta["source_format"] == "nifti"
    assert sample.meta["axes"] == "kji"


def test_nifti_with_nan_is_an_error(tmp_path):
    path = write_nifti_volume(tmp_path / "nan.nii.gz", nan=True)
    with pytest.raises(InputError, match=r"^\S+nan\.nii\.gz: 2 NaN voxels of 3840") as info:
        read_medical(path, "image")
    assert info.value.fix and "nan" in info.value.fix.lower()


def test_nifti_labels_keep_integer_values(tmp_path):
    label = read_medical(write_nifti_volume(tmp_path / "l.nii.gz", label=True), "label")
    assert label.array.dtype == np.uint8 and set(np.unique(label.array)) == {0, 1, 2}
    assert label.array.ndim == 3
    # stored as float32 (common): still integers out, values unchanged
    img = nib.load(tmp_path / "l.nii.gz")
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj).astype(np.float32) * 3, img.affine), tmp_path / "f.nii")
    floats = read_medical(tmp_path / "f.nii", "label")
    assert np.issubdtype(floats.array.dtype, np.integer) and set(np.unique(floats.array)) == {0, 3, 6}
    nib.save(nib.Nifti1Image(np.full((4, 4, 2), 0.5, np.float32), np.eye(4)), tmp_path / "p.nii.gz")
    with pytest.raises(InputError, match="non-integer"):
        read_medical(tmp_path / "p.nii.gz", "label")


def test_truncated_nifti_is_an_error(tmp_path):
    path = write_nifti_volume(tmp_path / "v.nii")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InputError, match="cannot read as NIfTI"):
        read_medical(path, "image")


# --------------------------------------------------------------------------------------------
# single DICOM files (pydicom's bundled scanner data)
# --------------------------------------------------------------------------------------------


def test_ct_small_single_frame_is_2d_in_hounsfield_units():
    path = _testdata("CT_small.dcm")
    ds = pydicom.dcmread(path)
    sample = read_medical(path, "image")
    assert sample.array.shape == (128, 128, 1) and sample.array.dtype == np.float32
    hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(sample.array[..., 0], hu)  # rows × columns
    assert sample.meta["spacing"] == (0.661468, 0.661468)
    assert sample.meta["modality"] == "CT" and sample.meta["source_format"] == "dicom"
    assert sample.meta["series_uid"] == ds.SeriesInstanceUID
    assert sample.meta["source_files"] == [str(path)]
    expected = header_affine(path, float(ds.SliceThickness))
    np.testing.assert_allclose(sample.meta["affine"], expected, atol=1e-9)


def test_single_frame_affine_matches_monai_in_plane():
    """MONAI gives a 2D frame a unit slice axis along LPS z; in-plane and origin agree."""
    from monai.data import PydicomReader
    from monai.transforms import LoadImage

    path = _testdata("MR_small.dcm")
    sample = read_medical(path, "image")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, meta = LoadImage(image_only=False)(str(path), reader=PydicomReader())
    monai_affine = np.asarray(meta["affine"], dtype=np.float64)
    np.testing.assert_allclose(monai_affine[:, [0, 1, 3]], sample.meta["affine"][:, [0, 1, 3]], atol=1e-6)
    assert sample.meta["modality"] == "MR"
    ds = pydicom.dcmread(path)
    np.testing.assert_array_equal(sample.array[..., 0], ds.pixel_array)  # MR: raw scanner units


def test_multiframe_volume_matches_the_series_it_was_converted_from(tmp_path):
    _series(tmp_path / "ct", instance_numbers="descending")
    series = read_medical(tmp_path / "ct", "image")
    write_multiframe_ct(series.meta["source_files"], tmp_path / "mf.dcm")
    sample = read_medical(tmp_path / "mf.dcm", "image")
    assert sample.meta["source_format"] == "dicom-multiframe" and sample.array.shape == (*SHAPE, 1)
    np.testing.assert_array_equal(sample.array, series.array)  # HU from per-frame rescale
    np.testing.assert_allclose(sample.meta["affine"], series.meta["affine"], atol=1e-9)
    assert sample.meta["spacing"] == pytest.approx(SPACING)
    assert sorted(sample.meta["frame_order"]) == list(range(SHAPE[0]))


def test_rt_dose_multiframe_uses_the_grid_frame_offsets():
    sample = read_medical(_testdata("rtdose.dcm"), "image")
    assert sample.array.shape == (15, 10, 10, 1)
    assert sample.meta["spacing"] == (5.0, 10.0, 10.0)
    assert sample.meta["slice_positions"][:2] == pytest.approx([-761.87, -756.87])


def test_dicom_seg_reads_as_label_volume_with_segment_numbers():
    path = _testdata("liver_1frame.dcm")
    label = read_medical(path, "label")
    assert label.array.shape == (1, 512, 512) and np.issubdtype(label.array.dtype, np.integer)
    assert set(np.unique(label.array)) == {0, 1}
    assert label.meta["source_format"] == "dicom-seg" and label.meta["segment_labels"] == {1: "Liver"}
    assert label.meta["orientation"] == "LPS"  # slices ascending along the normal, as for a series
    with pytest.raises(InputError, match="DICOM-SEG"):
        read_medical(path, "image")


def test_non_image_dicom_is_an_error():
    with pytest.raises(InputError, match="holds no image"):
        read_medical(_testdata("rtplan.dcm"), "image")


def test_importing_the_modules_is_cheap():
    code = (
        "import sys, genseg_medical.readers, genseg_medical.writers, genseg_medical.synthetic;"
        "heavy = [m for m in ('monai', 'nibabel', 'pydicom', 'highdicom', 'torch') if m in sys.modules];"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_folder_is_the_dicom_reader_s_only_when_it_holds_dicom(tmp_path):
    from PIL import Image

    from genseg.plugins.registry import find_reader

    _series(tmp_path / "series")
    nested = tmp_path / "study"
    _series(nested / "ct")
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(photos / "a.png")
    assert find_reader(tmp_path / "series", "image")[1].name == "dicom-series"
    assert find_reader(nested / "ct", "image")[1].name == "dicom-series"
    # a folder of series folders is not one series: `genseg segment` reads each sub-folder
    for folder in (nested, photos):
        with pytest.raises(InputError, match="no installed reader claims this folder"):
            find_reader(folder, "image")
