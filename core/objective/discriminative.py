"""The discriminative baseline: the generative model's network, used as a plain segmenter.

To measure what generating the mask buys, the baseline keeps everything else fixed: the
same denoiser (U-Net or DiT, same parameter count), the same text features (and semantic
image tokens, if any), the same image latent in its slot. Only the formulation changes:

- one deterministic forward pass: the mask-latent slot holds zeros and the timestep is
  fixed at ``DISCRIMINATIVE_T = 1``. Zeros are the mean of the noise the flow model starts
  from at t = 1, so the baseline is "one-step flow inference with the noise replaced by its
  expectation" — the network is queried at the same point of its time embedding as the
  flow model at inference, and a pretrained DiT/U-Net is not told it sees a clean latent.
- its output (mask-latent channels) is laid out as pixel logits by the exact inverse of the
  space-to-depth codec (depth-to-space, then the channel mean when masks are encoded as
  images; no parameters), so channel c of a latent cell names the same pixel in both
  formulations. A VAE codec has no such inverse (4 channels per cell for 64 pixels), so
  there a `LinearMaskHead` (GenMask's linear-head variant) maps latents to logits;
  ``objective.loss=linear_bce`` asks for that head with any codec.
- loss: pixel BCE + soft Dice (MONAI's `MaskedDiceLoss`), both restricted to valid pixels
  (nodata / ignored pixels leave the loss, as in the flow losses).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genseg.errors import ConfigError
from genseg.objective.flow import _masked_mean

DISCRIMINATIVE_T = 1.0  # the fixed timestep; see the module docstring for why 1 and not 0


def discriminative_inputs(z_image: torch.Tensor, mask_channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The mask-latent slot (zeros) and the fixed timestep for a batch of image latents."""
    b, _, h, w = z_image.shape
    empty = z_image.new_zeros(b, mask_channels, h, w)
    return empty, z_image.new_full((b,), DISCRIMINATIVE_T)


def output_to_logits(output: torch.Tensor, downsample: int, mask_head=None) -> torch.Tensor:
    """Denoiser output (B×C×h×w, mask-latent channels) → pixel logits B×1×H×W."""
    if mask_head is not None:
        return mask_head(output)
    if output.shape[1] % (downsample * downsample):
        raise ConfigError(
            f"a {output.shape[1]}-channel latent cannot be laid out as {downsample}×{downsample} pixel "
            "logits without a head",
            fix="build the model with genseg.models.factory (it adds a linear head for VAE codecs)",
        )
    # as the space-to-depth codec decodes a mask: depth-to-space, then the mean of the
    # channels when masks are encoded as images (one channel otherwise)
    return F.pixel_shuffle(output, downsample).mean(dim=1, keepdim=True)


def _dice(
    logits: torch.Tensor, mask: torch.Tensor, valid: torch.Tensor | None, per_prompt: bool
) -> torch.Tensor:
    try:
        from monai.losses import DiceLoss, MaskedDiceLoss
    except ImportError as exc:
        raise ConfigError(
            "the discriminative baseline's Dice loss comes from MONAI, which is not installed",
            fix="pip install 'monai>=1.3' (the medical plugin already depends on it)",
        ) from exc
    if not per_prompt:
        # one Dice over the whole batch: an absent prompt's empty mask is not pushed to an
        # all-zero prediction by a per-image Dice of 1, but large structures dominate it
        if valid is None:
            return DiceLoss(sigmoid=True, batch=True)(logits, mask)
        return MaskedDiceLoss(sigmoid=True, batch=True)(logits, mask, valid)
    # one Dice per prompt row whose class is in the image, averaged: every class weighs the
    # same, as in a closed-set Dice over classes; absent rows learn "empty" from the BCE term
    if valid is None:
        per_row = DiceLoss(sigmoid=True, reduction="none")(logits, mask)
    else:
        per_row = MaskedDiceLoss(sigmoid=True, reduction="none")(logits, mask, valid)
    per_row = per_row.reshape(per_row.shape[0])
    present = (mask.flatten(1) > 0).any(dim=1)
    if not present.any():
        return per_row.sum() * 0.0
    return per_row[present].mean()


def discriminative_loss(
    logits: torch.Tensor, mask: torch.Tensor, valid: torch.Tensor | None = None, dice: str = "batch"
) -> torch.Tensor:
    """BCE + soft Dice on pixel logits (B×1×H×W), with pixels where `valid` is 0 left out.

    ``dice``: "batch" (one Dice over the batch) or "per_prompt" (the mean Dice of the rows whose
    mask is not empty; see :func:`_dice`)."""
    logits, mask = logits.float(), mask.float()
    if valid is not None:
        valid = valid.float()
    bce = F.binary_cross_entropy_with_logits(logits, mask, reduction="none")
    return _masked_mean(bce, valid) + _dice(logits, mask, valid, per_prompt=dice == "per_prompt")
