"""Inference suite: genseg at 1, 10 and 50 Euler steps, CLIPSeg, and the real-size denoisers.

Every case sees the same images and prompts. genseg is timed end to end (a pipeline call:
tokenising, resizing, encoding, denoising, decoding); CLIPSeg only its forward on tensors
already prepared (no processor), which if anything favours the peer.
"""

from __future__ import annotations

from typing import Any

from genseg.bench import flops as fl
from genseg.bench import inputs, real_size
from genseg.bench.config import BenchConfig
from genseg.bench.memory import peak_memory
from genseg.bench.timing import time_call


def _case(fn, cfg: BenchConfig, items: int, flops: int | None, gpu: str | None, bf16: bool) -> dict[str, Any]:
    timing = time_call(fn, cfg.repeats, cfg.warmup, cfg.device)
    with peak_memory(cfg.device) as mem:  # a separate call: a sampling thread would slow the timed ones
        fn()
    row = {**timing.as_dict(), "items": items, "items_per_s": items / timing.median_s, **mem}
    if flops:
        row["flops"] = flops
        row["achieved_tflops"] = flops / timing.median_s / 1e12
        row["mfu"] = fl.mfu(flops, timing.median_s, gpu, bf16)
    return row


def _genseg_call(pipe, imgs, prompts, steps: int, seed: int):
    import torch

    rows = len(imgs) * len(prompts)

    def call():
        return pipe(
            imgs,
            prompts,
            num_inference_steps=steps,
            generator=torch.Generator().manual_seed(seed),
            batch_size=rows,
        )

    return call


def genseg_flops(pipe, imgs, prompts, steps: list[int], seed: int) -> dict[int, int]:
    """FLOPs of one call per step count: counted at 1 and 2 steps, the rest follow linearly
    (each extra Euler step is one more denoiser pass on the same rows)."""
    pipe.cached_text(list(prompts))  # timed calls find the prompts cached: count them the same way
    one = fl.count_flops(_genseg_call(pipe, imgs, prompts, 1, seed))
    per_step = fl.count_flops(_genseg_call(pipe, imgs, prompts, 2, seed)) - one
    return {s: one + (s - 1) * per_step for s in steps}


def clipseg_case(cfg: BenchConfig, resolution: int, rows: int, text_length: int, gpu, bf16: bool):
    """CLIPSeg (transformers' default config, random weights) on ``rows`` image-prompt pairs at
    genseg's input resolution (position embeddings interpolated)."""
    import torch
    from transformers import CLIPSegConfig, CLIPSegForImageSegmentation

    from genseg.bench.performance import autocast_forward

    torch.manual_seed(cfg.seed)
    config = CLIPSegConfig()
    model = CLIPSegForImageSegmentation(config).eval().to(cfg.device)
    g = torch.Generator().manual_seed(cfg.seed)
    pixels = torch.rand(rows, 3, resolution, resolution, generator=g).to(cfg.device)
    ids = torch.randint(0, config.text_config.vocab_size, (rows, text_length), generator=g).to(cfg.device)

    def call():
        with torch.no_grad():
            return model(input_ids=ids, pixel_values=pixels, interpolate_pos_encoding=True).logits

    flops = fl.count_flops(call)
    if bf16:
        autocast_forward(model, cfg.device)
    row = _case(call, cfg, rows, flops, gpu, bf16)
    row["parameters"] = sum(p.numel() for p in model.parameters())
    row["input_resolution"] = resolution
    return row


def real_size_rows(cfg: BenchConfig, gpu, bf16: bool) -> dict[str, Any]:
    """Parameters and FLOPs of each real-size denoiser (counted on the meta device, always);
    its forward timed (batch 1, one step = one forward) only with ``--real-size``."""
    import torch

    from genseg.bench.performance import prepare_denoiser
    from genseg.models.denoisers import predict_velocity

    out: dict[str, Any] = {}
    for name in real_size.CONFIGS:
        shell = real_size.build(name, "meta")
        x = real_size.inputs(1, "meta")
        with torch.no_grad():
            flops = fl.count_flops(
                lambda m=shell, x=x: predict_velocity(m, x.latent, x.image_latent, x.t, x.text)
            )
        row: dict[str, Any] = {
            "parameters": real_size.parameter_count(shell),
            "image_size": real_size.IMAGE_SIZE,
            "latent_size": real_size.LATENT_SIZE,
            "flops_per_forward": flops,
        }
        del shell
        if cfg.real_size:
            model = prepare_denoiser(
                real_size.build(name), cfg.perf.model_copy(update={"compile": False}), cfg.device
            )
            x = real_size.inputs(1, cfg.device, cfg.seed)

            def call(m=model, x=x):
                with torch.no_grad():
                    return predict_velocity(m, x.latent, x.image_latent, x.t, x.text)

            row.update(_case(call, cfg, 1, flops, gpu, bf16))
            del model
        out[name] = row
    return out


def run_infer(cfg: BenchConfig, pipe, flops: dict[int, int], gpu: str | None) -> dict[str, Any]:
    """``pipe`` is prepared (switches applied); ``flops`` counted beforehand on the eager model."""
    bf16 = bool(cfg.perf.resolved(cfg.device).bf16)
    res = pipe.config.resolution
    imgs = inputs.images(cfg.batch, res, cfg.seed)
    prompts = list(cfg.prompts)
    rows = len(imgs) * len(prompts)
    genseg = {}
    for steps in cfg.steps:
        call = _genseg_call(pipe, imgs, prompts, steps, cfg.seed)
        genseg[str(steps)] = _case(call, cfg, rows, flops.get(steps), gpu, bf16)
    result: dict[str, Any] = {
        "inputs": {"images": len(imgs), "prompts": prompts, "resolution": res, "rows": rows},
        "genseg_steps": genseg,
    }
    if "1" in genseg and "50" in genseg:
        result["speedup_1_vs_50"] = genseg["50"]["median_s"] / genseg["1"]["median_s"]
    if "1" in genseg and "10" in genseg:
        result["speedup_1_vs_10"] = genseg["10"]["median_s"] / genseg["1"]["median_s"]
    text = time_call(lambda: pipe.encode_text(prompts), cfg.repeats, cfg.warmup, cfg.device)
    # paid once per prompt set: the pipeline caches prompt features, so timed calls skip it
    result["text_encoding"] = text.as_dict()
    result["peers"] = {
        "clipseg": clipseg_case(cfg, res, rows, pipe.config.max_text_length, gpu, bf16),
    }
    result["peers"]["clipseg"]["time_vs_genseg_1_step"] = (
        result["peers"]["clipseg"]["median_s"] / genseg["1"]["median_s"] if "1" in genseg else None
    )
    if cfg.model and cfg.dataset:
        result["miou"] = miou_by_steps(pipe, cfg)
        m = result["miou"]
        if "1" in m and "50" in m:
            result["miou_gap_50_minus_1"] = m["50"] - m["1"]
    result["real_size"] = real_size_rows(cfg, gpu, bf16)
    return result


def miou_by_steps(pipe, cfg: BenchConfig) -> dict[str, float]:
    """mIoU of the same test images at each step count (the first ``eval_limit`` images)."""
    from pathlib import Path

    from genseg.evaluation.runner import evaluate_pipeline

    return {
        str(s): float(
            evaluate_pipeline(
                pipe,
                [Path(cfg.dataset)],
                split="test",
                steps=s,
                seed=cfg.seed,
                progress=False,
                limit=cfg.eval_limit,
            ).miou
        )
        for s in cfg.steps
    }
