"""Which layers an adapter changes: `--targets attn | attn+ff | all-linear` (+`embed`, +`head`).

- `+embed` adds LoRA on the convolution that reads the latent input (the DiT's patch
  embedding `pos_embed.proj`, the U-Net's `conv_in`; PEFT wraps a Conv2d with a conv `A` of
  the same kernel and a 1×1 `B`). It is the only layer that sees the image latent of a new
  modality before any attention, and no linear preset reaches it (in the shapes → MRI
  few-shot study it changed nothing measurable on its own; docs/results.md).
- `+head` trains the output projection (DiT `proj_out`, U-Net `conv_out`) in full, as a
  PEFT `modules_to_save` copy: it writes each token's patch of the mask latent, i.e. the
  shapes a mask can take inside one patch, which a new domain's structures (a cortical
  ribbon rather than a blob) change. It is small (1.7 % of the tiny DiT) and the base copy
  stays untouched, so adapters still switch and unload.

`attn+embed+head` (4.4 % of the tiny DiT) is the preset that reached ≥ 90 % of a full
fine-tune's mIoU at K ≥ 10 shots in that study, with a LoRA learning rate of 1e-2 (about 3×
the full fine-tune's); at 1e-3 or 3e-3 no preset passed 85 %.

Names are resolved to full module paths once, on the model at hand, and stored in the card:
loading then injects exactly those layers, and weights for a layer the model lacks are
caught before PEFT sees them. The suffixes cover diffusers' `Attention`/`FeedForward`
(U-Net and DiT) and the usual text encoders (BERT/MiniLM, CLIP, T5).
"""

from __future__ import annotations

import re

import torch

from genseg.errors import ConfigError

TARGET_CHOICES = ("attn", "attn+ff", "all-linear", "attn+embed", "all-linear+embed", "attn+embed+head")
_EXTRAS = ("embed", "head")

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
# the convolution that reads the (mask + image) latent: PixArt/DiT patch embedding, U-Net conv_in
_INPUT_CONV = ("pos_embed.proj", "conv_in")
# the top-level layer that writes the predicted latent: PixArt/DiT proj_out, U-Net conv_out, and
# the late-fusion denoiser's hypernetwork (it writes each prompt's readout)
_OUTPUT_HEAD = ("proj_out", "conv_out", "hyper")


def _matches(name: str, suffixes: tuple[str, ...]) -> bool:
    return any(name == s or name.endswith("." + s) for s in suffixes)


def _parse(targets: str) -> tuple[str, set[str]]:
    """`attn+embed+head` → ("attn", {"embed", "head"})."""
    if targets not in TARGET_CHOICES:
        raise ConfigError(f"unknown --targets {targets!r}", fix=f"choose one of: {', '.join(TARGET_CHOICES)}")
    parts = targets.split("+")
    extras = {p for p in parts if p in _EXTRAS}
    return "+".join(p for p in parts if p not in _EXTRAS), extras


def trained_modules(model: torch.nn.Module, targets: str) -> list[str]:
    """Layers `targets` trains in full (PEFT `modules_to_save`): the output head with `+head`.

    Only a top-level layer whose name no other layer ends with, because PEFT matches
    `modules_to_save` by suffix (a U-Net's inner `proj_out`s must not be caught).
    """
    _, extras = _parse(targets)
    if "head" not in extras:
        return []
    names = [n for n, _ in model.named_modules() if n]
    children = dict(model.named_children())
    return [
        h for h in _OUTPUT_HEAD if h in children and not any(n != h and n.endswith("." + h) for n in names)
    ]


def target_modules(model: torch.nn.Module, targets: str, component: str = "denoiser") -> list[str]:
    """Full names of the layers of `model` that get LoRA (`nn.Linear`, plus the input
    `nn.Conv2d` with `+embed`); layers trained in full are left out."""
    linear, extras = _parse(targets)
    full = set(trained_modules(model, targets))
    chosen = []
    for name, module in model.named_modules():
        if not name or name in full:
            continue
        if isinstance(module, torch.nn.Conv2d):
            if "embed" in extras and _matches(name, _INPUT_CONV):
                chosen.append(name)
            continue
        if not isinstance(module, torch.nn.Linear):
            continue
        if linear == "all-linear":
            chosen.append(name)
        elif _matches(name, _ATTENTION):
            chosen.append(name)
        elif linear == "attn+ff" and (_matches(name, _FEED_FORWARD) or _BERT_FF_OUTPUT.search(name)):
            chosen.append(name)
    if not chosen:
        raise ConfigError(
            f"no layer of the {component} ({type(model).__name__}) matches --targets {targets}",
            fix="use --targets all-linear for this architecture",
        )
    return chosen
