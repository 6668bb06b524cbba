"""Layer search: score every block's probe maps on labelled data and name the expert.

Seg4Diff finds that one block of SD3 (block 9 of SD3-medium) grounds text far better than
the others; which block that is depends on the model, so it is measured, not assumed. One
forward pass per (image, prompt) records every block at once. Every class present in an
image is prompted by its name, thresholded on its own (rule "independent", as the
generator's masks are scored by `genseg evaluate`) and scored with `SegmentationMeter`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genseg.evaluation.metrics import SegmentationMeter, SegmentationScores


@dataclass
class LayerScore:
    layer: int
    scores: SegmentationScores

    def as_dict(self) -> dict:
        return {"layer": self.layer, **self.scores.as_dict()}


def _slices(image: np.ndarray, label: np.ndarray):
    """2D pairs of a 2D image or of every slice of a volume (D × H × W × C)."""
    if image.ndim == 4:
        for z in range(image.shape[0]):
            yield image[z], label[z]
    else:
        yield image, label


def score_layers(
    probe,
    folders: Sequence[Path],
    split: str = "test",
    limit: int | None = None,
    threshold: float = 0.5,
    seed: int = 0,
    progress: bool = True,
) -> list[LayerScore]:
    """One `LayerScore` per block of the probe's MM-DiT, in block order."""
    from rich.progress import track

    from genseg.evaluation.runner import load_pair, split_items
    from genseg.probe.maps import masks_from_maps

    layers = list(range(probe.num_layers))
    items = [it for f in folders for it in split_items(Path(f), split)]
    if limit:
        items = items[:limit]
    meters = {i: SegmentationMeter() for i in layers}
    for item in track(items, description=f"probing {len(layers)} layers", disable=not progress):
        if not item.classes:
            continue
        image_sample, label_sample, valid = load_pair(
            item.image, item.label, item.domain, item.ignore, item.options
        )
        image, label = image_sample.array, label_sample.array
        names = [name for name, _ in item.classes]
        for plane, truth_map in _slices(image, label):
            with torch.no_grad():
                recorded = probe.record(plane, names, layers, generator=torch.Generator().manual_seed(seed))
            for layer in layers:
                maps = probe.normalised(recorded.maps[layer][0].cpu(), recorded.size)
                masks = masks_from_maps(maps, threshold, "independent").numpy()
                for (name, values), pred in zip(item.classes, masks, strict=True):
                    truth = np.isin(truth_map, values)
                    if valid is not None and image.ndim == 3:
                        pred, truth = pred[valid], truth[valid]
                    meters[layer].update(torch.from_numpy(pred), torch.from_numpy(truth), name)
    return [LayerScore(i, meters[i].compute()) for i in layers]


def best_layer(scores: list[LayerScore]) -> LayerScore:
    """The "expert": highest mIoU (the lower block on a tie)."""
    return max(scores, key=lambda s: (s.scores.miou, -s.layer))
