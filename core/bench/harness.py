"""Runs the chosen suites and assembles one JSON record: machine, versions, commit, config, figures."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from genseg import provenance
from genseg.bench.config import BenchConfig
from genseg.errors import ConfigError

SCHEMA = "genseg-bench/1"
LIBRARIES = ("torch", "diffusers", "transformers", "monai", "accelerate", "numpy", "bitsandbytes")
"""The libraries a timing depends on, recorded with it."""


def _check_device(cfg: BenchConfig) -> None:
    import torch

    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "--device cuda but torch sees no CUDA device", fix="run on a GPU machine or --device cpu"
        )
    if cfg.dataset and not Path(cfg.dataset, "dataset.json").is_file():
        raise ConfigError(
            "not a dataset folder (no dataset.json)", path=cfg.dataset, fix="pass a labelled dataset"
        )


def run_bench(cfg: BenchConfig, say: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Every requested suite on the same pipeline and inputs; returns the record (not written)."""
    import torch

    from genseg.bench.models import load_bench_pipeline, model_info
    from genseg.bench.performance import describe, prepare_pipeline

    _check_device(cfg)
    torch.manual_seed(cfg.seed)
    machine = provenance.machine(cfg.device)
    gpu = machine["gpu"]["name"] if machine["gpu"] else None
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "libraries": provenance.versions(LIBRARIES),
        "git_commit": provenance.git_commit(),
        "config": cfg.model_dump(mode="json"),
        "suites": {},
    }
    say("building the model")
    pipe = load_bench_pipeline(cfg)
    record["model"] = model_info(pipe, cfg)
    flops = None
    if "infer" in cfg.suites:  # FLOPs counted on the eager float32 model, before any switch
        from genseg.bench import inputs
        from genseg.bench.suite_infer import genseg_flops

        pipe.to(cfg.device)
        imgs = inputs.images(cfg.batch, pipe.config.resolution, cfg.seed)
        flops = genseg_flops(pipe, imgs, list(cfg.prompts), cfg.steps, cfg.seed)
    if "train" in cfg.suites:  # before the switches too: training copies the eager denoiser
        from genseg.bench.suite_train import run_train

        say("train suite")
        pipe.to(cfg.device)
        record["suites"]["train"] = run_train(cfg, pipe, gpu)
    pipe = prepare_pipeline(pipe, cfg.perf, cfg.device)
    record["model"]["performance"] = describe(pipe, cfg.perf, cfg.device)
    if "infer" in cfg.suites:
        from genseg.bench.suite_infer import run_infer

        say("infer suite")
        record["suites"]["infer"] = run_infer(cfg, pipe, flops or {}, gpu)
    if "volume" in cfg.suites:
        from genseg.bench.suite_volume import run_volume

        say("volume suite")
        record["suites"]["volume"] = run_volume(cfg, pipe)
    if "raster" in cfg.suites:
        from genseg.bench.suite_raster import run_raster

        say("raster suite")
        del pipe  # the raster cases build their own (in fresh processes by default)
        record["suites"]["raster"] = run_raster(cfg)
    return record


def write_record(record: dict[str, Any], path: str | Path) -> Path:
    """Write the record as JSON under a temporary name, then rename it into place."""
    from genseg.data.atomic import atomic_write

    text = json.dumps(record, indent=2, default=str)
    return atomic_write(path, lambda tmp: tmp.write_text(text + "\n"))
