"""Image–text pairs for joint generation training, built from the segmentation folders.

GenMask mixes text-to-image data into segmentation training. genseg has no caption data, so
the captions are made from what each training label already says: the canonical names of
the classes present, largest area first ("grass, gravel, red circle and blue square"). The
images are the same training images the mask samples use, so no extra data is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from genseg.data.image_processor import ImageProcessor
from genseg.data.io import load_image, load_label
from genseg.data.schema import DatasetSpec, load_dataset_spec, normalise_split, resolve_path
from genseg.data.transforms import allowed_flips
from genseg.errors import DatasetError, InputError
from genseg.names import normalise


def join_names(names: Sequence[str]) -> str:
    """``["a"]`` → "a"; ``["a", "b", "c"]`` → "a, b and c"."""
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def caption_for_label(label: np.ndarray, spec: DatasetSpec, exclude: Sequence[str] = ()) -> str:
    """The classes present in a label map, largest pixel area first, as one caption.

    Ties keep the dataset's class order. Classes in ``exclude`` (canonical names, e.g. the
    unseen classes of an open-vocabulary benchmark) never appear.
    """
    skip = {normalise(n) for n in exclude}
    found: list[tuple[int, int, str]] = []
    for order, key in enumerate(sorted(spec.classes, key=int)):
        name = spec.classes[key].name
        area = int(np.isin(label, spec.class_values(key)).sum())
        if area and normalise(name) not in skip:
            found.append((-area, order, name))
    return join_names([name for _, _, name in sorted(found)])


class ImageCaptionDataset(torch.utils.data.Dataset):
    """One item per labelled image of a split: ``image`` float32 3×R×R in [0, 1] and ``caption``.

    Training items are flipped left–right at random where their domain allows it and the
    caption names no side, seeded from ``(seed, index, draw)`` so a run is reproducible; an
    image whose label holds no class is skipped (no caption to give).
    """

    def __init__(
        self,
        folders: Sequence[str | Path],
        resolution: int,
        split: str = "training",
        seed: int = 0,
        exclude_classes: Sequence[str] = (),
    ) -> None:
        self.resolution, self.seed = int(resolution), int(seed)
        self.split = normalise_split(split)
        self.items: list[tuple[Path, str, str]] = []  # image path, domain, caption
        for folder in map(Path, folders):
            spec = load_dataset_spec(folder)
            for entry in spec.entries(self.split):
                if entry.label is None:
                    continue
                label = load_label(resolve_path(folder, entry.label)).array
                caption = caption_for_label(label, spec, exclude_classes)
                if caption:
                    self.items.append((resolve_path(folder, entry.image), spec.domain, caption))
        if not self.items:
            raise DatasetError(
                f"no captioned image in split {self.split!r} for joint generation training",
                path=", ".join(str(f) for f in folders),
                fix="give labelled training images whose labels hold at least one class",
            )

    def __len__(self) -> int:
        return len(self.items)

    def captions(self) -> list[str]:
        return [caption for _, _, caption in self.items]

    def load(self, index: int, flip: bool = False) -> dict[str, object]:
        """Item ``index`` resized to R×R by the shared image processor, optionally mirrored."""
        path, domain, caption = self.items[index]
        array = load_image(path, domain).array
        if array.ndim != 3 or array.shape[2] not in (1, 3):
            raise InputError(
                f"image has shape {array.shape}; joint generation takes 2D grey or RGB images",
                path=path,
                fix="train joint generation on 2D RGB or greyscale datasets",
            )
        image = ImageProcessor(self.resolution).preprocess(array)[0]
        if flip and "horizontal" in allowed_flips(domain, [caption]):  # as the domain and caption allow
            image = image.flip(-1)
        return {"image": image, "caption": caption}

    def __getitem__(self, index: int) -> dict[str, object]:
        return self.load(index)
