"""From recorded attention to per-prompt maps and masks (pure tensor functions, no model).

Choices, documented in docs/methods.md ("Attention probe (Seg4Diff)"):
- tokens: a prompt's map is the mean over its *word* tokens; padding never counts, and
  neither do the tokenizer's special tokens ([CLS]/[SEP] for MiniLM/BERT, <s>/</s> for
  CLIP/T5), which carry sentence-level content and tend to absorb attention whatever the
  image shows. `special_tokens=True` counts them too.
- normalisation: each map is min-max scaled to [0, 1] over its image's pixels after bilinear
  upsampling (a constant map becomes all zeros), so one threshold fits every prompt, layer
  and model, whatever the absolute attention mass.
- masks: one prompt → map > threshold. Several prompts → each pixel goes to the prompt whose
  normalised map is highest there (argmax), and is background when that highest value is
  below the threshold. `rule="independent"` thresholds each prompt on its own instead, which
  suits overlapping classes (brain ⊃ grey matter) and is how `probe-layers` scores.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genseg.data.image_processor import resize_probabilities


def token_weights(
    tokenizer, prompts: list[str], max_length: int, special_tokens: bool = False
) -> torch.Tensor:
    """P × L weights (rows sum to 1) over the token positions `encode_prompts` produces."""
    enc = tokenizer(
        prompts,
        padding="max_length",
        truncation=True,
        max_length=max_length,
        return_special_tokens_mask=True,
        return_tensors="pt",
    )
    real = enc["attention_mask"].bool()
    words = real & ~enc["special_tokens_mask"].bool()
    chosen = real if special_tokens else words
    # a prompt truncated to nothing but special tokens falls back to all its real tokens
    chosen = torch.where(chosen.any(1, keepdim=True), chosen, real)
    weights = chosen.float()
    return weights / weights.sum(1, keepdim=True).clamp(min=1)


def prompt_maps(attention: torch.Tensor, weights: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """B × N_image × L attention and B × L' token weights → B × h × w maps on the latent grid.

    Extra tokens after the prompt's (e.g. joined image tokens) get weight zero.
    """
    if weights.shape[1] < attention.shape[2]:
        weights = F.pad(weights, (0, attention.shape[2] - weights.shape[1]))
    maps = torch.einsum("bnl,bl->bn", attention, weights.to(attention.dtype))
    return maps.view(attention.shape[0], *grid)


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """… × h × w → … × H × W, bilinear (the grid is coarse; nearest would show the patches)."""
    return resize_probabilities(maps, size)


def minmax(maps: torch.Tensor) -> torch.Tensor:
    """Each map (last two dims) scaled to span [0, 1]; a constant map becomes zeros."""
    flat = maps.flatten(-2)
    lo = flat.min(-1, keepdim=True).values
    hi = flat.max(-1, keepdim=True).values
    scaled = (flat - lo) / (hi - lo).clamp(min=1e-12)
    scaled = torch.where(hi - lo > 1e-12, scaled, torch.zeros_like(scaled))
    return scaled.view(maps.shape)


def masks_from_maps(maps: torch.Tensor, threshold: float = 0.5, rule: str = "argmax") -> torch.Tensor:
    """P × … normalised maps → P × … bool masks (see the module docstring for the rules)."""
    if rule not in ("argmax", "independent"):
        raise ValueError(f"unknown mask rule {rule!r}; use argmax or independent")
    if maps.shape[0] == 1 or rule == "independent":
        return maps > threshold
    best = maps.argmax(0)
    on = maps.max(0).values > threshold
    picks = torch.arange(maps.shape[0], device=maps.device).view(-1, *([1] * (maps.ndim - 1)))
    return (best.unsqueeze(0) == picks) & on.unsqueeze(0)
