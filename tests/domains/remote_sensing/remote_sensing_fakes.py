"""Tiny fake copies of the registered remote-sensing datasets, in the layouts their sources ship.

Tests cannot download LoveDA, Inria or DeepGlobe, so each generator writes a few seeded
images of a few dozen pixels with the real folder names, file names, formats and quirks:
LoveDA's 0-7 masks with a no-data corner and a withheld Test split, Inria's GeoTIFF tiles
(RGB images, one-band 0/255 ground truth) in a projected CRS with 0.3 m pixels, DeepGlobe's
colour masks whose values are not exact, plus the macOS ``._`` twins and side files that
real downloads carry. A loader that indexes these will index the real thing. Same seed,
same files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

INRIA_PLACES: dict[str, tuple[int, float, float]] = {
    "austin": (26914, 616500.0, 3345000.0),
    "chicago": (26916, 440000.0, 4640000.0),
    "kitsap": (26910, 520000.0, 5280000.0),
    "tyrol-w": (32632, 620000.0, 5220000.0),
    "vienna": (32633, 600000.0, 5340000.0),
    "bellingham": (26910, 535000.0, 5400000.0),
    "bloomington": (26916, 540000.0, 4335000.0),
    "innsbruck": (32632, 680000.0, 5240000.0),
    "sfo": (26910, 550000.0, 4180000.0),
    "tyrol-e": (32633, 330000.0, 5190000.0),
}
"""Place → (EPSG code, easting, northing of tile 1's corner). Austin's values are those of
TorchGeo's Inria fixture (NAD83 / UTM 14N); the others are the UTM zone and rough position
of the place, not read from the real tiles."""

INRIA_PIXEL = 0.3
INRIA_TILE_METRES = 1500.0
_APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        "


def _blobs(shape: tuple[int, int], rng: np.random.Generator, n: int, size: tuple[int, int]) -> np.ndarray:
    """``n`` random axis-aligned rectangles (roofs) as booleans."""
    import numpy as np

    mask = np.zeros(shape, bool)
    for _ in range(n):
        h, w = (int(rng.integers(size[0], size[1] + 1)) for _ in range(2))
        y, x = int(rng.integers(0, shape[0] - h)), int(rng.integers(0, shape[1] - w))
        mask[y : y + h, x : x + w] = True
    return mask


def _class_bands(shape: tuple[int, int], values: list[int], rng: np.random.Generator) -> np.ndarray:
    """A label map in which every value of ``values`` holds a band of rows (shuffled order)."""
    import numpy as np

    order = rng.permutation(values)
    edges = np.linspace(0, shape[0], len(order) + 1).astype(int)
    label = np.zeros(shape, np.uint8)
    for value, top, bottom in zip(order, edges[:-1], edges[1:], strict=True):
        label[top:bottom] = value
    return label


def _rgb_for(label: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An RGB image whose colour depends on the label (so a model could learn it), with noise."""
    import numpy as np

    palette = rng.integers(30, 226, size=(256, 3))
    noise = rng.normal(0, 8, size=(*label.shape, 3))
    return np.clip(palette[label] + noise, 0, 255).astype(np.uint8)


def make_fake_loveda(root: str | Path, n: int = 2, size: int = 32, seed: int = 0) -> Path:
    """Write ``root/{Train,Val,Test}/{Urban,Rural}/images_png/N.png`` (+ ``masks_png`` for Train/Val).

    ``n`` images per split and scene, RGB PNG; masks are one-band PNG with every value 1-7 and
    a no-data (0) corner, as LoveDA's. Test has no masks (the authors withhold them). One
    ``._N.png`` AppleDouble twin lies in Train/Urban/images_png. Returns ``root``.
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng([seed, 2021])
    root = Path(root)
    number = int(rng.integers(0, 500))
    for split in ("Train", "Val", "Test"):
        for scene in ("Urban", "Rural"):
            images = root / split / scene / "images_png"
            images.mkdir(parents=True, exist_ok=True)
            for _ in range(n):
                number += int(rng.integers(1, 9))
                label = _class_bands((size, size), list(range(1, 8)), rng)
                label[: size // 4, : size // 4] = 0  # a no-data corner
                Image.fromarray(_rgb_for(label, rng)).save(images / f"{number}.png")
                if split != "Test":
                    masks = root / split / scene / "masks_png"
                    masks.mkdir(exist_ok=True)
                    Image.fromarray(label).save(masks / f"{number}.png")
    first = sorted((root / "Train" / "Urban" / "images_png").iterdir())[0]
    (first.parent / f"._{first.name}").write_bytes(_APPLE_DOUBLE)
    return root


def _write_geotiff(path: Path, bands: np.ndarray, epsg: int, west: float, north: float) -> None:
    import rasterio
    from affine import Affine

    count, height, width = bands.shape
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=height,
        width=width,
        count=count,
        dtype=bands.dtype,
        crs=f"EPSG:{epsg}",
        transform=Affine(INRIA_PIXEL, 0.0, west, 0.0, -INRIA_PIXEL, north),
    ) as dst:
        dst.write(bands)


def make_fake_inria(
    root: str | Path,
    places: tuple[str, ...] = ("austin", "tyrol-w"),
    tiles: tuple[int, ...] = (1, 6, 7),
    test_places: tuple[str, ...] = ("bellingham", "innsbruck"),
    size: int = 40,
    seed: int = 0,
) -> Path:
    """Write ``root/AerialImageDataset/{train/images,train/gt,test/images}/PLACEN.tif``; returns that folder.

    Images are 3-band uint8 GeoTIFF, ground truth 1-band uint8 with 255 on roofs, both in the
    place's projected CRS (:data:`INRIA_PLACES`) with 0.3 m pixels; tile N lies N-1 tile
    widths (1500 m) east of tile 1, as adjacent real tiles would. Test tiles have no ground truth.
    """
    import numpy as np

    rng = np.random.default_rng([seed, 2017])
    base = Path(root) / "AerialImageDataset"
    for sub in ("train/images", "train/gt", "test/images"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    jobs = [(p, t, "train") for p in places for t in tiles] + [(p, 1, "test") for p in test_places]
    for place, tile, split in jobs:
        epsg, west, north = INRIA_PLACES[place]
        west += (tile - 1) * INRIA_TILE_METRES
        roofs = _blobs((size, size), rng, 4, (4, 10))
        image = _rgb_for(roofs.astype(np.uint8), rng).transpose(2, 0, 1)
        name = f"{place}{tile}.tif"
        _write_geotiff(base / split / "images" / name, image, epsg, west, north)
        if split == "train":
            _write_geotiff(
                base / "train" / "gt" / name, (roofs * 255).astype(np.uint8)[None], epsg, west, north
            )
    return base


DEEPGLOBE_CLASS_DICT = (
    "name,r,g,b\n"
    "urban_land,0,255,255\n"
    "agriculture_land,255,255,0\n"
    "rangeland,255,0,255\n"
    "forest_land,0,255,0\n"
    "water,0,0,255\n"
    "barren_land,255,255,255\n"
    "unknown,0,0,0\n"
)


def make_fake_deepglobe(
    root: str | Path, n: int = 5, n_valid: int = 1, n_test: int = 1, size: int = 32, seed: int = 0
) -> Path:
    """Write DeepGlobe Land Cover laid out like the Kaggle copy: ``train/ID_sat.jpg`` + ``train/ID_mask.png``,
    ``valid/`` and ``test/`` with images only, ``class_dict.csv`` and a ``metadata.csv``; returns ``root``.

    IDs are random integers of different lengths (so name order and number order differ). The
    masks use the seven class colours with every channel nudged up to 12 levels off 0/255,
    as the challenge warns ("values may not be pure 0 and 255"), and every class appears.
    """
    import numpy as np
    from PIL import Image

    from genseg_remote_sensing.datasets import DEEPGLOBE_COLOURS

    rng = np.random.default_rng([seed, 2018])
    root = Path(root)
    colours = np.array(list(DEEPGLOBE_COLOURS.values()), dtype=np.int16)
    rows = ["image_id,split,sat_image_path,mask_path"]
    ids = rng.choice(np.arange(100, 999_999), size=n + n_valid + n_test, replace=False)
    for i, image_id in enumerate(ids):
        split = "train" if i < n else "valid" if i < n + n_valid else "test"
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        classes = _class_bands((size, size), list(range(len(colours))), rng)
        Image.fromarray(_rgb_for(classes, rng)).save(folder / f"{image_id}_sat.jpg", quality=90)
        mask_path = ""
        if split == "train":
            off = rng.integers(0, 13, size=(size, size, 3))
            mask = np.where(colours[classes] > 127, colours[classes] - off, colours[classes] + off)
            Image.fromarray(mask.astype(np.uint8)).save(folder / f"{image_id}_mask.png")
            mask_path = f"{split}/{image_id}_mask.png"
        rows.append(f"{image_id},{split},{split}/{image_id}_sat.jpg,{mask_path}")
    (root / "class_dict.csv").write_text(DEEPGLOBE_CLASS_DICT, encoding="utf-8")
    (root / "metadata.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


__all__ = ["INRIA_PLACES", "make_fake_deepglobe", "make_fake_inria", "make_fake_loveda"]
