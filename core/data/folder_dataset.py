"""A torch dataset of (image, text prompt, binary mask) triples from dataset.json folders.

A label map with several classes yields one item per class present in it, so the model
learns to pick the region the prompt names rather than to segment "everything". Training
prompts are drawn among a class's name and synonyms; other splits use the canonical name
so evaluation is reproducible.

Volumes (NIfTI files, DICOM series folders: whatever the domain's reader returns as
D×H×W×C) train slice by slice along the first axis: an item is (entry, slice, class), the
volume is read and preprocessed whole (a CT window, an MR normalisation over the volume,
as `genseg segment` does) and kept in a small LRU cache, so memory holds a few volumes,
never the dataset. A 2D training image much larger than the resolution is trained on R×R
windows at its own pixel size instead of being resized whole (``crop``; :mod:`genseg.data.crops`).
A ``sampling`` config (:class:`genseg.config.SamplingConfig`) replaces
the one-item-per-pair epoch by a class-balanced plan with absent-class prompts
(:mod:`genseg.data.sampling`). A dataset.json ``preprocessing`` block is passed to the
domain's preprocessing for that dataset's images.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import Dataset

from genseg.data.bands import RGB, arrange_bands, band_options
from genseg.data.crops import check_crop, crop_sample, crops, random_window, window_rng
from genseg.data.io import image_size, load_image, load_label
from genseg.data.schema import (
    DatasetEntry,
    DatasetSpec,
    load_dataset_spec,
    normalise_split,
    preprocessing_options,
    resolve_path,
    valid_label_pixels,
)
from genseg.errors import DatasetError, InputError
from genseg.names import normalise

if TYPE_CHECKING:
    from genseg.config import SamplingConfig

DEFAULT_VOLUME_CACHE = 2


def _size_mismatch(image_path: Path, image_hw: tuple[int, ...], label_path: Path, label_hw: tuple[int, ...]):
    shape = lambda s: "×".join(str(n) for n in s)  # noqa: E731
    volume = len(image_hw) == 3 or len(label_hw) == 3
    return InputError(
        f"image {image_path} is {shape(image_hw)} but its label {label_path} is {shape(label_hw)}"
        if volume
        else f"image is {shape(image_hw)} but its label {label_path} is {shape(label_hw)}",
        path=image_path,
        fix="pair each volume with the label volume drawn on its grid (same slices, rows and columns)"
        if volume
        else "pair each image with the label map drawn on it (same height and width)",
    )


class VolumeSlice(DatasetEntry):
    """An entry of a volume dataset narrowed to one slice (the first axis of the reader's D×H×W)."""

    slice: int


class VolumeCache:
    """The last ``size`` volumes read, decoded and preprocessed (least recently used goes first).

    Each DataLoader worker holds its own: a pickled cache arrives empty."""

    def __init__(self, size: int = DEFAULT_VOLUME_CACHE) -> None:
        if size < 1:
            raise ValueError(f"the volume cache holds at least one volume, got {size}")
        self.size = int(size)
        self._data: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any, load: Callable[[], Any]) -> Any:
        if key in self._data:
            self._data.move_to_end(key)
            return self._data[key]
        value = load()
        self._data[key] = value
        while len(self._data) > self.size:
            self._data.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._data)

    def __getstate__(self) -> dict[str, Any]:
        return {"size": self.size, "_data": OrderedDict()}


class PromptedSegmentationDataset(Dataset):
    """One item per (image, class present in its label) over one or several dataset folders.

    Item: ``image`` float32 B×R×R in [0, 1] (B = ``len(bands)``, :mod:`genseg.data.bands`),
    ``mask`` float32 1×R×R in {0, 1}, ``prompt``, ``class_name``, ``dataset`` (the spec's name)
    and ``image_path``. ``transform`` takes and returns albumentations-style ``image``/``mask``
    keyword arrays and must resize to R×R; the default is
    :func:`genseg.data.transforms.build_transform`. Randomness (prompt choice and augmentation)
    is seeded per item from ``(seed, epoch, index)``, so a run is reproducible whatever the
    worker count; call :meth:`set_epoch` each epoch.
    ``exclude_classes`` (canonical names) are never prompted: an open-vocabulary benchmark
    holds them out of training and tests them as unseen.

    A volume entry yields (slice, class present) pairs (``items`` hold a :class:`VolumeSlice`);
    ``volume_cache`` volumes stay decoded (default ``sampling.volume_cache``, else 2). With
    ``sampling`` (training split only) item ``i`` is position ``i`` of the epoch's plan
    (:func:`genseg.data.sampling.draw_plan`): class-balanced, ``absent_fraction`` of the
    prompts naming a class absent from the image (all-zero mask, ``absent`` True).

    ``crop`` (training split only; default ``sampling.crop``, else ``auto``) says which 2D
    images give an R×R window at native pixel size instead of the whole image resized
    (:mod:`genseg.data.crops`); item ``window`` is (row, col, height, width) of the pixels
    the item shows. Volume slices are always whole, as `genseg segment` reads them.
    """

    def __init__(
        self,
        folders: Sequence[str | Path] | str | Path,
        split: str,
        resolution: int,
        transform: Callable[..., dict[str, Any]] | None = None,
        seed: int = 0,
        exclude_classes: Sequence[str] = (),
        sampling: SamplingConfig | None = None,
        volume_cache: int | None = None,
        prompts_per_image: int = 1,
        bands: Sequence[str] = RGB,
        crop: str | None = None,
    ) -> None:
        if isinstance(folders, (str, Path)):
            folders = [folders]
        if not folders:
            raise DatasetError("no dataset folder given", fix="pass at least one folder with a dataset.json")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.folders = [Path(f) for f in folders]
        self.split = normalise_split(split)
        self.train = self.split == "training"
        self.resolution = int(resolution)
        self.seed = int(seed)
        if prompts_per_image < 1:
            raise ValueError(f"prompts_per_image must be >= 1, got {prompts_per_image}")
        self.prompts_per_image = int(prompts_per_image)
        self.exclude = {normalise(n) for n in exclude_classes}
        self.specs: list[DatasetSpec] = [load_dataset_spec(f) for f in self.folders]
        from genseg.data.recorded_preprocessing import options_by_domain

        self.preprocessing = options_by_domain(self.specs)  # what the trained model records, per domain
        self.bands = tuple(bands)
        self.options: list[dict[str, str]] = [
            band_options(self.bands, preprocessing_options(s)) for s in self.specs
        ]
        self.crop = check_crop(crop or (sampling.crop if sampling is not None else "auto"))
        self.sampling = sampling if self.train else None
        if self.sampling is not None and not (self.sampling.class_balanced or self.sampling.absent_fraction):
            self.sampling = None  # the plain epoch: every pair once
        cache = volume_cache or (sampling.volume_cache if sampling is not None else DEFAULT_VOLUME_CACHE)
        self._volumes = VolumeCache(cache)
        # every image or slice with the class keys present in it (absent prompts come from these)
        self._units: list[tuple[DatasetEntry, int, frozenset[str]]] = []
        self.items: list[tuple[DatasetEntry, str, int]] = []
        for index, (folder, spec) in enumerate(zip(self.folders, self.specs, strict=False)):
            self.items += self._enumerate(folder, spec, index)
        self._enumerated = self.items  # select_shots replaces the list: absent draws then follow it
        self._plan: tuple[Any, list[tuple[DatasetEntry, str, int, bool]]] | None = None
        if not self.items:
            raise DatasetError(
                f"split {self.split!r} has no (image, class) pairs",
                path=", ".join(str(f) for f in self.folders),
                fix=f"add labelled entries to {self.split!r} in dataset.json",
            )
        if transform is None:
            from genseg.data.transforms import build_transform

            transform = build_transform(self.resolution, train=self.train)
        self.transform = transform
        # Shared memory, so set_epoch reaches DataLoader workers that are already running.
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()

    def _enumerate(
        self, folder: Path, spec: DatasetSpec, ds_index: int
    ) -> list[tuple[DatasetEntry, str, int]]:
        keys = sorted(spec.classes, key=int)
        values = {k: np.asarray(spec.class_values(k)) for k in keys}
        out = []
        for entry in spec.entries(self.split):
            if entry.label is None:
                raise DatasetError(
                    f"entry {entry.image!r} in {self.split!r} has no label",
                    path=folder / "dataset.json",
                    fix="add a label path to every entry of a split used for training or evaluation",
                )
            image_path, label_path = resolve_path(folder, entry.image), resolve_path(folder, entry.label)
            label = load_label(label_path).array
            image_hw = image_size(image_path)
            if tuple(image_hw) != label.shape:
                raise _size_mismatch(image_path, tuple(image_hw), label_path, label.shape)
            if label.ndim == 3:  # a volume: one unit per slice along the first axis
                units = [
                    (VolumeSlice(image=entry.image, label=entry.label, slice=z), label[z])
                    for z in range(label.shape[0])
                ]
            else:
                units = [(entry, label)]
            for unit, unit_label in units:
                present = np.unique(unit_label)
                keys_present = [
                    k
                    for k in keys
                    if np.isin(values[k], present).any()
                    and normalise(spec.classes[k].name) not in self.exclude
                ]
                self._units.append((unit, ds_index, frozenset(keys_present)))
                out += [(unit, k, ds_index) for k in keys_present]
        return out

    def _class_id(self, key: str, ds: int) -> str:
        """What class balancing counts as one class: the canonical name, across datasets."""
        return normalise(self.specs[ds].classes[key].name)

    def _epoch_plan(self) -> list[tuple[DatasetEntry, str, int, bool]]:
        """This epoch's (entry, class key, dataset, absent) draws, computed once per epoch and process."""
        from genseg.data.sampling import draw_plan

        cfg = self.sampling
        assert cfg is not None
        token = (self.epoch, id(self.items), len(self.items))
        if self._plan is not None and self._plan[0] == token:
            return self._plan[1]
        kept = None if self.items is self._enumerated else {id(e) for e, _, _ in self.items}
        absent: list[tuple[DatasetEntry, str, int]] = []
        if cfg.absent_fraction > 0:
            for unit, ds, keys_present in self._units:
                spec = self.specs[ds]
                if not spec.labels_complete or (kept is not None and id(unit) not in kept):
                    continue
                absent += [
                    (unit, k, ds)
                    for k in sorted(spec.classes, key=int)
                    if k not in keys_present and normalise(spec.classes[k].name) not in self.exclude
                ]
        draws = draw_plan(
            [self._class_id(k, ds) for _, k, ds in self.items],
            [self._class_id(k, ds) for _, k, ds in absent],
            len(self),
            cfg.class_balanced,
            cfg.absent_fraction,
            self.seed,
            self.epoch,
        )
        plan = [(*(absent[i] if is_absent else self.items[i]), is_absent) for is_absent, i in draws]
        self._plan = (token, plan)
        return plan

    def _volume(self, ds: int, image_path: Path, label_path: Path):
        """The preprocessed image volume, its label volume and the valid-voxel mask (or None)."""
        spec, options = self.specs[ds], self.options[ds]

        def load():
            image_sample = load_image(image_path, spec.domain, options)
            label_sample = load_label(label_path)
            if image_sample.array.ndim != 4:
                raise InputError(
                    f"image has shape {image_sample.array.shape} but its label {label_path} is a volume "
                    f"{label_sample.array.shape}",
                    path=image_path,
                    fix="pair each volume with its label volume",
                )
            if image_sample.array.shape[:3] != label_sample.array.shape:
                raise _size_mismatch(
                    image_path, image_sample.array.shape[:3], label_path, label_sample.array.shape
                )
            valid = valid_label_pixels(label_sample, spec.ignore, image_sample.meta.get("valid_mask"))
            return image_sample.array, label_sample.array, valid

        return self._volumes.get((ds, str(image_path), str(label_path)), load)

    def set_epoch(self, epoch: int) -> None:
        """Change the per-item random streams (prompt choice, augmentation) for a new epoch."""
        self._epoch.fill_(int(epoch))

    @property
    def epoch(self) -> int:
        return int(self._epoch.item())

    def class_names(self) -> list[str]:
        """Canonical names of the classes that occur in this split, in first-seen order."""
        names: dict[str, None] = {}
        for _entry, key, ds in self.items:
            names.setdefault(self.specs[ds].classes[key].name, None)
        return list(names)

    def __len__(self) -> int:
        if self.sampling is not None and self.sampling.epoch_size is not None:
            return self.sampling.epoch_size
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if self.sampling is not None:
            entry, key, ds, absent = self._epoch_plan()[index]
        else:
            (entry, key, ds), absent = self.items[index], False
        spec, folder = self.specs[ds], self.folders[ds]
        image_path, label_path = resolve_path(folder, entry.image), resolve_path(folder, entry.label or "")
        rng = np.random.default_rng([self.seed, self.epoch, index])

        if isinstance(entry, VolumeSlice):
            volume, labels, valid_volume = self._volume(ds, image_path, label_path)
            # copies: a transform must never write into the cached volume
            image, label = np.array(volume[entry.slice]), np.array(labels[entry.slice])
            valid = None if valid_volume is None else valid_volume[entry.slice]
            names, window = None, (0, 0, *label.shape)
        else:
            image_sample = load_image(image_path, spec.domain, self.options[ds])
            image, names = image_sample.array, image_sample.meta.get("bands")
            if image.ndim != 3:
                raise InputError(
                    f"image has shape {image.shape} but its label {label_path} is a 2D map",
                    path=image_path,
                    fix="pair a volume with a label volume (D×H×W), or list 2D slices in dataset.json",
                )
            label_sample = load_label(label_path)
            label = label_sample.array
            if image.shape[:2] != label.shape:
                raise _size_mismatch(image_path, image.shape[:2], label_path, label.shape)
            valid = valid_label_pixels(label_sample, spec.ignore, image_sample.meta.get("valid_mask"))
            window = (0, 0, *label.shape)
        # classes absent from a window are known absent (they are labelled in this image), so the
        # extra prompts are drawn from the whole label: the draws are those of the uncropped item
        keys = [key] + self._other_keys(spec, key, label, rng)
        if not isinstance(entry, VolumeSlice) and self.train:
            image_sample, label, valid, window = self._window(
                image_sample, label, valid, spec, key, absent, index
            )
            image = image_sample.array
        image = arrange_bands(image, names, self.bands, image_path)
        masks = [np.isin(label, spec.class_values(k)).astype(np.uint8) for k in keys]
        # validity travels with the masks as a last channel, so it gets the same crop and flip
        layers = masks if valid is None else [*masks, valid.astype(np.uint8)]
        stacked = layers[0] if len(layers) == 1 else np.stack(layers, axis=-1)

        transform = self.transform  # flipped only as the item's domain and class names allow
        if hasattr(transform, "for_domain"):
            transform = transform.for_domain(spec.domain, [c.name for c in spec.classes.values()])
        if hasattr(transform, "set_random_seed"):
            transform.set_random_seed(int(rng.integers(2**31 - 1)))
        out = transform(image=image, mask=stacked)
        image, mask = out["image"], np.asarray(out["mask"])
        mask = mask[..., None] if mask.ndim == 2 else mask
        valid = np.ones(mask.shape[:2], np.float32) if valid is None else mask[..., -1].astype(np.float32)
        mask = mask[..., : len(keys)]
        r = self.resolution
        if image.shape[:2] != (r, r) or mask.shape[:2] != (r, r):
            raise ValueError(f"the transform must resize to {r}×{r}; got {image.shape} and {mask.shape}")

        prompts = [self._prompt(spec, k, rng) for k in keys]
        item = {
            "image": torch.from_numpy(
                np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)
            ).clamp_(0.0, 1.0),
            "mask": torch.from_numpy((mask[..., 0] > 0).astype(np.float32)[None]),
            "valid": torch.from_numpy(np.ascontiguousarray(valid)[None]),
            "prompt": prompts[0],
            "class_name": spec.classes[key].name,
            "dataset": spec.name,
            "image_path": str(image_path),
            "slice": entry.slice if isinstance(entry, VolumeSlice) else -1,
            "window": torch.tensor(window, dtype=torch.int64),
            "absent": absent,
        }
        if len(keys) > 1:  # K × R × R masks and K prompts for the same image (the first is "mask")
            item["masks"] = torch.from_numpy(
                np.ascontiguousarray((mask > 0).transpose(2, 0, 1), dtype=np.float32)
            )
            item["prompts"] = prompts
        return item

    def _window(self, image_sample, label, valid, spec: DatasetSpec, key: str, absent: bool, index: int):
        """The item's image sample, label and validity narrowed to its training window (unchanged
        when the image is not cropped), and the window as (row, col, height, width)."""
        height, width = label.shape
        if not crops(self.crop, spec.domain, height, width, self.resolution):
            return image_sample, label, valid, (0, 0, height, width)
        # a present prompt's window holds some of its class, so the plan's "present" stays true
        inside = None if absent else np.isin(label, spec.class_values(key))
        win = random_window(height, width, self.resolution, window_rng(self.seed, self.epoch, index), inside)
        rows, cols = win.slices
        window = (win.row, win.col, win.height, win.width)
        return (
            crop_sample(image_sample, win),
            label[rows, cols],
            None if valid is None else valid[rows, cols],
            window,
        )

    def _prompt(self, spec: DatasetSpec, key: str, rng: np.random.Generator) -> str:
        """A training prompt among the class's name and synonyms; the canonical name otherwise."""
        prompts = spec.prompts_for(key)
        return prompts[int(rng.integers(len(prompts)))] if self.train else prompts[0]

    def _other_keys(
        self, spec: DatasetSpec, key: str, label: np.ndarray, rng: np.random.Generator
    ) -> list[str]:
        """The ``prompts_per_image - 1`` extra classes of an item: drawn among its dataset's other
        classes (present ones; absent ones too where labels are complete), repeated when fewer."""
        k = self.prompts_per_image - 1
        if k == 0:
            return []
        present = None if spec.labels_complete else np.unique(label)  # absent classes need complete labels
        pool = [
            c
            for c in sorted(spec.classes, key=int)
            if c != key
            and normalise(spec.classes[c].name) not in self.exclude
            and (present is None or np.isin(spec.class_values(c), present).any())
        ]
        if not pool:
            return [key] * k
        if len(pool) >= k:
            return [pool[i] for i in rng.choice(len(pool), size=k, replace=False)]
        return pool + [pool[i] for i in rng.integers(len(pool), size=k - len(pool))]
