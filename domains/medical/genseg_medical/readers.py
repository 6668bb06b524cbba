"""Medical image readers: NIfTI, DICOM series folders, single and multi-frame DICOM, DICOM-SEG.

Every reader returns a :class:`genseg.data.sample.Sample` in the project's fixed layout,
so that preprocessing and the writers never need to know where a volume came from:

- images are ``D×H×W×C`` float32 (volumes) or ``H×W×C`` (one DICOM frame), labels the same
  without ``C`` and with an integer dtype; the array is ``np.transpose(vox, (2, 1, 0))`` of
  the voxel array ``vox[i, j, k]`` (i = column, j = row, k = slice), so ``D`` is the slice axis;
- ``meta["affine"]`` maps ``(i, j, k)`` to RAS millimetres (what nibabel gives for NIfTI;
  DICOM's LPS patient coordinates are flipped in x and y), ``meta["spacing"]`` is in array
  order ``(D, H, W)``, ``meta["orientation"]`` the nibabel axis codes, ``meta["axes"]``
  ``"kji"``, plus ``modality``, ``source_format`` and for DICOM ``series_uid`` and
  ``source_files`` (the files in array-slice order, so the DICOM-SEG writer can re-read them);
- images are raw: CT in Hounsfield units (RescaleSlope/Intercept applied), MR in scanner
  units. Windowing belongs to preprocessing.

Pixel data is read through MONAI (``LoadImage`` with ``PydicomReader``/``NibabelReader``),
the project's rule. Geometry is *not* taken from MONAI for DICOM: its series reader orders
slices by InstanceNumber (not by position), drops slices without one, and gives multi-frame
files an identity affine with the frame axis swapped into the middle. So pydicom reads the
headers here, slices are sorted by their position along the slice normal, and the affine is
built from ImagePositionPatient/ImageOrientationPatient/PixelSpacing (it equals MONAI's
whenever MONAI's is right; the tests check that). DICOM-SEG is read with highdicom, which
understands its per-frame functional groups.

Heavy libraries (MONAI, nibabel, pydicom, highdicom) are imported inside the functions so
that importing this module, e.g. to register the plugin, stays cheap.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from genseg.plugins.api import GenSegError, InputError, Sample

DICOM_SUFFIXES = (".dcm", ".dicom")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
# what nibabel reads besides NIfTI-1/2 files: NIfTI/Analyze pairs (either half names the
# image) and FreeSurfer MGH, compressed (.mgz) or not
PAIR_SUFFIXES = (".hdr", ".img")
MGH_SUFFIXES = (".mgz", ".mgh")
NIBABEL_SUFFIXES = NIFTI_SUFFIXES + PAIR_SUFFIXES + MGH_SUFFIXES
SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
_MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"  # DICOMDIR: an index, not an image
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_GAP_FACTOR = 1.5  # a step this many times the usual one means missing slices
_IRREGULAR = 0.05  # relative deviation of a step tolerated as rounding

# Reader names as the plugin registers them (genseg_medical.plugin); Sample.reader carries them.
NIFTI_READER = "nifti"
DICOM_READER = "dicom"
SERIES_READER = "dicom-series"


# ---------------------------------------------------------------------------------------------
# dispatch
# ---------------------------------------------------------------------------------------------


def is_dicom_file(path: str | Path) -> bool:
    """Whether ``path`` is a file with the DICOM preamble ("DICM" at byte 128).

    Cheap (reads 4 bytes), for a content-sniffing reader hook: DICOM files often carry no
    extension (``IM0001``), so the name alone cannot tell.
    """
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:  # a folder, unreadable, vanished
        return False


def looks_like_dicom(path: str | Path) -> bool:
    """Whether ``path`` has the DICOM preamble or starts like a DICOM data set without one.

    Old and some anonymised files hold the bare data set: no 128-byte preamble, no "DICM",
    often no file meta group. They start with an element of group 0002 or 0008 (little- or
    big-endian), which is what is checked here (8 bytes); the header parse decides.
    """
    if is_dicom_file(path):
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    if len(head) < 8:
        return False
    for order in ("little", "big"):
        group = int.from_bytes(head[0:2], order)
        element = int.from_bytes(head[2:4], order)
        if group in (0x0002, 0x0008) and element < 0x0100:
            return True
    return False


def read_medical(path: str | Path, kind: str) -> Sample:
    """Read a medical image or label: the plugin's single entry point for all its readers.

    A folder is a DICOM series; ``*.nii``/``*.nii.gz``, a NIfTI/Analyze pair (``*.hdr`` +
    ``*.img``) or FreeSurfer ``*.mgz``/``*.mgh`` a volume read by nibabel; ``*.dcm``/``*.dicom``
    or any file that is DICOM by its content a single DICOM file (one frame → 2D,
    multi-frame → volume, DICOM-SEG → label volume). ``kind`` is ``"image"`` or ``"label"``.
    """
    path = Path(path)
    if kind not in ("image", "label"):
        raise InputError(f"kind must be 'image' or 'label', got {kind!r}", path=path)
    if path.is_dir():
        return read_dicom_series(path, kind)
    if not path.exists():
        raise InputError("file not found", path=path, fix="check the path")
    name = path.name.lower()
    if name.endswith(NIBABEL_SUFFIXES):
        return read_nifti(path, kind)
    if name.endswith(DICOM_SUFFIXES) or looks_like_dicom(path):
        return read_dicom_file(path, kind)
    raise InputError(
        "not a NIfTI (.nii, .nii.gz, .hdr/.img), MGH (.mgz, .mgh) or DICOM file",
        path=path,
        fix="pass a .nii/.nii.gz file, a DICOM file, or a folder holding one DICOM series",
    )


# ---------------------------------------------------------------------------------------------
# MONAI access
# ---------------------------------------------------------------------------------------------


def _monai_read(path: Path, reader: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """Pixels and MONAI's meta dict of ``path`` read by ``reader`` (a fresh MONAI reader:
    they keep per-read state, so instances are not shared).

    The reader's own ``read``/``get_data`` are called, which is all that ``LoadImage`` does
    before turning the array into a tensor; that last step is left out because torch refuses
    big-endian arrays (big-endian NIfTI, DICOM in Explicit VR Big Endian), so the array is
    brought to native byte order here instead, values unchanged. A DICOM data set read
    without a file meta group gets its transfer syntax from the encoding it was parsed in.
    """
    with warnings.catch_warnings():
        # MONAI's identity-affine warning for frames without IPP/IOP: the geometry is
        # rebuilt from the headers here, and a missing one is reported there.
        warnings.filterwarnings("ignore", message="PydicomReader: ImageOrientationPatient")
        image = reader.read(str(path))
        _complete_transfer_syntax(image)
        array, meta = reader.get_data(image)
    array = np.asarray(array)
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return array, dict(meta)


def _complete_transfer_syntax(ds: Any) -> None:
    """Give a headerless pydicom data set the transfer syntax it was parsed with, so that
    its pixel data can be decoded (pydicom refuses to guess at decode time)."""
    from pydicom.dataset import Dataset, FileMetaDataset

    if not isinstance(ds, Dataset) or "PixelData" not in ds:
        return
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    from pydicom import uid

    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None:
        return
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    if implicit:
        meta.TransferSyntaxUID = uid.ImplicitVRLittleEndian
    else:
        meta.TransferSyntaxUID = uid.ExplicitVRLittleEndian if little else uid.ExplicitVRBigEndian


def _pydicom_reader(swap_ij: bool = True) -> Any:
    from monai.data import PydicomReader

    # force: files without the preamble are read too (their header was checked already)
    return PydicomReader(swap_ij=swap_ij, affine_lps_to_ras=True, prune_metadata=True, force=True)


# ---------------------------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------------------------


def _as_label(array: np.ndarray, path: Path) -> np.ndarray:
    """An integer label array with the same values; floats must hold whole numbers.

    NIfTI label maps are often stored as float32; casting them silently would turn 0.5
    into 0, so non-integral values are an error instead.
    """
    if array.dtype == bool:
        return array.astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        return array
    if not np.all(np.isfinite(array)):
        raise InputError(
            "label has NaN or infinite values",
            path=path,
            fix="labels must be whole numbers; fix the file (e.g. nibabel + np.nan_to_num)",
        )
    if not np.array_equal(array, np.round(array)):
        raise InputError(
            "label holds non-integer values (a probability map or an image?)",
            path=path,
            fix="pass an integer label map, or threshold the map first",
        )
    lo, hi = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    for dtype in (np.uint8, np.uint16, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return array.astype(dtype)
    return array.astype(np.int64)


def _orientation(affine: np.ndarray) -> str:
    import nibabel as nib

    return "".join(nib.aff2axcodes(affine))


def _finish(
    vox: np.ndarray, kind: str, path: Path, reader: str, affine: np.ndarray, meta: dict[str, Any]
) -> Sample:
    """Build the Sample from a voxel array in (i, j, k[, c]) or (i, j[, c]) order."""
    spatial = 3 if meta.get("_volume") else 2
    meta.pop("_volume", None)
    perm = (2, 1, 0) if spatial == 3 else (1, 0)
    extra = tuple(range(spatial, vox.ndim))
    if kind == "image":
        vox = vox.astype(np.float32, copy=False)  # before the copy below: one copy, not two
    array = np.ascontiguousarray(np.transpose(vox, perm + extra))
    if kind == "image":
        if array.ndim == spatial:
            array = array[..., None]
    else:
        if array.ndim != spatial:
            raise InputError(
                f"a label must have one channel; this one has shape {array.shape}",
                path=path,
                fix="pass a single-channel label map",
            )
        array = _as_label(array, path)
    affine = np.asarray(affine, dtype=np.float64)
    out = {"affine": affine, "orientation": _orientation(affine), **meta}
    out["axes"] = "kji" if spatial == 3 else "ji"
    return Sample(array, path, kind, reader, out, normalised=False)


# ---------------------------------------------------------------------------------------------
# NIfTI
# ---------------------------------------------------------------------------------------------


def _pair_partner(path: Path) -> Path | None:
    """The other half of a NIfTI/Analyze pair (``x.hdr`` ↔ ``x.img``, either case), if present."""
    suffix = path.suffix.lower()
    if suffix not in PAIR_SUFFIXES:
        return None
    other = ".img" if suffix == ".hdr" else ".hdr"
    for candidate in (path.with_suffix(other), path.with_suffix(other.upper())):
        if candidate.is_file():
            return candidate
    return None


def _nibabel_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(MGH_SUFFIXES):
        return "mgh"
    if name.endswith(PAIR_SUFFIXES):
        return "nifti-pair"
    return "nifti"


def _nibabel_failure(path: Path, exc: Exception) -> InputError:
    """The clearest error for a file nibabel (through MONAI) could not read."""
    fmt = _nibabel_format(path)
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    try:
        import nibabel as nib

        loaded = type(nib.load(path)).__name__
    except Exception:
        loaded = ""
    if loaded.startswith("Cifti"):
        return InputError(
            "a CIFTI-2 file (data on surface vertices and grayordinates), not a voxel volume",
            path=path,
            fix="pass a 3D volume (NIfTI, DICOM); CIFTI matrices cannot be segmented as images",
        )
    what = {"mgh": "FreeSurfer MGH", "nifti-pair": "NIfTI/Analyze pair"}.get(fmt, "NIfTI")
    fix = {
        "mgh": "check that the file is a complete .mgz/.mgh volume (a truncated .mgz cannot be read)",
        "nifti-pair": "check that both halves (.hdr header and .img data) are complete and belong together",
    }.get(fmt, "check that the file is a complete NIfTI-1/2 image (a truncated .nii.gz cannot be read)")
    return InputError(f"cannot read as {what}: {msg}", path=path, fix=fix)


def read_nifti(path: str | Path, kind: str = "image") -> Sample:
    """A NIfTI volume (or 2D image) with its affine exactly as nibabel reports it.

    The affine is nibabel's ``img.affine`` (the sform when set, else the qform): MONAI's
    ``NibabelReader`` passes it through unchanged as long as ``as_closest_canonical`` is
    off, which it is here, so voxels are never reoriented. A 4D image becomes channels
    (``D×H×W×C``). NaN voxels are an error: a NaN reaching the model or a window silently
    poisons every statistic computed from the volume.

    What else nibabel reads comes through here the same way, affine and spacing kept: a
    NIfTI or Analyze pair (``.hdr`` + ``.img``; either name may be passed, both must be
    there) and FreeSurfer MGH (``.mgz``, ``.mgh``). Big-endian files are read like
    little-endian ones.
    """
    from monai.data import NibabelReader

    path = Path(path)
    if path.suffix.lower() in PAIR_SUFFIXES and _pair_partner(path) is None:
        missing = "data (.img)" if path.suffix.lower() == ".hdr" else "header (.hdr)"
        raise InputError(
            f"half of a NIfTI/Analyze pair: its {missing} file is not next to it",
            path=path,
            fix="keep the .hdr and .img files of the pair together under the same name, or convert "
            "the image to a single .nii.gz",
        )
    try:
        vox, meta = _monai_read(path, NibabelReader(as_closest_canonical=False))
        affine = np.asarray(meta["original_affine"], dtype=np.float64)
    except Exception as exc:
        raise _nibabel_failure(path, exc) from None
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise InputError(
            "the header's affine (sform/qform) is not a finite 4×4 matrix",
            path=path,
            fix="repair the header's sform/qform (e.g. nibabel: img.set_sform(affine); save)",
        )
    spatial = int(len(meta.get("spatial_shape", vox.shape[:3])))
    if vox.ndim == 5 and vox.shape[3] == 1:  # (X, Y, Z, 1, C): NIfTI vector/RGB intent
        vox = vox[:, :, :, 0]
    if vox.ndim > spatial and all(s == 1 for s in vox.shape[spatial:]):
        vox = vox.reshape(vox.shape[:spatial])
    if vox.ndim > spatial + 1 or spatial not in (2, 3):
        raise InputError(
            f"NIfTI of shape {vox.shape} is not a 2D/3D image with at most one extra axis",
            path=path,
            fix="extract one 3D volume (e.g. nibabel.funcs.four_to_three or fslroi)",
        )
    if np.issubdtype(vox.dtype, np.floating) and not np.all(np.isfinite(vox)):
        nan, inf = int(np.isnan(vox).sum()), int(np.isinf(vox).sum())
        what = " and ".join(t for t in (f"{nan} NaN" if nan else "", f"{inf} infinite" if inf else "") if t)
        raise InputError(
            f"{what} voxels of {vox.size}: not passed on, they would poison windows and statistics",
            path=path,
            fix="replace them (e.g. img = nib.load(p); data = np.nan_to_num(img.get_fdata(), nan=BACKGROUND, "
            "posinf=..., neginf=...); save with img.affine) or crop them away before segmenting",
        )
    zooms = np.sqrt((affine[:3, :spatial] ** 2).sum(axis=0))
    meta_out: dict[str, Any] = {
        "_volume": spatial == 3,
        "spacing": tuple(float(z) for z in zooms[::-1]),
        "modality": None,
        "source_format": _nibabel_format(path),
    }
    return _finish(vox, kind, path, NIFTI_READER, affine, meta_out)


# ---------------------------------------------------------------------------------------------
# DICOM headers and geometry
# ---------------------------------------------------------------------------------------------


# Header values the readers interpret (MONAI's pixel reading too): each is converted once
# when the header is read, so that a damaged one is an error naming it, not a ValueError
# from deep inside the geometry code.
_USED_VALUES = (
    "SOPClassUID",
    "SOPInstanceUID",
    "Modality",
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "FrameOfReferenceUID",
    "SeriesDescription",
    "SeriesNumber",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "SamplesPerPixel",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "PhotometricInterpretation",
    "InstanceNumber",
    "PixelSpacing",
    "ImagerPixelSpacing",
    "SliceThickness",
    "SpacingBetweenSlices",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "RescaleSlope",
    "RescaleIntercept",
    "DoseGridScaling",
    "GridFrameOffsetVector",
    "PerFrameFunctionalGroupsSequence",
    "SharedFunctionalGroupsSequence",
)


def _read_header(path: Path) -> Any:
    """The header of a DICOM file (pixel data skipped), with or without the preamble.

    A file without the preamble is parsed with ``force=True`` and accepted only if the
    parse found what an image header starts with (a SOP class, or rows and columns);
    anything else is "not a DICOM file". A file with the preamble that cannot be parsed,
    or whose interpreted values (:data:`_USED_VALUES`) are damaged, is corrupt.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    preamble = is_dicom_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=not preamble)
    except InvalidDicomError:
        raise _not_dicom(path, preamble) from None
    except Exception as exc:
        if not preamble:
            raise _not_dicom(path, preamble) from None
        raise _corrupt(path, f"cannot parse the DICOM header ({_first_line(exc)})") from None
    if "SOPClassUID" not in ds and not ("Rows" in ds and "Columns" in ds):
        if not preamble:
            raise _not_dicom(path, preamble)
        meta = getattr(ds, "file_meta", None)
        if meta is None or "MediaStorageSOPClassUID" not in meta:
            raise _corrupt(path, "the DICOM header is damaged or empty (no SOPClassUID, no Rows)")
    for keyword in _USED_VALUES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                elem = ds.data_element(keyword) if keyword in ds else None
                value = None if elem is None else elem.value
        except Exception as exc:
            raise _corrupt(path, f"its {keyword} value cannot be read ({_first_line(exc)})") from None
        if elem is not None and elem.VR in ("IS", "DS") and not _numbers(value):
            raise _corrupt(path, f"its {keyword} value {str(value)[:40]!r} is not a number")
    return ds


def _numbers(value: Any) -> bool:
    """Whether an IS/DS value (one or several) holds only numbers (blank is allowed)."""
    values = value if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue" else [value]
    try:
        for v in values:
            if v is not None and str(v).strip() != "":
                float(v)
    except (TypeError, ValueError):
        return False
    return True


def _first_line(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _not_dicom(path: Path, preamble: bool = False) -> InputError:
    if preamble:  # "DICM" is there but the parser gave up at once
        return _corrupt(path, "the header after the 'DICM' marker cannot be parsed")
    return InputError(
        "not a DICOM file (no 'DICM' marker at byte 128, and the content does not parse as a DICOM data set)",
        path=path,
        fix="check the file: it may be another format renamed .dcm, or damaged (re-export or re-copy it)",
    )


def _no_image(path: Path, ds: Any) -> InputError:
    """The error for a DICOM object that holds no image (SR, RT plan/structure set, DICOMDIR ...)."""
    meta = getattr(ds, "file_meta", None)
    sop = str(ds.get("SOPClassUID", "") or (meta.get("MediaStorageSOPClassUID", "") if meta else ""))
    if sop == _MEDIA_STORAGE_DIRECTORY:
        return InputError(
            "a DICOMDIR (the index of a DICOM disc or export), not an image",
            path=path,
            fix="pass the folder that holds one series' image files (the DICOMDIR lists where they are)",
        )
    try:
        from pydicom.uid import UID

        name = UID(sop).name if sop else ""
    except Exception:
        name = sop
    what = name or "no SOP class, no rows/columns: damaged, or not an image object"
    if name.endswith("Image Storage") and not ("Rows" in ds and "Columns" in ds):
        what = f"{name}, but the header has no Rows/Columns: it is incomplete or damaged"
    return InputError(
        f"DICOM object holds no image ({what})",
        path=path,
        fix="pass a DICOM image (CT, MR, ...) or a folder of image slices",
    )


def _corrupt(path: Path, why: str) -> InputError:
    return InputError(
        f"corrupt DICOM file: {why}",
        path=path,
        fix="re-export or re-copy this file, or remove it from the folder if it is not needed",
    )


_INTERPRETATION_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    ZeroDivisionError,
    NotImplementedError,  # pydicom, for a value representation it does not know
)


@contextmanager
def _interpreting(path: Path) -> Iterator[None]:
    """Header values that parse but make no sense (a frame count of zero, a sequence without
    items, an orientation of zeros ...) surface as Python errors in the geometry code: they
    are reported as a corrupt header of ``path`` instead."""
    try:
        yield
    except GenSegError:
        raise
    except _INTERPRETATION_ERRORS as exc:
        raise _corrupt(path, f"a header value cannot be interpreted ({_first_line(exc)})") from None


def _is_image(ds: Any) -> bool:
    sop = str(ds.get("SOPClassUID", ""))
    return "Rows" in ds and "Columns" in ds and sop not in (SEGMENTATION_STORAGE, _MEDIA_STORAGE_DIRECTORY)


def _floats(value: Any, n: int) -> np.ndarray | None:
    try:
        arr = np.asarray([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr if arr.shape == (n,) and np.all(np.isfinite(arr)) else None


def _pixel_spacing(ds: Any) -> tuple[float, float]:
    """(row spacing, column spacing) in mm: PixelSpacing, else ImagerPixelSpacing, else 1."""
    for key in ("PixelSpacing", "ImagerPixelSpacing"):
        sp = _floats(ds.get(key, None) or (), 2)
        if sp is not None and np.all(sp > 0):
            return float(sp[0]), float(sp[1])
    return 1.0, 1.0


def _thickness(ds: Any) -> float:
    for key in ("SpacingBetweenSlices", "SliceThickness"):
        try:
            v = float(ds.get(key, 0) or 0)
        except (TypeError, ValueError):
            continue
        if np.isfinite(v) and v > 0:
            return v
    return 1.0


def _cosines(iop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    row, col = iop[:3] / np.linalg.norm(iop[:3]), iop[3:] / np.linalg.norm(iop[3:])
    return row, col, np.cross(row, col)


def _affine_lps(
    iop: np.ndarray | None,
    ipp: np.ndarray | None,
    row_col_spacing: tuple[float, float],
    slice_vec: np.ndarray,
) -> np.ndarray:
    """The (i, j, k) → LPS affine: i along the row cosine (column index), j along the column
    cosine (row index), k along ``slice_vec`` (one slice step, in mm)."""
    dr, dc = row_col_spacing
    if iop is None:
        row, col = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    else:
        row, col, _ = _cosines(iop)
    affine = np.eye(4)
    affine[:3, 0] = row * dc
    affine[:3, 1] = col * dr
    affine[:3, 2] = slice_vec
    affine[:3, 3] = ipp if ipp is not None else 0.0
    return affine


def _stack_geometry(
    ipps: np.ndarray, normal: np.ndarray, names: Sequence[str], path: Path, fallback_step: float
) -> tuple[np.ndarray, float, np.ndarray, list[float]]:
    """Sort slices along the normal; return (order, step, slice vector, missing positions).

    ``step`` is the usual distance between neighbouring slices (the median one, so a gap
    does not distort it); ``slice vector`` is one step along the stacking direction (the
    normal, or the tilted direction of a gantry-tilted series); missing positions are the
    along-normal coordinates (mm) where slices should be but are not.
    """
    pos = ipps @ normal
    order = np.argsort(pos, kind="stable")
    pos, ipps = pos[order], ipps[order]
    if len(pos) < 2:
        return order, fallback_step, normal * fallback_step, []
    diffs = np.diff(pos)
    step = float(np.median(diffs))
    tol = max(1e-3, 1e-3 * abs(step))
    dup = np.flatnonzero(diffs <= tol)
    if dup.size or step <= tol:
        k = int(dup[0]) if dup.size else 0
        raise InputError(
            f"slices {names[order[k]]} and {names[order[k + 1]]} lie at the same position "
            f"({pos[k]:.3f} mm along the slice normal): the series holds several volumes "
            "(echoes, phases, time points or repeated acquisitions)",
            path=path,
            fix="split the series into one folder per volume (e.g. by EchoNumbers, "
            "TemporalPositionIdentifier or AcquisitionNumber) and pass one folder",
        )
    missing: list[float] = []
    irregular = False
    for a, d in zip(pos[:-1], diffs, strict=True):
        if d > _GAP_FACTOR * step:
            n = int(round(d / step))
            missing.extend(float(a + step * q) for q in range(1, max(n, 2)))
        elif abs(d - step) > _IRREGULAR * step:
            irregular = True
    if irregular:
        warnings.warn(
            f"{path}: slice spacing varies ({diffs.min():.3f}..{diffs.max():.3f} mm); the volume assumes "
            f"a regular {step:.3f} mm, so some slices are placed up to "
            f"{np.abs(diffs - step).max():.3f} mm off in the affine",
            UserWarning,
            stacklevel=3,
        )
    span = ipps[-1] - ipps[0]
    along = float(span @ normal)
    direction = span / along if abs(along) > tol else normal  # unit step along the normal
    return order, step, direction * step, missing


def _warn_gaps(path: Path, missing: list[float], step: float, n: int) -> None:
    shown = ", ".join(f"{m:.2f}" for m in missing[:20]) + (" ..." if len(missing) > 20 else "")
    warnings.warn(
        f"{path}: {len(missing)} slice(s) missing at position(s) {shown} mm along the slice normal "
        f"(regular step {step:.3f} mm). Read the {n} slices present without filling the gap, so in the "
        "affine every slice after a gap sits one step per missing slice too close to the first; "
        "find the missing files for exact geometry (meta['slice_positions'] has the true positions)",
        UserWarning,
        stacklevel=3,
    )


def _dicom_meta(ds: Any, source_format: str, files: Sequence[Path]) -> dict[str, Any]:
    def text(key: str) -> str | None:
        v = ds.get(key, None)
        return str(v) if v not in (None, "") else None

    return {
        "modality": text("Modality"),
        "source_format": source_format,
        "series_uid": text("SeriesInstanceUID"),
        "study_uid": text("StudyInstanceUID"),
        "frame_of_reference_uid": text("FrameOfReferenceUID"),
        "series_description": text("SeriesDescription"),
        "source_files": [str(f) for f in files],
    }


# What to install for a compressed transfer syntax whose decoder is missing. The plugin
# depends on the MIT-licensed ones (pylibjpeg + pylibjpeg-openjpeg, pyjpegls); the only
# decoder pydicom has for 12-bit JPEG is pylibjpeg-libjpeg, which is GPL-3.0 and therefore
# an extra, also the simplest for lossless JPEG besides python-gdcm.
_LOSSLESS_JPEG = "pip install python-gdcm, or pylibjpeg-libjpeg (GPL-3.0; the plugin's [jpeg] extra)"
_DECODERS = {
    "1.2.840.10008.1.2.4.51": "pip install pylibjpeg-libjpeg (GPL-3.0; or the plugin's [jpeg] extra)",
    "1.2.840.10008.1.2.4.57": _LOSSLESS_JPEG,
    "1.2.840.10008.1.2.4.70": _LOSSLESS_JPEG,
    "1.2.840.10008.1.2.4.80": "pip install pyjpegls",
    "1.2.840.10008.1.2.4.81": "pip install pyjpegls",
}
_NO_SUPPORT = ("not support", "no decoder", "missing", "requires", "no plugin", "unsupported")


def _transfer_syntax(path: Path) -> Any:
    try:
        import pydicom

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        return ds.file_meta.TransferSyntaxUID
    except Exception:
        return None


def _decode_error(path: Path, exc: Exception) -> InputError:
    """Missing decoder (named, with what to install) or undecodable data (corrupt)."""
    text = str(exc).strip() or type(exc).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reasons = lines[1:] if len(lines) > 1 and lines[0].endswith(":") else lines[:1]
    why = "; ".join(reasons)[:400]
    ts = _transfer_syntax(path)
    ts_name = getattr(ts, "name", None) or str(ts or "unknown transfer syntax")
    compressed = bool(getattr(ts, "is_compressed", False))
    unsupported = compressed and reasons and all(any(k in r.lower() for k in _NO_SUPPORT) for r in reasons)
    if compressed and (unsupported or "unable to decompress" in text.lower()):
        hint = _DECODERS.get(str(ts), "install a pydicom pixel-data plugin for it (pylibjpeg, python-gdcm)")
        return InputError(
            f"no installed decoder can decode its {ts_name} pixel data ({why})",
            path=path,
            fix=f"{hint}, or decompress the file (dcmdjpeg, gdcmconv --raw)",
        )
    what = f"{ts_name} pixel data" if ts is not None else "pixel data"
    return _corrupt(path, f"cannot decode the {what} ({why})")


def _read_pixels(path: Path, swap_ij: bool = True) -> np.ndarray:
    """Pixels of one DICOM file through MONAI, rescaled (HU for CT) when the file says so.

    With ``swap_ij`` (MONAI's default) a frame comes back as (columns, rows[, samples]),
    i.e. already in (i, j) order.
    """
    try:
        array, _ = _monai_read(path, _pydicom_reader(swap_ij=swap_ij))
    except InputError:
        raise
    except Exception as exc:
        raise _decode_error(path, exc) from None
    return array


# ---------------------------------------------------------------------------------------------
# DICOM series (a folder)
# ---------------------------------------------------------------------------------------------


def _scan_folder(folder: Path) -> tuple[list[tuple[Path, Any]], list[Path]]:
    """(image headers, skipped DICOM objects) of the files directly in ``folder``.

    Hidden files (``.DS_Store``) and non-DICOM files without a DICOM extension (notes,
    JSON sidecars) are ignored; a ``.dcm`` file that is not DICOM is an error, since a
    missing slice would otherwise go unnoticed.
    """
    images: list[tuple[Path, Any]] = []
    skipped: list[Path] = []
    for f in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        named = f.name.lower().endswith(DICOM_SUFFIXES)
        if not looks_like_dicom(f):
            if named:
                raise _not_dicom(f)
            continue
        try:
            ds = _read_header(f)
        except InputError:
            if named or is_dicom_file(f):
                raise
            continue  # started like a headerless data set but is none: not one of the slices
        if _is_image(ds):
            images.append((f, ds))
        else:
            skipped.append(f)
    return images, skipped


def claims_dicom_folder(folder: str | Path) -> bool:
    """Whether a folder is this reader's: it directly holds a DICOM file (by its ending or
    its content). A folder of PNGs or TIFFs is not, and is read by genseg as the image files
    in it; nor is a folder of series folders (a patient, a study), which `genseg segment`
    reads as one volume per sub-folder."""
    folder = Path(folder)
    files = (p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return any(f.name.lower().endswith(DICOM_SUFFIXES) or looks_like_dicom(f) for f in files)


def _subfolders_with_dicom(folder: Path, limit: int = 10) -> list[Path]:
    found = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if any(looks_like_dicom(f) for f in sub.rglob("*") if f.is_file()):
            found.append(sub)
            if len(found) >= limit:
                break
    return found


def read_dicom_series(folder: str | Path, kind: str = "image") -> Sample:
    """A folder holding one DICOM series → a D×H×W(×C) volume sorted along the slice normal.

    Slices are ordered by ``ImagePositionPatient · normal`` (normal = row × column cosine
    of ImageOrientationPatient), never by file name or InstanceNumber, and the affine is
    built from the first slice's position, the cosines, PixelSpacing and the usual slice
    step. Two series in the folder are an error listing their SeriesInstanceUIDs; a gap in
    the positions is a warning naming the missing positions (the slices present are read);
    a corrupt file is an error naming it. Without any position/orientation in the headers
    the slices are stacked by InstanceNumber with a warning and an axis-aligned affine.
    """
    folder = Path(folder)
    images, skipped = _scan_folder(folder)
    if not images:
        subs = _subfolders_with_dicom(folder)
        hint = f"; sub-folders holding DICOM files: {', '.join(s.name for s in subs)}" if subs else ""
        what = "no DICOM image files" + (f" ({len(skipped)} non-image DICOM objects)" if skipped else "")
        raise InputError(
            f"folder holds {what} directly{hint}",
            path=folder,
            fix="pass the folder (or sub-folder) that directly holds the slices of one DICOM series"
            if subs
            else "pass a folder of DICOM slices, or a .dcm/.nii.gz file",
        )
    if skipped:
        warnings.warn(
            f"{folder}: ignored {len(skipped)} DICOM file(s) that are not images "
            f"(e.g. {skipped[0].name}: segmentation, structured report, DICOMDIR ...)",
            UserWarning,
            stacklevel=2,
        )
    by_series = _group_series(images)
    if len(by_series) > 1:
        lines = [
            f"{key.removeprefix(_UID_KEY)} ({len(items)} files, {items[0][1].get('Modality', '?')} "
            f"'{items[0][1].get('SeriesDescription', '')}', e.g. {items[0][0].name})"
            for key, items in sorted(by_series.items(), key=lambda kv: -len(kv[1]))
        ]
        raise InputError(
            f"folder holds {len(by_series)} DICOM series; SeriesInstanceUIDs: " + "; ".join(lines),
            path=folder,
            fix="pass a sub-folder holding only one series (move each series' files into its own folder), "
            "or remove the files of the other series",
        )
    key, series = next(iter(by_series.items()))
    if not key.startswith(_UID_KEY):
        warnings.warn(
            f"{folder}: the {len(series)} slices have no SeriesInstanceUID (anonymised?); read as the one "
            f"series the folder holds, grouped by {key[len('(no SeriesInstanceUID; ') : -1]}",
            UserWarning,
            stacklevel=2,
        )
    with _interpreting(folder):
        return _read_series_items(folder, series, kind)


_UID_KEY = "SeriesInstanceUID "
# What tells series apart when the UIDs were blanked: the values that are present are used.
_SERIES_FALLBACK = (
    "StudyInstanceUID",
    "SeriesNumber",
    "Modality",
    "SeriesDescription",
    "FrameOfReferenceUID",
)


def _group_series(images: list[tuple[Path, Any]]) -> dict[str, list[tuple[Path, Any]]]:
    """Slices grouped by SeriesInstanceUID; slices without one (anonymisation often blanks
    the UIDs) by whichever of :data:`_SERIES_FALLBACK` they hold, so a folder of one
    anonymised series is still one group, and two series differing in any of them are two."""
    groups: dict[str, list[tuple[Path, Any]]] = {}
    for f, ds in images:
        uid = str(ds.get("SeriesInstanceUID", "") or "").strip()
        if uid:
            key = _UID_KEY + uid
        else:
            present = [(k, str(ds.get(k, "") or "").strip()) for k in _SERIES_FALLBACK]
            shown = ", ".join(f"{k} {v!r}" for k, v in present if v)
            key = f"(no SeriesInstanceUID; {shown or 'no series attributes'})"
        groups.setdefault(key, []).append((f, ds))
    return groups


def _read_series_items(folder: Path, series: list[tuple[Path, Any]], kind: str) -> Sample:
    first = series[0][1]
    shapes = {(int(ds.Rows), int(ds.Columns)) for _, ds in series}
    if len(shapes) > 1:
        raise InputError(
            f"slices of one series differ in size: {sorted(shapes)}",
            path=folder,
            fix="the series mixes images (e.g. a localizer); keep only the slices of one volume",
        )
    iops = [_floats(ds.get("ImageOrientationPatient", None) or (), 6) for _, ds in series]
    ipps = [_floats(ds.get("ImagePositionPatient", None) or (), 3) for _, ds in series]
    names = [f.name for f, _ in series]
    rc_spacing = _pixel_spacing(first)
    missing: list[float] = []
    if all(v is not None for v in iops) and all(v is not None for v in ipps):
        iop = iops[0]
        for f_iop, name in zip(iops, names, strict=True):
            if not np.allclose(f_iop, iop, atol=1e-4):
                raise InputError(
                    f"slice {name} has another orientation than {names[0]} "
                    "(ImageOrientationPatient differs): the series holds more than one stack",
                    path=folder,
                    fix="keep only the slices of one stack (e.g. remove localizer/scout images)",
                )
        normal = _cosines(iop)[2]
        ipp_arr = np.stack(ipps)
        order, step, slice_vec, missing = _stack_geometry(ipp_arr, normal, names, folder, _thickness(first))
        affine_lps = _affine_lps(iop, ipp_arr[order[0]], rc_spacing, slice_vec)
        positions = [float(p) for p in (ipp_arr[order] @ normal)]
        if missing:
            _warn_gaps(folder, missing, step, len(series))
    else:
        warnings.warn(
            f"{folder}: slices lack ImagePositionPatient/ImageOrientationPatient; stacked by InstanceNumber "
            "with an axis-aligned affine (the volume's place in the patient is unknown)",
            UserWarning,
            stacklevel=2,
        )
        inst = [int(ds.get("InstanceNumber", 0) or 0) for _, ds in series]
        order = np.array(sorted(range(len(series)), key=lambda n: (inst[n], names[n])))
        step = _thickness(first)
        affine_lps = _affine_lps(None, None, rc_spacing, np.array([0.0, 0.0, step]))
        positions = [float(step * n) for n in range(len(series))]
    files = [series[n][0] for n in order]
    slices = [_read_pixels(f) for f in files]
    if len({s.shape for s in slices}) > 1:
        raise InputError("slices decode to different shapes", path=folder, fix="check the series' files")
    vox = np.stack(slices, axis=2)  # (i, j, k[, c]): colour samples stay last
    meta = _dicom_meta(first, "dicom-series", files)
    meta.update(
        _volume=True,
        spacing=(float(step), rc_spacing[0], rc_spacing[1]),
        slice_positions=positions,
        sop_instance_uids=[str(series[n][1].get("SOPInstanceUID", "")) for n in order],
    )
    if missing:
        meta["missing_positions"] = missing
    return _finish(vox, kind, folder, SERIES_READER, _LPS_TO_RAS @ affine_lps, meta)


# ---------------------------------------------------------------------------------------------
# single DICOM files
# ---------------------------------------------------------------------------------------------


def read_dicom_file(path: str | Path, kind: str = "image") -> Sample:
    """One DICOM file: a single frame → H×W×C (2D); multi-frame → a volume; SEG → labels.

    A 2D frame still gets a 4×4 affine (its slice axis along the normal, one slice
    thickness long) so a mask of it can be written as NIfTI in place. A file without
    patient geometry (a photograph-like secondary capture) gets an axis-aligned affine
    with its pixel spacing.
    """
    path = Path(path)
    ds = _read_header(path)
    with _interpreting(path):
        return _read_dicom_file(path, ds, kind)


def _read_dicom_file(path: Path, ds: Any, kind: str) -> Sample:
    sop = str(ds.get("SOPClassUID", ""))
    if sop == SEGMENTATION_STORAGE or str(ds.get("Modality", "")) == "SEG":
        if kind != "label":
            raise InputError(
                "this is a DICOM-SEG (a segmentation), not an image",
                path=path,
                fix="pass it as the label/ground truth, and the series it segments as the image",
            )
        return read_dicom_seg(path)
    if not _is_image(ds):
        raise _no_image(path, ds)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1 or "PerFrameFunctionalGroupsSequence" in ds:
        return _read_multiframe(path, ds, kind)
    vox = _read_pixels(path)  # (cols, rows[, samples])
    iop = _floats(ds.get("ImageOrientationPatient", None) or (), 6)
    ipp = _floats(ds.get("ImagePositionPatient", None) or (), 3)
    rc = _pixel_spacing(ds)
    geometry = iop is not None and ipp is not None
    normal = _cosines(iop)[2] if geometry else np.array([0.0, 0.0, 1.0])
    affine = _LPS_TO_RAS @ _affine_lps(
        iop if geometry else None, ipp if geometry else None, rc, normal * _thickness(ds)
    )
    meta = _dicom_meta(ds, "dicom", [path])
    meta.update(
        _volume=False,
        spacing=rc,
        has_geometry=geometry,
        sop_instance_uids=[str(ds.get("SOPInstanceUID", ""))],
    )
    return _finish(vox, kind, path, DICOM_READER, affine, meta)


def _functional(ds: Any, frame: int, sequence: str, attribute: str) -> Any:
    """``attribute`` of ``sequence`` for ``frame``: per-frame group, else shared, else top level."""
    groups = []
    per = ds.get("PerFrameFunctionalGroupsSequence", None)
    if per is not None and frame < len(per):
        groups.append(per[frame])
    shared = ds.get("SharedFunctionalGroupsSequence", None)
    if shared:
        groups.append(shared[0])
    for group in groups:
        seq = group.get(sequence, None)
        if seq and attribute in seq[0]:
            return seq[0].get(attribute)
    return ds.get(attribute, None)


def _read_multiframe(path: Path, header: Any, kind: str) -> Sample:
    """A multi-frame image (enhanced CT/MR, legacy-converted, RT dose) as a volume.

    MONAI decodes the frames (``swap_ij=False``: its default swap would move the frame axis
    into the middle) and applies a top-level rescale; geometry and per-frame rescale come
    from the functional groups, which MONAI's PydicomReader does not read for images.
    """
    ds = header
    frames = _read_pixels(path, swap_ij=False)  # (frames, rows, cols[, samples]) or (rows, cols)
    n = int(ds.get("NumberOfFrames", 1) or 1)
    if frames.ndim == 2 or (n == 1 and frames.shape[0] != 1):
        frames = frames[None]
    if frames.shape[0] != n:
        raise _corrupt(path, f"NumberOfFrames is {n} but {frames.shape[0]} frames decoded")
    frames = frames.astype(np.float32, copy=False) if kind == "image" else frames
    if "RescaleSlope" not in ds and "RescaleIntercept" not in ds:
        slopes = [_functional(ds, f, "PixelValueTransformationSequence", "RescaleSlope") for f in range(n)]
        inters = [
            _functional(ds, f, "PixelValueTransformationSequence", "RescaleIntercept") for f in range(n)
        ]
        if any(s is not None for s in slopes) or any(i is not None for i in inters):
            s = np.asarray([float(v) if v is not None else 1.0 for v in slopes], dtype=np.float32)
            i = np.asarray([float(v) if v is not None else 0.0 for v in inters], dtype=np.float32)
            shape = (n,) + (1,) * (frames.ndim - 1)
            frames = frames.astype(np.float32) * s.reshape(shape) + i.reshape(shape)
    if "DoseGridScaling" in ds:
        frames = frames.astype(np.float32) * np.float32(float(ds.DoseGridScaling))
    iop = _floats(_functional(ds, 0, "PlaneOrientationSequence", "ImageOrientationPatient") or (), 6)
    ps = _functional(ds, 0, "PixelMeasuresSequence", "PixelSpacing")
    sp = _floats(ps or (), 2)
    rc = (float(sp[0]), float(sp[1])) if sp is not None else _pixel_spacing(ds)
    ipps = [
        _floats(_functional(ds, f, "PlanePositionSequence", "ImagePositionPatient") or (), 3)
        for f in range(n)
    ]
    thickness = _functional(ds, 0, "PixelMeasuresSequence", "SpacingBetweenSlices") or _functional(
        ds, 0, "PixelMeasuresSequence", "SliceThickness"
    )
    fallback = float(thickness) if thickness else _thickness(ds)
    missing: list[float] = []
    if iop is not None and all(p is not None for p in ipps):
        normal = _cosines(iop)[2]
        offsets = _floats(ds.get("GridFrameOffsetVector", None) or (), n)
        if offsets is not None and "PerFrameFunctionalGroupsSequence" not in ds:
            ipp_arr = ipps[0] + offsets[:, None] * normal  # RT dose: offsets along the normal
        else:
            ipp_arr = np.stack(ipps)
        names = [f"frame {f + 1}" for f in range(n)]
        order, step, slice_vec, missing = _stack_geometry(ipp_arr, normal, names, path, fallback)
        affine_lps = _affine_lps(iop, ipp_arr[order[0]], rc, slice_vec)
        positions = [float(p) for p in ipp_arr[order] @ normal]
        if missing:
            _warn_gaps(path, missing, step, n)
    else:
        warnings.warn(
            f"{path}: frames lack plane position/orientation; stacked in file order with an "
            "axis-aligned affine",
            UserWarning,
            stacklevel=3,
        )
        order, step = np.arange(n), fallback
        affine_lps = _affine_lps(None, None, rc, np.array([0.0, 0.0, step]))
        positions = [float(step * f) for f in range(n)]
    # (frames, rows, cols[, c]) in position order → (i=cols, j=rows, k[, c])
    vox = np.moveaxis(frames[order], (0, 1, 2), (2, 1, 0))
    meta = _dicom_meta(ds, "dicom-multiframe", [path])
    meta.update(
        _volume=True,
        spacing=(float(step), rc[0], rc[1]),
        slice_positions=positions,
        frame_order=[int(f) for f in order],
        sop_instance_uids=[str(ds.get("SOPInstanceUID", ""))],
    )
    if missing:
        meta["missing_positions"] = missing
    return _finish(vox, kind, path, DICOM_READER, _LPS_TO_RAS @ affine_lps, meta)


# ---------------------------------------------------------------------------------------------
# DICOM-SEG
# ---------------------------------------------------------------------------------------------


def read_dicom_seg(path: str | Path) -> Sample:
    """A DICOM Segmentation as a D×H×W label volume whose values are the segment numbers.

    highdicom assembles the frames into a regular volume (positions without a frame, which
    SEG writers often omit when empty, are zero) and its affine maps (slice, row, column)
    to LPS with the slices in *descending* order along the normal; the axes are reordered
    here into the project's (i, j, k) RAS convention with slices ascending, like a series.
    The volume covers the frames the SEG holds, which may be fewer slices than its source
    series; the affine says where they are. Overlapping segments cannot become one label
    map and are an error.
    """
    import highdicom as hd

    path = Path(path)
    try:
        seg = hd.seg.segread(path)
    except Exception as exc:
        raise _corrupt(path, f"cannot read as DICOM-SEG ({exc})") from None
    try:
        volume = seg.get_volume(combine_segments=True, relabel=False)
    except Exception as exc:
        msg = str(exc).splitlines()[0]
        overlap = "overlap" in msg.lower()
        raise InputError(
            f"cannot turn the DICOM-SEG into a label volume: {msg}",
            path=path,
            fix="its segments overlap; read them one at a time with highdicom (combine_segments=False)"
            if overlap
            else "the SEG's frames do not form a regular 3D volume; convert it with highdicom by hand",
        ) from None
    array = np.asarray(volume.array)  # (slice, row, col)
    a = np.asarray(volume.affine, dtype=np.float64)  # LPS, columns: slice, row, col index
    normal = np.cross(a[:3, 2], a[:3, 1])
    if float(a[:3, 0] @ normal) < 0:
        array = array[::-1]
        a = a.copy()
        a[:3, 3] = a[:3, 3] + a[:3, 0] * (array.shape[0] - 1)
        a[:3, 0] = -a[:3, 0]
    affine_lps = np.eye(4)
    affine_lps[:3, 0], affine_lps[:3, 1], affine_lps[:3, 2], affine_lps[:3, 3] = (
        a[:3, 2],
        a[:3, 1],
        a[:3, 0],
        a[:3, 3],
    )
    vox = np.ascontiguousarray(np.transpose(array, (2, 1, 0)))
    spacing = tuple(float(np.linalg.norm(a[:3, c])) for c in (0, 1, 2))
    labels = {
        int(s.SegmentNumber): str(s.get("SegmentLabel", f"segment {int(s.SegmentNumber)}"))
        for s in seg.SegmentSequence
    }
    meta = _dicom_meta(seg, "dicom-seg", [path])
    meta.update(_volume=True, spacing=spacing, segment_labels=labels)
    return _finish(vox, "label", path, DICOM_READER, _LPS_TO_RAS @ affine_lps, meta)
