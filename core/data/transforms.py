"""The training transform: the shared resize, then augmentation (albumentations).

The resize to the model's resolution is :class:`genseg.data.image_processor.ImageProcessor`'s,
the very one the pipeline applies at inference (bilinear antialiased for the image, nearest
for the mask), so with augmentation off a training item is the inference tensor. The
augmentations run after it, at the model's resolution, where they are cheap; the mask keeps
hard values (nearest-neighbour warps). albumentations is imported only for training
transforms: it takes ~3 s.

Flips are per domain: a mirror turns a "left kidney" into a right one, so a training item is
flipped only the ways its domain declares safe (``DomainInfo.flips``: remote sensing both
ways, medical none), and never left-right when its dataset names a class by side.
``FLIP_P`` is the one place the flip probability is set (the segmentation transform and the
joint-generation images both read it).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from functools import cache
from typing import Any

import numpy as np

from genseg.data.image_processor import ImageProcessor
from genseg.errors import ConfigError
from genseg.plugins import registry

FLIP_P = 0.5
"""Probability of each allowed flip of a training image (and its mask)."""
HORIZONTAL_FLIP_P = FLIP_P  # the name joint generation reads

FLIPS = ("horizontal", "vertical")
_LATERAL = re.compile(r"\b(left|right)\b", re.IGNORECASE)


def lateral_names(names: Iterable[str]) -> list[str]:
    """The names that say a side ("left kidney", "Right ventricle"): a left-right mirror
    changes what they mean."""
    return [n for n in names if _LATERAL.search(n)]


@cache
def domain_flips(domain: str) -> tuple[str, ...]:
    """The flips ``domain`` declares (``DomainInfo.flips``), checked against its vocabulary.

    A domain that allows left-right flips while its vocabulary has terms with a side in them
    gets a warning (the flip still follows the declaration; a dataset naming a side drops it,
    see :func:`allowed_flips`). An unknown domain is the dataset loader's error, not this one's.
    """
    flips = tuple(f for f in FLIPS if f in registry.domain_info(domain).flips)
    if "horizontal" in flips:
        try:
            vocabularies = registry.vocabulary(domain)
        except ConfigError:  # a domain without a vocabulary has nothing to check
            vocabularies = []
        terms = [name for _, v in vocabularies for t in v.terms for name in (t.name, *t.synonyms)]
        sided = lateral_names(terms)
        if sided:
            warnings.warn(
                f"domain {domain!r} declares left-right flips but its vocabulary names sides "
                f"({', '.join(sided[:3])}{', ...' if len(sided) > 3 else ''}): a flip swaps their meaning",
                UserWarning,
                stacklevel=2,
            )
    return flips


def allowed_flips(domain: str, class_names: Iterable[str] = ()) -> tuple[str, ...]:
    """The flips a training item of ``domain`` may get: the domain's declared ones, without the
    left-right flip when one of ``class_names`` (its dataset's classes) names a side."""
    flips = domain_flips(domain)
    if "horizontal" in flips and lateral_names(class_names):
        return tuple(f for f in flips if f != "horizontal")
    return flips


class TrainingTransform:
    """``image`` (float32 H×W×C in [0,1]) and ``mask`` (H×W or H×W×K) → the same at R×R:
    the processor's resize, then ``augment`` (an ``albumentations.Compose``) when given.

    A training transform made by :func:`build_transform` also holds one augmentation per set
    of flips; :meth:`for_domain` gives the transform for an item of a given domain."""

    def __init__(self, processor: ImageProcessor, augment: Any | None = None, flip_p: float = 0.0) -> None:
        self.processor = processor
        self.augment = augment
        self.flip_p = float(flip_p)
        self._by_flips: dict[tuple[str, ...], TrainingTransform] = {}

    def set_random_seed(self, seed: int) -> None:
        """Seed the augmentation; each step gets a seed of its own, since albumentations hands
        every step the Compose's seed and steps with the same probability would then fire
        together (a left-right flip always with an up-down one)."""
        if self.augment is None:
            return
        self.augment.set_random_seed(seed)
        steps = self.augment.transforms
        for step, own in zip(steps, np.random.SeedSequence(seed).generate_state(len(steps)), strict=True):
            step.set_random_seed(int(own))

    def for_domain(self, domain: str, class_names: Iterable[str] = ()) -> TrainingTransform:
        """This transform with the flips an item of ``domain`` (whose dataset has
        ``class_names``) may get; itself when it does not augment."""
        if self.augment is None:
            return self
        flips = allowed_flips(domain, class_names) if self.flip_p > 0 else ()
        if flips not in self._by_flips:
            augment = build_augmentations(self.flip_p, flips)
            self._by_flips[flips] = TrainingTransform(self.processor, augment)
        return self._by_flips[flips]

    def __call__(self, image: np.ndarray, mask: np.ndarray | None = None, **_: Any) -> dict[str, Any]:
        out = self.processor(image=image, mask=mask)
        if self.augment is None:
            return out
        return self.augment(**out)


def build_augmentations(flip_p: float = FLIP_P, flips: Iterable[str] = ()) -> Any:
    """The ``flips`` asked for (each with probability ``flip_p``), a small affine jitter (scale
    0.9–1.1, rotate ±10°, translate ±5 %) and mild brightness/contrast, as an
    ``albumentations.Compose``."""
    import albumentations as A
    import cv2

    flips = set(flips)
    unknown = flips - set(FLIPS)
    if unknown:
        raise ValueError(f"unknown flips {sorted(unknown)}; use {', '.join(FLIPS)}")
    steps: list[Any] = []
    if flip_p > 0 and "horizontal" in flips:
        steps.append(A.HorizontalFlip(p=flip_p))
    if flip_p > 0 and "vertical" in flips:
        steps.append(A.VerticalFlip(p=flip_p))
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


def build_transform(resolution: int, train: bool, flip_p: float = FLIP_P) -> TrainingTransform:
    """The dataset transform: train = resize + augmentations, flipping only as each item's
    domain allows (:meth:`TrainingTransform.for_domain`); eval = resize only.

    Called as is (without :meth:`~TrainingTransform.for_domain`), a training transform flips
    nothing: the safe choice when the domain is not known."""
    if resolution < 1:
        raise ValueError(f"resolution must be positive, got {resolution}")
    augment = build_augmentations(flip_p, ()) if train else None
    return TrainingTransform(ImageProcessor(resolution), augment, flip_p if train else 0.0)
