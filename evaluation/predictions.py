"""Predictions on disk: written once by a model, scored any number of times without it.

A predictions folder holds one binary mask PNG per (test image, prompt) and an
``index.json`` that lists every expected prediction with what scoring needs: the label file,
the label values of the class, the ignored values and, when some pixels of the image are
nodata, a ``valid`` PNG. The index is written before the first mask, so an interrupted run
leaves a folder whose missing predictions are known and listed when it is scored.

A volume (D×H×W label) gets one record per (slice, prompt): ``slice`` says which, and the
mask is that slice's. genseg and the peer methods of the benchmark write the same layout
(:func:`write_predictions`), so one scorer reads them all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from genseg.data.bands import band_options, layout_of, model_input
from genseg.errors import InputError
from genseg.names import slug

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
    slice: int | None = Field(None, description="the slice of a volume label this mask is of")
    prompting: str = Field(
        "referring",
        description="semantic (every class prompted, absent ones too) or referring (present ones only)",
    )


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
    options: dict[str, str] | None = None  # the dataset's preprocessing options
    prompting: str = "referring"
    depth: int | None = None  # slices, when the label is a volume


def dataset_folder(name: str) -> str:
    """The one folder name a dataset's masks go under.

    A dataset.json ``name`` is free text (it may hold ``/``, ``..`` or be an absolute path);
    it must never choose where files are written, so anything beyond ``[A-Za-z0-9._-]`` is
    replaced and a short hash keeps two such names apart. Plain names are kept as they are.
    """
    import hashlib

    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".")
    if safe == name and safe:
        return safe
    digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{safe[:64] or 'dataset'}-{digest}"


def _image_folder(item: QueryItem) -> str:
    """``dataset/image_id``, two plain folder names whatever the dataset and caller chose."""
    return f"{dataset_folder(item.dataset)}/{dataset_folder(item.image_id)}"


def image_id(folder: Path, image: Path) -> str:
    """A file-name-safe id, unique within a dataset: the image's path inside the dataset folder."""
    try:
        rel = image.resolve().relative_to(folder.resolve())
    except ValueError:
        rel = Path(image.name)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(rel.with_suffix(""))).lstrip(".") or "image"


def plan_records(items: Iterable[QueryItem]) -> list[PredictionRecord]:
    """Every expected mask, in the order :func:`write_predictions` writes them: per item, per
    slice (volumes), per query."""
    records = []
    for item in items:
        slices = [None] if item.depth is None else list(range(item.depth))
        for z in slices:
            prefix = "" if z is None else f"z{z:04d}_"
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
                        file=f"{_image_folder(item)}/{prefix}{k:02d}_{slug(prompt)}.png",
                        slice=z,
                        prompting=item.prompting,
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


def write_predictions(
    items: list[QueryItem],
    folder: str | Path,
    segment: Callable[[QueryItem, Any], np.ndarray],
    steps: int = 1,
    seed: int = 0,
    meta: dict[str, Any] | None = None,
    progress: bool = True,
    description: str = "predicting",
    read_options: Callable[[QueryItem], dict[str, Any]] | None = None,
) -> PredictionIndex:
    """Write the masks of every query of every item under ``folder``, from ``segment``.

    ``segment(item, image_sample)`` gets the item and its image as read through the plugins
    (with the dataset's preprocessing, and the reading options ``read_options(item)`` when
    given, else ``item.options``) and returns bool masks, one per query in order: Q×H×W for
    an image, Q×D×H×W for a volume. Masks already on disk are kept (a resumed run
    continues); the index is written first, so what is missing is always known.
    """
    from rich.progress import track

    from genseg.evaluation.runner import load_pair

    folder = Path(folder)
    index = PredictionIndex(records=plan_records(items), steps=steps, seed=seed, **(meta or {}))
    write_index(folder, index)
    by_image: dict[tuple[str, str], list[PredictionRecord]] = {}
    for rec in index.records:
        by_image.setdefault((rec.dataset, rec.image_id), []).append(rec)

    def valid_name(item: QueryItem, z: int | None) -> str:
        return f"{_image_folder(item)}/" + ("valid.png" if z is None else f"valid_z{z:04d}.png")

    for item in track(items, description=description, disable=not progress):
        recs = by_image.get((item.dataset, item.image_id), [])
        if not recs or all((folder / r.file).is_file() for r in recs):
            for rec in recs:  # kept from an earlier run
                name = valid_name(item, rec.slice)
                rec.valid = name if (folder / name).is_file() else None
            continue
        options = item.options if read_options is None else read_options(item)
        image_sample, _, valid = load_pair(item.image, item.label, item.domain, item.ignore, options)
        volume = item.depth is not None
        if image_sample.array.ndim != (4 if volume else 3):
            raise InputError(
                f"image has shape {image_sample.array.shape} but its label is "
                + ("a volume" if volume else "2D"),
                path=item.image,
                fix="give images and labels the same dimensionality",
            )
        masks = np.asarray(segment(item, image_sample), dtype=bool)
        expected = (len(item.queries), *image_sample.array.shape[:-1])
        if masks.shape != expected:
            raise InputError(
                f"the method returned masks of shape {masks.shape}, expected {expected}", path=item.image
            )
        for z in [None] if not volume else range(item.depth):
            v = valid if (valid is None or z is None) else valid[z]
            name = None
            if v is not None and not v.all():
                name = valid_name(item, z)
                _write_png(folder / name, v)
            for k, rec in enumerate(r for r in recs if r.slice == z):  # query order, as planned
                rec.valid = name
                _write_png(folder / rec.file, masks[k] if z is None else masks[k, z])
    index.complete = True
    write_index(folder, index)
    return index


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
    those of a user's files; a volume is segmented slice by slice (every slice, none skipped).
    Images are read and laid out as the model reads them (its bands by name, as `genseg
    evaluate` and `genseg segment` do: a multispectral model gets every band it was trained
    on). Masks already on disk are kept (a resumed run continues).
    """
    import torch

    layout = layout_of(pipe)

    def segment(item: QueryItem, image_sample) -> np.ndarray:
        prompts = [q[2] for q in item.queries]
        if item.depth is not None:
            from genseg.volumes import segment_volume

            return segment_volume(
                pipe, image_sample.array, prompts, steps=steps, seed=seed, progress=False
            ).masks
        image = model_input(image_sample.array, image_sample.meta.get("bands"), layout, item.image)
        out = pipe(image, prompts, num_inference_steps=steps, generator=torch.Generator().manual_seed(seed))
        return np.asarray(out.masks[0], dtype=bool)

    return write_predictions(
        items,
        folder,
        segment,
        steps,
        seed,
        meta,
        progress,
        description,
        read_options=lambda item: band_options(layout, item.options),
    )
