"""Training suite: one optimiser step of the denoiser (forward, backward, AdamW), plain and
with gradient checkpointing, on the rectified-flow loss the trainer uses.

Each variant trains its own copy of the denoiser, so the pipeline the other suites time is
never changed. bf16 autocast on CUDA mirrors accelerate's mixed precision. The real-size
denoisers train only on CUDA: their AdamW state alone (weights, gradients and two moments in
float32, 16 bytes per parameter) is 14 to 21 GB, more than a shared CPU host should give.
"""

from __future__ import annotations

import copy
from typing import Any

from genseg.bench import flops as fl
from genseg.bench import inputs, real_size
from genseg.bench.config import BenchConfig
from genseg.bench.memory import peak_memory
from genseg.bench.timing import time_call

VARIANTS: dict[str, dict[str, Any]] = {
    "adamw": {"gradient_checkpointing": False},
    "adamw+gradient_checkpointing": {"gradient_checkpointing": True},
}


def _step_fn(denoiser, batch, device: str, bf16: bool, optimizer=None):
    """One training step; without an optimizer only forward + backward (for counting FLOPs)."""
    import torch
    import torch.nn.functional as F

    from genseg.models.denoisers import predict_velocity
    from genseg.objective.flow import interpolate, velocity_target

    x0, z_image, t, text, context = batch
    noise = torch.randn_like(x0)
    x_t = interpolate(x0, noise, t)
    target = velocity_target(x0, noise)
    device_type = "cuda" if device.startswith("cuda") else "cpu"

    def step():
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
            trunk = None if context is None else denoiser.image_features(z_image, context)
            v = predict_velocity(denoiser, x_t, z_image, t, text, image_features=trunk)
        loss = F.mse_loss(v.float(), target)
        loss.backward()
        if optimizer is not None:
            optimizer.step()
        denoiser.zero_grad(set_to_none=True)
        return loss

    return step


def _variant(
    cfg: BenchConfig, base, batch, rows: int, gpu: str | None, checkpointing: bool
) -> dict[str, Any]:
    from genseg.training.memory_saving import build_optimizer, enable_gradient_checkpointing

    opts = cfg.perf.resolved(cfg.device)
    denoiser = copy.deepcopy(base).to(cfg.device).train()
    if checkpointing and not enable_gradient_checkpointing(denoiser):
        return {"skipped": f"{type(denoiser).__name__} does not support gradient checkpointing"}
    if opts.channels_last:
        from diffusers import UNet2DConditionModel

        if isinstance(denoiser, UNet2DConditionModel):
            import torch

            denoiser.to(memory_format=torch.channels_last)
    flops = fl.count_flops(_step_fn(denoiser, batch, cfg.device, bool(opts.bf16)))
    optimizer = build_optimizer(denoiser.parameters(), "adamw", 1e-4, 0.0)
    step = _step_fn(denoiser, batch, cfg.device, bool(opts.bf16), optimizer)
    timing = time_call(step, cfg.repeats, cfg.warmup, cfg.device)
    with peak_memory(cfg.device) as mem:  # a separate step: a sampling thread would slow the timed ones
        step()
    row = {
        **timing.as_dict(),
        "batch": rows,
        "samples_per_s": rows / timing.median_s,
        "flops_per_step": flops,
        "achieved_tflops": flops / timing.median_s / 1e12,
        "mfu": fl.mfu(flops, timing.median_s, gpu, bool(opts.bf16)),
        **mem,
    }
    del denoiser, optimizer
    if cfg.device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
    return row


def run_train(cfg: BenchConfig, pipe, gpu: str | None) -> dict[str, Any]:
    batch = inputs.denoiser_inputs(pipe, cfg.train_batch, list(cfg.prompts), cfg.device, cfg.seed)
    tiny = {
        name: _variant(cfg, pipe.denoiser, batch, cfg.train_batch, gpu, v["gradient_checkpointing"])
        for name, v in VARIANTS.items()
    }
    result: dict[str, Any] = {
        "inputs": {"batch": cfg.train_batch, "latent": list(batch[0].shape[1:])},
        "genseg": tiny,
    }
    if cfg.real_size:
        result["real_size"] = _real_size(cfg, gpu)
    return result


def _real_size(cfg: BenchConfig, gpu: str | None) -> dict[str, Any]:
    if not cfg.device.startswith("cuda"):
        return {
            "skipped": "real-size training is measured on CUDA only (16 bytes of AdamW state per parameter)"
        }
    out: dict[str, Any] = {}
    for name in real_size.CONFIGS:
        model = real_size.build(name)
        x = real_size.inputs(1, cfg.device, cfg.seed)
        batch = (x.latent, x.image_latent, x.t, x.text)
        out[name] = {
            v_name: _variant(cfg, model, batch, 1, gpu, v["gradient_checkpointing"])
            for v_name, v in VARIANTS.items()
        }
        del model
    return out
