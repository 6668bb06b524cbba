"""genseg's own generated sample dataset, and the bookkeeping every generated sample shares.

``shapes``: coloured circles, squares and triangles on real photographed textures
(skimage's grass, gravel and brick). Every image holds several objects of different
classes on two texture regions, so the prompt has to choose. The domain plugins generate
their own samples (the medical plugin's MNI152 slices) with :func:`begin_generation` and
:func:`up_to_date`, and register them through ``genseg_register_sample_data``.

Generators are idempotent: the parameters are recorded under ``generator`` in
dataset.json, which is written last, so an interrupted run never looks finished.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from genseg.data.readers import write_image_png, write_png_mask
from genseg.data.schema import ClassSpec, DatasetEntry, DatasetSpec, load_dataset_spec, write_dataset_spec

GENERATOR_VERSION = 1


def up_to_date(root: Path, params: dict[str, Any]) -> bool:
    """Whether ``root`` holds a generation made with exactly ``params`` (its dataset.json says so)."""
    if not (root / "dataset.json").is_file():
        return False
    try:
        return load_dataset_spec(root).generator == params
    except Exception:  # a broken or foreign dataset.json is regenerated
        return False


def begin_generation(root: Path, params: dict[str, Any]) -> bool:
    """False when `root` already holds this generation; else clears its dataset.json and
    makes the folders. dataset.json is written last, so a half-written dataset never looks done."""
    if up_to_date(root, params):
        return False
    (root / "dataset.json").unlink(missing_ok=True)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    return True


# ---------------------------------------------------------------------------- shapes

COLOURS = {"red": (0.85, 0.12, 0.1), "green": (0.12, 0.7, 0.15), "blue": (0.12, 0.25, 0.88)}
SHAPES = ("circle", "square", "triangle")
TEXTURES = {"grass": (0.55, 0.62, 0.35), "gravel": (0.62, 0.6, 0.56), "brick": (0.66, 0.45, 0.35)}
_SHAPE_WORDS = {
    "circle": ["disc", "disk", "round shape"],
    "square": ["box", "square shape"],
    "triangle": ["triangle shape", "three-sided shape"],
}


def shapes_classes() -> dict[str, ClassSpec]:
    classes = {}
    for ci, colour in enumerate(COLOURS):
        for si, shape in enumerate(SHAPES):
            syn = [f"the {colour} {shape}", f"a {shape} that is {colour}"]
            syn += [f"{colour} {w}" for w in _SHAPE_WORDS[shape]]
            classes[str(ci * 3 + si + 1)] = ClassSpec(name=f"{colour} {shape}", synonyms=syn)
    for ti, tex in enumerate(TEXTURES):
        syn = {
            "grass": ["grassy area", "lawn", "grass texture"],
            "gravel": ["gravel area", "pebbles", "stones"],
            "brick": ["brick wall", "bricks", "brickwork"],
        }[tex]
        classes[str(10 + ti)] = ClassSpec(name=tex, synonyms=syn)
    return classes


def _texture_bank() -> dict[str, np.ndarray]:
    from skimage import data

    return {name: getattr(data, name)().astype(np.float32) / 255.0 for name in TEXTURES}


def _texture_patch(bank: dict[str, np.ndarray], name: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random crop at a random scale, flipped at random, normalised to mean 0.5."""
    from skimage.transform import resize

    src = bank[name]
    crop = int(rng.integers(size, min(src.shape) + 1))
    y, x = rng.integers(0, src.shape[0] - crop + 1), rng.integers(0, src.shape[1] - crop + 1)
    patch = resize(src[y : y + crop, x : x + crop], (size, size), anti_aliasing=True)
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    if rng.random() < 0.5:
        patch = patch.T
    return np.clip(0.5 + (patch - patch.mean()) * 0.9, 0, 1)


def _shape_mask(
    shape: str, size: int, centre: tuple[float, float], radius: float, angle: float
) -> np.ndarray:
    from skimage.draw import disk, polygon

    mask = np.zeros((size, size), bool)
    if shape == "circle":
        rr, cc = disk(centre, radius, shape=mask.shape)
    else:
        n = 4 if shape == "square" else 3
        r = radius * (1.25 if shape == "square" else 1.3)  # similar areas across shapes
        a = angle + np.arange(n) * 2 * np.pi / n
        rr, cc = polygon(centre[0] + r * np.sin(a), centre[1] + r * np.cos(a), shape=mask.shape)
    mask[rr, cc] = True
    return mask


def make_shapes_image(
    rng: np.random.Generator, bank: dict[str, np.ndarray], size: int
) -> tuple[np.ndarray, np.ndarray]:
    """One image and its label map: two texture regions and 2–4 objects of distinct classes."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32) / size
    tex_a, tex_b = rng.choice(list(TEXTURES), size=2, replace=False)
    angle = rng.uniform(0, np.pi)
    wave = 0.06 * np.sin(2 * np.pi * rng.uniform(0.5, 1.5) * (yy * np.cos(angle) - xx * np.sin(angle)))
    side = (yy - 0.5) * np.sin(angle) + (xx - 0.5) * np.cos(angle) + rng.uniform(-0.2, 0.2) + wave > 0
    image = np.zeros((size, size, 3), np.float32)
    label = np.zeros((size, size), np.uint8)
    names = list(TEXTURES)
    for region, tex in ((~side, tex_a), (side, tex_b)):
        patch = _texture_patch(bank, tex, size, rng)
        tint = np.array(TEXTURES[tex]) * rng.uniform(0.9, 1.1, 3)
        image[region] = (patch[region, None] * 2 * tint).clip(0, 1)
        label[region] = 10 + names.index(tex)
    n_obj = int(rng.integers(2, 5))
    classes = rng.choice(9, size=n_obj, replace=False)
    for cls in classes:
        colour, shape = list(COLOURS)[cls // 3], SHAPES[cls % 3]
        for _ in range(20):  # find a place where most of the object stays visible
            radius = rng.uniform(0.075, 0.175) * size
            centre = (rng.uniform(radius, size - radius), rng.uniform(radius, size - radius))
            mask = _shape_mask(shape, size, centre, radius, rng.uniform(0, 2 * np.pi))
            if (label[mask] < 10).mean() < 0.3:
                break
        shade = 0.75 + 0.5 * (_texture_patch(bank, str(rng.choice(names)), size, rng) - 0.5)
        rgb = np.clip(np.array(COLOURS[colour]) + rng.uniform(-0.07, 0.07, 3), 0, 1)
        image[mask] = np.clip(shade[mask, None] * rgb, 0, 1)
        label[mask] = cls + 1
    return image, label


def make_shapes_dataset(
    root: Path, seed: int = 0, n_train: int = 400, n_val: int = 40, n_test: int = 80, size: int = 128
) -> Path:
    """Write the shapes-on-textures dataset under `root`."""
    root = Path(root)
    params = {
        "kind": "shapes",
        "version": GENERATOR_VERSION,
        "seed": seed,
        "n_train": n_train,
        "n_val": n_val,
        "n_test": n_test,
        "size": size,
    }
    if not begin_generation(root, params):
        return root
    bank = _texture_bank()
    splits: dict[str, list[DatasetEntry]] = {}
    for split, count, offset in (("training", n_train, 0), ("validation", n_val, 1), ("test", n_test, 2)):
        rng = np.random.default_rng([seed, offset])
        entries = []
        for i in range(count):
            image, label = make_shapes_image(rng, bank, size)
            name = f"{split}_{i:04d}.png"
            write_image_png(root / "images" / name, image)
            write_png_mask(root / "labels" / name, label)
            entries.append(DatasetEntry(image=f"images/{name}", label=f"labels/{name}"))
        splits[split] = entries
    spec = DatasetSpec(
        name="shapes",
        domain="generic",
        description=(
            "Red/green/blue circles, squares and triangles shaded by real textures, on two regions of "
            "photographed grass, gravel or brick (skimage.data). 2-4 objects of distinct classes per "
            "image, so the prompt must choose. Splits are drawn from independent seeded streams."
        ),
        license="textures: scikit-image sample data (public domain / CC0 as listed in skimage.data)",
        classes=shapes_classes(),
        generator=params,
        **splits,
    )
    write_dataset_spec(root, spec)
    return root


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the generated shapes dataset.")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(make_shapes_dataset(args.output / "shapes", seed=args.seed))


if __name__ == "__main__":
    main()
