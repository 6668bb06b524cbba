"""Median wall time of a callable after warm-up, with CUDA work finished before each clock read."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Timing:
    median_s: float
    runs_s: list[float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "median_s": self.median_s,
            "min_s": min(self.runs_s),
            "max_s": max(self.runs_s),
            "runs_s": self.runs_s,
        }


def synchronize(device: str) -> None:
    """CUDA kernels run asynchronously; without this the clock stops before the work does."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def time_call(fn: Callable[[], Any], repeats: int, warmup: int, device: str = "cpu") -> Timing:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed; the median resists
    the outliers a shared machine produces."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        runs.append(time.perf_counter() - t0)
    return Timing(statistics.median(runs), runs)
