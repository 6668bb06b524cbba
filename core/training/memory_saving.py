"""Memory-saving training switches: gradient checkpointing and the 8-bit AdamW optimizer.

Both trade something for memory: checkpointing recomputes block activations in the
backward pass (about one extra forward) instead of keeping them; 8-bit AdamW keeps the two
moment tensors in 8 bits (bitsandbytes, optional) instead of 32, a quarter of their memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

BNB_INSTALL = "pip install bitsandbytes"


def enable_gradient_checkpointing(denoiser) -> bool:
    """Turn on diffusers' block-level checkpointing; False for modules that cannot."""
    if getattr(denoiser, "_supports_gradient_checkpointing", False):
        denoiser.enable_gradient_checkpointing()
        return True
    return False


def build_optimizer(params: Iterable[Any], name: str, lr: float, weight_decay: float):
    """``adamw`` (torch) or ``adamw8bit`` (bitsandbytes, with a clear error when missing)."""
    import torch

    from genseg.errors import ConfigError

    params = list(params)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw8bit":
        try:
            import bitsandbytes as bnb
        except ImportError as exc:
            raise ConfigError(
                "optimizer adamw8bit needs the optional package bitsandbytes, which is not installed",
                fix=f"run `{BNB_INSTALL}` (CUDA machines), or set optimizer: adamw",
            ) from exc
        return bnb.optim.AdamW8bit(params, lr=lr, weight_decay=weight_decay)
    raise ConfigError(f"unknown optimizer {name!r}", fix="use adamw or adamw8bit")
