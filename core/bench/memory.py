"""Peak memory of one benchmark case, measured so that cases can be compared fairly.

- CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats`` — the tensors
  the case itself allocated, exact and independent of earlier cases.
- CPU: the process high-water mark (``ru_maxrss``) never goes down, so in one process a
  later case would inherit an earlier case's peak. Cases whose memory is the point (the
  raster tilers) therefore run each in a fresh process (genseg.bench.isolate) and report
  that process's ``ru_maxrss``; other CPU cases report :class:`RssSampler`'s peak increase
  of resident memory over the case's start, a lower bound (memory the allocator kept from
  earlier cases is reused without showing up).
"""

from __future__ import annotations

import os
import resource
import threading
from contextlib import contextmanager
from typing import Any

MB = 2**20


def current_rss() -> int:
    """Resident set size of this process in bytes (Linux /proc; elsewhere the high-water mark)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return max_rss()


def max_rss() -> int:
    """The process's peak resident set size in bytes (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if os.uname().sysname == "Darwin" else peak * 1024


class RssSampler:
    """Samples resident memory in a thread; ``peak_increase`` is the largest rise seen."""

    def __init__(self, interval_s: float = 0.002) -> None:
        self.interval_s = interval_s
        self.start = self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, current_rss())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self.start = self.peak = current_rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, current_rss())

    @property
    def peak_increase(self) -> int:
        return self.peak - self.start


@contextmanager
def peak_memory(device: str):
    """Yields a dict filled on exit with ``peak_memory_mb`` and the ``memory_method`` used."""
    import torch

    result: dict[str, Any] = {}
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        yield result
        torch.cuda.synchronize()
        result["peak_memory_mb"] = torch.cuda.max_memory_allocated() / MB
        result["memory_method"] = "torch.cuda.max_memory_allocated"
        return
    with RssSampler() as sampler:
        yield result
    result["peak_memory_mb"] = sampler.peak_increase / MB
    result["memory_method"] = "sampled RSS increase over the case's start (lower bound)"
