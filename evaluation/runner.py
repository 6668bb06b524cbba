"""Score a model on a dataset split, prompting each image with class names.

Two prompting protocols:

- ``semantic`` (the default of ``genseg evaluate`` and the benchmark): every class of the
  dataset is prompted on every image (every slice of a volume), absent classes included, so
  a mask predicted where the class is not is a false positive in that class's IoU: scores as a
  user meets them, who does not know in advance what an image contains.
- ``referring``: only the classes present in the image are prompted (referring-segmentation
  style); a model that never answers "absent" is not penalised. Datasets whose dataset.json
  says ``"labels_complete": false`` (a class missing from a label map may still be in the
  image) are always scored this way, since an "absent" class there is not known to be absent.

Predictions are made at the image's own size (the pipeline resizes back), so scores are
what a user gets on their files, not on a resized copy. An image that `genseg segment` would
cut into tiles (:func:`genseg.segment_tiled.tiling_for`: the domain's default, or
``tile_size``) is predicted through the same tiler, so its scores are those of the tiled
masks on the image's own grid rather than of the image shrunk whole. A volume is predicted
slice by slice; its slices are scored as pairs but resampled together (the scan is the
bootstrap unit), and it gets per-volume Dice, IoU, HD95 and normalised surface Dice in
millimetres.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genseg.data.bands import band_options, layout_of, model_input
from genseg.evaluation.metrics import SURFACE_TOLERANCE_MM, SegmentationMeter, SegmentationScores
from genseg.inference import InferenceOptions, inference_options
from genseg.segment_tiled import tiling_for
from genseg.tiling import ArraySink, ArraySource, pipeline_predictor, segment_raster

PROMPTINGS = ("semantic", "referring")


@dataclass
class EvalItem:
    image: Path
    label: Path
    classes: list[tuple[str, list[int]]]  # class name, label values
    domain: str = "generic"
    ignore: list[int] = field(default_factory=list)  # label values kept out of the scores
    options: dict[str, str] = field(default_factory=dict)  # dataset.json "preprocessing"
    prompting: str = "referring"  # how `classes` was chosen: semantic (all) or referring (present)
    depth: int | None = None  # slices, when the label is a volume


def check_prompting(prompting: str) -> str:
    from genseg.errors import ConfigError

    if prompting not in PROMPTINGS:
        raise ConfigError(f"unknown prompting {prompting!r}", fix=f"use one of {', '.join(PROMPTINGS)}")
    return prompting


def dataset_prompting(spec, requested: str = "semantic") -> str:
    """The prompting a dataset is scored with: ``requested``, except referring where the
    dataset declares its labels incomplete (an unlabelled class is not known to be absent)."""
    check_prompting(requested)
    if requested == "semantic" and not getattr(spec, "labels_complete", True):
        return "referring"
    return requested


def split_items(folder: Path, split: str, prompting: str = "referring") -> list[EvalItem]:
    """The labelled entries of a split with the classes to prompt on each: every class of the
    dataset (``semantic``; referring where its labels are incomplete) or the classes present
    in the label (``referring``, the default here for the probe's callers)."""
    from genseg.data.io import load_label
    from genseg.data.schema import load_dataset_spec, preprocessing_options, resolve_path
    from genseg.errors import DatasetError

    spec = load_dataset_spec(folder)
    entries = getattr(spec, split, None)
    if entries is None or split not in ("training", "validation", "test"):
        raise DatasetError(
            f"unknown split {split!r}", path=folder / "dataset.json", fix="use training, validation or test"
        )
    if not entries:
        raise DatasetError(
            f"the {split} split is empty",
            path=folder / "dataset.json",
            fix="list images under that split or choose another --split",
        )
    mode = dataset_prompting(spec, prompting)
    items = []
    for e in entries:
        if e.label is None:
            continue
        image_path, label_path = resolve_path(folder, e.image), resolve_path(folder, e.label)
        label = load_label(label_path).array
        present = [
            (c.name, spec.class_values(k))
            for k, c in spec.classes.items()
            if mode == "semantic" or np.isin(label, spec.class_values(k)).any()
        ]
        options = preprocessing_options(spec)
        depth = int(label.shape[0]) if label.ndim == 3 else None
        items.append(
            EvalItem(image_path, label_path, present, spec.domain, list(spec.ignore), options, mode, depth)
        )
    return items


def load_pair(image: Path, label: Path, domain: str, ignore: Sequence[int] = (), options=None):
    """An image and its label map, read through the plugins and checked to match, with the
    mask of pixels that count (None when all do: no nodata, no ignored label value)."""
    from genseg.data.io import load_image, load_label
    from genseg.data.schema import valid_label_pixels
    from genseg.errors import InputError

    image_sample, label_sample = load_image(image, domain, options), load_label(label)
    if image_sample.array.shape[:-1] != label_sample.array.shape:
        raise InputError(
            f"image is {image_sample.array.shape[:-1]} but its label {Path(label).name} is "
            f"{label_sample.array.shape}",
            path=image,
            fix="fix the label file so it matches its image",
        )
    valid = valid_label_pixels(label_sample, list(ignore), image_sample.meta.get("valid_mask"))
    return image_sample, label_sample, valid


def evaluate_pipeline(
    pipe,
    folders: Sequence[Path],
    split: str = "test",
    inference: InferenceOptions | None = None,
    *,
    progress: bool = True,
    limit: int | None = None,
    prompting: str = "semantic",
    surface_tolerance: float = SURFACE_TOLERANCE_MM,
    bootstrap: int = 0,
    **legacy: Any,
) -> SegmentationScores:
    """Scores of ``pipe`` on a split; ``prompting`` is semantic (every class on every image)
    or referring (present classes only); see the module docstring. A volume's slices are
    scored as pairs of one unit (the scan), and the scan gets per-volume scores too (Dice,
    IoU, HD95, NSD at ``surface_tolerance`` mm): see :mod:`genseg.evaluation.metrics`.
    ``bootstrap`` resamples (seeded by ``inference.seed``) give 95 % intervals over those
    units. ``inference`` is what `genseg segment` takes (its keyword arguments, ``steps=2``,
    are applied over it); its ``tile_size`` as there: None tiles the images segment tiles by
    default in their domain, 0 predicts every image whole, N tiles images larger than N. Each
    dataset's own domain and preprocessing apply, not ``inference.domain``."""
    import torch
    from rich.progress import track

    inference = inference_options(inference, **legacy).for_model(pipe)
    tile_size, seed = inference.tile_size, inference.seed

    items = [it for f in folders for it in split_items(Path(f), split, prompting)]
    if limit:
        items = items[:limit]
    # how each domain's images are predicted (a bad tile_size fails here, before predicting)
    policies = {d: tiling_for(d, tile_size, pipe.config.resolution) for d in {it.domain for it in items}}
    meter = SegmentationMeter(surface_tolerance)
    for item in track(items, description=f"evaluating {split}", disable=not progress):
        if not item.classes:
            continue
        layout = layout_of(pipe)
        image_sample, label_sample, valid = load_pair(
            item.image, item.label, item.domain, item.ignore, band_options(layout, item.options)
        )
        image, label = image_sample.array, label_sample.array
        if image.ndim == 3:  # the channels the network reads, by name (genseg.data.bands)
            image = model_input(image, image_sample.meta.get("bands"), layout, item.image)
        names = [name for name, _ in item.classes]
        if image.ndim == 4:  # a volume: every slice is predicted and scored, empty ones included
            from genseg.volumes import segment_volume

            seg = segment_volume(pipe, image, names, inference, progress=False)
            spacing = image_sample.meta.get("spacing")
            for (name, values), pred in zip(item.classes, seg.masks, strict=True):
                # slice pairs for the pixel scores, the scan as their bootstrap unit, and the
                # per-volume scores (HD95 and NSD in mm from the voxel spacing)
                meter.update_volume(
                    torch.from_numpy(np.asarray(pred)),
                    torch.from_numpy(np.isin(label, values)),
                    name,
                    volume_id=str(item.image),
                    valid=None if valid is None else torch.from_numpy(valid),
                    spacing=None if spacing is None else tuple(spacing),
                    slices=True,
                )
            continue
        policy = policies[item.domain]
        if policy.tiles(*image.shape[:2]):
            valid_pixels = image_sample.meta.get("valid_mask")
            masks = predict_tiled(pipe, image, names, policy.tile, valid_pixels, inference)
        else:
            masks = pipe(image, names, **inference.pipeline_kwargs()).masks[0]
        for (name, values), pred in zip(item.classes, masks, strict=False):
            truth = np.isin(label, values)
            meter.update(  # nodata and ignored pixels are neither hits nor misses
                torch.from_numpy(pred),
                torch.from_numpy(truth),
                name,
                valid=None if valid is None else torch.from_numpy(valid),
                image_id=str(item.image),
            )
    return meter.compute(bootstrap=bootstrap, seed=seed)


def predict_tiled(
    pipe,
    image: np.ndarray,
    prompts: Sequence[str],
    tile: int,
    valid: np.ndarray | None = None,
    inference: InferenceOptions | None = None,
    **legacy: Any,
) -> np.ndarray:
    """P×H×W masks of ``image`` (H×W×C, already in the model's bands) predicted tile by tile
    through `genseg segment`'s tiler (``inference.overlap``, default tile/4, blended), each
    prompt thresholded on its own as the pipeline does for a whole image (not the tiler's
    one-label-per-pixel map)."""
    inference = inference_options(inference, **legacy).for_model(pipe)
    sink = ArraySink(image.shape[0], image.shape[1], len(prompts))
    segment_raster(
        pipeline_predictor(pipe, prompts, inference),
        ArraySource(np.asarray(image, np.float32), valid),
        sink,
        len(prompts),
        tile,
        tile // 4 if inference.overlap is None else inference.overlap,
        inference,
        progress=False,
    )
    return sink.probabilities > inference.threshold


def finetune_scores(pipe, cfg, folders: list[Path]) -> dict:
    """A fine-tune's end-of-training scores on ``cfg.finetune.eval_split`` of its datasets.

    The scorer `genseg finetune` hands the trainer, so the adapter's card records how it did;
    an empty split keeps the adapter and says in the card why there are no scores.
    """
    import json
    import warnings

    import torch

    from genseg.errors import GenSegError

    split = cfg.finetune.eval_split
    if split == "none":
        return {}
    for part in pipe.components.values():
        if isinstance(part, torch.nn.Module):
            part.eval()
    try:
        scores = evaluate_pipeline(pipe, folders, split=split, seed=cfg.seed, progress=False)
    except GenSegError as exc:
        warnings.warn(f"no end-of-training scores: {exc.one_line()}", UserWarning, stacklevel=2)
        return {"split": split, "error": exc.one_line()}
    return {"split": split, **json.loads(json.dumps(scores.as_dict(), default=str))}
