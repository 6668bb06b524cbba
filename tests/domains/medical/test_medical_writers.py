"""Medical writers: a mask lands on the voxels it came from (same affine, same voxel shape),
DICOM-SEG references its series, and nothing half-written is ever left behind."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from genseg.data.sample import Sample
from genseg.errors import InputError, OutputError
from genseg_medical.readers import read_medical
from genseg_medical.synthetic import (
    label_volume_like,
    write_ct_series,
    write_multiframe_ct,
    write_nifti_volume,
)
from genseg_medical.writers import write_dicom_seg, write_nifti

SHAPE = (6, 32, 40)  # slices, rows, columns
SPACING = (2.5, 0.75, 0.625)
ORIGIN = (-12.0, -20.0, 30.0)
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@pytest.fixture
def series(tmp_path) -> Sample:
    write_ct_series(tmp_path / "ct", shape=SHAPE, spacing=SPACING, origin=ORIGIN)
    return read_medical(tmp_path / "ct", "image")


def _mask(shape) -> np.ndarray:
    mask = label_volume_like(shape, labels=2)
    mask[-1, :3, :4] = 2  # asymmetric along every axis: a flipped write cannot pass
    return mask


def _leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# --------------------------------------------------------------------------------------------
# NIfTI
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mask.nii.gz", "mask.nii"])
def test_nifti_round_trip_keeps_affine_and_shape(tmp_path, name):
    source = write_nifti_volume(tmp_path / "in" / "ct.nii.gz", shape=(20, 24, 8))
    src = nib.load(source)
    sample = read_medical(source, "image")
    mask = _mask(sample.spatial_shape)
    out = write_nifti(tmp_path / "out" / name, mask, sample)
    assert out == tmp_path / "out" / name
    written = nib.load(out)
    np.testing.assert_allclose(written.affine, src.affine, atol=1e-6)
    assert written.shape == src.shape == (20, 24, 8)
    assert written.get_data_dtype() == np.uint8
    assert written.header.get_sform(coded=True)[1] == 1 and written.header.get_qform(coded=True)[1] == 1
    np.testing.assert_allclose(written.header.get_qform(), src.affine, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(written.dataobj), np.transpose(mask, (2, 1, 0)))
    back = read_medical(out, "label")
    np.testing.assert_array_equal(back.array, mask)
    assert _leftovers(out.parent, {name}) == []  # no temporary file left
    if name.endswith(".gz"):
        assert out.read_bytes()[:2] == b"\x1f\x8b"  # really gzip: the temp name kept .nii.gz


def test_nifti_from_dicom_series_has_the_series_geometry(tmp_path, series):
    mask = _mask(series.spatial_shape)
    out = write_nifti(tmp_path / "mask.nii.gz", mask, series)
    written = nib.load(out)
    np.testing.assert_allclose(written.affine, series.meta["affine"], atol=1e-6)
    # independently from the first slice's header: IPP, cosines, PixelSpacing, slice step
    first = pydicom.dcmread(series.meta["source_files"][0])
    row = np.array([float(v) for v in first.ImageOrientationPatient[:3]])
    col = np.array([float(v) for v in first.ImageOrientationPatient[3:]])
    lps = np.eye(4)
    lps[:3, 0] = row * float(first.PixelSpacing[1])
    lps[:3, 1] = col * float(first.PixelSpacing[0])
    lps[:3, 2] = np.cross(row, col) * SPACING[0]
    lps[:3, 3] = [float(v) for v in first.ImagePositionPatient]
    np.testing.assert_allclose(written.affine, LPS_TO_RAS @ lps, atol=1e-6)
    assert written.shape == (first.Columns, first.Rows, SHAPE[0])  # (columns, rows, slices)
    assert nib.aff2axcodes(written.affine) == ("L", "P", "S")


def test_nifti_2d_mask_of_a_single_frame(tmp_path):
    sample = read_medical(Path(get_testdata_file("CT_small.dcm")), "image")
    mask = np.zeros(sample.spatial_shape, np.uint8)
    mask[10:20, 30:50] = 255
    written = nib.load(write_nifti(tmp_path / "m.nii.gz", mask, sample))
    assert written.shape == (128, 128)
    np.testing.assert_allclose(written.affine, sample.meta["affine"], atol=1e-5)
    np.testing.assert_array_equal(np.asarray(written.dataobj), mask.T)  # values untouched


def test_nifti_values_above_255_use_uint16_and_bool_becomes_0_1(tmp_path, series):
    mask = _mask(series.spatial_shape).astype(np.uint16) * 300
    assert nib.load(write_nifti(tmp_path / "big.nii.gz", mask, series)).get_data_dtype() == np.uint16
    binary = _mask(series.spatial_shape) > 0
    written = nib.load(write_nifti(tmp_path / "bin.nii.gz", binary, series))
    assert set(np.unique(np.asarray(written.dataobj))) == {0, 1}


def test_nifti_without_reference_warns_and_uses_identity(tmp_path):
    with pytest.warns(UserWarning, match="identity affine"):
        out = write_nifti(tmp_path / "m.nii.gz", _mask((4, 8, 10)), None)
    assert np.array_equal(nib.load(out).affine, np.eye(4)) and nib.load(out).shape == (10, 8, 4)


def test_nifti_rejects_wrong_shape_name_and_probabilities(tmp_path, series):
    with pytest.raises(InputError, match="does not match"):
        write_nifti(tmp_path / "m.nii.gz", np.zeros((5, 32, 40), np.uint8), series)
    with pytest.raises(InputError, match=r"\.nii"):
        write_nifti(tmp_path / "m.png", _mask(SHAPE), series)
    with pytest.raises(InputError, match="fractional"):
        write_nifti(tmp_path / "m.nii.gz", np.full(SHAPE, 0.3), series)
    assert _leftovers(tmp_path, {"ct"}) == []


def test_failed_nifti_write_leaves_nothing(tmp_path, series, monkeypatch):
    target = tmp_path / "out" / "m.nii.gz"
    target.parent.mkdir()
    target.write_bytes(b"old")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(nib, "save", boom)
    # the OSError becomes one OutputError line naming the file, with the reason kept
    with pytest.raises(OutputError, match="disk full"):
        write_nifti(target, _mask(SHAPE), series)
    assert target.read_bytes() == b"old"  # the previous file survives untouched
    assert _leftovers(target.parent, {"m.nii.gz"}) == []


# --------------------------------------------------------------------------------------------
# DICOM-SEG
# --------------------------------------------------------------------------------------------


def test_dicom_seg_from_a_series_references_it_and_reads_back(tmp_path, series):
    import highdicom as hd

    mask = _mask(series.spatial_shape)
    mask[2] = 0  # an empty slice still gets its frames
    labelled = Sample(
        series.array, series.path, "image", series.reader, {**series.meta, "segment_labels": {1: "liver"}}
    )
    out = write_dicom_seg(tmp_path / "seg" / "mask.dcm", mask, labelled)
    ds = pydicom.dcmread(out)
    assert ds.Modality == "SEG" and ds.SegmentationType == "BINARY"
    assert len(ds.SegmentSequence) == 2 and int(ds.NumberOfFrames) == SHAPE[0] * 2
    assert [s.SegmentLabel for s in ds.SegmentSequence] == ["liver", "segment 2"]
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == series.meta["series_uid"]
    assert ds.FrameOfReferenceUID == series.meta["frame_of_reference_uid"]
    referenced = {
        r.ReferencedSOPInstanceUID for r in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    }
    assert referenced == {pydicom.dcmread(f).SOPInstanceUID for f in series.meta["source_files"]}
    seg = hd.seg.segread(out)
    assert list(seg.segment_numbers) == [1, 2]
    back = read_medical(out, "label")  # highdicom volume, reordered like the series
    np.testing.assert_array_equal(back.array, mask)
    np.testing.assert_allclose(back.meta["affine"], series.meta["affine"], atol=1e-6)
    assert _leftovers(out.parent, {"mask.dcm"}) == []


def test_dicom_seg_of_a_single_frame_binary_0_255_mask_is_one_segment(tmp_path):
    sample = read_medical(Path(get_testdata_file("CT_small.dcm")), "image")
    mask = np.zeros(sample.spatial_shape, np.uint8)
    mask[40:80, 20:60] = 255
    ds = pydicom.dcmread(write_dicom_seg(tmp_path / "one.dcm", mask, sample))
    assert len(ds.SegmentSequence) == 1 and int(ds.NumberOfFrames) == 1
    np.testing.assert_array_equal(ds.pixel_array.astype(bool), mask > 0)


def test_dicom_seg_of_a_multiframe_source_keeps_the_frame_order(tmp_path, series):
    write_multiframe_ct(series.meta["source_files"], tmp_path / "mf.dcm")
    sample = read_medical(tmp_path / "mf.dcm", "image")
    mask = _mask(sample.spatial_shape)
    back = read_medical(write_dicom_seg(tmp_path / "mf-seg.dcm", mask, sample), "label")
    np.testing.assert_array_equal(back.array, mask)
    np.testing.assert_allclose(back.meta["affine"], sample.meta["affine"], atol=1e-6)


def test_dicom_seg_needs_a_dicom_reference(tmp_path):
    nifti = read_medical(write_nifti_volume(tmp_path / "v.nii.gz", shape=(10, 12, 4)), "image")
    for reference in (nifti, None):
        with pytest.raises(InputError) as info:
            write_dicom_seg(tmp_path / "m.dcm", np.zeros((4, 12, 10), np.uint8), reference)
        assert info.value.fix == "write NIfTI (.nii.gz) instead"
    assert not (tmp_path / "m.dcm").exists()


def test_dicom_seg_notices_moved_or_replaced_sources(tmp_path, series):
    Path(series.meta["source_files"][0]).unlink()
    with pytest.raises(InputError, match="re-read the source") as info:
        write_dicom_seg(tmp_path / "m.dcm", _mask(SHAPE), series)
    assert "NIfTI" in info.value.fix
