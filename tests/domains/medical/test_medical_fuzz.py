"""Fuzzing the medical readers: damaged NIfTI, MGH and DICOM files give a GenSegError, never
anything else.

Real files are the bases: a small NIfTI written here (plain and gzipped), a FreeSurfer MGH,
pydicom's ``MR_small.dcm`` (and a copy without the preamble), its big-endian and JPEG 2000
encodings, and one slice of a three-slice series folder. Hypothesis damages a base (truncated,
bytes overwritten anywhere or within the header, or a header field overwritten: NIfTI's dim,
datatype, pixdim, vox_offset, scaling and sform fields; DICOM's Rows, Columns, bit depth,
frame count, spacing, position, orientation and transfer syntax) and hands it to the medical
reader as image and as label. Each may succeed or raise a GenSegError naming the file; any
other exception is a bug. ``GENSEG_FUZZ_EXAMPLES`` sets the number of examples (default 25;
``make fuzz`` runs more).
"""

from __future__ import annotations

import gzip
import itertools
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from genseg.errors import GenSegError  # noqa: E402

EXAMPLES = int(os.environ.get("GENSEG_FUZZ_EXAMPLES", "25"))
HEADER = {"nifti": 352, "mgh": 284, "dicom": 1024}
"""Bytes at the start of each kind of base that hold its header (DICOM: meta group and the
image attributes before the pixels, for these small files)."""
# NIfTI-1 header fields (offset, size): dim, datatype, bitpix, pixdim, vox_offset,
# scl_slope/inter, qform/sform codes, quatern, srow_x/y/z
NIFTI_FIELDS = ((40, 16), (70, 2), (72, 2), (76, 32), (108, 4), (112, 8), (252, 4), (256, 24), (280, 48))
# DICOM elements whose values are overwritten (little-endian tag bytes: group, element)
DICOM_TAGS = (
    (0x0028, 0x0010),  # Rows
    (0x0028, 0x0011),  # Columns
    (0x0028, 0x0100),  # BitsAllocated
    (0x0028, 0x0101),  # BitsStored
    (0x0028, 0x0002),  # SamplesPerPixel
    (0x0028, 0x0008),  # NumberOfFrames (absent in some bases: then the edit is anywhere)
    (0x0028, 0x0030),  # PixelSpacing
    (0x0020, 0x0032),  # ImagePositionPatient
    (0x0020, 0x0037),  # ImageOrientationPatient
    (0x0002, 0x0010),  # TransferSyntaxUID
    (0x7FE0, 0x0010),  # PixelData (its length)
)

_names = itertools.count()


def _tag_offset(data: bytes, group: int, element: int) -> int | None:
    """Where the element with this tag starts in ``data`` (little- or big-endian), if found."""
    for order in ("little", "big"):
        at = data.find(group.to_bytes(2, order) + element.to_bytes(2, order))
        if at >= 0:
            return at
    return None


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, tuple[str, str, bytes]]:
    """name → (kind of header, file suffix, bytes)."""
    import nibabel as nib
    import pydicom
    from pydicom.data import get_testdata_file

    from genseg_medical.synthetic import write_nifti_volume

    folder = tmp_path_factory.mktemp("fuzz-base")
    nii = write_nifti_volume(folder / "v.nii", shape=(6, 5, 4))
    data = np.asarray(nib.load(nii).dataobj)
    nib.save(nib.MGHImage(data.astype(np.int16), nib.load(nii).affine), folder / "v.mgh")
    mr = Path(get_testdata_file("MR_small.dcm")).read_bytes()
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    ds.preamble = None
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pydicom.dcmwrite(folder / "bare.dcm", ds, enforce_file_format=False, implicit_vr=True)
    return {
        "nifti": ("nifti", ".nii", nii.read_bytes()),
        "nifti-gz": ("nifti", ".nii.gz", gzip.compress(nii.read_bytes(), mtime=0)),
        "mgh": ("mgh", ".mgh", (folder / "v.mgh").read_bytes()),
        "dicom": ("dicom", ".dcm", mr),
        "dicom-bare": ("dicom", ".dcm", (folder / "bare.dcm").read_bytes()),
        "dicom-big-endian": ("dicom", ".dcm", Path(get_testdata_file("MR_small_bigendian.dcm")).read_bytes()),
        "dicom-j2k": ("dicom", ".dcm", Path(get_testdata_file("MR_small_jp2klossless.dcm")).read_bytes()),
        "series": ("dicom", "", b""),  # filled by the series fixture
    }


@pytest.fixture(scope="module")
def series_slices(tmp_path_factory) -> list[bytes]:
    from genseg_medical.synthetic import write_ct_series

    folder = tmp_path_factory.mktemp("fuzz-series")
    return [f.read_bytes() for f in sorted(write_ct_series(folder, shape=(3, 8, 8), shuffle=False))]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def damage(base: bytes, header: str, how: str, cut: int, edits: list[tuple[int, int]], field: int) -> bytes:
    """``base`` truncated at ``cut``, or with ``edits`` applied: (position, byte) pairs anywhere,
    within the header, or (``field``) from the start of one header field on."""
    if not base:
        return base
    if how == "truncate":
        return base[: cut % len(base)]
    data = bytearray(base)
    start, span = 0, len(data)
    if how == "header":
        span = min(HEADER[header], len(data))
    elif how == "field":
        if header == "nifti" and len(data) >= 348:
            start, span = NIFTI_FIELDS[field % len(NIFTI_FIELDS)]
        elif header == "dicom":
            at = _tag_offset(base, *DICOM_TAGS[field % len(DICOM_TAGS)])
            if at is not None:
                start, span = at + 4, 12  # VR, length and the first value bytes
        elif header == "mgh":
            start, span = 0, 284  # version, dims, type, dof, goodRAS, spacing, direction, centre
    for position, value in edits:
        data[min(start + position % span, len(data) - 1)] = value
    return bytes(data)


def read_everything(path: Path) -> None:
    """The medical plugin's entry point for every reader, as `genseg segment`/`train` call it."""
    from genseg_medical.readers import read_medical

    for kind in ("image", "label"):
        try:
            read_medical(path, kind)
        except GenSegError as exc:
            assert exc.path is not None and "\n" not in exc.one_line(), exc.one_line()


@pytest.mark.fuzz
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    base=st.sampled_from(
        ["nifti", "nifti-gz", "mgh", "dicom", "dicom-bare", "dicom-big-endian", "dicom-j2k", "series"]
    ),
    how=st.sampled_from(["truncate", "anywhere", "header", "field", "field"]),
    cut=st.integers(0, 2**31),
    edits=st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 255)), min_size=1, max_size=8),
    field=st.integers(0, 64),
    victim=st.integers(0, 2),
)
def test_a_damaged_medical_file_raises_only_genseg_errors(
    bases, series_slices, scratch, base, how, cut, edits, field, victim
):
    header, suffix, data = bases[base]
    case = scratch / f"case-{next(_names)}"
    if base == "series":  # one damaged slice among intact ones: the folder is what is read
        case.mkdir()
        for n, slice_bytes in enumerate(series_slices):
            damaged = damage(slice_bytes, header, how, cut, edits, field) if n == victim else slice_bytes
            (case / f"IM{n:04d}").write_bytes(damaged)
        target = case
    else:
        target = case.with_name(case.name + suffix)
        target.write_bytes(damage(data, header, how, cut, edits, field))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            read_everything(target)
    finally:
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)


def test_the_undamaged_bases_read(bases, series_slices, tmp_path):
    from genseg_medical.readers import read_medical

    for name, (_, suffix, data) in bases.items():
        if name == "series":
            continue
        path = tmp_path / f"{name}{suffix}"
        path.write_bytes(data)
        read_medical(path, "image")
    folder = tmp_path / "series"
    folder.mkdir()
    for n, slice_bytes in enumerate(series_slices):
        (folder / f"IM{n:04d}").write_bytes(slice_bytes)
    assert read_medical(folder, "image").array.shape[0] == 3
