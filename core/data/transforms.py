"""The training transform: the shared resize, then augmentation (albumentations).

The resize to the model's resolution is :class:`genseg.data.image_processor.ImageProcessor`'s,
the very one the pipeline applies at inference (bilinear antialiased for the image, nearest
for the mask), so with augmentation off a training item is the inference tensor. The
augmentations run after it, at the model's resolution, where they are cheap; the mask keeps
hard values (nearest-neighbour warps). albumentations is imported only for training
transforms: it takes ~3 s.

``HORIZONTAL_FLIP_P`` is the one place the left–right flip probability is set (the
segmentation transform and the joint-generation images both read it). Note that a flip
swaps the meaning of laterality terms ("left kidney"); a domain may want it off.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genseg.data.image_processor import ImageProcessor

HORIZONTAL_FLIP_P = 0.5
"""Probability of a left–right flip of a training image (and its mask)."""


class TrainingTransform:
    """``image`` (float32 H×W×C in [0,1]) and ``mask`` (H×W or H×W×K) → the same at R×R:
    the processor's resize, then ``augment`` (an ``albumentations.Compose``) when given."""

    def __init__(self, processor: ImageProcessor, augment: Any | None = None) -> None:
        self.processor = processor
        self.augment = augment

    def set_random_seed(self, seed: int) -> None:
        if self.augment is not None:
            self.augment.set_random_seed(seed)

    def __call__(self, image: np.ndarray, mask: np.ndarray | None = None, **_: Any) -> dict[str, Any]:
        out = self.processor(image=image, mask=mask)
        if self.augment is None:
            return out
        return self.augment(**out)


def build_augmentations(horizontal_flip: float = HORIZONTAL_FLIP_P) -> Any:
    """Horizontal flip, a small affine jitter (scale 0.9–1.1, rotate ±10°, translate ±5 %)
    and mild brightness/contrast, as an ``albumentations.Compose``."""
    import albumentations as A
    import cv2

    steps: list[Any] = []
    if horizontal_flip > 0:
        steps.append(A.HorizontalFlip(p=horizontal_flip))
    steps += [
        A.Affine(
            scale=(0.9, 1.1),
            rotate=(-10.0, 10.0),
            translate_percent=(-0.05, 0.05),
            interpolation=cv2.INTER_LINEAR,
            mask_interpolation=cv2.INTER_NEAREST,
            border_mode=cv2.BORDER_CONSTANT,
            fill=0,
            fill_mask=0,
            p=0.7,
        ),
        A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1, p=0.5),
    ]
    return A.Compose(steps)


def build_transform(
    resolution: int, train: bool, horizontal_flip: float = HORIZONTAL_FLIP_P
) -> TrainingTransform:
    """The dataset transform: train = resize + augmentations; eval = resize only."""
    if resolution < 1:
        raise ValueError(f"resolution must be positive, got {resolution}")
    augment = build_augmentations(horizontal_flip) if train else None
    return TrainingTransform(ImageProcessor(resolution), augment)
