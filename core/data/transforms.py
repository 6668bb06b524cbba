"""Augmentation and resizing applied to an image and its mask together (albumentations).

Resizing lives here, not in the dataset, so one pipeline decides every geometric change
and the mask always follows the image with nearest-neighbour interpolation (a mask must
keep hard 0/1 values). albumentations is imported inside the function: it takes ~3 s.
"""

from __future__ import annotations

from typing import Any


def build_transform(resolution: int, train: bool) -> Any:
    """An ``albumentations.Compose`` taking ``image`` (float32 H×W×C in [0,1]) and ``mask``.

    train: resize, horizontal flip, a small affine jitter (scale 0.9–1.1, rotate ±10°,
    translate ±5 %) and mild brightness/contrast; eval: resize only.
    """
    import albumentations as A
    import cv2

    if resolution < 1:
        raise ValueError(f"resolution must be positive, got {resolution}")
    steps: list[Any] = [
        A.Resize(
            resolution,
            resolution,
            interpolation=cv2.INTER_LINEAR,
            mask_interpolation=cv2.INTER_NEAREST,
        )
    ]
    if train:
        steps += [
            A.HorizontalFlip(p=0.5),
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
