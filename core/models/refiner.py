"""A full-resolution mask decoder: the generated mask latent, decoded with the image's help.

The flow runs on a coarse latent (a space-to-depth cell covers 8×8 pixels), which keeps the
denoiser cheap but leaves organ and parcel boundaries to be guessed inside each cell. The
refiner is the learned half of the mask codec: it takes the one-step estimate's pixel logits
(``genseg.objective.flow.one_step_logits``) and the image at the model's resolution, and adds
a correction computed by a small two-level convolutional network at full and half
resolution. Its last layer starts at zero, so an untrained refiner returns the estimate
unchanged. The mask is still generated: the refiner only decodes whatever latent the flow
produced (one step, several Euler steps or each member of an ensemble alike).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config


def _block(c_in: int, c_out: int) -> nn.Sequential:
    groups = 4 if c_out % 4 == 0 else 1
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.GroupNorm(groups, c_out),
        nn.SiLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.GroupNorm(groups, c_out),
        nn.SiLU(),
    )


class MaskRefiner(ModelMixin, ConfigMixin):
    """Pixel logits B×1×H×W from coarse logits B×1×H×W and the image B×C×H×W in [0, 1]."""

    @register_to_config
    def __init__(self, image_channels: int = 3, channels: int = 16) -> None:
        super().__init__()
        c = channels
        self.full_res = _block(image_channels + 1, c)
        self.half_res = _block(c, 2 * c)
        self.fuse = _block(3 * c, c)
        self.out = nn.Conv2d(c, 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, coarse_logits: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        # the logits enter squashed, so a confident estimate does not swamp the image channels
        x = torch.cat([image.to(coarse_logits.dtype) * 2 - 1, torch.tanh(coarse_logits / 4)], dim=1)
        f1 = self.full_res(x)
        f2 = self.half_res(F.avg_pool2d(f1, 2))
        up = F.interpolate(f2, size=f1.shape[-2:], mode="bilinear", align_corners=False)
        return coarse_logits + self.out(self.fuse(torch.cat([f1, up], dim=1)))
