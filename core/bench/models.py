"""The pipeline a benchmark times: a trained model folder, or the untrained tiny default."""

from __future__ import annotations

from typing import Any

from genseg.bench.config import BenchConfig

TINY_DEFAULT = "tiny default ModelConfig() (untrained: cost does not depend on weights)"


def load_bench_pipeline(cfg: BenchConfig):
    """The pipeline on CPU, eval mode, progress bars off (switches are applied later)."""
    if cfg.model:
        from genseg.pipeline import load_pipeline

        pipe = load_pipeline(cfg.model, device="cpu")
    else:
        from genseg.config import ModelConfig
        from genseg.pipeline import build_pipeline

        pipe = build_pipeline(ModelConfig(), seed=cfg.seed)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def model_info(pipe, cfg: BenchConfig) -> dict[str, Any]:
    return {
        "source": cfg.model or TINY_DEFAULT,
        "resolution": pipe.config.resolution,
        "denoiser": type(pipe.denoiser).__name__,
        "denoiser_parameters": sum(p.numel() for p in pipe.denoiser.parameters()),
        "text_encoder": type(pipe.text_encoder).__name__,
        "codec": type(pipe.codec).__name__,
    }
