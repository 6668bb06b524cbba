"""Real-world files and faults: every valid file the medical readers are given reads, every bad
one is one GenSegError line naming the file and the fix.

Two corpora ship with the installed packages, so these tests run offline in any clone: every
file pydicom bundles in its data folder and every NIfTI/Analyze/MGH file of nibabel's test
data. Each is read through the reader registry (as ``genseg segment`` does); the test fails on
any exception that is not a GenSegError, and checks that the encodings of ``MR_small.dcm``
pydicom ships (big-endian, implicit VR, RLE, JPEG-LS, JPEG 2000 lossless ...) read to the same
pixels and geometry as the original. The cases the corpus lacks (files without the DICOM
preamble, anonymised series without UIDs, NIfTI pairs, MGH written here) are generated.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file, get_testdata_files

from genseg.errors import GenSegError, InputError
from genseg_medical.readers import looks_like_dicom, read_medical
from genseg_medical.synthetic import write_ct_series, write_nifti_volume

NIBABEL_DATA = Path(nib.__file__).parent / "tests" / "data"
NIBABEL_SUFFIXES = (".nii", ".nii.gz", ".hdr", ".img", ".mgz", ".mgh")
# MR_small.dcm in other lossless encodings, as pydicom ships them: each must read identically
LOSSLESS_MR_SMALL = (
    "MR_small_bigendian.dcm",  # Explicit VR Big Endian
    "MR_small_expb.dcm",  # Explicit VR Big Endian
    "MR_small_implicit.dcm",  # Implicit VR Little Endian
    "MR_small_RLE.dcm",  # RLE Lossless
    "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS Lossless (pyjpegls)
    "MR_small_jp2klossless.dcm",  # JPEG 2000 Lossless (pylibjpeg-openjpeg)
    "MR_small_padded.dcm",  # pixel data with a trailing pad byte
)
MUST_READ_DICOM = LOSSLESS_MR_SMALL + (
    "MR_small.dcm",
    "CT_small.dcm",
    "ExplVR_BigEnd.dcm",
    "rtdose_expb.dcm",
    "rtdose_expb_1frame.dcm",
    "SC_rgb_small_odd_big_endian.dcm",
    "JPEG2000.dcm",
    "JPEGLSNearLossless_16.dcm",
)
MUST_READ_NIBABEL = ("anatomical.nii", "reoriented_anat_moved.nii", "test.mgz", "example4d.nii.gz")


def _testdata(name: str) -> Path:
    return Path(get_testdata_file(name))


def _pydicom_corpus() -> list[Path]:
    folder = Path(pydicom.data.__file__).parent / "test_files"
    files = {Path(p) for p in get_testdata_files()}
    files |= {p for p in folder.rglob("*") if p.is_file()}
    return sorted(files)


def _nibabel_corpus() -> list[Path]:
    return sorted(
        p for p in NIBABEL_DATA.iterdir() if p.is_file() and p.name.lower().endswith(NIBABEL_SUFFIXES)
    )


def _has_decoder(name: str) -> bool:
    """Whether pydicom can decode the pixel data of test file ``name`` here."""
    try:
        pydicom.dcmread(_testdata(name)).pixel_array  # noqa: B018
    except Exception:
        return False
    return True


def _read_all(files: list[Path]) -> tuple[dict[str, object], dict[str, str], dict[str, str]]:
    """(read samples, clear errors, crashes) by file name, through the registry."""
    from genseg.plugins import registry

    read: dict[str, object] = {}
    clear: dict[str, str] = {}
    crashes: dict[str, str] = {}
    for path in files:
        key = str(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                read[key] = registry.read(path, "image")
        except GenSegError as exc:
            line = exc.one_line()
            if "\n" in line or not exc.path:
                crashes[key] = f"unclear GenSegError: {line!r}"
            else:
                clear[key] = line
        except Exception as exc:  # the bug this test exists to catch
            crashes[key] = f"{type(exc).__name__}: {exc}"
    return read, clear, crashes


def _by_name(results: dict, name: str):
    hits = [v for k, v in results.items() if Path(k).name == name]
    return hits[0] if hits else None


@pytest.fixture(scope="module")
def pydicom_results():
    return _read_all(_pydicom_corpus())


@pytest.fixture(scope="module")
def nibabel_results():
    return _read_all(_nibabel_corpus())


# --------------------------------------------------------------------------------------------
# the corpora
# --------------------------------------------------------------------------------------------


def _counted(corpus: str, results, capsys):
    """Print the corpus counts (the issue note's figures) and return (read, clear errors)."""
    read, clear, crashes = results
    with capsys.disabled():
        print(f"\n{corpus} corpus: {len(read)} read, {len(clear)} clear errors, {len(crashes)} crashes")
    assert not crashes, crashes
    return read, clear


@pytest.mark.slow
def test_every_pydicom_test_file_reads_or_is_one_clear_error(pydicom_results, capsys):
    read, clear = _counted("pydicom", pydicom_results, capsys)
    assert len(read) + len(clear) == len(_pydicom_corpus())
    for name in MUST_READ_DICOM:
        if name.startswith("MR_small_jpeg_ls") and not _has_decoder(name):
            continue
        assert _by_name(read, name) is not None, _by_name(clear, name)


@pytest.mark.slow
def test_every_nibabel_test_volume_reads_or_is_one_clear_error(nibabel_results, capsys):
    read, clear = _counted("nibabel", nibabel_results, capsys)
    for name in MUST_READ_NIBABEL:
        assert _by_name(read, name) is not None, _by_name(clear, name)


@pytest.mark.slow
@pytest.mark.parametrize("name", LOSSLESS_MR_SMALL)
def test_lossless_encodings_of_mr_small_read_like_the_original(pydicom_results, name):
    read, clear, _ = pydicom_results
    if _by_name(read, name) is None and not _has_decoder(name):
        pytest.skip(f"no decoder for {name} installed")
    reference, sample = _by_name(read, "MR_small.dcm"), _by_name(read, name)
    assert sample is not None, _by_name(clear, name)
    np.testing.assert_array_equal(sample.array, reference.array)
    np.testing.assert_allclose(sample.meta["affine"], reference.meta["affine"])
    assert sample.meta["spacing"] == reference.meta["spacing"]


def test_big_endian_nifti_reads_with_nibabels_values_and_affine():
    for name in ("anatomical.nii", "reoriented_anat_moved.nii"):
        path = NIBABEL_DATA / name
        img = nib.load(path)
        assert img.header.endianness == ">"  # the case: big-endian on disk
        sample = read_medical(path, "image")
        expected = np.transpose(np.asarray(img.dataobj), (2, 1, 0))[..., None].astype(np.float32)
        np.testing.assert_array_equal(sample.array, expected)
        np.testing.assert_allclose(sample.meta["affine"], img.affine)
        assert sample.array.dtype.isnative


def test_big_endian_dicom_reads_like_little_endian():
    little = read_medical(_testdata("MR_small.dcm"), "image")
    for name in ("MR_small_bigendian.dcm", "MR_small_expb.dcm"):
        big = read_medical(_testdata(name), "image")
        np.testing.assert_array_equal(big.array, little.array)
        np.testing.assert_allclose(big.meta["affine"], little.meta["affine"])
    dose = read_medical(_testdata("rtdose_expb.dcm"), "image")
    np.testing.assert_array_equal(dose.array, read_medical(_testdata("rtdose.dcm"), "image").array)


# --------------------------------------------------------------------------------------------
# DICOM faults and encodings
# --------------------------------------------------------------------------------------------


def test_12_bit_jpeg_reads_when_its_decoder_is_installed_else_names_it():
    path = _testdata("JPGExtended.dcm")
    if _has_decoder("JPGExtended.dcm"):
        sample = read_medical(path, "image")
        assert sample.array.shape[:2] == (1024, 256)
        assert float(sample.array.max()) > 255  # 12-bit values came through
    else:
        with pytest.raises(InputError, match="pylibjpeg-libjpeg") as info:
            read_medical(path, "image")
        assert "no installed decoder" in str(info.value)


def test_damaged_jpeg_stream_is_corrupt_not_a_missing_decoder():
    with pytest.raises(InputError, match="corrupt DICOM file: cannot decode the JPEG 2000"):
        read_medical(_testdata("JPEG2000-embedded-sequence-delimiter.dcm"), "image")


def test_a_header_value_that_is_not_a_number_is_a_clear_error():
    with pytest.raises(InputError, match=r"NumberOfFrames value '1A' is not a number") as info:
        read_medical(_testdata("badVR.dcm"), "image")
    assert "badVR.dcm" in info.value.one_line()


def _headerless(source: Path, target: Path, *, implicit: bool = True, little: bool = True) -> Path:
    """``source`` written as a bare data set: no preamble, no 'DICM', no file meta group."""
    ds = pydicom.dcmread(source)
    ds.preamble = None
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    if not little:  # pydicom writes the pixel bytes as they are: swap the 16-bit words here
        ds.PixelData = np.frombuffer(ds.PixelData, "<u2").byteswap().tobytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pydicom.dcmwrite(target, ds, enforce_file_format=False, implicit_vr=implicit, little_endian=little)
    data = target.read_bytes()
    assert data[128:132] != b"DICM" and not data.startswith(b"\x02\x00")
    return target


@pytest.mark.parametrize(
    "implicit, little", [(True, True), (False, True), (False, False)], ids=["implicit", "explicit", "big"]
)
def test_a_dicom_file_without_preamble_reads_like_the_original(tmp_path, implicit, little):
    original = read_medical(_testdata("CT_small.dcm"), "image")
    bare = _headerless(_testdata("CT_small.dcm"), tmp_path / "bare.dcm", implicit=implicit, little=little)
    sample = read_medical(bare, "image")
    np.testing.assert_array_equal(sample.array, original.array)
    np.testing.assert_allclose(sample.meta["affine"], original.meta["affine"])


def test_a_headerless_dicom_without_extension_is_claimed_by_the_registry(tmp_path):
    from genseg.plugins import registry

    bare = _headerless(_testdata("CT_small.dcm"), tmp_path / "IM0001")
    assert looks_like_dicom(bare)
    sample = registry.read(bare, "image")
    assert sample.reader == "dicom" and sample.array.shape == (128, 128, 1)


def test_a_file_that_is_not_dicom_by_content_is_said_so(tmp_path):
    fake = tmp_path / "scan.dcm"
    fake.write_bytes(b"\x08\x00\x05\x00" + b"not a data set at all" * 20)  # starts like one, is none
    with pytest.raises(InputError, match="not a DICOM file"):
        read_medical(fake, "image")
    with pytest.raises(InputError, match="not a DICOM file"):
        read_medical(_testdata("no_meta.dcm"), "image")  # a stray byte before its first element


@pytest.mark.parametrize(
    "name, what",
    [
        ("rtstruct.dcm", "RT Structure Set Storage"),  # no preamble, and no pixels
        ("ExplVR_LitEndNoMeta.dcm", "RT Ion Plan Storage"),
        ("ExplVR_BigEndNoMeta.dcm", "RT Ion Plan Storage"),
        ("reportsi.dcm", "Basic Text SR Storage"),
    ],
)
def test_dicom_objects_without_pixels_say_they_hold_no_image(name, what):
    with pytest.raises(InputError, match=f"holds no image \\({what}"):
        read_medical(_testdata(name), "image")


def test_a_dicomdir_is_named_as_an_index():
    with pytest.raises(InputError, match="a DICOMDIR"):
        read_medical(_testdata("DICOMDIR"), "image")


def _blank_uids(files: list[Path], **values) -> None:
    for f in files:
        ds = pydicom.dcmread(f)
        ds.SeriesInstanceUID = ""
        ds.StudyInstanceUID = ""
        for key, value in values.items():
            setattr(ds, key, value)
        ds.save_as(f)


def test_an_anonymised_series_without_uids_reads_as_the_folders_one_series(tmp_path):
    reference = read_medical(_series_folder(tmp_path / "ref"), "image")
    folder = tmp_path / "anon"
    _blank_uids(write_ct_series(folder, shape=(4, 16, 12)))
    with pytest.warns(UserWarning, match="no SeriesInstanceUID"):
        sample = read_medical(folder, "image")
    np.testing.assert_array_equal(sample.array, reference.array)
    np.testing.assert_allclose(sample.meta["affine"], reference.meta["affine"])


def _series_folder(folder: Path) -> Path:
    write_ct_series(folder, shape=(4, 16, 12))
    return folder


def test_two_anonymised_series_in_one_folder_are_still_told_apart(tmp_path):
    folder = tmp_path / "two"
    _blank_uids(write_ct_series(folder / "a", shape=(3, 8, 8)), SeriesNumber=1)
    _blank_uids(
        write_ct_series(folder / "b", shape=(3, 8, 8), seed=1, origin=(0.0, 0.0, 0.0)), SeriesNumber=2
    )
    for sub in ("a", "b"):
        for f in (folder / sub).iterdir():
            shutil.move(f, folder / f"{sub}-{f.name}")
    with pytest.raises(InputError, match="folder holds 2 DICOM series.*SeriesNumber '1'"):
        read_medical(folder, "image")


# --------------------------------------------------------------------------------------------
# nibabel formats besides .nii
# --------------------------------------------------------------------------------------------


def _reference_volume(tmp_path: Path) -> nib.Nifti1Image:
    return nib.load(write_nifti_volume(tmp_path / "ref.nii.gz", shape=(10, 12, 6)))


@pytest.mark.parametrize("cls", [nib.Nifti1Pair, nib.AnalyzeImage])
def test_a_nifti_or_analyze_pair_reads_from_either_half_with_its_geometry(tmp_path, cls):
    from genseg.plugins import registry

    ref = _reference_volume(tmp_path)
    data = np.asarray(ref.dataobj)
    affine = ref.affine if cls is nib.Nifti1Pair else np.diag([*ref.header.get_zooms()[:3], 1.0])
    nib.save(cls(data, affine), tmp_path / "pair.img")
    assert (tmp_path / "pair.hdr").is_file()
    for name in ("pair.hdr", "pair.img"):
        sample = registry.read(tmp_path / name, "image")
        np.testing.assert_array_equal(sample.array[..., 0], np.transpose(data, (2, 1, 0)))
        np.testing.assert_allclose(sample.meta["affine"], nib.load(tmp_path / "pair.hdr").affine)
        assert sample.meta["source_format"] == "nifti-pair"
    (tmp_path / "pair.img").unlink()
    with pytest.raises(InputError, match=r"its data \(\.img\) file is not next to it"):
        read_medical(tmp_path / "pair.hdr", "image")


@pytest.mark.parametrize("suffix", [".mgz", ".mgh"])
def test_an_mgh_volume_reads_with_its_affine_and_spacing(tmp_path, suffix):
    from genseg.plugins import registry

    ref = _reference_volume(tmp_path)
    data = np.asarray(ref.dataobj).astype(np.int16)
    path = tmp_path / f"vol{suffix}"
    nib.save(nib.MGHImage(data, ref.affine), path)
    sample = registry.read(path, "image")
    loaded = nib.load(path)
    np.testing.assert_array_equal(sample.array[..., 0], np.transpose(data, (2, 1, 0)))
    np.testing.assert_allclose(sample.meta["affine"], loaded.affine, atol=1e-5)
    zooms = tuple(float(z) for z in loaded.header.get_zooms()[:3])
    np.testing.assert_allclose(sample.meta["spacing"], zooms[::-1], rtol=1e-5)
    assert sample.meta["source_format"] == "mgh"


def test_a_cifti_file_is_named_as_not_a_volume():
    with pytest.raises(InputError, match="CIFTI-2"):
        read_medical(NIBABEL_DATA / "row_major.dconn.nii", "image")
