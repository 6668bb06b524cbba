"""The linear mask head for GenMask's "linear head + BCE" loss variant.

A 1×1 convolution maps each latent cell to the logits of the downsample×downsample pixels
it covers; pixel-shuffle lays them out at full resolution.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config


class LinearMaskHead(ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(self, latent_channels: int = 64, downsample: int = 8) -> None:
        super().__init__()
        self.proj = nn.Conv2d(latent_channels, downsample * downsample, kernel_size=1)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """Mask logits B×1×H×W from a clean mask latent."""
        return F.pixel_shuffle(self.proj(latent), self.config.downsample)
