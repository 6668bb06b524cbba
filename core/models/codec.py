"""Latent codecs: how images and masks enter and leave the latent space the flow runs in.

Two families share one interface so the rest of the engine never asks which it has:
- `SpaceToDepthCodec`: a fixed, lossless pixel-unshuffle. No weights, no training, and on
  CPU it is ~free; it is the tiny default (see docs/results.md for the measurement).
- `AutoencoderKLCodec`: a diffusers `AutoencoderKL` (the SD VAE from a local folder, or a
  tiny one from config). A binary mask goes in as a 3-channel black/white image and comes
  back as the mean of the decoded channels, as DiGSeg/GenMask/Marigold do.

Images enter in [0, 1]; masks in {0, 1}; decoded masks are probabilities in [0, 1].
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers import AutoencoderKL, ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config


class LatentCodec(ModelMixin, ConfigMixin):
    """Interface: encode_image, encode_mask, decode_mask and the latent geometry."""

    downsample: int
    image_latent_channels: int
    mask_latent_channels: int

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def encode_mask(self, mask: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def decode_mask(self, latent: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def decode_image(self, latent: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        """An image latent back to pixels in [0, 1] (text-to-image generation, genseg.generation)."""
        raise NotImplementedError


class SpaceToDepthCodec(LatentCodec):
    """Lossless fixed codec: each factor×factor pixel block becomes factor² channels.

    With `mask_as_image` a mask is encoded as a black/white image (its value copied into every
    image channel) and decoded as the channel mean, as the VAE codec does: mask and image latents
    then share one space and one channel count, which joint text-to-image training needs.
    """

    @register_to_config
    def __init__(self, factor: int = 8, image_channels: int = 3, mask_as_image: bool = False) -> None:
        super().__init__()
        self.downsample = factor
        self.image_latent_channels = image_channels * factor * factor
        self.mask_channels = image_channels if mask_as_image else 1
        self.mask_latent_channels = self.mask_channels * factor * factor
        # a buffer so the module has a device/dtype and a non-empty state dict to save
        self.register_buffer("scale", torch.ones(1), persistent=True)

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        return F.pixel_unshuffle(image * 2 - 1, self.downsample) * self.scale

    def encode_mask(self, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.to(self.scale.dtype).repeat(1, self.mask_channels, 1, 1)
        return F.pixel_unshuffle(mask * 2 - 1, self.downsample) * self.scale

    def decode_mask(self, latent: torch.Tensor) -> torch.Tensor:
        pixels = F.pixel_shuffle(latent / self.scale, self.downsample)
        return ((pixels.mean(dim=1, keepdim=True) + 1) / 2).clamp(0, 1)

    def decode_image(self, latent: torch.Tensor) -> torch.Tensor:
        return ((F.pixel_shuffle(latent / self.scale, self.downsample) + 1) / 2).clamp(0, 1)


def _public_config(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dict(config).items() if not k.startswith("_")}


TINY_VAE_CONFIG: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
    "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
    "block_out_channels": [16, 32, 32],
    "layers_per_block": 1,
    "latent_channels": 4,
    "norm_num_groups": 8,
    "sample_size": 64,
}


class AutoencoderKLCodec(LatentCodec):
    """A diffusers AutoencoderKL used as a frozen codec for both image and mask."""

    @register_to_config
    def __init__(self, vae_config: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.vae = AutoencoderKL(**_public_config(vae_config or TINY_VAE_CONFIG))
        levels = len(self.vae.config.block_out_channels)
        self.downsample = 2 ** (levels - 1)
        self.image_latent_channels = self.vae.config.latent_channels
        self.mask_latent_channels = self.vae.config.latent_channels

    @classmethod
    def from_vae(cls, vae: AutoencoderKL) -> AutoencoderKLCodec:
        codec = cls(vae_config=_public_config(vae.config))
        codec.vae.load_state_dict(vae.state_dict())
        return codec

    @classmethod
    def from_vae_path(cls, path: str | Path) -> AutoencoderKLCodec:
        """Load an AutoencoderKL folder, or a full SD pipeline folder with a `vae/` subfolder."""
        from genseg.models.loading import load_pretrained

        sub = "vae" if (Path(path) / "vae" / "config.json").is_file() else None
        vae = load_pretrained(AutoencoderKL, path, subfolder=sub, what="VAE")
        return cls.from_vae(vae)

    @property
    def _scale(self) -> float:
        return float(self.vae.config.scaling_factor)

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        if image.shape[1] == 1:
            image = image.repeat(1, 3, 1, 1)
        # the distribution's mode is deterministic, so the same image gives the same latent
        return self.vae.encode(image * 2 - 1).latent_dist.mode() * self._scale

    def encode_mask(self, mask: torch.Tensor) -> torch.Tensor:
        return self.encode_image(mask.to(self.vae.dtype).repeat(1, 3, 1, 1))

    def decode_mask(self, latent: torch.Tensor) -> torch.Tensor:
        decoded = self.vae.decode(latent / self._scale).sample
        return ((decoded.mean(dim=1, keepdim=True) + 1) / 2).clamp(0, 1)

    def decode_image(self, latent: torch.Tensor) -> torch.Tensor:
        return ((self.vae.decode(latent / self._scale).sample + 1) / 2).clamp(0, 1)


def freeze(module: nn.Module) -> nn.Module:
    module.requires_grad_(False)
    module.eval()
    return module
