"""The ``dataset.json`` folder format (modelled on the Medical Segmentation Decathlon).

A dataset folder holds images, integer label maps and one ``dataset.json`` that names the
classes (with synonyms, so prompts can vary) and the training / validation / test lists.
Every problem is reported as a :class:`~genseg.errors.DatasetError` that names the file,
so a user can fix a hand-written dataset.json without reading a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from genseg.data.atomic import atomic_write
from genseg.errors import DatasetError

DATASET_JSON = "dataset.json"
SPLITS = ("training", "validation", "test")
_SPLIT_ALIASES = {"train": "training", "val": "validation", "valid": "validation", "testing": "test"}


class ClassSpec(BaseModel):
    """One class: a canonical name, synonyms for prompt variety, and the label values it covers.

    ``values`` lets a class be the union of several label values (e.g. a BraTS "tumour core"
    region, or "brain" = grey + white + other tissue); by default it is the class key itself.
    """

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    synonyms: list[str] = []
    values: list[int] | None = None

    @field_validator("values")
    @classmethod
    def _values_positive(cls, values: list[int] | None) -> list[int] | None:
        if values is not None:
            if not values:
                raise ValueError("values must not be empty (omit it to use the class key)")
            if any(v < 1 for v in values):
                raise ValueError("values must be integers >= 1 (0 is background)")
        return values


class DatasetEntry(BaseModel):
    """One image and its label map, as paths relative to the dataset folder (or absolute)."""

    model_config = ConfigDict(extra="ignore")

    image: str = Field(min_length=1)
    label: str | None = None


class DatasetSpec(BaseModel):
    """The content of a ``dataset.json``.

    ``generator`` is optional: sample datasets record the parameters they were generated
    with there, so regeneration can be skipped when nothing changed.
    """

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    domain: str = "generic"
    description: str = ""
    license: str = ""
    reference: str = ""
    classes: dict[str, ClassSpec]
    training: list[DatasetEntry] = []
    validation: list[DatasetEntry] = []
    test: list[DatasetEntry] = []
    ignore: list[int] = Field(
        default_factory=list,
        description="label values that are neither background nor a class (e.g. LoveDA's 0 = no data): "
        "those pixels are kept out of the loss and the metrics",
    )
    generator: dict[str, Any] | None = None
    preprocessing: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="options for the domain's preprocessing (the keys of `genseg segment -O`), e.g. "
        '{"window": "abdomen"}: applied in training and evaluation and recorded in the trained model',
    )
    labels_complete: bool = Field(
        True,
        description="every class is labelled wherever it occurs, so a class missing from a label map is "
        "absent from the image (training may then prompt it with an empty mask)",
    )

    @field_validator("classes", mode="before")
    @classmethod
    def _short_class_form(cls, classes: Any) -> Any:
        """Accept ``"1": "liver"`` as shorthand for ``"1": {"name": "liver"}``."""
        if isinstance(classes, dict):
            return {k: ({"name": v} if isinstance(v, str) else v) for k, v in classes.items()}
        return classes

    @field_validator("classes")
    @classmethod
    def _class_keys(cls, classes: dict[str, ClassSpec]) -> dict[str, ClassSpec]:
        if not classes:
            raise ValueError("at least one class is needed")
        for key in classes:
            if not key.strip().isdigit() or int(key) < 1:
                raise ValueError(f"class key {key!r} must be an integer >= 1 (0 is background)")
        return classes

    @model_validator(mode="after")
    def _unique_names(self) -> DatasetSpec:
        seen: dict[str, str] = {}
        for key, spec in self.classes.items():
            if spec.name in seen:
                raise ValueError(f"classes {seen[spec.name]!r} and {key!r} share the name {spec.name!r}")
            seen[spec.name] = key
        return self

    def class_values(self, key: str | int) -> list[int]:
        """Label values that make up class ``key`` (its own key unless ``values`` says otherwise)."""
        spec = self.classes[str(key)]
        return list(spec.values) if spec.values is not None else [int(key)]

    def prompts_for(self, key: str | int) -> list[str]:
        """Canonical name first, then synonyms, without duplicates (case-insensitive)."""
        spec = self.classes[str(key)]
        out: list[str] = []
        seen: set[str] = set()
        for text in [spec.name, *spec.synonyms]:
            text = text.strip()
            if text and text.lower() not in seen:
                seen.add(text.lower())
                out.append(text)
        return out

    def entries(self, split: str) -> list[DatasetEntry]:
        """The entries of a split (``training``/``validation``/``test``; ``train``/``val`` accepted)."""
        return getattr(self, normalise_split(split))


def normalise_split(split: str) -> str:
    """Map ``train``/``val`` style names to the dataset.json keys; reject anything else."""
    name = _SPLIT_ALIASES.get(split, split)
    if name not in SPLITS:
        raise DatasetError(f"unknown split {split!r}", fix=f"use one of {', '.join(SPLITS)} (or train / val)")
    return name


def resolve_path(folder: str | Path, relpath: str) -> Path:
    """A path from dataset.json, relative to the dataset folder unless it is absolute."""
    p = Path(relpath).expanduser()
    return p if p.is_absolute() else Path(folder) / p


def _summarise(err: ValidationError, limit: int = 4) -> str:
    """Pydantic's errors on one line: ``location: message; ...``."""
    parts = []
    for e in err.errors()[:limit]:
        loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    more = len(err.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def load_dataset_spec(folder: str | Path, *, check_files: bool = True) -> DatasetSpec:
    """Read and validate ``folder/dataset.json``.

    With ``check_files`` every referenced image and label must exist; the first missing
    one is named together with how many are missing.
    """
    folder = Path(folder)
    path = folder / DATASET_JSON
    if not folder.is_dir():
        raise DatasetError(
            "dataset folder not found", path=folder, fix="pass a folder that contains a dataset.json"
        )
    if not path.is_file():
        raise DatasetError(
            "dataset.json is missing",
            path=path,
            fix="create it with name, classes and training/validation/test lists (see docs/datasets.md)",
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            path=path,
            fix="fix the JSON syntax (a trailing comma or a missing quote is the usual cause)",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read the file: {exc}", path=path, fix="check it is UTF-8 text") from None
    if not isinstance(raw, dict):
        raise DatasetError(
            f"expected a JSON object at the top level, found {type(raw).__name__}",
            path=path,
            fix='write {"name": ..., "classes": {...}, "training": [...]}',
        )
    try:
        spec = DatasetSpec.model_validate(raw)
    except ValidationError as exc:
        raise DatasetError(
            f"invalid dataset.json: {_summarise(exc)}",
            path=path,
            fix="correct the fields named above",
        ) from None
    if check_files:
        missing = [
            (split, p)
            for split in SPLITS
            for entry in getattr(spec, split)
            for p in (entry.image, entry.label)
            if p is not None and not resolve_path(folder, p).exists()  # a DICOM series is a folder
        ]
        if missing:
            split, first = missing[0]
            raise DatasetError(
                f"{len(missing)} referenced file(s) do not exist; first: {resolve_path(folder, first)} "
                f"(in {split!r})",
                path=path,
                fix="correct the paths (they are relative to the dataset folder) or add the files",
            )
    if spec.preprocessing:
        from genseg.plugins.options import check_domain_options

        check_domain_options(spec.domain, spec.preprocessing, path=path)
    return spec


def preprocessing_options(spec: DatasetSpec) -> dict[str, str]:
    """The dataset's preprocessing options as the text values ``-O KEY=VALUE`` would give."""
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in spec.preprocessing.items()}


def write_dataset_spec(folder: str | Path, spec: DatasetSpec) -> Path:
    """Write ``folder/dataset.json`` atomically (last, after the files it references)."""
    data = spec.model_dump(exclude_none=True)
    for key, default in (("preprocessing", {}), ("labels_complete", True)):  # omitted unless set
        if data.get(key) == default:
            data.pop(key)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return atomic_write(Path(folder) / DATASET_JSON, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def valid_label_pixels(label_sample, ignore=(), image_valid: np.ndarray | None = None) -> np.ndarray | None:
    """Pixels of a label map that count: not an ``ignore`` value, not the raster's nodata, and
    valid in the image (``image_valid``); None when every pixel counts."""
    label = label_sample.array
    drop = list(ignore)
    nodata = label_sample.meta.get("nodata")
    if nodata is not None and float(nodata).is_integer():
        drop.append(int(nodata))
    valid = ~np.isin(label, drop) if drop else None
    if image_valid is not None:
        valid = image_valid if valid is None else valid & image_valid
    return valid
