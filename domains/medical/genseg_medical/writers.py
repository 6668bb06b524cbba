"""Mask writers for medical volumes: NIfTI with the source affine, DICOM-SEG with highdicom.

A predicted mask is only useful clinically if it lands on the voxels it was predicted
from, so both writers take the geometry from the ``reference`` sample the readers built
(``genseg_medical.readers``) and never re-derive it: NIfTI gets ``reference.meta["affine"]``
verbatim (sform and qform, code 1), DICOM-SEG references the very source instances the
reader listed in ``meta["source_files"]``. Masks arrive in the readers' array layout
(D×H×W, or H×W for one frame) and are transposed back to the (i, j, k) voxel order, so the
file's voxel shape equals the source's.

Both writers write atomically (a hidden temporary file in the target folder, renamed into
place), so an interrupted run never leaves a half-written mask that looks complete.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genseg.data.atomic import atomic_write
from genseg.data.sample import Sample
from genseg.errors import InputError

_DICOM_SOURCES = ("dicom-series", "dicom", "dicom-multiframe")


def _integer_mask(mask: np.ndarray, path: Path) -> np.ndarray:
    """The mask as non-negative integers, values unchanged (bool → 0/1)."""
    mask = np.asarray(mask)
    if mask.dtype == bool:
        return mask.astype(np.uint8)
    if not np.issubdtype(mask.dtype, np.integer):
        if not (np.issubdtype(mask.dtype, np.floating) and np.all(np.isfinite(mask))):
            raise InputError(f"mask has dtype {mask.dtype}; expected bool or integers", path=path)
        if not np.array_equal(mask, np.round(mask)):
            raise InputError(
                "mask holds fractional values (probabilities?)",
                path=path,
                fix="threshold the probabilities into a bool or integer mask before writing",
            )
        mask = mask.astype(np.int64)
    if mask.size and int(mask.min()) < 0:
        raise InputError(f"mask has negative values (min {int(mask.min())})", path=path)
    return mask


def _check_shape(mask: np.ndarray, reference: Sample | None, path: Path) -> None:
    if mask.ndim not in (2, 3):
        raise InputError(f"mask must be D×H×W or H×W, got shape {mask.shape}", path=path)
    if reference is not None and tuple(mask.shape) != tuple(reference.spatial_shape):
        raise InputError(
            f"mask shape {mask.shape} does not match the input's {tuple(reference.spatial_shape)} "
            f"({reference.path})",
            path=path,
            fix="write the mask predicted from this input, on its grid (no resizing)",
        )


# ---------------------------------------------------------------------------------------------
# NIfTI
# ---------------------------------------------------------------------------------------------


def _nifti_suffix(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".nii.gz"):
        return ".nii.gz"
    if name.endswith(".nii"):
        return ".nii"
    raise InputError(
        "a NIfTI output must be named *.nii or *.nii.gz",
        path=path,
        fix="name the output e.g. mask.nii.gz",
    )


def write_nifti(path: str | Path, mask: np.ndarray, reference: Sample | None = None) -> Path:
    """Write ``mask`` (D×H×W or H×W, readers' layout) as NIfTI on the reference's grid.

    The voxel array is ``mask`` transposed back to (i, j, k), so its shape is the source's
    voxel shape; the affine is ``reference.meta["affine"]`` set as both sform and qform
    (code 1, scanner). Without a reference affine the identity is used, with a warning:
    the mask then has no place in the patient. Values are kept; the dtype is uint8, or
    uint16/int32 when values exceed 255/65535. NIfTI-1 stores the affine as float32, so it
    reads back equal to about 1e-7 relative (1e-5 mm at 100 mm from the origin).

    The temporary file must end in ``.nii.gz`` too, because nibabel chooses compression
    from the name: it is written as ``.<name>.tmp-<pid>-<id>.nii.gz`` then renamed.
    """
    import nibabel as nib

    path = Path(path)
    suffix = _nifti_suffix(path)
    mask = _integer_mask(mask, path)
    _check_shape(mask, reference, path)
    affine = None if reference is None else reference.meta.get("affine")
    if affine is None:
        warnings.warn(
            f"{path}: no reference affine; the mask is written with the identity affine (1 mm voxels at "
            "the origin), so it will not overlay the scan in a viewer",
            UserWarning,
            stacklevel=2,
        )
        affine = np.eye(4)
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise InputError(f"reference affine is not a finite 4×4 matrix: {affine!r}", path=path)
    hi = int(mask.max()) if mask.size else 0
    dtype = np.uint8 if hi <= 255 else np.uint16 if hi <= 65535 else np.int32
    perm = (2, 1, 0) if mask.ndim == 3 else (1, 0)
    vox = np.ascontiguousarray(np.transpose(mask, perm).astype(dtype, copy=False))

    image = nib.Nifti1Image(vox, affine)
    image.set_sform(affine, code=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a sheared affine has only an approximate qform; sform is exact
        image.set_qform(affine, code=1)
    image.set_data_dtype(dtype)
    image.header.set_xyzt_units("mm", "sec")

    def save(tmp: Path) -> None:
        named = tmp.with_name(tmp.name + suffix)  # nibabel needs the .nii(.gz) ending
        try:
            nib.save(image, str(named))
            os.replace(named, tmp)
        except BaseException:
            named.unlink(missing_ok=True)
            raise

    return atomic_write(path, save)


# ---------------------------------------------------------------------------------------------
# DICOM-SEG
# ---------------------------------------------------------------------------------------------


def _segment_label(labels: Any, number: int) -> str:
    """Label of segment ``number`` from a mapping (int or str keys) or a sequence (segment 1 first)."""
    if isinstance(labels, Mapping):
        value = labels.get(number, labels.get(str(number)))
    elif isinstance(labels, Sequence) and not isinstance(labels, str) and 0 < number <= len(labels):
        value = labels[number - 1]
    else:
        value = None
    return str(value) if value not in (None, "") else f"segment {number}"


def _segments(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """(label map, number of segments): values are segment numbers 1..N, N = the largest.

    Keeping value = segment number makes a SEG read back (``combine_segments``) give the
    same label map; labels absent from the mask become empty segments. A mask whose only
    nonzero value is 255 (a binary mask as genseg writes 2D masks for viewing) is one
    segment.
    """
    values = np.unique(mask)
    nonzero = values[values != 0]
    if nonzero.size == 1 and int(nonzero[0]) == 255:
        return (mask != 0).astype(np.uint8), 1
    n = int(nonzero.max()) if nonzero.size else 1
    return mask, n


def _read_sources(reference: Sample, path: Path) -> list[Any]:
    import pydicom

    files = reference.meta.get("source_files") or []
    expected = reference.meta.get("sop_instance_uids") or []
    sources = []
    for n, f in enumerate(files):
        try:
            ds = pydicom.dcmread(f)
        except Exception as exc:
            raise InputError(
                f"cannot re-read the source DICOM file {f} ({type(exc).__name__}: {exc})",
                path=path,
                fix="keep the input DICOM files in place until the SEG is written, or write NIfTI (.nii.gz)",
            ) from None
        if n < len(expected) and expected[n] and str(ds.get("SOPInstanceUID", "")) != expected[n]:
            raise InputError(
                f"source file {f} changed since it was read (another SOPInstanceUID)",
                path=path,
                fix="segment the input again, or write NIfTI (.nii.gz)",
            )
        sources.append(ds)
    return sources


def write_dicom_seg(path: str | Path, mask: np.ndarray, reference: Sample | None = None) -> Path:
    """Write ``mask`` as a BINARY DICOM Segmentation referencing the reference's DICOM files.

    One segment per label value 1..max (segment number = label value; bool masks and 0/255
    masks are one segment), labelled from ``reference.meta["segment_labels"]`` (a mapping
    number → name, or a list for segments 1, 2, ...) else ``"segment N"``. Every source frame
    gets a SEG frame per segment (empty frames kept), so the SEG covers the whole source
    volume and reads back with the source's geometry. The mask's slice ``k`` is the source
    file ``meta["source_files"][k]`` (series) or frame ``meta["frame_order"][k]``
    (multi-frame), as the readers recorded. Only DICOM inputs can be referenced; anything
    else is an InputError suggesting NIfTI.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    import genseg_medical

    path = Path(path)
    fmt = None if reference is None else reference.meta.get("source_format")
    if reference is None or fmt not in _DICOM_SOURCES or not reference.meta.get("source_files"):
        what = "no reference input" if reference is None else f"input {reference.path} ({fmt or 'not DICOM'})"
        raise InputError(
            f"a DICOM-SEG must reference the DICOM images it segments; got {what}",
            path=path,
            fix="write NIfTI (.nii.gz) instead",
        )
    mask = _integer_mask(mask, path)
    _check_shape(mask, reference, path)
    labels, n_segments = _segments(mask)
    sources = _read_sources(reference, path)

    if fmt == "dicom":
        frames = labels[None]
    elif fmt == "dicom-multiframe":
        order = reference.meta.get("frame_order") or list(range(labels.shape[0]))
        frames = np.empty_like(labels)
        frames[np.asarray(order)] = labels  # back to the file's frame order
    else:
        frames = labels
    frames = np.ascontiguousarray(frames.astype(np.uint16 if n_segments > 255 else np.uint8))

    names = reference.meta.get("segment_labels")
    algorithm = hd.AlgorithmIdentificationSequence(
        name="genseg", version=genseg_medical.__version__, family=codes.cid7162.ArtificialIntelligence
    )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=n,
            segment_label=_segment_label(names, n)[:64],
            segmented_property_category=codes.SCT.Tissue,
            segmented_property_type=codes.SCT.Tissue,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
        )
        for n in range(1, n_segments + 1)
    ]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seg = hd.seg.Segmentation(
                source_images=sources,
                pixel_array=frames,
                segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
                segment_descriptions=descriptions,
                series_instance_uid=hd.UID(),
                series_number=9000,
                sop_instance_uid=hd.UID(),
                instance_number=1,
                manufacturer="genseg",
                manufacturer_model_name="genseg",
                software_versions=genseg_medical.__version__,
                device_serial_number="0",
                series_description="genseg segmentation",
                content_label="GENSEG",
                omit_empty_frames=False,
            )
    except Exception as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(
            f"highdicom cannot build a DICOM-SEG from these sources: {msg}",
            path=path,
            fix="write NIfTI (.nii.gz) instead",
        ) from None
    return atomic_write(path, lambda tmp: seg.save_as(tmp))
