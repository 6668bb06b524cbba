"""FLOPs of a forward (or training step) and model FLOP utilisation against the device's peak.

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode``; the real-size models
are counted on a copy built on the ``meta`` device (shapes propagate, nothing is computed),
so counting the 1.3B DiT costs neither time nor memory. MFU = achieved FLOP/s ÷ the device's
dense bf16 peak, only for devices in the table below and only for bf16 runs; any other case
gets no MFU rather than a guessed one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Dense (no sparsity) bf16 tensor-core peaks from the vendors' data sheets, FLOP/s.
BF16_PEAK: list[tuple[tuple[str, ...], float]] = [
    (("H200",), 989e12),
    (("H100", "PCIE"), 756e12),
    (("H100", "HBM3"), 989e12),  # the SXM part reports "NVIDIA H100 80GB HBM3"
    (("H100", "SXM"), 989e12),
    (("A100",), 312e12),
    (("L40S",), 362e12),
]


def bf16_peak(device_name: str | None) -> float | None:
    """The dense bf16 peak of a known GPU, else None (never a guess)."""
    if not device_name:
        return None
    name = device_name.upper()
    for keys, peak in BF16_PEAK:
        if all(k in name for k in keys):
            return peak
    return None


def count_flops(fn: Callable[[], Any]) -> int:
    """Total FLOPs of the torch ops ``fn`` runs (a multiply-add counts 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def mfu(flops: int | None, seconds: float, device_name: str | None, bf16: bool) -> float | None:
    """Model FLOP utilisation in [0, 1], or None when the device's peak is unknown or the run
    was not bf16 (the table holds bf16 peaks only)."""
    peak = bf16_peak(device_name) if bf16 else None
    if not flops or peak is None or seconds <= 0:
        return None
    return flops / seconds / peak
