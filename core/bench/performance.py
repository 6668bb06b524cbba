"""The GPU path in one place: a pipeline (or a bare denoiser) in, the same object out, prepared.

Switches (genseg.bench.config.PerfOptions):
- bf16 autocast around the denoiser's and the text encoder's forward: matmuls and convolutions
  run in bfloat16 on tensor cores, reductions stay float32, weights stay float32 (so a
  prepared pipeline still saves the same checkpoint);
- PyTorch scaled-dot-product attention: diffusers' ``AttnProcessor2_0`` set on every attention
  layer (it is diffusers' default on torch ≥ 2; setting it makes the fact explicit and
  :func:`attention_processors` reports it); transformers text encoders use ``sdpa`` by default;
- channels-last weights for the U-Net (convolutions pick NHWC cuDNN kernels);
- ``torch.compile`` of the denoiser (``nn.Module.compile`` keeps the class, so genseg's
  ``isinstance`` dispatch in ``predict_velocity`` still works).
Batching is a call argument, not a switch: the pipeline's ``batch_size`` (rows per forward)
and ``segment_raster``'s ``batch_size`` (tiles per forward).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from genseg.bench.config import PerfOptions


def autocast_forward(module, device: str) -> None:
    import torch

    if getattr(module, "_genseg_autocast", False):
        return
    device_type = "cuda" if device.startswith("cuda") else "cpu"
    module.forward = torch.autocast(device_type, dtype=torch.bfloat16)(module.forward)
    module._genseg_autocast = True


def attention_processors(denoiser) -> dict[str, int]:
    """How many attention layers use each diffusers processor class (any module holding
    diffusers ``Attention`` layers, the late-fusion trunk's included)."""
    from diffusers.models.attention_processor import Attention

    return dict(Counter(type(m.processor).__name__ for m in denoiser.modules() if isinstance(m, Attention)))


def prepare_denoiser(denoiser, options: PerfOptions, device: str):
    """Apply the switches to a diffusers denoiser; returns it (moved to ``device``)."""
    import torch
    from diffusers import UNet2DConditionModel
    from diffusers.models.attention_processor import AttnProcessor2_0

    from genseg.models.late_fusion import LateFusionDenoiser

    opts = options.resolved(device)
    denoiser.to(device)
    if opts.sdpa:
        from diffusers.models.attention_processor import Attention

        for module in denoiser.modules():
            if isinstance(module, Attention):
                module.set_processor(AttnProcessor2_0())
    if opts.channels_last and isinstance(denoiser, (UNet2DConditionModel, LateFusionDenoiser)):
        denoiser.to(memory_format=torch.channels_last)
    if opts.bf16:
        autocast_forward(denoiser, device)
    if opts.compile and not getattr(denoiser, "_genseg_compiled", False):
        denoiser.compile(dynamic=False)
        denoiser._genseg_compiled = True
    return denoiser


def prepare_pipeline(pipe, options: PerfOptions, device: str):
    """Move ``pipe`` to ``device`` and apply the switches; returns the same pipeline."""
    opts = options.resolved(device)
    pipe.to(device)
    prepare_denoiser(pipe.denoiser, opts, device)
    if opts.bf16:
        autocast_forward(pipe.text_encoder, device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def describe(pipe_or_denoiser, options: PerfOptions, device: str) -> dict[str, Any]:
    """What was applied, for the JSON: the resolved switches and the attention kernels in use."""
    denoiser = getattr(pipe_or_denoiser, "denoiser", pipe_or_denoiser)
    info: dict[str, Any] = options.resolved(device).model_dump()
    info["attention_processors"] = attention_processors(denoiser)
    text = getattr(pipe_or_denoiser, "text_encoder", None)
    if text is not None and hasattr(text, "config"):
        info["text_encoder_attention"] = getattr(text.config, "_attn_implementation", None)
    return info
