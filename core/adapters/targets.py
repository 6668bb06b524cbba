"""Which layers a LoRA adapter wraps: `--targets attn | attn+ff | all-linear`.

Names are resolved to full module paths once, on the model at hand, and stored in the card:
loading then injects exactly those layers, and weights for a layer the model lacks are
caught before PEFT sees them. The suffixes cover diffusers' `Attention`/`FeedForward`
(U-Net and DiT) and the usual text encoders (BERT/MiniLM, CLIP, T5).
"""

from __future__ import annotations

import re

import torch

from genseg.errors import ConfigError

TARGET_CHOICES = ("attn", "attn+ff", "all-linear")

_ATTENTION = (
    # diffusers Attention (self- and cross-attention of U-Net and DiT blocks)
    "to_q",
    "to_k",
    "to_v",
    "to_out.0",
    # BERT / MiniLM
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    # CLIP text
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.out_proj",
    # T5
    "SelfAttention.q",
    "SelfAttention.k",
    "SelfAttention.v",
    "SelfAttention.o",
)
_FEED_FORWARD = (
    "ff.net.0.proj",
    "ff.net.2",
    "intermediate.dense",
    "mlp.fc1",
    "mlp.fc2",
    "DenseReluDense.wi",
    "DenseReluDense.wi_0",
    "DenseReluDense.wi_1",
    "DenseReluDense.wo",
)
_BERT_FF_OUTPUT = re.compile(r"(^|\.)layer\.\d+\.output\.dense$")


def _matches(name: str, suffixes: tuple[str, ...]) -> bool:
    return any(name == s or name.endswith("." + s) for s in suffixes)


def target_modules(model: torch.nn.Module, targets: str, component: str = "denoiser") -> list[str]:
    """Full names of the `nn.Linear` layers of `model` that `targets` selects."""
    if targets not in TARGET_CHOICES:
        raise ConfigError(f"unknown --targets {targets!r}", fix=f"choose one of: {', '.join(TARGET_CHOICES)}")
    chosen = []
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or not name:
            continue
        if targets == "all-linear":
            chosen.append(name)
        elif _matches(name, _ATTENTION):
            chosen.append(name)
        elif targets == "attn+ff" and (_matches(name, _FEED_FORWARD) or _BERT_FF_OUTPUT.search(name)):
            chosen.append(name)
    if not chosen:
        raise ConfigError(
            f"no layer of the {component} ({type(model).__name__}) matches --targets {targets}",
            fix="use --targets all-linear for this architecture",
        )
    return chosen
