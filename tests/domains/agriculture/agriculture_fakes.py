"""Tiny fake copies of the registered datasets, in the layout their sources ship.

Tests cannot download the real data, so each generator writes a few seeded images of a few
dozen pixels with the same folder names, file names, formats and quirks as the download:
Agriculture-Vision's separate RGB and NIR JPEGs, one binary PNG per class folder (masks that
overlap), boundaries and valid-data masks with holes, and a test split without labels;
PhenoBench's instance and visibility folders beside the semantics and its randomised test
names; the leaf-disease archive's original and augmented copies. Same seed, same files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

AV_CLASSES_2020 = (
    "cloud_shadow",
    "double_plant",
    "planter_skip",
    "standing_water",
    "waterway",
    "weed_cluster",
)
AV_CLASSES_2021 = (
    "double_plant",
    "drydown",
    "endrow",
    "nutrient_deficiency",
    "planter_skip",
    "storm_damage",
    "water",
    "waterway",
    "weed_cluster",
)


def _ellipse(shape: tuple[int, int], rng: np.random.Generator, scale: float = 0.3) -> np.ndarray:
    """A random filled ellipse, as booleans."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    cy, cx = rng.uniform(0.2, 0.8) * shape[0], rng.uniform(0.2, 0.8) * shape[1]
    ry, rx = (max(2.0, n * scale * rng.uniform(0.6, 1.0)) for n in shape)
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def _save(path: Path, array: np.ndarray, **kwargs) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)


def _field_id(rng: np.random.Generator) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    field = "".join(alphabet[i] for i in rng.integers(0, len(alphabet), size=9))
    x, y = (int(v) for v in rng.integers(0, 9000, size=2))
    return f"{field}_{x}-{y}-{x + 512}-{y + 512}"


def make_fake_agriculture_vision(
    root: str | Path,
    counts: tuple[int, int, int] = (3, 2, 2),
    classes: tuple[str, ...] = AV_CLASSES_2021,
    size: tuple[int, int] = (24, 24),
    folder: str = "Agriculture-Vision-2021",
    seed: int = 0,
) -> Path:
    """Write ``root/FOLDER/{train,val,test}`` as the Agriculture-Vision archive unpacks; returns
    ``root/FOLDER``.

    ``images/rgb/*.jpg`` (RGB) and ``images/nir/*.jpg`` (grey), ``boundaries/*.png`` (field
    boundary, 0/255, a corner outside) and ``masks/*.png`` (valid pixels, a stripe invalid) for
    every split; ``labels/<class>/*.png`` (0/255, one file per class per image, empty where the
    class is absent; the first two classes overlap) for train and val. File names follow
    ``FIELDID_x1-y1-x2-y2``.
    """
    rng = np.random.default_rng([seed, 2020])
    base = Path(root) / folder
    h, w = size
    base.parent.mkdir(parents=True, exist_ok=True)
    (base.parent / "Agriculture-Vision Workshop Terms and Conditions.pdf").write_bytes(b"%PDF-1.4 fake\n")
    for split, count in zip(("train", "val", "test"), counts, strict=True):
        for i in range(count):
            stem = _field_id(rng)
            rgb = np.clip(rng.normal((110, 130, 90), 20, size=(h, w, 3)), 0, 255).astype(np.uint8)
            nir = np.clip(rng.normal(150, 25, size=(h, w)), 0, 255).astype(np.uint8)
            _save(base / split / "images" / "rgb" / f"{stem}.jpg", rgb, quality=90)
            _save(base / split / "images" / "nir" / f"{stem}.jpg", nir, quality=90)
            boundary = np.full((h, w), 255, np.uint8)
            boundary[: h // 4, : w // 4] = 0  # a corner outside the field
            valid = np.full((h, w), 255, np.uint8)
            valid[:, -max(1, w // 8) :] = 0  # a stripe of no data
            _save(base / split / "boundaries" / f"{stem}.png", boundary)
            _save(base / split / "masks" / f"{stem}.png", valid)
            if split == "test":
                continue
            first = _ellipse((h, w), rng, 0.35)
            for k, name in enumerate(classes):
                if k == 0:
                    on = first
                elif k == 1:  # overlaps the first class on purpose
                    on = np.roll(first, (h // 6, w // 6), axis=(0, 1))
                else:  # each other class in every third image, so every class occurs
                    on = _ellipse((h, w), rng, 0.2) if (k + i) % 3 == 0 else np.zeros((h, w), bool)
                _save(base / split / "labels" / name / f"{stem}.png", on.astype(np.uint8) * 255)
    return base


_PHENOBENCH_DATES = ("05-15", "05-26", "06-05")


def make_fake_phenobench(
    root: str | Path, counts: tuple[int, int, int] = (3, 2, 2), size: int = 32, seed: int = 0
) -> Path:
    """Write ``root/PhenoBench/{train,val,test}`` as PhenoBench unzips; returns ``root/PhenoBench``.

    RGB PNG images; for train and val, ``semantics/`` (0 soil, 1 crop, 2 weed, 3 partial
    crop, 4 partial weed), ``plant_instances/``, ``leaf_instances/``, ``plant_visibility/`` and
    ``leaf_visibility/`` with the same names (``DATE_NNNNN_PNNNNNNN.png``); test images only,
    with randomised names (``phenoBench_NNNNN.png``).
    """
    rng = np.random.default_rng([seed, 2023])
    base = Path(root) / "PhenoBench"
    for split, count in zip(("train", "val", "test"), counts, strict=True):
        for i in range(count):
            if split == "test":
                name = f"phenoBench_{i:05d}.png"
            else:
                date = _PHENOBENCH_DATES[int(rng.integers(len(_PHENOBENCH_DATES)))]
                name = f"{date}_{int(rng.integers(0, 99999)):05d}_P{int(rng.integers(0, 9999999)):07d}.png"
            image = np.clip(rng.normal((120, 100, 80), 15, size=(size, size, 3)), 0, 255).astype(np.uint8)
            semantics = np.zeros((size, size), np.uint8)
            instances = np.zeros((size, size), np.uint16)
            yy, xx = np.mgrid[:size, :size]
            for k, value in enumerate((1, 2, 1, 3, 4)):  # crops, a weed, and two plants cut by the border
                if value in (3, 4):
                    cy, r = rng.uniform(0.2, 0.8) * size, size * 0.15
                    plant = (yy - cy) ** 2 + (xx - (0 if value == 3 else size - 1)) ** 2 <= r**2
                else:
                    plant = _ellipse((size, size), rng, 0.12)
                semantics[plant] = value
                instances[plant] = k + 1
                image[plant] = (40, 150, 50) if value in (1, 3) else (90, 160, 40)
            _save(base / split / "images" / name, image)
            if split == "test":
                continue
            _save(base / split / "semantics" / name, semantics)
            _save(base / split / "plant_instances" / name, instances)
            _save(base / split / "leaf_instances" / name, instances)
            _save(base / split / "plant_visibility" / name, (semantics > 0).astype(np.uint8) * 255)
            _save(base / split / "leaf_visibility" / name, (semantics > 0).astype(np.uint8) * 255)
    return base


def make_fake_leaf_disease(
    root: str | Path, n: int = 12, augmented: int = 2, size: int = 28, seed: int = 0
) -> Path:
    """Write ``root/data/data/{images,masks}`` (``NNNNN.jpg`` / ``NNNNN.png``) and
    ``root/aug_data/aug_data/{images,masks}`` (``NNNNN_K.jpg`` / ``NNNNN_K.png``, ``augmented``
    flipped copies of each) as the Kaggle archive unzips; returns ``root``. Masks are 0/255
    grey PNGs; a few images have no lesion at all."""
    rng = np.random.default_rng([seed, 588])
    root = Path(root)
    for i in range(n):
        image = np.clip(rng.normal((60, 140, 50), 12, size=(size, size, 3)), 0, 255).astype(np.uint8)
        lesion = _ellipse((size, size), rng, 0.2) if i % 5 != 4 else np.zeros((size, size), bool)
        image[lesion] = (150, 90, 40)
        mask = lesion.astype(np.uint8) * 255
        _save(root / "data" / "data" / "images" / f"{i:05d}.jpg", image, quality=92)
        _save(root / "data" / "data" / "masks" / f"{i:05d}.png", mask)
        for k in range(augmented):
            flip = (
                (slice(None), slice(None, None, -1)) if k % 2 == 0 else (slice(None, None, -1), slice(None))
            )
            _save(root / "aug_data" / "aug_data" / "images" / f"{i:05d}_{k}.jpg", image[flip], quality=92)
            _save(root / "aug_data" / "aug_data" / "masks" / f"{i:05d}_{k}.png", mask[flip])
    return root


__all__ = [
    "AV_CLASSES_2020",
    "AV_CLASSES_2021",
    "make_fake_agriculture_vision",
    "make_fake_leaf_disease",
    "make_fake_phenobench",
]
