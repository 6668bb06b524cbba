"""Raster suite: genseg's streaming tiler against MONAI's ``SlidingWindowInferer``.

Both cut the same in-memory scene into the same tiles (size, overlap, hence stride and tile
count) and send the same batches of tiles through the same pipeline call, so what differs
is the tiler: genseg blends rows into a strip of one tile's height and hands finished rows
to a sink (here one that keeps nothing, as a streamed file writer does), MONAI accumulates
the whole scene's output and weight maps. Blending: genseg's raised-cosine edge ramp,
MONAI's ``gaussian`` mode. Both end in a thresholded label map.

Each case runs in a fresh process (``isolate``, the default) so its peak resident memory
(``ru_maxrss``) is its own, on CPU and CUDA alike; on CUDA the allocator's peak
(``max_memory_allocated``) is reported as well.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import numpy as np

from genseg.bench.config import BenchConfig
from genseg.errors import GenSegError

CASES = ("genseg_tiler", "monai_sliding_window")


class _DiscardSink:
    """Takes finished rows and keeps only a running count, as a streamed writer would."""

    def __init__(self) -> None:
        self.rows = 0

    def write_rows(self, row: int, labels: np.ndarray, probabilities: np.ndarray) -> None:
        self.rows += labels.shape[0]


def geometry(cfg: BenchConfig, resolution: int) -> tuple[int, int]:
    tile = cfg.tile or resolution
    overlap = tile // 4 if cfg.overlap is None else cfg.overlap
    return tile, overlap


def _genseg(pipe, scene: np.ndarray, cfg: BenchConfig, tile: int, overlap: int):
    from genseg.tiling import ArraySource, pipeline_predictor, segment_raster

    predict = pipeline_predictor(pipe, list(cfg.prompts), seed=cfg.seed)

    def call():
        sink = _DiscardSink()
        segment_raster(
            predict,
            ArraySource(scene),
            sink,
            len(cfg.prompts),
            tile,
            overlap,
            batch_size=cfg.tile_batch,
            progress=False,
        )
        return sink.rows

    return call


def _monai(pipe, scene: np.ndarray, cfg: BenchConfig, tile: int, overlap: int):
    import torch
    from monai.inferers import SlidingWindowInferer

    from genseg.tiling import pipeline_predictor

    predict = pipeline_predictor(pipe, list(cfg.prompts), seed=cfg.seed)
    inferer = SlidingWindowInferer(
        roi_size=(tile, tile), sw_batch_size=cfg.tile_batch, overlap=overlap / tile, mode="gaussian"
    )
    counter = {"tile": 0}

    def network(batch: torch.Tensor) -> torch.Tensor:
        tiles = [t.permute(1, 2, 0).numpy() for t in batch.cpu()]
        probs = predict(tiles, counter["tile"])
        counter["tile"] += len(tiles)
        return torch.from_numpy(probs)

    image = torch.from_numpy(scene).permute(2, 0, 1)[None]  # 1×3×H×W, a view of the same array

    def call():
        counter["tile"] = 0
        with torch.no_grad():
            probs = inferer(image, network)
        return (probs[0] > 0.5).to(torch.uint8)

    return call


def tile_count(size: int, tile: int, overlap: int) -> int:
    from genseg.tiling import TileGrid

    return len(TileGrid(size, size, tile, overlap))


def run_case(cfg: BenchConfig, case: str) -> dict[str, Any]:
    """One case in this process: build the pipeline and the scene, then time the tiler."""
    import monai.inferers  # noqa: F401  both cases start with the same libraries loaded

    from genseg.bench import inputs
    from genseg.bench.memory import MB, RssSampler, current_rss, max_rss, peak_memory
    from genseg.bench.models import load_bench_pipeline
    from genseg.bench.performance import prepare_pipeline
    from genseg.bench.timing import time_call

    pipe = prepare_pipeline(load_bench_pipeline(cfg), cfg.perf, cfg.device)
    tile, overlap = geometry(cfg, pipe.config.resolution)
    if cfg.scene < tile:
        from genseg.errors import ConfigError

        raise ConfigError(
            f"--scene {cfg.scene} is smaller than one tile ({tile})", fix=f"pass --scene ≥ {tile}"
        )
    scene = inputs.scene(cfg.scene, cfg.seed)
    build = _genseg if case == "genseg_tiler" else _monai
    call = build(pipe, scene, cfg, tile, overlap)
    start_rss = current_rss()
    timing = time_call(call, cfg.repeats, cfg.warmup, cfg.device)
    with RssSampler() as rss, peak_memory(cfg.device) as mem:  # one more call: sampling slows timed ones
        call()
    megapixels = cfg.scene * cfg.scene / 1e6
    row: dict[str, Any] = {
        **timing.as_dict(),
        "megapixels": megapixels,
        "megapixels_per_s": megapixels / timing.median_s,
        "tiles": tile_count(cfg.scene, tile, overlap),
        "tile": tile,
        "overlap": overlap,
        "rss_at_case_start_mb": start_rss / MB,
        "process_peak_rss_mb": max_rss() / MB,
        "case_peak_increase_mb": (max_rss() - start_rss) / MB,
        "isolated_process": False,
    }
    row["sampled_rss_increase_mb"] = rss.peak_increase / MB
    if cfg.device.startswith("cuda"):
        row["cuda_peak_allocated_mb"] = mem["peak_memory_mb"]
    return row


def _run_isolated(cfg: BenchConfig, case: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "genseg.bench.isolate", case, cfg.model_dump_json()]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise GenSegError(f"benchmark case {case} failed in its process: {tail[0]}", fix="rerun with --debug")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    row["isolated_process"] = True
    return row


def run_raster(cfg: BenchConfig) -> dict[str, Any]:
    cases = {c: (_run_isolated(cfg, c) if cfg.isolate else run_case(cfg, c)) for c in CASES}
    g, m = cases["genseg_tiler"], cases["monai_sliding_window"]
    if cfg.isolate:
        memory_key, method = "process_peak_rss_mb", "ru_maxrss of a fresh process per case"
    else:  # one process: its high-water mark is shared, so compare what each case added
        memory_key, method = "sampled_rss_increase_mb", "sampled RSS increase per case, one process"
    result: dict[str, Any] = {
        "inputs": {
            "scene": cfg.scene,
            "tile": g["tile"],
            "overlap": g["overlap"],
            "tile_batch": cfg.tile_batch,
        },
        "cases": cases,
        "throughput_ratio_genseg_vs_monai": g["megapixels_per_s"] / m["megapixels_per_s"],
        "memory_method": method,
        "peak_rss_ratio_genseg_vs_monai": g[memory_key] / m[memory_key] if m[memory_key] > 0 else None,
    }
    if "cuda_peak_allocated_mb" in g:
        result["cuda_peak_ratio_genseg_vs_monai"] = g["cuda_peak_allocated_mb"] / m["cuda_peak_allocated_mb"]
    return result
