"""PEFT-standard copies of an adapter, so `peft.PeftModel.from_pretrained` loads it as it is.

genseg keeps every adapted component in one weights file (`denoiser.…`, `text_encoder.…`);
PEFT loads one model per folder, from `adapter_config.json` and an `adapter_model.safetensors`
whose tensors are named as a `PeftModel` names them (`base_model.model.LAYER.lora_A.weight`).
So each adapted component also gets `peft/COMPONENT/` with those two files:

    from peft import PeftModel
    denoiser = PeftModel.from_pretrained(pipe.denoiser, "runs/mni-lora/peft/denoiser")

The config is the `LoraConfig` genseg injects with (:func:`lora_config`, used by the runtime
too: same layers, same scale, the same layers trained in full as `modules_to_save`), and the
tensors are genseg's own, under the names PEFT's `save_pretrained` gives them. The copies
double the adapter's tensors on disk (a few hundred KB), never the base model's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genseg.adapters.card import AdapterManifest
from genseg.data.atomic import atomic_write
from genseg.file_modes import apply_umask

if TYPE_CHECKING:  # listing adapters must not import torch or PEFT
    import torch
    from peft import LoraConfig

PEFT_DIR = "peft"
PEFT_CONFIG_FILE = "adapter_config.json"  # = peft.utils.CONFIG_NAME
PEFT_WEIGHTS_FILE = "adapter_model.safetensors"  # = peft.utils.SAFETENSORS_WEIGHTS_NAME
# where a PeftModel keeps the model it wraps (PeftModel.base_model is a LoraModel, its .model the
# wrapped one): the prefix of every tensor name PeftModel.save_pretrained writes
PEFT_PREFIX = "base_model.model."


def lora_config(
    rank: int,
    alpha: float,
    modules: Sequence[str],
    trained: Sequence[str] = (),
    base: str | None = None,
) -> LoraConfig:
    """The LoRA of an adapter: LoRA on exactly `modules` (full names), `trained` layers as
    `modules_to_save`. genseg injects with it and writes it for PEFT, so both agree."""
    from peft import LoraConfig

    return LoraConfig(
        r=rank,
        lora_alpha=alpha,
        target_modules=list(modules),
        lora_dropout=0.0,
        modules_to_save=list(trained) or None,
        base_model_name_or_path=base,
    )


def _config_json(config: LoraConfig) -> str:
    """What `LoraConfig.save_pretrained` writes, with its sets as sorted lists, so the same
    adapter gives the same file in every run (PEFT keeps `target_modules` as a set)."""
    data: dict[str, Any] = config.to_dict()
    for key, value in data.items():
        if isinstance(value, set):
            data[key] = sorted(value)
    return json.dumps(data, indent=2, sort_keys=True)


def peft_state_dict(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """One component's adapter tensors (PEFT `get_peft_model_state_dict` of the component) under
    the names `get_peft_model_state_dict` gives them on a `PeftModel` wrapping it."""
    return {PEFT_PREFIX + key: value for key, value in tensors.items()}


def _write_component(target: Path, manifest: AdapterManifest, component: str, tensors: dict) -> None:
    """The two files `PeftModel.save_pretrained` writes for one component."""
    from safetensors.torch import save_file

    lora = manifest.lora
    config = lora_config(
        lora.rank, lora.alpha, lora.modules[component], lora.trained.get(component, []), manifest.base.name
    )
    config.inference_mode = True  # as PeftModel.save_pretrained records it
    target.mkdir(parents=True)
    (target / PEFT_CONFIG_FILE).write_text(_config_json(config), encoding="utf-8")
    save_file(peft_state_dict(tensors), str(target / PEFT_WEIGHTS_FILE), metadata={"format": "pt"})


def write_peft_folders(
    folder: str | Path, manifest: AdapterManifest, tensors: dict[str, dict[str, torch.Tensor]]
) -> Path:
    """Write `peft/COMPONENT/` for every adapted component, all at once (the whole `peft`
    folder is renamed into place, replacing an earlier one, never written through a link)."""

    def write(tmp: Path) -> None:
        for component, state in sorted(tensors.items()):
            _write_component(tmp / component, manifest, component, state)
        apply_umask(tmp)

    return atomic_write(Path(folder) / PEFT_DIR, write)
