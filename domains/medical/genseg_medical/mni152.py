"""The MNI152 sample dataset: real axial slices of the MNI152 T1 template with tissue labels.

nilearn ships the template, so the slices are generated offline (the ``mri-sample`` extra
of this plugin installs nilearn). Labels are brain / grey matter / white matter from
nilearn's brain mask and tissue probability maps. The split is by contiguous slabs, with a
gap, so test slices are never next to training slices. ``genseg sample-data`` writes it
through ``genseg_register_sample_data``; ``genseg train -d mni152`` through the dataset's
loader (``genseg_medical.datasets.load_mni152``). Generation is idempotent: its parameters are recorded in
dataset.json, written last.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genseg.plugins.api import (
    ClassSpec,
    DatasetEntry,
    DatasetSpec,
    MissingExtraError,
    begin_generation,
    write_dataset_spec,
    write_image_png,
    write_png_mask,
)

DISTRIBUTION, EXTRA = "genseg-plugin-medical", "mri-sample"
GENERATOR_VERSION = 1
"""Recorded in dataset.json; a change of what is generated bumps it, so old folders are remade."""

MNI_CLASSES = {
    "1": ClassSpec(name="brain", synonyms=["whole brain", "brain tissue", "cerebrum"], values=[1, 2, 3]),
    "2": ClassSpec(name="grey matter", synonyms=["gray matter", "cortex", "cortical grey matter"]),
    "3": ClassSpec(name="white matter", synonyms=["cerebral white matter", "WM"]),
}


def _mni_volumes() -> tuple[np.ndarray, ...]:
    try:
        from nilearn import datasets
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "nilearn":
            raise
        raise MissingExtraError(
            "the MNI152 sample dataset needs nilearn, an optional dependency that is not installed",
            fix=f'pip install "{DISTRIBUTION}[{EXTRA}]"',
        ) from exc

    t1 = np.asarray(datasets.load_mni152_template(resolution=1).dataobj, dtype=np.float32)
    brain = np.asarray(datasets.load_mni152_brain_mask(resolution=1).dataobj) > 0
    gm = np.asarray(datasets.load_mni152_gm_template(resolution=1).dataobj, dtype=np.float32)
    wm = np.asarray(datasets.load_mni152_wm_template(resolution=1).dataobj, dtype=np.float32)
    return t1, brain, gm, wm


def mni_label_volume(brain: np.ndarray, gm: np.ndarray, wm: np.ndarray) -> np.ndarray:
    """0 outside the brain, 3 white matter, 2 grey matter (the more probable tissue, ≥ 0.5), 1 other brain."""
    label = np.where(brain, 1, 0).astype(np.uint8)
    label[brain & (gm >= 0.5) & (gm > wm)] = 2
    label[brain & (wm >= 0.5) & (wm >= gm)] = 3
    return label


def _axial(arr: np.ndarray, z: int, size: int) -> np.ndarray:
    """Slice z of a RAS volume, anterior up, right on the right, zero-padded to size×size."""
    sl = arr[:, :, z].T[::-1]
    h, w = sl.shape
    out = np.zeros((size, size), dtype=sl.dtype)
    top, left = (size - h) // 2, (size - w) // 2
    out[top : top + h, left : left + w] = sl
    return out


def mni_split(zs: list[int], gap: int = 3) -> dict[int, str]:
    """Test = 3 slabs of 8 slices at 20/50/80 % of the range, validation = 1 slab at 35 %;
    training = the rest, minus anything within `gap` slices of a held-out slice."""
    lo, hi = min(zs), max(zs)
    held: dict[int, str] = {}
    for frac, split in ((0.2, "test"), (0.5, "test"), (0.8, "test"), (0.35, "validation")):
        start = int(lo + frac * (hi - lo)) - 4
        for z in zs:
            if start <= z < start + 8:
                held[z] = split
    out = {}
    for z in zs:
        if z in held:
            out[z] = held[z]
        elif all(abs(z - h) > gap for h in held):
            out[z] = "training"
    return out


def mni152_split_check(spec: DatasetSpec, gap: int = 3) -> bool:
    """True when no training slice lies within `gap` slices of a held-out one."""

    def z(entry: DatasetEntry) -> int:
        return int(Path(entry.image).stem.split("_")[-1])

    held = [z(e) for e in spec.test + spec.validation]
    return all(abs(z(t) - h) > gap for t in spec.training for h in held)


def make_mni152_dataset(root: Path, seed: int = 0, slice_step: int = 1, size: int = 240) -> Path:
    """Write MNI152 axial slices with brain / grey / white-matter labels under `root`."""
    root = Path(root)
    params = {
        "kind": "mni152",
        "version": GENERATOR_VERSION,
        "seed": seed,
        "slice_step": slice_step,
        "size": size,
    }
    if not begin_generation(root, params):
        return root
    t1, brain, gm, wm = _mni_volumes()
    label = mni_label_volume(brain, gm, wm)
    area = brain.sum(axis=(0, 1))
    zs = [int(z) for z in np.nonzero(area >= 0.35 * area.max())[0] if z % slice_step == 0]
    split_of = mni_split(zs, gap=3)
    splits: dict[str, list[DatasetEntry]] = {"training": [], "validation": [], "test": []}
    for z, split in split_of.items():
        name = f"slice_{z:03d}.png"
        write_image_png(root / "images" / name, np.clip(_axial(t1, z, size), 0, 1))
        write_png_mask(root / "labels" / name, _axial(label, z, size))
        splits[split].append(DatasetEntry(image=f"images/{name}", label=f"labels/{name}"))
    spec = DatasetSpec(
        name="mni152",
        domain="medical",
        description=(
            "Axial slices of the MNI152 2009 T1 template (1 mm) with labels from nilearn's brain mask and "
            "grey/white-matter probability templates (tissue = the more probable one, if >= 0.5). Split by "
            "slabs: test = 3 slabs of 8 mm at 20/50/80 % of the slice range, validation = 1 slab at 35 %, "
            "training excludes slices within 3 mm of any held-out slice. One subject only: held-out slices "
            "test generalisation across anatomy, not across people."
        ),
        license="MNI152 template: free for any use with attribution (Fonov et al. 2011); via nilearn (BSD-3)",
        reference="Fonov et al., NeuroImage 54(1), 2011; Fonov et al., NeuroImage 47, S102, 2009",
        classes=MNI_CLASSES,
        generator=params,
        **splits,
    )
    write_dataset_spec(root, spec)
    return root
