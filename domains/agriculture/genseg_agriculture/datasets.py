"""Loaders of the agricultural datasets the plugin registers (cards in ``data/datasets.json``).

Each loader takes the folder where the user unpacked a dataset as its source ships it,
checks the files, and writes genseg's ``dataset.json`` into the index folder
``data_dir()/_index/NAME`` (see :mod:`genseg.plugins.dataset_index`); the user's folder is
never written to. The generated sample datasets are written in the layout of a real one
and indexed by that dataset's loader, so the loaders run on every sample-data download.
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
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
    read_binary_mask,
    split_every_tenth,
    stale,
    visible_files,
    write_png_label,
)

if TYPE_CHECKING:
    import numpy as np

    from genseg.plugins.api import DatasetEntry

_DATASETS = PluginDatasets("genseg_agriculture", "agriculture")
_SPLITS = (("training", "train"), ("validation", "val"), ("test", "test"))
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")


def _candidates(root: Path) -> list[Path]:
    """``root`` and the folders directly inside it (archives often unpack into one more folder)."""
    if not root.is_dir():
        return []
    return [root, *sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name))]


# --- Agriculture-Vision ---------------------------------------------------------------------

AV_NAME = "agriculture-vision"


def av_vocabulary_name(folder: str) -> str | None:
    """The vocabulary term a label folder stands for (by the term's Agriculture-Vision code,
    else by its words), or None when the vocabulary does not know it."""
    vocabulary = _DATASETS.vocabulary
    for term in vocabulary.terms:
        codes = term.codes.get("Agriculture-Vision", "")
        if folder in (c.strip() for c in codes.split(",")):
            return term.name
    term = vocabulary.lookup(folder.replace("_", " "))
    return term.name if term else None


def _av_base(root: Path) -> Path | None:
    for base in _candidates(root):
        if any((base / split / "images" / "rgb").is_dir() for _, split in _SPLITS):
            return base
    return None


def _av_classes(base: Path) -> tuple[list[str], dict[str, str], set[str]]:
    """Class names in bit order, label folder → class name, and the names the vocabulary lacks."""
    folders: set[str] = set()
    for _, split in _SPLITS:
        labels = base / split / "labels"
        if labels.is_dir():
            folders |= {p.name for p in labels.iterdir() if p.is_dir() and not p.name.startswith(".")}
    to_class: dict[str, str] = {}
    unknown: set[str] = set()
    for folder in sorted(folders):
        known = av_vocabulary_name(folder)
        if known is None:
            warnings.warn(
                f"{base}/*/labels/{folder}: class folder {folder!r} is not in the agriculture vocabulary; "
                f"indexed as class {folder!r} (prompt it by that name)",
                UserWarning,
                stacklevel=3,
            )
            unknown.add(folder)
        to_class[folder] = known or folder
    order = [term.name for term in _DATASETS.vocabulary.terms]
    names = sorted(set(to_class.values()), key=lambda n: (order.index(n) if n in order else len(order), n))
    return names, to_class, unknown


def av_class_values(bit: int, n_classes: int) -> list[int]:
    """The label values in which class number ``bit`` (0-based) is on: every combination holding it."""
    return [v for v in range(1, 2**n_classes) if v >> bit & 1]


def _read_valid(base: Path, split: str, image: Path, size: tuple[int, int]) -> np.ndarray:
    """Pixels inside the field boundary and the valid-data mask (both must exist)."""
    boundary = base / split / "boundaries" / f"{image.stem}.png"
    mask = base / split / "masks" / f"{image.stem}.png"
    return read_binary_mask(boundary, size, image) & read_binary_mask(mask, size, image)


def _av_label(base: Path, split: str, image: Path, folders: dict[str, int]) -> np.ndarray:
    """One label map: bit k set where class k's mask is on, 0 outside the valid region."""
    import numpy as np

    size = image_size(image)
    valid = _read_valid(base, split, image, size)
    label = np.zeros((size[1], size[0]), dtype=np.uint16)
    for folder, bit in folders.items():
        on = read_binary_mask(base / split / "labels" / folder / f"{image.stem}.png", size, image)
        label[on & valid] |= np.uint16(1 << bit)
    return label


def _check_av_files(base: Path, split: str, images: list[Path], folders: list[str]) -> None:
    """Every image has its NIR partner and, where labels are derived, its boundary, mask and
    one mask per class folder."""
    from genseg_agriculture.readers import nir_partner

    subs = ("boundaries", "masks") if folders else ()
    needed = [base / split / sub / f"{img.stem}.png" for img in images for sub in subs]
    needed += [base / split / "labels" / f / f"{img.stem}.png" for img in images for f in folders]
    missing = [p for p in needed if not p.is_file()]
    missing += [base / split / "images" / "nir" / img.name for img in images if nir_partner(img) is None]
    if missing:
        raise missing_files(
            f"an Agriculture-Vision {split} file is missing",
            missing,
            "unpack the archive again: every images/rgb/NAME.jpg has images/nir/NAME.jpg, "
            "boundaries/NAME.png, masks/NAME.png and labels/<class>/NAME.png",
        )


def _class_values(classes: Any) -> Any:
    """What the label maps encode: each class's name and values (synonyms do not matter)."""
    if not isinstance(classes, dict):
        return None
    return {k: (c.get("name"), c.get("values")) for k, c in classes.items() if isinstance(c, dict)}


def _previous_classes(folder: Path) -> Any:
    try:
        return json.loads((folder / "dataset.json").read_text(encoding="utf-8")).get("classes")
    except (OSError, ValueError, AttributeError):
        return None


def load_agriculture_vision(root: str | Path) -> Path:
    """Index Agriculture-Vision (``{train,val,test}/images/{rgb,nir}``, ``labels/<class>/``,
    ``boundaries/``, ``masks/``), the folder itself or the one it unpacks into.

    The per-class binary masks may overlap, so they are merged without loss: the index's label
    map sets bit k (value 2**k) where class k is present, and class k covers every value with
    that bit. Pixels outside the field boundary or the valid mask get 0 in every class. Bits
    follow the vocabulary's order; an unknown label folder is kept under its own name, with a
    warning. The official train / val / test splits are kept; test has no labels.
    """
    import numpy as np

    root = absolute(root)
    base = _av_base(root)
    if base is None:
        raise _DATASETS.not_found(
            AV_NAME,
            root,
            "no train/, val/ or test/ folder with images/rgb/ here",
            "unpack it (tar -xzf Agriculture-Vision-2021.tar.gz) so that this folder, or the one it "
            "creates, holds train/images/rgb/",
        )
    names, to_class, unknown = _av_classes(base)
    bits = {name: k for k, name in enumerate(names)}
    classes = {}
    for k, name in enumerate(names):
        classes[str(k + 1)] = _DATASETS.class_spec(name, av_class_values(k, len(names)))
        if name in unknown and "_" in name:  # a folder name: also accept it spelled with spaces
            classes[str(k + 1)]["synonyms"] = [name.replace("_", " ")]
    index = _DATASETS.prepare_index(AV_NAME, base, derived=True)
    if _class_values(_previous_classes(index)) != _class_values(classes) and (index / "labels").exists():
        shutil.rmtree(index / "labels")  # other classes, other bits: every label map is rebuilt
    splits: dict[str, list[DatasetEntry]] = {"training": [], "validation": [], "test": []}
    for split_name, split in _SPLITS:
        rgb = base / split / "images" / "rgb"
        if not rgb.is_dir():
            continue
        images = visible_files(rgb, _IMAGE_SUFFIXES)
        labels = base / split / "labels"
        folders = sorted(p.name for p in labels.iterdir() if p.is_dir()) if labels.is_dir() else []
        folders = [f for f in folders if f in to_class]
        _check_av_files(base, split, images, folders)
        for image in images:
            if not folders:
                splits[split_name].append(DatasetEntry(image=str(image)))
                continue
            sources = [base / split / sub / f"{image.stem}.png" for sub in ("boundaries", "masks")]
            sources += [labels / f / f"{image.stem}.png" for f in folders]
            target = index / "labels" / split / f"{image.stem}.png"
            if stale(target, [image, *sources]):
                label = _av_label(base, split, image, {f: bits[to_class[f]] for f in folders})
                write_png_label(target, label.astype(np.uint8) if len(names) <= 8 else label)
            splits[split_name].append(DatasetEntry(image=str(image), label=str(target.relative_to(index))))
    if not any(splits.values()):
        raise _DATASETS.not_found(
            AV_NAME, base, "the split folders hold no images", "unpack the archive again"
        )
    return _DATASETS.write_index(AV_NAME, base, index, classes, splits)


# --- PhenoBench -----------------------------------------------------------------------------

PHENOBENCH_CLASSES = {
    "1": ("crop", [1, 3]),
    "2": ("weed", [2, 4]),
    "3": ("plant", [1, 2, 3, 4]),
}
"""Index class → (vocabulary name, semantics values). Partial plants (3, 4: cut by the image
border) count as crop and weed, as PhenoBench's own semantic-segmentation evaluation does."""


def _phenobench_base(root: Path) -> Path | None:
    for base in [*_candidates(root), root / "PhenoBench"]:
        if any((base / split / "images").is_dir() for _, split in _SPLITS):
            return base
    return None


def index_phenobench(name: str, root: str | Path) -> Path:
    """Index a PhenoBench-layout folder (``{train,val,test}/images`` + ``semantics``) as ``name``.

    Semantics maps are used where they lie (values 0 soil, 1 crop, 2 weed, 3 partial crop,
    4 partial weed); a split without semantics (PhenoBench's test set) is listed unlabelled.
    """

    root = absolute(root)
    base = _phenobench_base(root)
    if base is None:
        raise _DATASETS.not_found(
            name,
            root,
            "no train/images, val/images or test/images folder here",
            "unzip it so that this folder (or its PhenoBench/ folder) holds train/, val/ and test/",
        )
    splits: dict[str, list[DatasetEntry]] = {"training": [], "validation": [], "test": []}
    for split_name, split in _SPLITS:
        folder = base / split / "images"
        if not folder.is_dir():
            continue
        semantics = base / split / "semantics"
        images = visible_files(folder, (".png",))
        if not semantics.is_dir():
            splits[split_name] += [DatasetEntry(image=str(image)) for image in images]
            continue
        missing = [semantics / image.name for image in images if not (semantics / image.name).is_file()]
        if missing:
            raise missing_files(
                f"a {split} image has no semantics map",
                missing,
                "unzip the archive again: every images/NAME.png has semantics/NAME.png",
            )
        for image in images:
            label = semantics / image.name
            if image_size(label) != image_size(image):
                w, h = image_size(label)
                iw, ih = image_size(image)
                raise DatasetError(
                    f"semantics map is {w}×{h} but its image is {iw}×{ih}",
                    path=label,
                    fix="unzip the archive again: each map must be drawn on its own image",
                )
            splits[split_name].append(DatasetEntry(image=str(image), label=str(label)))
    if not any(splits.values()):
        raise _DATASETS.not_found(
            name, base, "the split folders hold no PNG images", "unzip the archive again"
        )
    classes = {k: _DATASETS.class_spec(n, values) for k, (n, values) in PHENOBENCH_CLASSES.items()}
    index = _DATASETS.prepare_index(name, base, derived=False)
    return _DATASETS.write_index(name, base, index, classes, splits)


def load_phenobench(root: str | Path) -> Path:
    """Index PhenoBench (``train/``, ``val/``, ``test/``, or their ``PhenoBench/`` parent)."""
    return index_phenobench("phenobench", root)


# --- leaf disease (images + masks) ----------------------------------------------------------

_LEAF_FOLDERS = ("", "data/data", "data", "aug_data/aug_data", "aug_data")
_AUGMENTED = re.compile(r"^(\d+)_(\d+)$")


def _leaf_base(root: Path) -> Path | None:
    for sub in _LEAF_FOLDERS:
        base = root / sub if sub else root
        if (base / "images").is_dir() and (base / "masks").is_dir():
            return base
    return None


def leaf_group(stem: str) -> str:
    """Augmented copies ``00012_3`` share the group of their original ``00012``."""
    match = _AUGMENTED.match(stem)
    return match.group(1) if match else stem


def index_leaf_disease(name: str, root: str | Path) -> Path:
    """Index a leaf-disease folder (``images/`` + ``masks/`` paired by file stem) as ``name``.

    Masks are binarised at grey level 128 into lossless PNG label maps (1 = lesion) in the
    index folder. Splits are by group (an image and its augmented copies stay together): in
    name order every 10th group from the first is test, the one after it validation.
    """
    import numpy as np

    root = absolute(root)
    base = _leaf_base(root)
    images = visible_files(base / "images", _IMAGE_SUFFIXES) if base else []
    if base is None or not images:
        raise _DATASETS.not_found(
            name,
            root,
            "no images/ and masks/ folders with leaf images here",
            "unzip it so that this folder, data/data/ or aug_data/aug_data/ holds images/ and masks/",
        )
    masks = {p.stem: p for p in visible_files(base / "masks", _IMAGE_SUFFIXES)}
    missing = [base / "masks" / f"{image.stem}.png" for image in images if image.stem not in masks]
    if missing:
        raise missing_files(
            "a leaf image has no mask",
            missing,
            "unzip the archive again: every images/NAME has masks/NAME.png",
        )
    index = _DATASETS.prepare_index(name, base, derived=True)
    groups = {g: i for i, g in enumerate(sorted({leaf_group(p.stem) for p in images}, key=natural_key))}
    splits: dict[str, list[DatasetEntry]] = {"training": [], "validation": [], "test": []}
    for image in images:
        mask = masks[image.stem]
        label = index / "labels" / f"{image.stem}.png"
        if stale(label, [mask]):
            write_png_label(label, read_binary_mask(mask, image_size(image), image).astype(np.uint8))
        entry = DatasetEntry(image=str(image), label=str(label.relative_to(index)))
        splits[split_every_tenth(groups[leaf_group(image.stem)])].append(entry)
    return _DATASETS.write_index(name, base, index, {"1": _DATASETS.class_spec("lesion")}, splits)


def load_leaf_disease(root: str | Path) -> Path:
    """Index the leaf disease segmentation dataset (original ``data/data`` preferred)."""
    return index_leaf_disease("leaf-disease", root)


# --- generated sample datasets ---------------------------------------------------------------


def load_field_scenes(root: str | Path) -> Path:
    """Generate the field scenes under ``root`` (once) in the PhenoBench layout and index them."""
    from genseg_agriculture.sample_data import make_field_scenes

    return index_phenobench("field-scenes", make_field_scenes(root))


def load_leaf_lesions(root: str | Path) -> Path:
    """Generate the diseased leaves under ``root`` (once) in the leaf-disease layout and index them."""
    from genseg_agriculture.sample_data import make_leaf_lesions

    return index_leaf_disease("leaf-lesions", make_leaf_lesions(root))


__all__ = [
    "PHENOBENCH_CLASSES",
    "av_class_values",
    "av_vocabulary_name",
    "index_leaf_disease",
    "index_phenobench",
    "leaf_group",
    "load_agriculture_vision",
    "load_field_scenes",
    "load_leaf_disease",
    "load_leaf_lesions",
    "load_phenobench",
]
