"""Predictions on disk: written once by a model, scored any number of times without it.

A predictions folder holds one binary mask PNG per (test image, prompt) and an
``index.json`` that lists every expected prediction with what scoring needs: the label file,
the label values of the class, the ignored values and, when some pixels of the image are
nodata, a ``valid`` PNG. The index is written before the first mask, so an interrupted run
leaves a folder whose missing predictions are known and listed when it is scored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from genseg.errors import InputError

INDEX = "index.json"


class PredictionRecord(BaseModel):
    """One expected prediction: a prompt on a test image, and how to score it."""

    model_config = ConfigDict(extra="forbid")

    dataset: str
    domain: str
    image: str
    label: str
    image_id: str
    class_name: str
    values: list[int]
    ignore: list[int] = []
    prompt: str
    tag: str = Field("test", description="seen, unseen, paraphrase (open vocabulary) or test")
    file: str = Field(description="mask PNG, relative to the predictions folder")
    valid: str | None = Field(None, description="valid-pixel PNG, relative; None when every pixel counts")


class PredictionIndex(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: int = 1
    protocol: str = ""
    method: str = ""
    model: str = ""
    adapters: list[str] = []
    steps: int = 1
    split: str = "test"
    seed: int = 0
    complete: bool = False
    records: list[PredictionRecord]


@dataclass
class QueryItem:
    """A labelled test image and the prompts to ask of it: (class name, label values, prompt, tag)."""

    dataset: str
    domain: str
    image: Path
    label: Path
    image_id: str
    ignore: list[int]
    queries: list[tuple[str, list[int], str, str]]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "prompt"


def image_id(folder: Path, image: Path) -> str:
    """A file-name-safe id, unique within a dataset: the image's path inside the dataset folder."""
    try:
        rel = image.resolve().relative_to(folder.resolve())
    except ValueError:
        rel = Path(image.name)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(rel.with_suffix("")))


def plan_records(items: Iterable[QueryItem]) -> list[PredictionRecord]:
    records = []
    for item in items:
        for k, (name, values, prompt, tag) in enumerate(item.queries):
            records.append(
                PredictionRecord(
                    dataset=item.dataset,
                    domain=item.domain,
                    image=str(item.image),
                    label=str(item.label),
                    image_id=item.image_id,
                    class_name=name,
                    values=list(values),
                    ignore=list(item.ignore),
                    prompt=prompt,
                    tag=tag,
                    file=f"{item.dataset}/{item.image_id}/{k:02d}_{_slug(prompt)}.png",
                )
            )
    return records


def write_index(folder: Path, index: PredictionIndex) -> Path:
    from genseg.data.atomic import atomic_write

    return atomic_write(folder / INDEX, lambda tmp: tmp.write_text(index.model_dump_json(indent=1)))


def read_index(folder: str | Path) -> PredictionIndex:
    path = Path(folder) / INDEX
    if not path.is_file():
        raise InputError(
            "not a predictions folder: no index.json",
            path=Path(folder),
            fix="pass a folder written by `genseg benchmark` (or by predict_to_disk)",
        )
    try:
        return PredictionIndex.model_validate_json(path.read_text())
    except ValueError as exc:
        raise InputError(
            f"index.json is not a valid predictions index ({str(exc).splitlines()[0]})",
            path=path,
            fix="re-run the predictions, or restore the index written with them",
        ) from exc


def _write_png(path: Path, mask: np.ndarray) -> None:
    from PIL import Image

    from genseg.data.atomic import atomic_write

    atomic_write(path, lambda tmp: Image.fromarray(mask.astype(np.uint8) * 255).save(tmp, format="PNG"))


def read_mask_png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L")) > 127


def predict_to_disk(
    pipe,
    items: list[QueryItem],
    folder: str | Path,
    steps: int = 1,
    seed: int = 0,
    meta: dict[str, Any] | None = None,
    progress: bool = True,
    description: str = "predicting",
) -> PredictionIndex:
    """Segment every query of every item with ``pipe`` and write the masks under ``folder``.

    Predictions are made at each image's own size (the pipeline resizes back), so scores are
    those of a user's files. Masks already on disk are kept (a resumed run continues).
    """
    import torch
    from rich.progress import track

    from genseg.evaluation.runner import load_pair

    folder = Path(folder)
    index = PredictionIndex(records=plan_records(items), steps=steps, seed=seed, **(meta or {}))
    write_index(folder, index)
    by_image: dict[tuple[str, str], list[PredictionRecord]] = {}
    for rec in index.records:
        by_image.setdefault((rec.dataset, rec.image_id), []).append(rec)
    for item in track(items, description=description, disable=not progress):
        recs = by_image.get((item.dataset, item.image_id), [])
        valid_file = f"{item.dataset}/{item.image_id}/valid.png"
        if not recs or all((folder / r.file).is_file() for r in recs):
            for rec in recs:  # kept from an earlier run
                rec.valid = valid_file if (folder / valid_file).is_file() else None
            continue
        image_sample, _, valid = load_pair(item.image, item.label, item.domain, item.ignore)
        if image_sample.array.ndim != 3:
            raise InputError(
                f"image has shape {image_sample.array.shape}; benchmark predictions take 2D images",
                path=item.image,
                fix="list 2D slices in dataset.json, or score volumes with `genseg evaluate`",
            )
        if valid is not None and not valid.all():
            _write_png(folder / valid_file, valid)
        else:
            valid_file = None
        out = pipe(
            image_sample.array,
            [r.prompt for r in recs],
            num_inference_steps=steps,
            generator=torch.Generator().manual_seed(seed),
        )
        for rec, mask in zip(recs, out.masks[0], strict=True):
            rec.valid = valid_file
            _write_png(folder / rec.file, np.asarray(mask, dtype=bool))
    index.complete = True
    write_index(folder, index)
    return index
