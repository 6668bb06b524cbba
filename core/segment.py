"""Segment image files from prompts and write masks and overlays (what `genseg segment` does).

All inputs are read and checked before anything is written; each output is written to a
temporary name and renamed, so a failure leaves no file that looks complete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genseg.errors import InputError

IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp"}


@dataclass
class SegmentedFile:
    input: Path
    outputs: list[Path]
    coverage: dict[str, float]  # fraction of pixels in each prompt's mask


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "prompt"


def plan_outputs(inputs: list[Path], output: Path) -> dict[Path, dict[str, Path]]:
    """Where each input's masks go. A file OUT takes one input; a folder OUT takes many."""
    single_file = output.suffix.lower() in IMAGE_SUFFIXES
    if single_file and len(inputs) != 1:
        raise InputError(
            f"--output is a file but {len(inputs)} inputs were given",
            path=output,
            fix="pass a folder as --output to segment several images",
        )
    stems = [Path(src).stem for src in inputs]
    clash = sorted({s for s in stems if stems.count(s) > 1})
    if clash and not single_file:
        raise InputError(
            f"several inputs share the name {clash[0]!r}; their outputs would overwrite each other",
            path=output,
            fix="segment them in separate runs with different --output folders",
        )
    plan: dict[Path, dict[str, Path]] = {}
    for src in inputs:
        if single_file:
            mask = output.with_suffix(".png")  # masks are always PNG: lossless, integer
            plan[src] = {"mask": mask, "overlay": mask.with_name(mask.stem + "_overlay.png")}
        else:
            plan[src] = {
                "mask": output / f"{src.stem}_mask.png",
                "overlay": output / f"{src.stem}_overlay.png",
            }
        plan[src]["uncertainty"] = plan[src]["mask"].with_name(plan[src]["mask"].stem + "_uncertainty.png")
    return plan


def label_map(masks: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """P×H×W masks → H×W uint8: 0 nothing, i+1 where prompt i is on and most probable."""
    if masks.shape[0] == 1:
        return masks[0].astype(np.uint8) * 255
    best = np.where(masks, probs, -1.0).argmax(0)
    return np.where(masks.any(0), best + 1, 0).astype(np.uint8)


def segment_files(
    pipe,
    inputs: list[Path],
    prompts: list[str],
    output: Path,
    steps: int = 1,
    ensemble: int = 1,
    threshold: float = 0.5,
    seed: int = 0,
    progress: bool = True,
) -> list[SegmentedFile]:
    import torch

    from genseg.data.readers import read_image, write_overlay_png, write_png_mask
    from genseg.models.text_encoder import validate_prompts

    prompts = validate_prompts(prompts)
    for src in inputs:
        if not Path(src).is_file():
            raise InputError("input image not found", path=src, fix="check the path")
    images = {src: read_image(src) for src in inputs}  # every input readable before any write
    plan = plan_outputs(inputs, output)
    if output.suffix.lower() not in IMAGE_SUFFIXES:
        output.mkdir(parents=True, exist_ok=True)
    results = []
    from rich.progress import track

    for src in track(inputs, description="segmenting", disable=not progress or len(inputs) < 2):
        image = images[src]
        out = pipe(
            image,
            prompts,
            num_inference_steps=steps,
            ensemble_size=ensemble,
            threshold=threshold,
            generator=torch.Generator().manual_seed(seed),
        )
        masks, probs = out.masks[0], out.probabilities[0]
        write_png_mask(plan[src]["mask"], label_map(masks, probs))
        write_overlay_png(plan[src]["overlay"], image, [m for m in masks], prompts)
        written = [plan[src]["mask"], plan[src]["overlay"]]
        if out.uncertainty is not None:
            unc = out.uncertainty[0].max(0)
            write_png_mask(plan[src]["uncertainty"], np.clip(unc * 2 * 255, 0, 255).astype(np.uint8))
            written.append(plan[src]["uncertainty"])
        results.append(
            SegmentedFile(src, written, {p: float(m.mean()) for p, m in zip(prompts, masks, strict=False)})
        )
    return results
