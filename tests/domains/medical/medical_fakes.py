"""Tiny fake copies of the registered datasets, in the layout their sources ship.

Tests cannot download the real data, so each generator writes a few seeded cases of a few
dozen pixels with the same folder names, file names, formats and quirks as the real download
(JPEG masks in Kvasir-SEG, 0/255 PNG masks and stray licence files in ISIC, several masks per
image in BUSI, macOS ``._`` twins and 4D multi-channel volumes in the Decathlon). A loader
that indexes these will index the real thing. Same seed, same files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

MSD_FAKE: dict[str, dict[str, Any]] = {
    "Task01_BrainTumour": {
        "name": "BRATS",
        "prefix": "BRATS",
        "modality": {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"},
        "labels": {"0": "background", "1": "edema", "2": "non-enhancing tumor", "3": "enhancing tumour"},
    },
    "Task02_Heart": {
        "name": "LeftAtrium",
        "prefix": "la",
        "modality": {"0": "MRI"},
        "labels": {"0": "background", "1": "left atrium"},
    },
    "Task03_Liver": {
        "name": "LiverTumour",
        "prefix": "liver",
        "modality": {"0": "CT"},
        "labels": {"0": "background", "1": "liver", "2": "cancer"},
    },
    "Task04_Hippocampus": {
        "name": "Hippocampus",
        "prefix": "hippocampus",
        "modality": {"0": "MRI"},
        "labels": {"0": "background", "1": "Anterior", "2": "Posterior"},
    },
    "Task05_Prostate": {
        "name": "PROSTATE",
        "prefix": "prostate",
        "modality": {"0": "T2", "1": "ADC"},
        "labels": {"0": "background", "1": "PZ", "2": "TZ"},
    },
    "Task06_Lung": {
        "name": "Lung",
        "prefix": "lung",
        "modality": {"0": "CT"},
        "labels": {"0": "background", "1": "cancer"},
    },
    "Task07_Pancreas": {
        "name": "Pancreas",
        "prefix": "pancreas",
        "modality": {"0": "CT"},
        "labels": {"0": "background", "1": "pancreas", "2": "cancer"},
    },
    "Task08_HepaticVessel": {
        "name": "HepaticVessel",
        "prefix": "hepaticvessel",
        "modality": {"0": "CT"},
        "labels": {"0": "background", "1": "Vessel", "2": "Tumour"},
    },
    "Task09_Spleen": {
        "name": "Spleen",
        "prefix": "spleen",
        "modality": {"0": "CT"},
        "labels": {"0": "background", "1": "spleen"},
    },
    "Task10_Colon": {
        "name": "Colon",
        "prefix": "colon",
        "modality": {"0": "CT"},
        "labels": {"0": "background", "1": "colon cancer primaries"},
    },
}
"""What the real Decathlon dataset.json files say (name, modalities, label names) per task."""

_GRID = (20, 16, 8)
_AFFINE = [  # 0.75 mm in-plane, 2.5 mm slices, axes flipped and slightly rotated, shifted origin
    [-0.75, 0.04, 0.0, 90.0],
    [0.03, -0.75, 0.0, 110.0],
    [0.0, 0.0, 2.5, -40.0],
    [0.0, 0.0, 0.0, 1.0],
]
_APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        "


def _ellipse(shape: tuple[int, ...], rng: np.random.Generator, scale: float = 0.3) -> np.ndarray:
    """A random filled ellipse (2D) or ellipsoid (3D) as booleans, never touching the border."""
    import numpy as np

    grids = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    inside = np.zeros(shape, dtype=float)
    for axis, n in enumerate(shape):
        radius = max(1.5, n * scale * rng.uniform(0.6, 1.0))
        centre = rng.uniform(radius, n - 1 - radius) if n - 1 > 2 * radius else (n - 1) / 2
        inside += ((grids[axis] - centre) / radius) ** 2
    return inside <= 1.0


def _msd_label(n_labels: int, rng: np.random.Generator) -> np.ndarray:
    """A label volume where every value 1..n_labels occurs: an ellipsoid cut into bands along x."""
    import numpy as np

    label = np.zeros(_GRID, dtype=np.uint8)
    region = _ellipse(_GRID, rng, 0.4)
    xs = np.nonzero(region)[0]
    edges = np.linspace(xs.min(), xs.max() + 1, n_labels + 1)
    band = np.searchsorted(edges, np.arange(_GRID[0]), side="right").clip(1, n_labels)
    label[region] = np.broadcast_to(band[:, None, None], _GRID)[region]
    return label


def make_fake_msd(
    root: str | Path, task: str = "Task03_Liver", n: int = 4, n_test: int = 2, seed: int = 0
) -> Path:
    """Write ``root/TASK`` as the Decathlon ships it; returns that task folder.

    ``n`` labelled cases in ``imagesTr``/``labelsTr`` and ``n_test`` unlabelled ones in
    ``imagesTs``, NIfTI with a non-identity affine (4D for the multi-channel tasks), the task's
    ``dataset.json`` (test listed as plain paths, as the real files do) and a macOS ``._`` twin
    that only a loader globbing the folders would trip over.
    """
    import nibabel as nib
    import numpy as np

    facts = MSD_FAKE[task]
    rng = np.random.default_rng([seed, int(task[4:6])])
    folder = Path(root) / task
    for sub in ("imagesTr", "labelsTr", "imagesTs"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    affine = np.array(_AFFINE)
    channels = len(facts["modality"])
    n_labels = len(facts["labels"]) - 1

    def image_volume(label: np.ndarray | None) -> np.ndarray:
        shape = (*_GRID, channels) if channels > 1 else _GRID
        base = rng.normal(0.0, 20.0, size=shape)
        if label is not None:
            base += (label * 80.0)[..., None] if channels > 1 else label * 80.0
        return (base + 40.0).astype(np.int16 if channels == 1 else np.float32)

    def save(array: np.ndarray, path: Path) -> None:
        img = nib.Nifti1Image(array, affine)
        img.set_qform(affine, code=1)
        img.set_sform(affine, code=1)
        nib.save(img, path)

    training, test = [], []
    for i in range(n):
        case = f"{facts['prefix']}_{i + 1:03d}.nii.gz"
        label = _msd_label(n_labels, rng)
        save(image_volume(label), folder / "imagesTr" / case)
        save(label, folder / "labelsTr" / case)
        training.append({"image": f"./imagesTr/{case}", "label": f"./labelsTr/{case}"})
    for i in range(n_test):
        case = f"{facts['prefix']}_{n + i + 1:03d}.nii.gz"
        save(image_volume(None), folder / "imagesTs" / case)
        test.append(f"./imagesTs/{case}")
    if training:
        (folder / "imagesTr" / f"._{training[0]['image'].rsplit('/', 1)[1]}").write_bytes(_APPLE_DOUBLE)
    meta = {
        "name": facts["name"],
        "description": f"fake {task} for tests",
        "reference": "tests/domains/medical/medical_fakes.py",
        "licence": "CC-BY-SA 4.0",
        "release": "1.0 04/05/2018",
        "tensorImageSize": "4D" if channels > 1 else "3D",
        "modality": facts["modality"],
        "labels": facts["labels"],
        "numTraining": n,
        "numTest": n_test,
        "training": training,
        "test": test,
    }
    (folder / "dataset.json").write_text(json.dumps(meta, indent=4), encoding="utf-8")
    return folder


NNUNET_LABELS: dict[str, int | list[int]] = {
    "background": 0,
    "kidney_left": 1,
    "kidney_right": 2,
    "liver": 3,
    "kidneys": [1, 2],
}
"""The labels of :func:`make_fake_nnunet`: sides written nnU-Net style, and one region label."""


def make_fake_nnunet(
    root: str | Path,
    name: str = "Dataset042_Abdomen",
    n: int = 6,
    n_test: int = 2,
    channels: tuple[str, ...] = ("CT",),
    labels: dict[str, int | list[int]] | None = None,
    file_ending: str = ".nii.gz",
    seed: int = 0,
) -> Path:
    """Write ``root/NAME`` as nnU-Net v2 keeps a raw dataset; returns that folder.

    ``n`` cases ``case_NNN`` in ``imagesTr`` (one ``_XXXX`` file per channel) and ``labelsTr``,
    ``n_test`` in ``imagesTs``, nnU-Net's ``dataset.json`` and a macOS ``._`` twin. NIfTI
    volumes on the Decathlon fakes' rotated grid (HU-like values for a ``CT`` channel), or
    8-bit grey PNG slices for ``file_ending=".png"``.
    """
    import nibabel as nib
    import numpy as np
    from PIL import Image

    labels = dict(NNUNET_LABELS if labels is None else labels)
    values = sorted(
        {v for v in labels.values() if isinstance(v, int) and v > 0 and v != labels.get("ignore")}
    )
    rng = np.random.default_rng([seed, len(channels), len(values)])
    folder = Path(root) / name
    for sub in ("imagesTr", "labelsTr", "imagesTs"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    affine = np.array(_AFFINE)
    volumes = file_ending != ".png"

    def save(array: np.ndarray, path: Path) -> None:
        if volumes:
            nib.save(nib.Nifti1Image(array, affine), path)
        else:
            Image.fromarray(array[:, :, array.shape[2] // 2].astype(np.uint8)).save(path)

    def images(case: str, split: str, label: np.ndarray | None) -> None:
        for c, channel in enumerate(channels):
            base = rng.normal(0.0, 15.0, size=_GRID) + (0.0 if label is None else label * 60.0 / max(values))
            if channel.upper() == "CT":
                base += -900.0 * (rng.random(_GRID) < 0.2)  # air, so the values read as HU
            image = base + 40.0 + 10.0 * c
            save(
                image.clip(0, 255).astype(np.uint8) if not volumes else image.astype(np.int16),
                folder / split / f"{case}_{c:04d}{file_ending}",
            )

    for i in range(n):
        label = _msd_label(len(values), rng)
        label = np.asarray(values, dtype=np.uint8)[np.maximum(label, 1) - 1] * (label > 0)
        images(f"case_{i:03d}", "imagesTr", label)
        save(label.astype(np.uint8), folder / "labelsTr" / f"case_{i:03d}{file_ending}")
    for i in range(n_test):
        images(f"case_{n + i:03d}", "imagesTs", None)
    (folder / "imagesTr" / f"._case_000_0000{file_ending}").write_bytes(_APPLE_DOUBLE)
    meta = {
        "channel_names": {str(c): channel for c, channel in enumerate(channels)},
        "labels": labels,
        "numTraining": n,
        "file_ending": file_ending,
        "name": name,
        "description": f"fake nnU-Net dataset {name} for tests",
        "licence": "CC-BY-4.0",
    }
    (folder / "dataset.json").write_text(json.dumps(meta, indent=4), encoding="utf-8")
    return folder


def _rgb(shape: tuple[int, int], rng: np.random.Generator, tint: tuple[int, int, int]) -> np.ndarray:
    import numpy as np

    noise = rng.normal(0.0, 12.0, size=(*shape, 3))
    return np.clip(noise + np.array(tint, dtype=float), 0, 255).astype(np.uint8)


def _random_id(rng: np.random.Generator, length: int = 25) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), size=length))


def make_fake_kvasir(root: str | Path, n: int = 4, seed: int = 0) -> Path:
    """Write ``root/images/ID.jpg``, ``root/masks/ID.jpg`` and ``kavsir_bboxes.json`` (sic) as in
    ``kvasir-seg.zip``'s ``Kvasir-SEG`` folder; returns ``root``.

    Frames differ in size; masks are RGB JPEG, so their edges carry compression noise that a
    loader must binarise.
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng([seed, 11])
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    boxes: dict[str, Any] = {}
    for i in range(n):
        shape = (24 + 2 * i, 32 - i)
        name = _random_id(rng)
        polyp = _ellipse(shape, rng)
        image = _rgb(shape, rng, (190, 90, 80))
        image[polyp] = np.clip(image[polyp].astype(int) + 40, 0, 255).astype(np.uint8)
        Image.fromarray(image).save(root / "images" / f"{name}.jpg", quality=90)
        mask = np.repeat((polyp * 255).astype(np.uint8)[..., None], 3, axis=2)
        Image.fromarray(mask).save(root / "masks" / f"{name}.jpg", quality=75)
        ys, xs = np.nonzero(polyp)
        boxes[name] = {
            "height": shape[0],
            "width": shape[1],
            "bbox": [
                {
                    "label": "polyp",
                    "xmin": int(xs.min()),
                    "ymin": int(ys.min()),
                    "xmax": int(xs.max()),
                    "ymax": int(ys.max()),
                }
            ],
        }
    (root / "kavsir_bboxes.json").write_text(json.dumps(boxes), encoding="utf-8")
    return root


def make_fake_isic2018(
    root: str | Path,
    n: int = 4,
    n_validation: int = 2,
    n_test: int = 2,
    test_labels: bool = True,
    seed: int = 0,
) -> Path:
    """Write the ISIC 2018 task 1 archives as unzipped side by side in ``root``; returns ``root``.

    ``ISIC2018_Task1-2_{Training,Validation,Test}_Input/ISIC_NNNNNNN.jpg`` (with the
    ATTRIBUTION.txt and LICENSE.txt the archives carry) and
    ``ISIC2018_Task1_{...}_GroundTruth/ISIC_NNNNNNN_segmentation.png`` masks of 0/255. A split
    with zero images is not written; ``test_labels=False`` leaves out the test ground truth.
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng([seed, 2018])
    root = Path(root)
    next_id = int(rng.integers(0, 1000))
    for split, count in (("Training", n), ("Validation", n_validation), ("Test", n_test)):
        if count == 0:
            continue
        inputs = root / f"ISIC2018_Task1-2_{split}_Input"
        truth = root / f"ISIC2018_Task1_{split}_GroundTruth"
        folders = [inputs] + ([truth] if split != "Test" or test_labels else [])
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "ATTRIBUTION.txt").write_text("fake ISIC 2018 archive for tests\n", encoding="utf-8")
            (folder / "LICENSE.txt").write_text("CC-BY-NC 4.0 (fake)\n", encoding="utf-8")
        for _ in range(count):
            next_id += int(rng.integers(1, 40))
            stem = f"ISIC_{next_id:07d}"
            shape = (int(rng.integers(20, 29)), int(rng.integers(26, 33)))
            lesion = _ellipse(shape, rng, 0.35)
            image = _rgb(shape, rng, (200, 160, 140))
            image[lesion] = (image[lesion] * 0.5).astype(np.uint8)
            Image.fromarray(image).save(inputs / f"{stem}.jpg", quality=90)
            if truth in folders:
                Image.fromarray((lesion * 255).astype(np.uint8)).save(truth / f"{stem}_segmentation.png")
    return root


def make_fake_busi(root: str | Path, n: int = 3, seed: int = 0) -> Path:
    """Write ``root/Dataset_BUSI_with_GT/{benign,malignant,normal}/`` as BUSI's archive unzips.

    ``n`` images per pathology named ``"benign (N).png"`` with ``"benign (N)_mask.png"``;
    the second benign image has a second lesion in ``"benign (2)_mask_1.png"``; normal images
    have all-black masks. Images are RGB, masks 0/255 grey. Returns ``root``.
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng([seed, 780])
    base = Path(root) / "Dataset_BUSI_with_GT"
    for pathology in ("benign", "malignant", "normal"):
        folder = base / pathology
        folder.mkdir(parents=True, exist_ok=True)
        for number in range(1, n + 1):
            shape = (int(rng.integers(22, 30)), int(rng.integers(26, 34)))
            image = np.repeat(rng.integers(40, 200, size=(*shape, 1)).astype(np.uint8), 3, axis=2)
            stem = f"{pathology} ({number})"
            masks = []
            if pathology != "normal":
                masks.append(_ellipse(shape, rng, 0.2))
                if pathology == "benign" and number == 2:
                    masks.append(_ellipse(shape, rng, 0.15))
            for lesion in masks:
                image[lesion] //= 3
            Image.fromarray(image).save(folder / f"{stem}.png")
            for k, lesion in enumerate(masks or [np.zeros(shape, dtype=bool)]):
                suffix = "_mask" if k == 0 else f"_mask_{k}"
                Image.fromarray((lesion * 255).astype(np.uint8)).save(folder / f"{stem}{suffix}.png")
    return Path(root)


__all__ = ["MSD_FAKE", "make_fake_busi", "make_fake_isic2018", "make_fake_kvasir", "make_fake_msd"]
