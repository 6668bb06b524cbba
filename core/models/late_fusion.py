"""Late fusion: one image pass shared by every prompt; the prompt writes the mask's readout.

Why (docs/results.md, "supervision per step"): an early-fusion U-Net or DiT runs the whole
network once per (image, prompt) pair, so a text-prompted model sees one labelled class map
per sample, where a closed-set segmenter of the same cost sees every class of the image.
Here the work splits in two, as SAM splits a heavy image encoder from a light prompt decoder:

- **trunk**: a diffusers ``UNet2DModel`` on the clean image latent alone (no text, no
  timestep), run once per image. It returns ``feature_channels`` features per latent cell.
- **readout**, once per prompt: a hypernetwork turns the prompt's pooled text vector and the
  flow timestep into the weights of a per-cell linear map from [trunk features, noisy mask
  latent] to the mask latent (x0 or velocity, as the objective says). A closed-set segmenter
  ends in a 1×1 convolution with one weight row per class; here the text writes that row
  (as LSeg and DenseCLIP score pixels against text embeddings), so unseen prompts get one
  too. The mask is still generated: rectified flow over the mask latent, one Euler step from
  noise at inference, several steps or an ensemble when asked.

With ``readout_image`` the readout also reads the cell's image latent itself (for
space-to-depth, every band of every pixel under the cell): a per-pixel path beside the
trunk's context, as a per-pixel classifier reads a pixel's spectrum. With
``context_channels`` the trunk also reads a pretrained encoder's features laid on the
latent grid (genseg.models.image_encoder.PyramidImageEncoder) beside the image latent.

``image_index`` maps each prompt row to its image row, so K prompts of one image cost one
trunk pass and K matrix products.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from diffusers import ConfigMixin, ModelMixin, UNet2DModel
from diffusers.configuration_utils import register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps


class LateFusionDenoiser(ModelMixin, ConfigMixin):
    """Mask-latent prediction B×mask_channels×h×w from x_t, image latents, timesteps and text."""

    _supports_gradient_checkpointing = True  # the trunk's diffusers blocks recompute in backward

    @register_to_config
    def __init__(
        self,
        mask_channels: int = 16,
        image_channels: int = 48,
        text_dim: int = 384,
        block_out_channels: tuple[int, ...] = (32, 64, 128),
        layers_per_block: int = 1,
        feature_channels: int = 64,
        hyper_hidden: int = 256,
        time_channels: int = 64,
        attention_head_dim: int = 8,
        sample_size: int = 32,
        readout_image: bool = False,
        context_channels: int = 0,
    ) -> None:
        super().__init__()
        levels = len(block_out_channels)
        self.trunk = UNet2DModel(
            sample_size=sample_size,
            in_channels=image_channels + context_channels,
            out_channels=feature_channels,
            block_out_channels=tuple(block_out_channels),
            layers_per_block=layers_per_block,
            down_block_types=("DownBlock2D",) * levels,
            up_block_types=("UpBlock2D",) * levels,
            norm_num_groups=min(32, min(block_out_channels)),
            attention_head_dim=min(attention_head_dim, block_out_channels[-1]),
        )
        m, f = mask_channels, feature_channels + (image_channels if readout_image else 0)
        self.time_proj = Timesteps(time_channels, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(time_channels, time_channels)
        self.hyper = nn.Sequential(
            nn.Linear(text_dim + time_channels, hyper_hidden),
            nn.SiLU(),
            nn.Linear(hyper_hidden, (f + m + 1) * m),
        )
        with torch.no_grad():  # readout weights start at the scale of a default 1×1 convolution
            self.hyper[-1].weight.mul_((f + m) ** -0.5)
            self.hyper[-1].bias.zero_()

    def image_features(self, z_image: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """What the readout reads of each image latent (no text, no timestep): the trunk's
        N×F×h×w features, followed by the latent itself with ``readout_image``. ``context``:
        the pretrained encoder's N×context_channels×h×w map, when the model has one."""
        if (context is None) != (self.config.context_channels == 0):
            raise ValueError(
                f"this trunk reads {self.config.context_channels} context channels; "
                f"got {'none' if context is None else context.shape[1]}"
            )
        t0 = torch.zeros(z_image.shape[0], device=z_image.device, dtype=z_image.dtype)
        inputs = z_image if context is None else torch.cat([z_image, context.to(z_image.dtype)], dim=1)
        features = self.trunk(inputs, t0).sample
        if self.config.readout_image:
            features = torch.cat([features, z_image.to(features.dtype)], dim=1)
        return features

    def readout(self, pooled: torch.Tensor, timestep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each prompt's (weight P×(F+m)×m, bias P×1×m) at its timestep."""
        temb = self.time_embedding(self.time_proj(timestep.flatten()).to(pooled.dtype))
        w = self.hyper(torch.cat([pooled, temb], dim=1))
        m = self.config.mask_channels
        w = w.view(w.shape[0], -1, m)
        return w[:, :-1], w[:, -1:]

    def forward(
        self,
        x_t: torch.Tensor,
        z_image: torch.Tensor | None,
        timestep: torch.Tensor,
        pooled: torch.Tensor,
        image_index: torch.Tensor | None = None,
        features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``z_image`` (or its precomputed ``features``) has one row per image; ``image_index[i]``
        is the image of prompt row ``i`` (default: row i itself)."""
        if features is None:
            features = self.image_features(z_image)
        if image_index is not None:
            features = features[image_index]
        p, m, hh, ww = x_t.shape
        cells = torch.cat([features, x_t.to(features.dtype)], dim=1).flatten(2).transpose(1, 2)
        weight, bias = self.readout(pooled.to(cells.dtype), timestep)
        out = torch.baddbmm(bias, cells, weight)  # P×HW×m
        return out.transpose(1, 2).reshape(p, m, hh, ww)
