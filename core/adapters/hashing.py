"""A hash of a pipeline's weights, so an adapter is never silently put on another base.

The hash covers every tensor of every `nn.Module` component (denoiser, text encoder, codec,
image encoder, mask head) in a fixed order, with names, dtypes and shapes. LoRA layers that
PEFT injected are skipped and their wrapped base weights counted under their original
names (and so are the originals of layers an adapter replaces by a trained copy, PEFT
`modules_to_save`, whose copies are skipped), so the hash of a model is the same before and
after adapters are loaded. It is
computed once per pipeline and kept, because fused adapters change the base tensors.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch


def _base_name(key: str) -> str | None:
    """`a.to_q.base_layer.weight` → `a.to_q.weight`, `proj_out.original_module.weight` →
    `proj_out.weight`; LoRA tensors and trained copies (`proj_out.modules_to_save.NAME.weight`) → None."""
    parts = key.split(".")
    if any(part.startswith("lora_") for part in parts) or "modules_to_save" in parts:
        return None
    return key.replace(".base_layer.", ".").replace(".original_module.", ".")


def module_hash(module: torch.nn.Module, prefix: str, digest: Any) -> None:
    """Feed `module`'s base tensors into `digest` (names sorted, so order is stable)."""
    state = {}
    for key, value in module.state_dict().items():
        name = _base_name(key)
        if name is not None:
            state[name] = value
    for name in sorted(state):
        tensor = state[name].detach().to("cpu").contiguous()
        digest.update(f"{prefix}.{name}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes())


def weights_hash(pipe) -> str:
    """sha256 over the pipeline's module weights, ignoring any injected LoRA tensors."""
    digest = hashlib.sha256()
    for name in sorted(pipe.components):
        part = pipe.components[name]
        if isinstance(part, torch.nn.Module):
            module_hash(part, name, digest)
    return digest.hexdigest()
