"""Few-shot training sets: K labelled images per class, drawn deterministically from the seed.

A training item is an (image, class present in its label) pair. For each class of each
dataset, K of the images that contain it are drawn with a generator seeded by
(seed, dataset index, class key), and that class's mask is used from each. A class with
fewer than K images keeps all of them, with a warning that says how many were used. A set
smaller than one batch is repeated (each copy draws its own augmentation) to fill it.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter

import numpy as np


class ShotsWarning(UserWarning):
    """Fewer labelled images than `--shots` asked for."""


def select_shots(dataset, shots: int, seed: int, min_items: int = 1) -> dict[str, dict[str, int]]:
    """Keep `shots` pairs per (dataset, class) in `dataset.items`; returns the pairs used per class."""
    if shots < 1:
        raise ValueError(f"shots must be >= 1, got {shots}")
    groups: dict[tuple[int, str], list[int]] = {}
    for index, (_entry, key, ds) in enumerate(dataset.items):
        groups.setdefault((ds, key), []).append(index)
    keep: list[int] = []
    for (ds, key), indices in sorted(groups.items(), key=lambda kv: (kv[0][0], int(kv[0][1]))):
        spec = dataset.specs[ds]
        if len(indices) < shots:
            warnings.warn(
                f"{spec.name}: class {spec.classes[key].name!r} has {len(indices)} labelled training "
                f"images, fewer than --shots {shots}; using {len(indices)}",
                ShotsWarning,
                stacklevel=2,
            )
        rng = np.random.default_rng([seed, ds, int(key)])
        order = rng.permutation(len(indices))[:shots]
        keep += [indices[i] for i in sorted(order)]
    selected = [dataset.items[i] for i in sorted(keep)]
    dataset.items = selected * max(1, math.ceil(min_items / len(selected)))
    return pairs_per_class(dataset)


def pairs_per_class(dataset) -> dict[str, dict[str, int]]:
    """Distinct (image, class) pairs per dataset name and class name."""
    seen = {(ds, entry.image, key) for entry, key, ds in dataset.items}
    counts = Counter((dataset.specs[ds].name, dataset.specs[ds].classes[key].name) for ds, _, key in seen)
    out: dict[str, dict[str, int]] = {}
    for (name, cls), n in sorted(counts.items()):
        out.setdefault(name, {})[cls] = n
    return out


def images_used(dataset) -> dict[str, int]:
    """Distinct images per dataset name."""
    seen = {(ds, entry.image) for entry, _, ds in dataset.items}
    return dict(sorted(Counter(dataset.specs[ds].name for ds, _ in seen).items()))
