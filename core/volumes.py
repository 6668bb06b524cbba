"""Slice-wise segmentation of a volume: every slice predicted, in batches, nothing skipped.

A D×H×W×C volume is cut along its first axis; slices go through the pipeline ``batch_size``
at a time with all prompts at once, and the masks are stacked back into D×H×W, so the
output lies on the input's voxel grid and can be written with the input's affine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from genseg.inference import InferenceOptions, inference_options


@dataclass
class VolumeSegmentation:
    masks: np.ndarray  # P×D×H×W bool
    probabilities: np.ndarray  # P×D×H×W float32
    uncertainty: np.ndarray | None  # P×D×H×W float32 with an ensemble


def segment_volume(
    pipe,
    volume: np.ndarray,
    prompts: Sequence[str],
    inference: InferenceOptions | None = None,
    *,
    progress: bool = True,
    **legacy: Any,
) -> VolumeSegmentation:
    """Segment every slice of ``volume`` (D×H×W×C, float in [0, 1]) for every prompt.

    ``inference`` gives the steps, ensemble, threshold, seed and ``batch_size`` (slices per
    pipeline call; batch ``b`` is seeded with ``seed + b``'s first slice index, so a slice's
    noise does not depend on the other batches); keyword arguments named as its fields
    (``batch_size=4``) are applied over it."""
    from rich.progress import track

    inference = inference_options(inference, **legacy).for_model(pipe)
    if volume.ndim != 4:
        raise ValueError(f"expected a D×H×W×C volume, got shape {volume.shape}")
    depth, batch_size = volume.shape[0], inference.batch_size
    masks, probs, unc = [], [], []
    starts = range(0, depth, batch_size)
    for start in track(starts, description="segmenting slices", disable=not progress or len(starts) < 2):
        batch = [volume[z] for z in range(start, min(start + batch_size, depth))]
        out = pipe(batch, list(prompts), **inference.pipeline_kwargs(start))
        masks.append(out.masks)  # B×P×H×W
        probs.append(out.probabilities)
        if out.uncertainty is not None:
            unc.append(out.uncertainty)
    # B×P×H×W batches → P×D×H×W
    stack = lambda parts: np.concatenate(parts, axis=0).transpose(1, 0, 2, 3)  # noqa: E731
    return VolumeSegmentation(
        masks=stack(masks).astype(bool),
        probabilities=stack(probs).astype(np.float32),
        uncertainty=stack(unc).astype(np.float32) if unc else None,
    )


def montage_slices(masks: np.ndarray, count: int = 4) -> list[int]:
    """Slices worth showing: evenly spread over those any mask touches (or over the volume)."""
    depth = masks.shape[1]
    touched = np.nonzero(masks.any(axis=(0, 2, 3)))[0]
    pool = touched if touched.size else np.arange(depth)
    picks = np.linspace(0, pool.size - 1, num=min(count, pool.size)).round().astype(int)
    return sorted({int(pool[i]) for i in picks})
