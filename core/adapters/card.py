"""`genseg_adapter.json`: what an adapter is, what it needs and how well it did.

The card travels with the weights, so an adapter folder can be checked before any tensor
is read: which base model it was trained on (name and a hash of its weights), which
domain, vocabulary and input contract it expects, its LoRA shape, the data it saw and the
scores measured when training ended. It is plain JSON validated by pydantic, so listing
adapters imports nothing heavy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from genseg.errors import AdapterError

CARD_FILE = "genseg_adapter.json"
WEIGHTS_FILE = "adapter_model.safetensors"
FORMAT = "genseg-adapter"
Targets = Literal[
    "attn", "attn+ff", "all-linear", "attn+embed", "all-linear+embed", "attn+embed+head"
]  # = TARGET_CHOICES


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BaseModelRef(_Strict):
    """The model the adapter was trained on; loading onto any other is refused."""

    name: str = Field(min_length=1, description="folder name or hub id of the base model")
    weights_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="hash of the base weights")
    denoiser: str = Field("", description="class of the base denoiser, e.g. PixArtTransformer2DModel")


class InputContract(_Strict):
    """How input must look for the adapter: applied by the reader, a mismatch is a warning."""

    domain: str = "generic"
    channels: int | None = Field(None, ge=1, description="image channels after reading and preprocessing")
    bands: list[str] | None = Field(None, description="band names when the reader reports them")
    options: dict[str, Any] = Field(
        default_factory=dict, description="preprocessing options for the reader, e.g. {'window': 'brain'}"
    )
    preprocessing: dict[str, Any] = Field(
        default_factory=dict, description="what the domain's preprocessing did (windowing or normalisation)"
    )
    resolution: int = Field(ge=16, description="square model resolution in pixels")

    @classmethod
    def from_sample(cls, sample: Any, domain: str, resolution: int) -> InputContract:
        """What a training image looked like after the reader and the domain's preprocessing
        (a ``genseg.data.sample.Sample``)."""
        bands = sample.meta.get("bands")
        preprocessing = json.loads(json.dumps(sample.meta.get("preprocessing") or {}, default=str))
        return cls(
            domain=domain,
            channels=int(sample.array.shape[-1]),
            bands=[str(b) for b in bands] if bands else None,
            preprocessing=preprocessing,
            resolution=resolution,
        )


Component = Literal["denoiser", "text_encoder"]


class LoraSpec(_Strict):
    """The LoRA shape; `modules` lists, per pipeline component, the layers that carry it, and
    `trained` the layers the adapter replaces by a fully trained copy (PEFT `modules_to_save`)."""

    rank: int = Field(ge=1)
    alpha: float = Field(gt=0)
    targets: Targets
    modules: dict[Component, list[str]] = Field(min_length=1)
    trained: dict[Component, list[str]] = Field(
        default_factory=dict, description="layers trained in full (their whole tensors are in the weights)"
    )
    trainable_parameters: int = Field(ge=1)
    adapted_parameters: int = Field(ge=1, description="parameters of the adapted components")


class DatasetUse(_Strict):
    """One dataset the adapter was trained on and how much of it was used."""

    name: str
    path: str
    domain: str = "generic"
    images: int = Field(ge=0, description="distinct training images used")
    pairs_per_class: dict[str, int] = Field(default_factory=dict)


class TrainingCard(_Strict):
    """The data and the schedule behind the adapter."""

    datasets: list[DatasetUse] = Field(min_length=1)
    shots: int | None = Field(None, ge=1, description="labelled images asked for per class; None = all")
    steps: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    seed: int = 0
    seconds: float = Field(0.0, ge=0)


class ProbeSpec(_Strict):
    """What an attention-probe adapter (`genseg probe-finetune`) was trained for: one block's
    image-to-text attention maps, supervised by masks. It leaves the generator's output
    untrained, so it serves `genseg segment --method attention-probe --probe-lora` only."""

    layer: int = Field(ge=0, description="the MM-DiT block whose attention maps it sharpens")


class AdapterManifest(_Strict):
    """The content of `genseg_adapter.json`."""

    format: Literal["genseg-adapter"] = FORMAT
    version: Literal[1] = 1
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    description: str = ""
    genseg_version: str = ""
    domain: str = "generic"
    vocabulary: str = Field("", description="id of the prompt vocabulary: 'PLUGIN:NAME'")
    prompts: list[str] = Field(default_factory=list, description="class names it was trained on")
    base: BaseModelRef
    input: InputContract
    lora: LoraSpec
    training: TrainingCard
    scores: dict[str, Any] = Field(default_factory=dict, description="evaluation when training ended")
    weights: str = WEIGHTS_FILE
    probe: ProbeSpec | None = Field(None, description="set for an attention-probe adapter; None otherwise")

    @field_validator("weights")
    @classmethod
    def _inside_folder(cls, value: str) -> str:
        """The weights must be a safetensors file of the adapter folder itself: a card copied
        from elsewhere must not make genseg read any file on the machine."""
        if not value or "/" in value or "\\" in value or value in (".", "..") or Path(value).is_absolute():
            raise ValueError(f"must be a file name inside the adapter folder, got {value!r}")
        if not value.endswith(".safetensors"):
            raise ValueError(f"must be a .safetensors file, got {value!r}")
        return value


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"invalid adapter card at {where}: {first['msg']}{more}"


def read_manifest(folder: str | Path) -> AdapterManifest:
    """The validated card of an adapter folder; one AdapterError naming the file otherwise."""
    folder = Path(folder)
    card = folder / CARD_FILE
    if not folder.is_dir():
        raise AdapterError("adapter folder does not exist", path=folder, fix="pass a folder or a name")
    if not card.is_file():
        raise AdapterError(
            f"not an adapter folder: no {CARD_FILE}",
            path=card,
            fix="pass the --output folder of a finished `genseg finetune`",
        )
    try:
        data = json.loads(card.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdapterError(
            f"cannot read the adapter card: {exc}", path=card, fix="rewrite it as JSON"
        ) from None
    try:
        return AdapterManifest.model_validate(data)
    except ValidationError as exc:
        raise AdapterError(
            _first_error(exc), path=card, fix="fix the field or fine-tune the adapter again"
        ) from None


def write_manifest(folder: str | Path, manifest: AdapterManifest) -> Path:
    """Write the card atomically (it is what makes a folder an adapter)."""
    from genseg.data.atomic import atomic_write

    # a card without a probe stays exactly as cards were before the field existed
    text = manifest.model_dump_json(indent=2, exclude={"probe"} if manifest.probe is None else None)
    return atomic_write(Path(folder) / CARD_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))
