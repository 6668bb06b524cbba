"""Volume suite: slice-wise segmentation (genseg.volumes) of one synthetic volume, one slice
per forward against batched slices, to show what batching buys."""

from __future__ import annotations

from typing import Any

from genseg.bench import inputs
from genseg.bench.config import BenchConfig
from genseg.bench.memory import peak_memory
from genseg.bench.timing import time_call


def run_volume(cfg: BenchConfig, pipe) -> dict[str, Any]:
    from genseg.volumes import segment_volume

    depth, height, width = cfg.volume
    vol = inputs.volume(depth, height, width, cfg.seed)
    cases: dict[str, Any] = {}
    for batch in cfg.volume_batches:

        def call(b=batch):
            return segment_volume(pipe, vol, list(cfg.prompts), batch_size=b, seed=cfg.seed, progress=False)

        timing = time_call(call, cfg.repeats, cfg.warmup, cfg.device)
        with peak_memory(cfg.device) as mem:  # a separate call: sampling would slow the timed ones
            call()
        cases[str(batch)] = {
            **timing.as_dict(),
            "batch_size": batch,
            "slices_per_s": depth / timing.median_s,
            **mem,
        }
    result: dict[str, Any] = {
        "inputs": {"shape": [depth, height, width, 3], "prompts": list(cfg.prompts)},
        "batches": cases,
    }
    if len(cases) > 1:
        first, last = cases[str(cfg.volume_batches[0])], cases[str(cfg.volume_batches[-1])]
        result["batching_speedup"] = first["median_s"] / last["median_s"]
    return result
