"""nnU-Net v2 and Decathlon folders read as genseg datasets, where they lie.

nnU-Net's raw layout (``DatasetNNN_Name/dataset.json``, ``imagesTr/CASE_0000.nii.gz``,
``labelsTr/CASE.nii.gz``, optional ``imagesTs/``) and the Decathlon's (``TaskNN_Name/
dataset.json`` listing ``training`` pairs) both keep a ``dataset.json`` of their own schema
where genseg keeps its own. ``genseg train -d FOLDER`` offers such a folder to the plugins
(``genseg_index_dataset_folder``); this module recognises the two layouts by the file's
content and writes genseg's index under ``$GENSEG_DATA_DIR/_index/`` with absolute paths to
the user's files, which are never written to.

What the index says, and why:

- Classes come from nnU-Net's ``labels`` (``{"background": 0, "left_kidney": 1, ...}``);
  names read as words (``kidney_left`` → ``left kidney``: the side is kept, and put first as
  the vocabulary writes it), region labels (lists of values) become classes over those
  values, and an ``ignore`` label becomes genseg's ``ignore``.
- Splits are nnU-Net's fold 0: from ``splits_final.json`` when the folder or
  ``$nnUNet_preprocessed/DatasetNNN_Name/`` holds one, else the split nnU-Net would make
  (5 folds of the sorted case names shuffled with seed 12345), so genseg's validation cases
  are nnU-Net's. ``imagesTs`` is the test split.
- The medical domain reads one grey volume per image (its preprocessing picks one channel of
  a 4D file; genseg's further named bands are filled by domains that keep bands beside a
  composite, which this one does not). A dataset with several channels (MRI sequences) is
  therefore indexed on one of them, channel 0 unless :func:`load_nnunet` is told otherwise,
  with a warning naming them all. Channel ``CT`` is windowed as CT; any other as MR.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genseg.plugins.api import (
    INDEX_VERSION,
    DatasetEntry,
    DatasetError,
    DatasetSpec,
    absolute,
    index_dir,
    missing_files,
    natural_key,
    slug,
    visible_files,
    write_dataset_spec,
)
from genseg_medical.datasets import LayoutWarning, check_volume_pairs, class_spec, load_msd

if TYPE_CHECKING:
    from genseg.plugins.api import DatasetEntry

VOLUME_ENDINGS = (".nii.gz", ".nii")
"""File endings read as volumes by the medical domain."""
IMAGE_ENDINGS = (".png", ".bmp", ".tif", ".tiff")
"""File endings of nnU-Net's 2D datasets, read as images by the generic domain."""
NNUNET_SEED = 12345
"""The seed of nnU-Net's default five-fold split (``generate_crossval_split``)."""
NNUNET_FOLDS = 5
_SIDES = {"left": "left", "right": "right", "l": "left", "r": "right", "lt": "left", "rt": "right"}


def index_foreign_folder(folder: Path) -> Path | None:
    """genseg's index for an nnU-Net v2 or Decathlon folder; None for any other folder."""
    raw = _read_json(Path(folder) / "dataset.json")
    if raw is None or "classes" in raw:
        return None
    if is_nnunet(raw):
        return load_nnunet(folder)
    if is_decathlon(raw):
        return load_msd(folder)
    return None


def is_nnunet(raw: dict[str, Any]) -> bool:
    """An nnU-Net v2 dataset.json: it has ``channel_names`` or ``file_ending`` (v1's has neither)."""
    return "channel_names" in raw or "file_ending" in raw


def is_decathlon(raw: dict[str, Any]) -> bool:
    """A Decathlon (or nnU-Net v1) dataset.json: ``labels`` by value and a ``training`` list."""
    labels = raw.get("labels")
    return isinstance(labels, dict) and isinstance(raw.get("training"), list) and bool(labels)


def class_name(label: str) -> str:
    """An nnU-Net label name as words: ``kidney_left`` → ``left kidney``, ``RightKidney`` →
    ``right kidney``; a side (``left``/``right``, or a trailing ``l``/``r``) is kept and put first."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", str(label))
    words = re.sub(r"[_\-.]+", " ", text).lower().split()
    if len(words) > 1 and words[-1] in _SIDES:
        words = [_SIDES[words[-1]], *words[:-1]]
    for i, word in enumerate(words):
        if i and word in ("left", "right"):
            words = [word, *words[:i], *words[i + 1 :]]
            break
    return " ".join(words)


def load_nnunet(root: str | Path, channel: int | str = 0, fold: int = 0) -> Path:
    """Index the nnU-Net v2 raw dataset folder ``root``; returns the index folder.

    ``channel`` (a number or a ``channel_names`` name) is the image channel the index points
    at; ``fold`` the fold of ``splits_final.json`` (or of nnU-Net's default split) whose
    ``val`` cases are genseg's validation split.
    """

    root = absolute(root)
    source = root / "dataset.json"
    raw = _read_json(source)
    if raw is None:
        raise DatasetError(
            "no readable nnU-Net dataset.json here",
            path=source,
            fix="pass a DatasetNNN_Name folder of nnUNet_raw (with dataset.json, imagesTr/ and labelsTr/)",
        )
    ending = _file_ending(raw, source)
    channels = _channel_names(raw, source)
    index = _channel_index(channel, channels, source)
    cases = _training_cases(root, raw, ending, len(channels), index, source)
    volumes = ending in VOLUME_ENDINGS
    if volumes:
        check_volume_pairs(
            [(image, label) for image, label in cases.values()],
            fix="export the case again: nnU-Net also requires a label on its image's voxel grid",
        )
    classes, ignore = _classes(raw, source)
    splits: dict[str, list[DatasetEntry]] = {"training": [], "validation": [], "test": []}
    validation = _validation_cases(root, sorted(cases), fold, source)
    for case in sorted(cases, key=natural_key):
        image, label = cases[case]
        split = "validation" if case in validation else "training"
        splits[split].append(DatasetEntry(image=str(image), label=str(label)))
    splits["test"] = _test_entries(root, ending, index)
    if len(channels) > 1 and volumes:
        names = ", ".join(f"{k} {v}" for k, v in channels.items())
        warnings.warn(
            f"{root.name} has {len(channels)} channels ({names}); genseg's medical domain reads one "
            f"volume per image, so the index uses channel {index} ({channels[str(index)]}). Another "
            f"channel: genseg_medical.nnunet.load_nnunet({str(root)!r}, channel=N) writes its index",
            LayoutWarning,
            stacklevel=2,
        )
    chosen = channels[str(index)]
    spec = DatasetSpec(
        name=root.name,
        domain="medical" if volumes else "generic",
        description=str(raw.get("description") or f"nnU-Net dataset {root.name}, channel {index} ({chosen})"),
        license=str(raw.get("licence") or raw.get("license") or ""),
        reference=str(raw.get("reference") or ""),
        classes=classes,
        ignore=ignore,
        preprocessing={"modality": "CT" if chosen.strip().upper() == "CT" else "MR"} if volumes else {},
        generator={
            "loader": "nnunet",
            "root": str(root),
            "version": INDEX_VERSION,
            "channel": index,
            "fold": fold,
        },
        **splits,
    )
    name = f"nnunet-{slug(root.name, default='dataset')}" + (f"-channel-{index}" if index else "")
    folder = index_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    write_dataset_spec(folder, spec)
    return folder


# --- reading nnU-Net's dataset.json ---------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def _file_ending(raw: dict[str, Any], source: Path) -> str:
    ending = raw.get("file_ending")
    if not isinstance(ending, str) or not ending.startswith("."):
        raise DatasetError(
            f"nnU-Net dataset.json needs 'file_ending' (the ending of every image and label file), "
            f"found {ending!r}",
            path=source,
            fix='add "file_ending": ".nii.gz" (or the ending your files have)',
        )
    if ending.lower() not in VOLUME_ENDINGS + IMAGE_ENDINGS:
        raise DatasetError(
            f"genseg reads nnU-Net datasets stored as NIfTI ({', '.join(VOLUME_ENDINGS)}) or 2D images "
            f"({', '.join(IMAGE_ENDINGS)}); this one's file_ending is {ending!r}",
            path=source,
            fix="convert a copy to NIfTI (e.g. SimpleITK.WriteImage(SimpleITK.ReadImage(src), "
            '\'CASE_0000.nii.gz\')) and set "file_ending": ".nii.gz" there',
        )
    return ending


def _channel_names(raw: dict[str, Any], source: Path) -> dict[str, str]:
    """``channel_names`` (``modality`` in older files) as {"0": name, ...}, keys in order."""
    names = raw.get("channel_names", raw.get("modality"))
    if not isinstance(names, dict) or not names:
        raise DatasetError(
            'nnU-Net dataset.json needs \'channel_names\', e.g. {"0": "CT"}',
            path=source,
            fix='add "channel_names": {"0": "CT"} (one entry per image channel: CT, T2, ADC, ...)',
        )
    keys = sorted(names, key=lambda k: int(k) if str(k).isdigit() else -1)
    if [str(k) for k in keys] != [str(i) for i in range(len(keys))]:
        raise DatasetError(
            f"channel_names keys must be 0, 1, ... in order, found {', '.join(map(str, names))}",
            path=source,
            fix='number the channels from "0" as their files are numbered (CASE_0000, CASE_0001, ...)',
        )
    return {str(k): str(names[k]) for k in keys}


def _channel_index(channel: int | str, channels: dict[str, str], source: Path) -> int:
    text = str(channel).strip()
    if text in channels:
        return int(text)
    for key, name in channels.items():
        if name.lower() == text.lower():
            return int(key)
    listed = ", ".join(f"{k} ({v})" for k, v in channels.items())
    raise DatasetError(
        f"channel {channel!r} is not one of this dataset's channels: {listed}",
        path=source,
        fix="pass a channel number or name from channel_names",
    )


def _classes(raw: dict[str, Any], source: Path) -> tuple[dict[str, dict[str, Any]], list[int]]:
    """genseg classes and ignored values from nnU-Net's ``labels`` {name: value or [values]}."""
    labels = raw.get("labels")
    fix = 'write labels as {"background": 0, "NAME": 1, ...} (a region: "NAME": [1, 2])'
    if not isinstance(labels, dict) or labels.get("background") != 0:
        raise DatasetError("nnU-Net dataset.json needs 'labels' with \"background\": 0", path=source, fix=fix)
    single: dict[str, int] = {}
    regions: dict[str, list[int]] = {}
    for name, value in labels.items():
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            single[name] = value
        elif isinstance(value, list) and value and all(isinstance(v, int) and v > 0 for v in value):
            regions[name] = sorted(set(value))
        else:
            raise DatasetError(f"label {name!r} has value {value!r}", path=source, fix=fix)
    ignore = [single.pop("ignore")] if "ignore" in single else []
    single.pop("background")
    classes: dict[str, dict[str, Any]] = {}
    used: set[str] = set()

    def add(key: int, label: str, values: list[int] | None) -> None:
        name = class_name(label) or f"label {key}"
        if name in used:  # two labels with one name: keep them apart
            name = f"{name} {key}"
        used.add(name)
        classes[str(key)] = class_spec(name, values)

    for label, value in sorted(single.items(), key=lambda kv: kv[1]):
        add(value, label, None)
    next_key = max([*single.values(), *ignore, *(v for vs in regions.values() for v in vs)], default=0) + 1
    for label, values in regions.items():
        add(next_key, label, values)
        next_key += 1
    if not classes:
        raise DatasetError("nnU-Net dataset.json names no label besides background", path=source, fix=fix)
    return classes, ignore


# --- finding the files ----------------------------------------------------------------------


def _case_of(name: str, ending: str) -> tuple[str, int] | None:
    """(case, channel) of an image file name ``CASE_0000<ending>``; None for other names."""
    if not name.endswith(ending):
        return None
    match = re.fullmatch(r"(.+)_(\d{4})", name[: -len(ending)])
    return (match.group(1), int(match.group(2))) if match else None


def _training_cases(
    root: Path, raw: dict[str, Any], ending: str, n_channels: int, channel: int, source: Path
) -> dict[str, tuple[Path, Path]]:
    """Case → (image of ``channel``, label), checked the way nnU-Net checks its raw data."""

    if isinstance(raw.get("dataset"), dict):  # nnU-Net's explicit file list
        return _listed_cases(root, raw["dataset"], channel, source)
    images_dir, labels_dir = root / "imagesTr", root / "labelsTr"
    for folder in (images_dir, labels_dir):
        if not folder.is_dir():
            raise DatasetError(
                f"an nnU-Net dataset needs {folder.name}/ next to its dataset.json",
                path=folder,
                fix="pass the DatasetNNN_Name folder itself (imagesTr/CASE_0000.nii.gz, "
                "labelsTr/CASE.nii.gz)",
            )
    labels = {p.name[: -len(ending)]: p for p in visible_files(labels_dir) if p.name.endswith(ending)}
    if not labels:
        raise DatasetError(
            f"labelsTr/ holds no file ending in {ending}",
            path=labels_dir,
            fix=f"put the label maps there as CASE{ending}, or correct file_ending in dataset.json",
        )
    found: dict[str, set[int]] = {}
    for image in visible_files(images_dir):
        parsed = _case_of(image.name, ending)
        if parsed:
            found.setdefault(parsed[0], set()).add(parsed[1])
    if n_channels > 1 and ending in IMAGE_ENDINGS:
        n_channels = 1  # a 2D image file may hold several channels (an RGB PNG is R, G, B)
    wanted = sorted({*range(n_channels), channel})
    missing = [
        images_dir / f"{case}_{c:04d}{ending}"
        for case in sorted(labels, key=natural_key)
        for c in wanted
        if c not in found.get(case, set())
    ]
    if missing:
        raise missing_files(
            "a training case has no image for a channel",
            missing,
            f"add imagesTr/CASE_XXXX{ending} for every channel in channel_names, as nnU-Net requires",
        )
    unlabelled = sorted((case for case in found if case not in labels), key=natural_key)
    orphans = [images_dir / f"{case}_0000{ending}" for case in unlabelled]
    if orphans:
        raise missing_files(
            "an image in imagesTr has no label in labelsTr",
            orphans,
            f"add labelsTr/CASE{ending} for it, or move its images out of imagesTr",
        )
    expected = raw.get("numTraining")
    if isinstance(expected, int) and expected != len(labels):
        raise DatasetError(
            f"numTraining is {expected} but labelsTr holds {len(labels)} cases",
            path=source,
            fix=f"set numTraining to {len(labels)}, or restore the cases that are missing",
        )
    return {case: (images_dir / f"{case}_{channel:04d}{ending}", label) for case, label in labels.items()}


def _listed_cases(
    root: Path, listed: dict[str, Any], channel: int, source: Path
) -> dict[str, tuple[Path, Path]]:
    """Cases from dataset.json's ``dataset`` {case: {"images": [...], "label": ...}}, paths
    relative to ``root`` (nnU-Net's explicit file list, for files not named CASE_XXXX)."""

    cases: dict[str, tuple[Path, Path]] = {}
    for case, item in listed.items():
        images = item.get("images") if isinstance(item, dict) else None
        label = item.get("label") if isinstance(item, dict) else None
        if not isinstance(images, list) or len(images) <= channel or not isinstance(label, str):
            raise DatasetError(
                f"entry {case!r} of 'dataset' needs 'images' (one path per channel) and 'label'",
                path=source,
                fix='write it as {"images": ["imagesTr/CASE_0000.nii.gz"], "label": "labelsTr/CASE.nii.gz"}',
            )
        cases[str(case)] = (root / str(images[channel]), root / label)
    missing = [p for pair in cases.values() for p in pair if not p.is_file()]
    if missing:
        raise missing_files(
            "a file listed under 'dataset' in dataset.json is missing",
            missing,
            "correct the path (relative to the dataset folder) or restore the file",
        )
    return cases


def _test_entries(root: Path, ending: str, channel: int) -> list[DatasetEntry]:
    """``imagesTs`` cases (with ``labelsTs/CASE`` when that exists), in natural name order."""

    folder = root / "imagesTs"
    if not folder.is_dir():
        return []
    entries = []
    for image in visible_files(folder):
        parsed = _case_of(image.name, ending)
        if parsed and parsed[1] == channel:
            label = root / "labelsTs" / f"{parsed[0]}{ending}"
            entries.append(DatasetEntry(image=str(image), label=str(label) if label.is_file() else None))
    return entries


# --- splits ---------------------------------------------------------------------------------


def splits_file(root: Path) -> Path | None:
    """``splits_final.json`` of the dataset: in its folder, or in nnU-Net's preprocessed folder."""
    candidates = [root / "splits_final.json"]
    preprocessed = os.environ.get("nnUNet_preprocessed")
    if preprocessed:
        candidates.append(Path(preprocessed).expanduser() / root.name / "splits_final.json")
    return next((p for p in candidates if p.is_file()), None)


def default_validation(cases: list[str], fold: int = 0) -> set[str]:
    """The ``val`` cases of ``fold`` in the split nnU-Net makes without a splits file: the sorted
    case names shuffled by ``RandomState(12345)`` and cut into 5 folds (scikit-learn's KFold);
    with fewer than 5 cases, one fold per case."""
    import numpy as np

    ordered = sorted(cases)
    n_folds = min(NNUNET_FOLDS, len(ordered))
    if n_folds < 2:
        return set()
    order = np.arange(len(ordered))
    np.random.RandomState(NNUNET_SEED).shuffle(order)
    sizes = np.full(n_folds, len(ordered) // n_folds)
    sizes[: len(ordered) % n_folds] += 1
    start = int(sizes[: fold % n_folds].sum())
    return {ordered[i] for i in order[start : start + int(sizes[fold % n_folds])]}


def _validation_cases(root: Path, cases: list[str], fold: int, source: Path) -> set[str]:
    path = splits_file(root)
    if path is None:
        return default_validation(cases, fold)
    fix = "delete it to use nnU-Net's default split, or run nnU-Net's planning again to rewrite it"
    try:
        folds = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read splits_final.json: {exc}", path=path, fix=fix) from None
    if (
        not isinstance(folds, list)
        or not folds
        or not all(isinstance(f, dict) and isinstance(f.get("val"), list) for f in folds)
    ):
        raise DatasetError("splits_final.json is not a list of {train, val} folds", path=path, fix=fix)
    if not 0 <= fold < len(folds):
        raise DatasetError(
            f"fold {fold} is not among its {len(folds)} folds",
            path=path,
            fix=f"choose a fold below {len(folds)}",
        )
    chosen = folds[fold]
    named = {str(c) for c in [*chosen.get("train", []), *chosen["val"]]}
    unknown = sorted(named - set(cases), key=natural_key)
    if unknown:
        raise DatasetError(
            f"fold {fold} names {len(unknown)} case(s) that {source.parent.name} does not hold, "
            f"e.g. {unknown[0]!r}",
            path=path,
            fix=f"this splits file belongs to another dataset or an older copy: {fix}",
        )
    left = sorted(set(cases) - named, key=natural_key)
    if left:
        warnings.warn(
            f"{path}: fold {fold} does not name {len(left)} case(s) (e.g. {left[0]}); they are trained on",
            LayoutWarning,
            stacklevel=3,
        )
    return {str(c) for c in chosen["val"]}


__all__ = [
    "LayoutWarning",
    "class_name",
    "default_validation",
    "index_foreign_folder",
    "is_decathlon",
    "is_nnunet",
    "load_nnunet",
    "splits_file",
]
