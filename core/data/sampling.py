"""Which (image or slice, class) pairs a training epoch draws: class-balanced, with absent prompts.

Enumerating (image, class present) pairs trains small organs only in proportion to their
slices and never prompts a class the image lacks, so a model never learns to answer
"absent". :func:`draw_plan` lays out one epoch instead: a share ``absent_fraction`` of the
positions names a class absent from its image (an all-zero mask), the others a class
present; with ``class_balanced`` the classes come round in shuffled blocks, each class once
per block, and each class's images or slices are drawn without replacement until they run
out. The plan depends on ``(seed, epoch)`` alone, so a resumed run and every DataLoader
worker draw the same epoch; the dataset maps its index ``i`` to position ``i`` of the plan.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

_STREAM = 0x5A3  # keeps the plan's random stream apart from the per-item streams


class _Cycle:
    """Draws from ``pool`` without replacement, reshuffling each time it runs out."""

    def __init__(self, pool: Sequence[int], rng: np.random.Generator) -> None:
        self.pool, self.rng, self.order, self.next = list(pool), rng, [], 0

    def draw(self) -> int:
        if self.next >= len(self.order):
            self.order, self.next = self.rng.permutation(len(self.pool)).tolist(), 0
        self.next += 1
        return self.pool[self.order[self.next - 1]]


def _blocks(classes: Sequence[Hashable], n: int, rng: np.random.Generator) -> list[Hashable]:
    """``n`` classes: shuffled blocks holding each class once (every class by position len(classes))."""
    out: list[Hashable] = []
    while len(out) < n:
        out += [classes[i] for i in rng.permutation(len(classes))]
    return out[:n]


def _pools(classes_of: Sequence[Hashable]) -> dict[Hashable, list[int]]:
    pools: dict[Hashable, list[int]] = {}
    for index, cls in enumerate(classes_of):
        pools.setdefault(cls, []).append(index)
    return pools


def draw_plan(
    present_classes: Sequence[Hashable],
    absent_classes: Sequence[Hashable],
    size: int,
    class_balanced: bool,
    absent_fraction: float,
    seed: int,
    epoch: int,
) -> list[tuple[bool, int]]:
    """One epoch of ``size`` draws, as ``(absent, index)`` pairs.

    ``present_classes[i]`` is the class of present pair ``i`` (an image or slice where the
    class occurs), ``absent_classes[j]`` that of absent candidate ``j`` (an image or slice of a
    completely labelled dataset where the class does not occur); ``index`` points into the
    list its flag names. ``round(size * absent_fraction)`` positions are absent draws (none
    without candidates). Same arguments, same plan.
    """
    if size < 1 or not present_classes:
        raise ValueError("a plan needs a positive size and at least one present pair")
    if not 0 <= absent_fraction < 1:
        raise ValueError(f"absent_fraction must be in [0, 1), got {absent_fraction}")
    rng = np.random.default_rng([seed, epoch, _STREAM])
    n_absent = round(size * absent_fraction) if absent_classes else 0
    n_present = size - n_absent

    def draws(classes_of: Sequence[Hashable], n: int) -> list[int]:
        if n == 0:
            return []
        if not class_balanced:
            cycle = _Cycle(range(len(classes_of)), rng)
            return [cycle.draw() for _ in range(n)]
        pools = _pools(classes_of)
        order = sorted(pools, key=str)  # a fixed order before shuffling: hash seeds must not matter
        cycles = {cls: _Cycle(pools[cls], rng) for cls in order}
        return [cycles[cls].draw() for cls in _blocks(order, n, rng)]

    present = [(False, i) for i in draws(present_classes, n_present)]
    absent = [(True, j) for j in draws(absent_classes, n_absent)]
    plan = present + absent
    return [plan[i] for i in rng.permutation(size)]
