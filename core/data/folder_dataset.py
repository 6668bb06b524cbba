"""A torch dataset of (image, text prompt, binary mask) triples from dataset.json folders.

A label map with several classes yields one item per class present in it, so the model
learns to pick the region the prompt names rather than to segment "everything". Training
prompts are drawn among a class's name and synonyms; other splits use the canonical name
so evaluation is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from genseg.data.io import image_size, load_image, load_label
from genseg.data.schema import (
    DatasetEntry,
    DatasetSpec,
    load_dataset_spec,
    normalise_split,
    resolve_path,
    valid_label_pixels,
)
from genseg.errors import DatasetError, InputError


def _size_mismatch(image_path: Path, image_hw: tuple[int, ...], label_path: Path, label_hw: tuple[int, ...]):
    return InputError(
        f"image is {image_hw[0]}×{image_hw[1]} but its label {label_path} is {label_hw[0]}×{label_hw[1]}",
        path=image_path,
        fix="pair each image with the label map drawn on it (same height and width)",
    )


def _norm(name: str) -> str:
    return " ".join(name.lower().split())


class PromptedSegmentationDataset(Dataset):
    """One item per (image, class present in its label) over one or several dataset folders.

    Item: ``image`` float32 3×R×R in [0, 1], ``mask`` float32 1×R×R in {0, 1}, ``prompt``,
    ``class_name``, ``dataset`` (the spec's name) and ``image_path``. ``transform`` takes
    and returns albumentations-style ``image``/``mask`` keyword arrays and must resize to
    R×R; the default is :func:`genseg.data.transforms.build_transform`. Randomness (prompt
    choice and augmentation) is seeded per item from ``(seed, epoch, index)``, so a run is
    reproducible whatever the worker count; call :meth:`set_epoch` each epoch.
    ``exclude_classes`` (canonical names) are never prompted: an open-vocabulary benchmark
    holds them out of training and tests them as unseen.
    """

    def __init__(
        self,
        folders: Sequence[str | Path] | str | Path,
        split: str,
        resolution: int,
        transform: Callable[..., dict[str, Any]] | None = None,
        seed: int = 0,
        exclude_classes: Sequence[str] = (),
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
        self.exclude = {_norm(n) for n in exclude_classes}
        self.specs: list[DatasetSpec] = [load_dataset_spec(f) for f in self.folders]
        self.items: list[tuple[DatasetEntry, str, int]] = []
        for index, (folder, spec) in enumerate(zip(self.folders, self.specs, strict=False)):
            self.items += self._enumerate(folder, spec, index)
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
                raise _size_mismatch(image_path, image_hw, label_path, label.shape)
            present = np.unique(label)
            out += [
                (entry, k, ds_index)
                for k in keys
                if np.isin(values[k], present).any() and _norm(spec.classes[k].name) not in self.exclude
            ]
        return out

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
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        entry, key, ds = self.items[index]
        spec, folder = self.specs[ds], self.folders[ds]
        image_path, label_path = resolve_path(folder, entry.image), resolve_path(folder, entry.label or "")
        rng = np.random.default_rng([self.seed, self.epoch, index])

        image_sample = load_image(image_path, spec.domain)
        image = image_sample.array
        if image.ndim != 3:
            raise InputError(
                f"image has shape {image.shape}; the folder dataset takes 2D images (H×W×C)",
                path=image_path,
                fix="list 2D slices in dataset.json, or use the domain plugin's volume dataset",
            )
        if image.shape[2] == 1:
            image = np.repeat(image, 3, axis=2)
        elif image.shape[2] != 3:
            raise InputError(
                f"image has {image.shape[2]} channels; the generic dataset takes grayscale or RGB",
                path=image_path,
                fix="select three bands first (a domain plugin does this for multispectral data)",
            )
        label_sample = load_label(label_path)
        label = label_sample.array
        if image.shape[:2] != label.shape:
            raise _size_mismatch(image_path, image.shape[:2], label_path, label.shape)
        mask = np.isin(label, spec.class_values(key)).astype(np.uint8)
        valid = valid_label_pixels(label_sample, spec.ignore, image_sample.meta.get("valid_mask"))
        # validity travels with the mask as a second channel, so it gets the same crop and flip
        stacked = mask if valid is None else np.stack([mask, valid.astype(np.uint8)], axis=-1)

        if hasattr(self.transform, "set_random_seed"):
            self.transform.set_random_seed(int(rng.integers(2**31 - 1)))
        out = self.transform(image=image, mask=stacked)
        image, mask = out["image"], np.asarray(out["mask"])
        valid = np.ones(mask.shape[:2], np.float32) if valid is None else mask[..., 1].astype(np.float32)
        mask = mask if mask.ndim == 2 else mask[..., 0]
        r = self.resolution
        if image.shape[:2] != (r, r) or mask.shape[:2] != (r, r):
            raise ValueError(f"the transform must resize to {r}×{r}; got {image.shape} and {mask.shape}")

        prompts = spec.prompts_for(key)
        prompt = prompts[int(rng.integers(len(prompts)))] if self.train else prompts[0]
        return {
            "image": torch.from_numpy(
                np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)
            ).clamp_(0.0, 1.0),
            "mask": torch.from_numpy((np.asarray(mask) > 0).astype(np.float32)[None]),
            "valid": torch.from_numpy(np.ascontiguousarray(valid)[None]),
            "prompt": prompt,
            "class_name": spec.classes[key].name,
            "dataset": spec.name,
            "image_path": str(image_path),
        }
