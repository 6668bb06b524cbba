"""Rectified flow over the mask latent.

x_t = (1 - t)·x0 + t·eps, the network predicts v = eps - x0, and one Euler step from
t = 1 recovers x0 = eps - v. Three losses (GenMask's variants): MSE on the latent
velocity (default), BCE on the decoded pixels, and BCE through a linear head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def _bcast(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t.view(-1, *([1] * (like.ndim - 1))).to(like.dtype)


def interpolate(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    tb = _bcast(t, x0)
    return (1 - tb) * x0 + tb * noise


def velocity_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    return noise - x0


def predicted_clean(x_t: torch.Tensor, v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x0 estimate from any t: x0 = x_t - t·v."""
    return x_t - _bcast(t, x_t) * v


MIN_T = 0.05  # x0-prediction divides by t; below this the velocity would explode


def velocity_from_output(
    output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, prediction: str
) -> torch.Tensor:
    """The network's raw output as a velocity: itself, or (x_t - x0_hat) / t for x0-prediction."""
    if prediction == "velocity":
        return output
    return (x_t - output) / _bcast(t.clamp(min=MIN_T), x_t)


@dataclass
class FlowBatch:
    """What one loss evaluation needs."""

    x0: torch.Tensor  # clean mask latent
    noise: torch.Tensor
    t: torch.Tensor
    x_t: torch.Tensor
    v_pred: torch.Tensor
    mask: torch.Tensor  # B×1×H×W pixel mask in {0, 1}
    valid: torch.Tensor | None = None  # B×1×H×W: 0 where the pixel is nodata or ignored


def _masked_mean(loss: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Mean of an elementwise loss over valid positions (``valid`` resized to the loss's grid:
    a latent cell counts only when every pixel under it is valid)."""
    if valid is None:
        return loss.mean()
    if valid.shape[-2:] != loss.shape[-2:]:
        valid = -F.adaptive_max_pool2d(-valid.float(), loss.shape[-2:])
    weight = valid.to(loss.dtype).expand_as(loss)
    return (loss * weight).sum() / weight.sum().clamp(min=1.0)


def flow_loss(
    kind: str, batch: FlowBatch, codec=None, head_logits: torch.Tensor | None = None
) -> torch.Tensor:
    """Loss for one batch; `codec` is needed for pixel_bce, the head's logits for linear_bce."""
    if kind == "latent_mse":
        target = velocity_target(batch.x0, batch.noise).float()
        return _masked_mean(F.mse_loss(batch.v_pred.float(), target, reduction="none"), batch.valid)
    x0_hat = predicted_clean(batch.x_t, batch.v_pred, batch.t)
    if kind == "pixel_bce":
        prob = codec.decode_mask(x0_hat).float().clamp(1e-4, 1 - 1e-4)
        return _masked_mean(F.binary_cross_entropy(prob, batch.mask.float(), reduction="none"), batch.valid)
    if kind == "linear_bce":
        bce = F.binary_cross_entropy_with_logits(head_logits.float(), batch.mask.float(), reduction="none")
        return _masked_mean(bce, batch.valid)
    raise ValueError(f"unknown loss {kind!r}")


def one_step_logits(codec, x0_hat: torch.Tensor, scale: float) -> torch.Tensor:
    """Pixel logits B×1×H×W of a mask-latent estimate, on the rule inference thresholds.

    Inference keeps a pixel where the decoded mask exceeds 0.5; for the space-to-depth codec
    that is where the depth-to-space mean of x0 is above 0, so ``scale·mean`` is a logit with
    the same sign. A learned codec (VAE) decodes to a probability, turned into its logit.
    """
    if hasattr(codec, "vae"):
        prob = codec.decode_mask(x0_hat).float().clamp(1e-4, 1 - 1e-4)
        return torch.logit(prob)
    channels = F.pixel_shuffle(x0_hat / codec.scale, codec.downsample)
    return scale * channels.mean(dim=1, keepdim=True)
