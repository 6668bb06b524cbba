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


@dataclass
class SegmentedFile:
    input: Path
    outputs: list[Path]
    coverage: dict[str, float]  # fraction of pixels in each prompt's mask


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "prompt"


def output_is_file(output: Path) -> bool:
    """A name with an extension that is not an existing folder is one output file; an
    extension no installed writer handles is an error listing the writers."""
    if output.is_dir() or not output.suffix:
        return False
    from genseg.plugins.registry import find_writer

    find_writer(output)
    return True


def plan_outputs(inputs: list[Path], output: Path) -> dict[Path, dict[str, Path]]:
    """Where each input's masks go. A file OUT takes one input; a folder OUT takes many."""
    from genseg.data.io import stem

    single_file = output_is_file(output)
    if single_file and len(inputs) != 1:
        raise InputError(
            f"--output is a file but {len(inputs)} inputs were given",
            path=output,
            fix="pass a folder as --output to segment several images",
        )
    stems = [stem(src) for src in inputs]
    clash = sorted({s for s in stems if stems.count(s) > 1})
    if clash and not single_file:
        raise InputError(
            f"several inputs share the name {clash[0]!r}; their outputs would overwrite each other",
            path=output,
            fix="segment them in separate runs with different --output folders",
        )
    plan: dict[Path, dict[str, Path]] = {}
    for src, name in zip(inputs, stems, strict=True):
        base = output.parent / stem(output) if single_file else output / name
        plan[src] = {
            "mask": output if single_file else output / f"{name}_mask.png",
            "overlay": base.with_name(base.name + "_overlay.png"),
            "uncertainty": base.with_name(base.name + "_uncertainty.png"),
        }
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
    domain: str = "generic",
    options: dict | None = None,
) -> list[SegmentedFile]:
    """Segment ``inputs`` (read by whichever plugin claims them, preprocessed for ``domain``)."""
    import torch

    from genseg.data.io import load_image
    from genseg.data.readers import write_overlay_png, write_png_mask
    from genseg.models.text_encoder import validate_prompts
    from genseg.plugins.registry import write

    prompts = validate_prompts(prompts)
    for src in inputs:
        if not Path(src).exists():
            raise InputError("input not found", path=src, fix="check the path")
    samples = {src: load_image(src, domain, options) for src in inputs}  # all readable before any write
    for src, sample in samples.items():
        if sample.array.ndim != 3:
            raise InputError(
                f"input has shape {sample.array.shape}; genseg segment takes 2D images here",
                path=src,
                fix="segment a volume with the medical plugin (--domain medical), or pass 2D slices",
            )
    plan = plan_outputs(inputs, output)
    if not output_is_file(output):
        output.mkdir(parents=True, exist_ok=True)
    results = []
    from rich.progress import track

    for src in track(inputs, description="segmenting", disable=not progress or len(inputs) < 2):
        image = samples[src].array
        out = pipe(
            image,
            prompts,
            num_inference_steps=steps,
            ensemble_size=ensemble,
            threshold=threshold,
            generator=torch.Generator().manual_seed(seed),
        )
        masks, probs = out.masks[0], out.probabilities[0]
        write(plan[src]["mask"], label_map(masks, probs), reference=samples[src])
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
