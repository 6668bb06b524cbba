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


def flow_loss(
    kind: str, batch: FlowBatch, codec=None, head_logits: torch.Tensor | None = None
) -> torch.Tensor:
    """Loss for one batch; `codec` is needed for pixel_bce, the head's logits for linear_bce."""
    if kind == "latent_mse":
        return F.mse_loss(batch.v_pred.float(), velocity_target(batch.x0, batch.noise).float())
    x0_hat = predicted_clean(batch.x_t, batch.v_pred, batch.t)
    if kind == "pixel_bce":
        prob = codec.decode_mask(x0_hat).float().clamp(1e-4, 1 - 1e-4)
        return F.binary_cross_entropy(prob, batch.mask.float())
    if kind == "linear_bce":
        return F.binary_cross_entropy_with_logits(head_logits.float(), batch.mask.float())
    raise ValueError(f"unknown loss {kind!r}")
