"""Deterministic synthetic CT series and NIfTI volumes, for tests and benchmarks.

Real medical data cannot be downloaded in tests (no network, licences), so these
generators write small files with exactly known geometry: every slice position, spacing
and affine is chosen here, which lets tests check a reader's geometry against values
computed independently of the reader. The same seed gives byte-identical pixel data.

Files are written the way scanners write them (one DICOM file per slice, UIDs from
``pydicom.uid.generate_uid``, CT values stored unsigned with ``RescaleIntercept -1024``)
and, for the series, in shuffled file-name order, so a reader that sorts by file name
instead of by position along the slice normal fails the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
_INTERCEPT = -1024.0


def _unit(v: Sequence[float]) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    return a / np.linalg.norm(a)


def ellipsoid_mask(
    shape: tuple[int, int, int], centre: Sequence[float] | None = None, radii: Sequence[float] | None = None
) -> np.ndarray:
    """A boolean D×H×W ellipsoid (the synthetic "organ"), centred unless told otherwise."""
    d, h, w = shape
    centre = np.asarray(centre if centre is not None else ((d - 1) / 2, (h - 1) / 2, (w - 1) / 2))
    radii = np.asarray(radii if radii is not None else (max(d / 3, 1.0), h / 4, w / 3))
    zz, yy, xx = np.meshgrid(np.arange(d), np.arange(h), np.arange(w), indexing="ij")
    r = (
        ((zz - centre[0]) / radii[0]) ** 2
        + ((yy - centre[1]) / radii[1]) ** 2
        + ((xx - centre[2]) / radii[2]) ** 2
    )
    return r <= 1.0


def ct_hounsfield(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """A D×H×W CT-like volume in HU: air outside a soft-tissue body, a bright organ, noise.

    Integer-valued float32 so that storing ``HU + 1024`` as uint16 and reading back with
    the rescale gives exactly these numbers.
    """
    rng = np.random.default_rng(seed)
    d, h, w = shape
    hu = np.full(shape, -1000.0, dtype=np.float32)
    body = ellipsoid_mask(shape, radii=(d * 10.0, h * 0.45, w * 0.45))  # a cylinder along D
    hu[body] = 40.0
    hu[ellipsoid_mask(shape)] = 180.0
    hu += rng.integers(-20, 21, size=shape).astype(np.float32)
    return np.clip(hu, -1024.0, 3071.0)


def write_ct_series(
    folder: str | Path,
    shape: tuple[int, int, int] = (6, 32, 32),
    spacing: tuple[float, float, float] = (2.5, 0.8, 0.7),
    origin: Sequence[float] = (-12.0, -20.0, 30.0),
    seed: int = 0,
    gap_at: int | None = None,
    series_uid: str | None = None,
    orientation: Sequence[float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    study_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    instance_numbers: str = "ascending",
    shuffle: bool = True,
) -> list[Path]:
    """Write a CT series of ``shape`` = (slices, rows, columns) as one DICOM file per slice.

    ``spacing`` = (slice step, row spacing, column spacing) in mm and ``origin`` is the
    ImagePositionPatient (LPS, mm) of slice 0; slice ``k`` lies at ``origin + k * step *
    normal`` where ``normal = row cosine × column cosine`` of ``orientation`` (the
    ImageOrientationPatient). ``gap_at=k`` leaves slice ``k`` out (a missing file).
    ``instance_numbers`` is ``"ascending"`` (along the normal), ``"descending"`` (as many
    scanners number head to foot) or ``"none"`` (the attribute left out). Pixel values are
    :func:`ct_hounsfield` stored as ``HU + 1024``. Files get random-looking names in shuffled
    order (``shuffle``), so only position sorting reconstructs the volume. Returns the
    written paths, in slice order.
    """
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    d, h, w = shape
    hu = ct_hounsfield(shape, seed)
    stored = np.round(hu - _INTERCEPT).astype(np.uint16)
    row_cos, col_cos = _unit(orientation[:3]), _unit(orientation[3:])
    normal = np.cross(row_cos, col_cos)
    origin_ = np.asarray(origin, dtype=np.float64)
    # Derive UIDs from the seed so repeated calls are reproducible; distinct series need
    # distinct seeds or explicit UIDs.
    series_uid = series_uid or generate_uid(entropy_srcs=[f"series-{seed}-{shape}-{origin}"])
    study_uid = study_uid or generate_uid(entropy_srcs=[f"study-{seed}"])
    for_uid = frame_of_reference_uid or generate_uid(entropy_srcs=[f"for-{seed}"])
    rng = np.random.default_rng(seed + 1)
    order = rng.permutation(d) if shuffle else np.arange(d)
    paths: list[Path] = []
    for k in range(d):
        if gap_at is not None and k == gap_at:
            continue
        sop_uid = generate_uid(entropy_srcs=[series_uid, str(k)])
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
        # Names unrelated to slice order; the series UID's tail keeps two series apart.
        name = folder / f"IM{series_uid[-6:].replace('.', '')}_{int(order[k]) * 7919 % 10007:05d}.dcm"
        ds = FileDataset(str(name), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CT_IMAGE_STORAGE
        ds.SOPInstanceUID = sop_uid
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = for_uid
        ds.Modality = "CT"
        ds.Manufacturer = "genseg synthetic"
        ds.PatientName = "Synthetic^Phantom"
        ds.PatientID = "GENSEG0001"
        ds.PatientBirthDate = "20000101"
        ds.PatientSex = "O"
        ds.StudyDate = "20240101"
        ds.StudyTime = "120000"
        ds.StudyID = "1"
        ds.AccessionNumber = "A1"
        ds.ReferringPhysicianName = ""
        ds.SeriesNumber = 1
        ds.SeriesDescription = "synthetic CT"
        if instance_numbers == "ascending":
            ds.InstanceNumber = k + 1
        elif instance_numbers == "descending":
            ds.InstanceNumber = d - k
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.PositionReferenceIndicator = ""
        ds.ImagePositionPatient = [float(v) for v in origin_ + k * spacing[0] * normal]
        ds.ImageOrientationPatient = [float(v) for v in (*row_cos, *col_cos)]
        ds.PixelSpacing = [float(spacing[1]), float(spacing[2])]
        ds.SliceThickness = float(spacing[0])
        ds.SliceLocation = float(np.dot(origin_ + k * spacing[0] * normal, normal))
        ds.KVP = 120
        ds.Rows, ds.Columns = h, w
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.RescaleIntercept = _INTERCEPT
        ds.RescaleSlope = 1.0
        ds.RescaleType = "HU"
        ds.WindowCenter = 40
        ds.WindowWidth = 400
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        ds.save_as(name, enforce_file_format=True)
        paths.append(name)
    return paths


def write_multiframe_ct(source_files: Sequence[str | Path], path: str | Path) -> Path:
    """Convert a CT series into one legacy-converted enhanced (multi-frame) CT file.

    The frames are stored in the reverse of ``source_files``' order, so a reader that
    ignores the per-frame positions gets the slices upside down.
    """
    import warnings

    import highdicom as hd
    import pydicom

    sources = [pydicom.dcmread(f) for f in source_files]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # highdicom notes every attribute it cannot carry over
        enhanced = hd.legacy.LegacyConvertedEnhancedCTImage(
            sources[::-1],
            series_instance_uid=hd.UID(),
            series_number=2,
            sop_instance_uid=hd.UID(),
            instance_number=1,
        )
    enhanced.save_as(path)
    return Path(path)


def default_oblique_affine(spacing: tuple[float, float, float] = (0.9, 1.1, 2.5)) -> np.ndarray:
    """A RAS affine with a rotation about two axes, a flipped axis and anisotropic spacing.

    Non-trivial on purpose: a writer that drops or re-derives the affine (e.g. from the
    spacing alone) changes it, and a test then sees the difference.
    """
    a, b = np.deg2rad(20.0), np.deg2rad(-10.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    flip = np.diag([-1.0, 1.0, 1.0])  # a LAS-like first axis, as many scanners write
    affine = np.eye(4)
    affine[:3, :3] = rz @ rx @ flip @ np.diag(spacing)
    affine[:3, 3] = (91.25, -40.5, 12.0)
    return affine


def write_nifti_volume(
    path: str | Path,
    shape: tuple[int, int, int] = (20, 24, 8),
    affine: np.ndarray | None = None,
    seed: int = 0,
    nan: bool = False,
    dtype: str = "int16",
    label: bool = False,
) -> Path:
    """Write a NIfTI (.nii or .nii.gz, from the name) of voxel ``shape`` = (I, J, K).

    The affine defaults to :func:`default_oblique_affine`; sform and qform are both set
    from it (codes 1, scanner). Values are CT-like HU (:func:`ct_hounsfield` in (i, j, k)
    order) unless ``label`` (a 0/1/2 label map). ``nan=True`` stores float32 with a few NaN
    voxels, as a broken conversion might. Returns ``path``.
    """
    import nibabel as nib

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    affine = default_oblique_affine() if affine is None else np.asarray(affine, dtype=np.float64)
    i, j, k = shape
    kji = (k, j, i)
    if label:
        data = np.zeros(kji, dtype=np.uint8)
        data[ellipsoid_mask(kji)] = 1
        data[ellipsoid_mask(kji, radii=(max(k / 6, 0.6), j / 8, i / 6))] = 2
    else:
        data = ct_hounsfield(kji, seed).astype(dtype)
    vox = np.ascontiguousarray(np.transpose(data, (2, 1, 0)))
    if nan:
        vox = vox.astype(np.float32)
        vox[0, 0, 0] = np.nan
        vox[i // 2, j // 2, k // 2] = np.nan
    img = nib.Nifti1Image(vox, affine)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    nib.save(img, str(path))
    return path


def label_volume_like(shape: tuple[int, ...], labels: int = 2) -> np.ndarray:
    """A uint8 label map of spatial ``shape`` (D×H×W or H×W) with values 0..``labels``.

    Nested ellipsoids: label 1 the outer one, 2 inside it, and so on, so every label is
    present and the layout is asymmetric enough to catch a transposed write.
    """
    is_2d = len(shape) == 2
    shape3 = (1, *shape) if is_2d else tuple(shape)
    d, h, w = shape3
    out = np.zeros(shape3, dtype=np.uint8)
    for n in range(1, labels + 1):
        scale = 1.0 / n
        centre = ((d - 1) / 2, (h - 1) / 3, (w - 1) / 2)
        radii = (max(d / 2.5, 0.6) * scale, h / 4 * scale, w / 2.5 * scale)
        out[ellipsoid_mask(shape3, centre=centre, radii=radii)] = n
    return out[0] if is_2d else out
