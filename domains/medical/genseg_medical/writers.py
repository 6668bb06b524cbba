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

Given ``classes`` (hookspec 1.4: what each label value means), the DICOM-SEG names its
segments after the vocabulary terms, with SNOMED CT category and type codes and the overlay
colours, and the NIfTI mask gets colour tables beside it (see :func:`write_label_tables`), so
3D Slicer, OHIF and ITK-SNAP show "liver" in genseg's colour instead of "segment 1".
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genseg.plugins.api import GENSEG_VERSION, InputError, Sample, atomic_write, sidecar_path

if TYPE_CHECKING:
    from genseg.plugins.api import ClassInfo

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


def write_nifti(
    path: str | Path,
    mask: np.ndarray,
    reference: Sample | None = None,
    classes: Sequence[ClassInfo] | None = None,
) -> Path:
    """Write ``mask`` (D×H×W or H×W, readers' layout) as NIfTI on the reference's grid.

    The voxel array is ``mask`` transposed back to (i, j, k), so its shape is the source's
    voxel shape; the affine is ``reference.meta["affine"]`` set as both sform and qform
    (code 1, scanner). Without a reference affine the identity is used, with a warning:
    the mask then has no place in the patient. Values are kept; the dtype is uint8, or
    uint16/int32 when values exceed 255/65535. NIfTI-1 stores the affine as float32, so it
    reads back equal to about 1e-7 relative (1e-5 mm at 100 mm from the origin).

    The temporary file must end in ``.nii.gz`` too, because nibabel chooses compression
    from the name: it is written as ``.<name>.tmp-<pid>-<id>.nii.gz`` then renamed. With
    ``classes``, the label names and colours go beside it (:func:`write_label_tables`).
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

    atomic_write(path, save)
    if classes:
        write_label_tables(path, classes)
    return path


SLICER_TABLE = ".ctbl"
ITKSNAP_TABLE = ".itksnap.txt"


def write_label_tables(path: str | Path, classes: Sequence[ClassInfo]) -> list[Path]:
    """Write the names and colours of a label volume's classes beside it, each file atomically:
    ``NAME.ctbl``, a 3D Slicer colour table (``# Color table file``; value, name with spaces
    as underscores, R G B A 0-255), and ``NAME.itksnap.txt``, an ITK-SNAP label description
    file (value, R G B 0-255, opacity 0-1, visibility, mesh visibility, quoted name). NIfTI
    has no standard field for label names that these viewers read, so the tables are loaded
    with the mask (docs/medical.md). ``NAME`` is the mask's name without ``.nii(.gz)``;
    writing through genseg's registry, the tables are renamed along with the mask.
    """

    path = Path(path)
    rows = sorted({c.value: c for c in classes if c.value > 0}.values(), key=lambda c: c.value)
    # no file name in the headers: ``path`` may be the temporary name of the mask
    slicer = ["# Color table file written by genseg", f"# {len(rows) + 1} values", "0 Background 0 0 0 0"]
    slicer += [f"{c.value} {_table_name(c.name)} {' '.join(map(str, c.colour))} 255" for c in rows]
    itk = [
        "################################################",
        "# ITK-SnAP Label Description File",
        "# written by genseg: label values of the mask beside this file",
        "# IDX   -R-  -G-  -B-  -A--  VIS MSH  LABEL",
        "################################################",
        f'{0:5d} {0:5d} {0:4d} {0:4d} {0:8.2f} {0:2d} {0:2d}    "Clear Label"',
    ]
    for c in rows:
        r, g, b = c.colour
        itk.append(f'{c.value:5d} {r:5d} {g:4d} {b:4d} {1:8.2f} {1:2d} {1:2d}    "{_quoted(c.name)}"')
    written = []
    for ending, lines in ((SLICER_TABLE, slicer), (ITKSNAP_TABLE, itk)):
        text = "\n".join(lines) + "\n"
        target = sidecar_path(path, ending)
        written.append(atomic_write(target, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8")))
    return written


def _table_name(name: str) -> str:
    """A colour-table name: one token (Slicer splits on spaces), printable ASCII kept."""
    return "_".join(name.split()) or "unnamed"


def _quoted(name: str) -> str:
    return name.replace('"', "'").replace("\n", " ")


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


SNOMED_KEYS = ("SNOMED CT", "SCT", "SNOMED")
"""Vocabulary code keys read as SNOMED CT (DICOM coding scheme designator ``SCT``)."""

_CATEGORY_CIDS = (
    (7194, "MorphologicallyAbnormalStructure"),
    (7191, "Tissue"),
    (7197, "BodySubstance"),
    (7198, "Substance"),
    (7192, "AnatomicalStructure"),
)
"""DICOM PS3.16 CID 7150 (segmentation property categories) names, per category, the CID
of the property types it holds; a type found in one of them takes that category."""


@lru_cache(maxsize=1)
def _segmentation_types() -> dict[str, tuple[str, str]]:
    """SNOMED CT code value -> (category keyword in CID 7150, type meaning) for every type in
    PS3.16's segmentation type CIDs, as pydicom ships them."""
    from pydicom.sr.codedict import codes

    found: dict[str, tuple[str, str]] = {}
    for cid, category in _CATEGORY_CIDS:
        for code in getattr(codes, f"cid{cid}").concepts.values():
            if code.scheme_designator == "SCT":
                found.setdefault(code.value, (category, code.meaning))
    return found


@lru_cache(maxsize=1)
def _snomed_meanings() -> dict[str, str]:
    """SNOMED CT code value -> meaning (fully specified name, semantic tag included)."""
    from pydicom.sr.codedict import codes

    return {code.value: code.meaning for code in codes.SCT.concepts.values()}


def _snomed_code(info: ClassInfo) -> str | None:
    return next((info.codes[k] for k in SNOMED_KEYS if info.codes.get(k)), None)


def segment_codes(info: ClassInfo | None) -> tuple[Any, Any, str | None]:
    """(category, type, why a placeholder was used or None) for a class.

    The type is the term's SNOMED CT code; its category comes from the PS3.16 CID listing the
    type (CID 7192 anatomical structure, 7194 morphologically abnormal structure, ...), else
    from the SNOMED semantic tag ("(body structure)", "(disorder)"). A class without a code,
    or whose category cannot be told, gets the placeholder category and type "Tissue" (SCT
    85756007, as DICOM-SEG writers commonly use for unknown content): its segment label
    still names it, and the caller warns.
    """
    from highdicom.sr import CodedConcept
    from pydicom.sr.codedict import codes

    placeholder = codes.cid7150.Tissue
    value = _snomed_code(info) if info is not None else None
    if value is None:
        what = f"class {info.name!r}" if info is not None else "an unnamed class"
        return placeholder, placeholder, f"{what} has no SNOMED CT code in the vocabulary"
    known = _segmentation_types().get(value)
    full = _snomed_meanings().get(value, "")
    meaning = known[1] if known else (full.rsplit(" (", 1)[0] if full.endswith(")") else full)
    concept = CodedConcept(value, "SCT", (meaning or info.name)[:64])
    category = known[0] if known else None
    if category is None and full.endswith("(body structure)"):
        category = "AnatomicalStructure"
    elif category is None and full.endswith(("(disorder)", "(morphologic abnormality)")):
        category = "MorphologicallyAbnormalStructure"
    if category is None:
        return placeholder, concept, f"the category of {info.name!r} (SCT {value}) is not known"
    return getattr(codes.cid7150, category), concept, None


def _class_for(classes: Sequence[ClassInfo] | None, number: int, collapsed: bool) -> ClassInfo | None:
    """The record of segment ``number``: the class whose value it is (a 0/255 mask written as
    one segment takes the 255 record)."""
    for info in classes or ():
        if info.value == number or (collapsed and info.value == 255):
            return info
    return None


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


def write_dicom_seg(
    path: str | Path,
    mask: np.ndarray,
    reference: Sample | None = None,
    classes: Sequence[ClassInfo] | None = None,
    model: str | None = None,
) -> Path:
    """Write ``mask`` as a BINARY DICOM Segmentation referencing the reference's DICOM files.

    One segment per label value 1..max (segment number = label value; bool masks and 0/255
    masks are one segment). A segment whose value has a record in ``classes`` is labelled
    with the term's name, coded with its SNOMED CT category and type (:func:`segment_codes`)
    and given the class colour as recommended display CIELab value; without one it is
    labelled from ``reference.meta["segment_labels"]`` (a mapping number → name, or a list
    for segments 1, 2, ...) else ``"segment N"``, with the placeholder codes. Placeholders are
    announced in one warning. The algorithm is identified as genseg, its version and
    ``model`` (as the parameter ``model``) when known. Every source frame
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
    collapsed = n_segments == 1 and bool(np.any(mask == 255))
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
        name="genseg",
        version=GENSEG_VERSION,
        family=codes.cid7162.ArtificialIntelligence,
        parameters={"model": model} if model else None,
    )
    descriptions, placeholders = [], []
    for n in range(1, n_segments + 1):
        info = _class_for(classes, n, collapsed)
        category, kind, why = segment_codes(info)
        if why is not None:
            placeholders.append(f"segment {n} ({why})")
        colour = hd.color.CIELabColor.from_rgb(*info.colour) if info is not None else None
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=n,
                segment_label=(info.name if info is not None else _segment_label(names, n))[:64],
                segmented_property_category=category,
                segmented_property_type=kind,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=algorithm,
                display_color=colour,
            )
        )
    if placeholders and classes is not None:
        warnings.warn(
            f"{path}: {'; '.join(placeholders)}: written with the placeholder category and type "
            "'Tissue' (SCT 85756007); the segment label still names the class",
            UserWarning,
            stacklevel=2,
        )
    described = [d.SegmentLabel for d in descriptions]
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
                series_description=f"genseg: {', '.join(described)}"[:64],
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
