"""The options of one inference run, as one frozen, validated object.

`genseg segment` builds an :class:`InferenceOptions` once from its flags and hands it down
to the file loop (:func:`genseg.segment.segment_files`), the tilers
(:mod:`genseg.segment_tiled`, :mod:`genseg.tiling`), volumes (:mod:`genseg.volumes`) and
evaluation, so each option is declared, defaulted and checked in one place. ``steps`` and
``threshold`` left at None mean the model's own defaults, recorded in its folder's
``model_index.json`` as ``default_inference_steps`` and ``default_threshold`` (the way
diffusers pipelines record ``default_denoising_steps``); :meth:`InferenceOptions.for_model`
fills them in. Older callers' keyword arguments (``steps=2, seed=3``) still work:
:func:`inference_options` turns them into the object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from genseg.errors import InputError

DEFAULT_STEPS = 1
"""Euler steps when neither the caller nor the model folder says: the one-step generator."""

DEFAULT_THRESHOLD = 0.5
"""Probability above which a pixel is in the mask when neither the caller nor the model says."""


class InferenceOptions(BaseModel):
    """How images are segmented: the model's sampling, tiling, batching and what is written.

    ``steps``/``threshold``: None is the model's default (see the module docstring).
    ``batch_size`` is slices or tiles per pipeline call. ``tile_size``: None lets the
    domain decide (:func:`genseg.segment_tiled.tiling_for`), 0 never tiles, N ≥ 8 tiles
    images larger than N; ``overlap`` None is a quarter tile. ``vector``, ``simplify``,
    ``min_area`` and ``probabilities`` choose extra outputs of `genseg segment`.
    ``domain`` and ``options`` choose the reading and preprocessing (``-O KEY=VALUE``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: int | None = None
    ensemble: int = 1
    threshold: float | None = None
    seed: int = 0
    batch_size: int = 8
    tile_size: int | None = None
    overlap: int | None = None
    domain: str = "generic"
    options: dict[str, Any] = Field(default_factory=dict)
    vector: Path | None = None
    simplify: float | None = None
    min_area: float | None = None
    probabilities: bool = False

    @field_validator("options", mode="before")
    @classmethod
    def _no_options(cls, value: Any) -> Any:
        return {} if value is None else value  # older callers passed options=None

    @model_validator(mode="after")
    def _in_range(self) -> InferenceOptions:
        """Each value in range; the message names the flag and ends with its fix after ``|``."""
        checks = [
            (
                self.steps is not None and self.steps < 1,
                f"--steps must be at least 1, got {self.steps}",
                "pass e.g. --steps 1",
            ),
            (
                self.ensemble < 1,
                f"--ensemble must be at least 1, got {self.ensemble}",
                "pass e.g. --ensemble 1",
            ),
            (
                self.threshold is not None and not 0.0 <= self.threshold <= 1.0,
                f"--threshold must be in [0, 1], got {self.threshold}",
                "pass e.g. --threshold 0.5",
            ),
            (
                self.batch_size < 1,
                f"--batch-size must be at least 1, got {self.batch_size}",
                "pass e.g. --batch-size 8",
            ),
            (
                self.tile_size is not None and (self.tile_size < 0 or 0 < self.tile_size < 8),
                f"--tile-size {self.tile_size} is too small",
                "pass 0 (no tiling) or at least 8",
            ),
            (
                self.overlap is not None and self.overlap < 0,
                f"--overlap cannot be negative, got {self.overlap}",
                "pass 0 or more pixels",
            ),
            (
                self.simplify is not None and self.simplify < 0,
                f"--simplify cannot be negative, got {self.simplify}",
                "pass 0 or more",
            ),
            (
                self.min_area is not None and self.min_area < 0,
                f"--min-area cannot be negative, got {self.min_area}",
                "pass 0 or more",
            ),
        ]
        for bad, message, fix in checks:
            if bad:
                raise ValueError(f"{message}|{fix}")
        if self.overlap is not None and self.tile_size and self.overlap > self.tile_size // 2:
            raise ValueError(
                f"--overlap {self.overlap} is more than half the tile ({self.tile_size} pixels)"
                f"|pass at most {self.tile_size // 2}, or a larger --tile-size"
            )
        return self

    def for_model(self, pipe: Any) -> InferenceOptions:
        """These options with ``steps`` and ``threshold`` the model's defaults where None
        (a pipeline without them, e.g. a stand-in, gets :data:`DEFAULT_STEPS` and
        :data:`DEFAULT_THRESHOLD`)."""
        if self.steps is not None and self.threshold is not None:
            return self
        config = getattr(pipe, "config", None)
        steps = self.steps if self.steps is not None else getattr(config, "default_inference_steps", None)
        threshold = (
            self.threshold if self.threshold is not None else getattr(config, "default_threshold", None)
        )
        return self.model_copy(
            update={
                "steps": DEFAULT_STEPS if steps is None else int(steps),
                "threshold": DEFAULT_THRESHOLD if threshold is None else float(threshold),
            }
        )

    def pipeline_kwargs(self, seed_offset: int = 0) -> dict[str, Any]:
        """The keyword arguments of one `GenSegPipeline` call: steps, ensemble, threshold and a
        generator seeded with ``seed + seed_offset`` (a slice batch's or tile's index, so a
        result does not depend on how the input was cut into calls)."""
        import torch

        return dict(
            num_inference_steps=self.steps,
            ensemble_size=self.ensemble,
            threshold=self.threshold,
            generator=torch.Generator().manual_seed(self.seed + seed_offset),
        )


def inference_options(inference: InferenceOptions | None = None, **given: Any) -> InferenceOptions:
    """``inference`` (default: :class:`InferenceOptions`'s defaults) with the keyword
    arguments of older callers applied over it, validated; a bad value is one
    :class:`~genseg.errors.InputError` naming its `genseg segment` flag, and an unknown
    name a ``TypeError`` as for any misspelt keyword argument."""
    if not given:
        return inference if inference is not None else InferenceOptions()
    unknown = sorted(set(given) - set(InferenceOptions.model_fields))
    if unknown:
        raise TypeError(f"unexpected keyword argument {unknown[0]!r} (not an InferenceOptions field)")
    base = inference.model_dump() if inference is not None else {}
    return build_inference_options(**{**base, **given})


def build_inference_options(**fields: Any) -> InferenceOptions:
    """:class:`InferenceOptions` from ``fields``; a value out of range is one InputError
    with its fix (a wrong type keeps pydantic's message)."""
    try:
        return InferenceOptions(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if "|" in message:
            message, fix = message.split("|", 1)
        else:
            where = ".".join(str(p) for p in first["loc"])
            message, fix = f"invalid {where}: {message}", "see InferenceOptions' fields"
        raise InputError(message, fix=fix) from exc
