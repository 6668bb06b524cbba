"""Checks on a saved model folder before any of it is loaded.

diffusers and transformers load what they find: pickle weights (which can run code), a
folder with its tokenizer missing (every prompt then becomes ``[UNK]``), settings no
genseg model was ever saved with. Each is refused here with one line naming the file and
the fix, before a tensor is read. A component stored by reference to an installed package
(`genseg.models.packaged`) is checked against that package's files here too.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from genseg.config import MAX_RESOLUTION
from genseg.errors import ModelNotFoundError
from genseg.models.packaged import check_references

INDEX = "model_index.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
SAFE_SUFFIX = ".safetensors"

# bounds for the integer sizes a component config.json may hold: wide enough for any real
# model, narrow enough that a damaged or hostile file cannot ask for a billion layers
CONFIG_BOUNDS: dict[str, tuple[int, int]] = {
    "num_layers": (1, 1000),
    "num_hidden_layers": (1, 1000),
    "layers_per_block": (1, 100),
    "patch_size": (1, 64),
    "sample_size": (1, 16384),
    "num_attention_heads": (1, 1024),
    "attention_head_dim": (1, 4096),
    "cross_attention_dim": (1, 65536),
    "hidden_size": (1, 65536),
    "in_channels": (1, 4096),
    "out_channels": (1, 4096),
    "block_out_channels": (1, 65536),
}


class UnsafeWeightsWarning(UserWarning):
    """Pickle weights were loaded because the user passed --allow-pickle."""


class PipelineSettings(BaseModel):
    """The values genseg writes into model_index.json, with the range each may take."""

    model_config = ConfigDict(extra="allow")

    resolution: int = Field(128, ge=16, le=MAX_RESOLUTION)
    max_text_length: int = Field(16, ge=1, le=4096)
    prediction_type: Literal["sample", "velocity"] = "sample"
    formulation: Literal["flow", "discriminative"] = "flow"
    image_shortcut: bool = True
    seg_logit_scale: float = Field(4.0, gt=0, le=1e4)


def read_index(folder: Path) -> dict[str, Any]:
    """model_index.json as a mapping, or one error saying why it cannot be read."""
    path = folder / INDEX
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelNotFoundError(
            f"cannot read {INDEX}: {exc}", path=path, fix="restore the file written with the model"
        ) from None
    if not isinstance(data, dict):
        raise ModelNotFoundError(f"{INDEX} is not a JSON object", path=path, fix="restore the file")
    return data


def components(index: dict[str, Any]) -> list[str]:
    """The component folders the index names (entries ``[library, class]`` that are not null)."""
    return [
        name
        for name, value in index.items()
        if not name.startswith("_")
        and isinstance(value, list)
        and len(value) == 2
        and value[0] is not None
        and value[1] is not None
    ]


def check_settings(folder: Path, index: dict[str, Any]) -> PipelineSettings:
    """The pipeline settings, refused when one is out of range or not a known choice."""
    try:
        return PipelineSettings.model_validate(index)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ModelNotFoundError(
            f"invalid {where}: {first['msg']} (got {first.get('input')!r})",
            path=folder / INDEX,
            fix="restore the file written with the model, or re-export it with `genseg train`",
        ) from None


def check_component_folders(folder: Path, names: list[str]) -> None:
    """Every component the index names must have its folder: a missing tokenizer/ would
    otherwise load as an empty vocabulary and turn every prompt into [UNK]."""
    for name in names:
        if not (folder / name).is_dir():
            raise ModelNotFoundError(
                f"the model is incomplete: {INDEX} lists the {name} but the folder {name}/ is missing",
                path=folder / name,
                fix="copy the whole model folder (every folder model_index.json names)",
            )


def _bounded(key: str, value: Any, path: Path) -> None:
    lo, hi = CONFIG_BOUNDS[key]
    values = value if isinstance(value, list) else [value]
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ModelNotFoundError(
                f"{key} = {value!r} is out of range (expected integers from {lo} to {hi})",
                path=path,
                fix="restore the config.json written with the model",
            )


def check_component_configs(folder: Path, names: list[str]) -> None:
    """Sizes in each component's config.json within CONFIG_BOUNDS, before a module is built."""
    for name in names:
        path = folder / name / "config.json"
        if not path.is_file():
            continue
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelNotFoundError(
                f"cannot read the {name} config: {exc}", path=path, fix="restore the file"
            ) from None
        if not isinstance(config, dict):
            raise ModelNotFoundError(f"the {name} config is not a JSON object", path=path)
        for key in CONFIG_BOUNDS.keys() & config.keys():
            if config[key] is not None:
                _bounded(key, config[key], path)


def pickle_only(folder: Path, names: list[str]) -> list[Path]:
    """Components whose weights exist only in a pickle format (one file named per component)."""
    found = []
    for name in names:
        files = [p for p in (folder / name).iterdir() if p.is_file()] if (folder / name).is_dir() else []
        pickles = [p for p in files if p.suffix.lower() in PICKLE_SUFFIXES]
        if pickles and not any(p.name.endswith(SAFE_SUFFIX) for p in files):
            found.append(sorted(pickles)[0])
    return found


def check_weights(folder: Path, names: list[str], allow_pickle: bool) -> None:
    """Refuse pickle weights (loading them can run any code) unless explicitly allowed."""
    unsafe = pickle_only(folder, names)
    if not unsafe:
        return
    listed = ", ".join(f"{p.parent.name}/{p.name}" for p in unsafe)
    if not allow_pickle:
        raise ModelNotFoundError(
            f"weights in pickle format ({listed}): loading them can run arbitrary code, so genseg loads "
            "safetensors only",
            path=folder,
            fix="convert them to safetensors (load once where you trust the file and "
            "save_pretrained(..., safe_serialization=True)), or pass --allow-pickle if you trust its source",
        )
    warnings.warn(
        f"{folder}: loading pickle weights ({listed}) because --allow-pickle was given; "
        "only do this for files you trust",
        UnsafeWeightsWarning,
        stacklevel=3,
    )


def check_local_reference(ref: str | Path, what: str = "model") -> None:
    """A reference that is no existing folder, said as such: ``runs/x`` whose ``runs/`` is
    here is a missing folder, not an offline hub id; ``org/name`` with no ``org/`` here is
    either, and the message says both."""
    from genseg.models.loading import is_offline, looks_like_hub_id

    text = str(ref)
    path = Path(text).expanduser()
    if path.exists():
        return
    parent = path.parent
    if len(path.parts) > 1 and parent.is_dir():
        raise ModelNotFoundError(
            f"the {what} folder does not exist (its parent {parent} does)",
            path=ref,
            fix="check the path: pass the --output folder of a finished `genseg train`",
        )
    if looks_like_hub_id(text) and is_offline():
        raise ModelNotFoundError(
            f"no {what} folder of this name exists here, and as a hub id it cannot be fetched: "
            "the hub is offline (HF_HUB_OFFLINE=1)",
            path=ref,
            fix="check the folder path, or download the hub model where there is a network and "
            "pass its folder",
        )


def check_model_folder(folder: str | Path, allow_pickle: bool = False) -> None:
    """Every check above on a local model folder that has a model_index.json."""
    folder = Path(folder)
    index = read_index(folder)
    check_settings(folder, index)
    names = components(index)
    check_component_folders(folder, names)
    check_component_configs(folder, names)
    check_weights(folder, names, allow_pickle)
    check_references(folder, names)  # the packaged MiniLM, when stored by reference
