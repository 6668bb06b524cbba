"""Real-size denoisers built from config with random weights (nothing downloaded).

Their cost does not depend on their weights, so timing and FLOPs are those of the real
models. Both take genseg's widened input (mask latent ⊕ image latent, 4 + 4 channels of the
SD VAE's 8× latent: 64×64 for 512² images) and genseg's text conditioning:
- ``sd2_unet``: the SD 2.x U-Net (DiGSeg's backbone), with the pooled-text projection genseg adds;
- ``dit_1b3``: a PixArt DiT scaled to ~1.3B parameters, Wan-2.1-1.3B's width (1536 = 12 heads
  × 128) and 34 blocks with PixArt's 4× MLP (GenMask's backbone is Wan-2.1 1.3B).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LATENT_CHANNELS = 4
TEXT_DIM = 1024  # SD 2.x's OpenCLIP-H text width
TEXT_TOKENS = 77
IMAGE_SIZE = 512
LATENT_SIZE = IMAGE_SIZE // 8

SD2_UNET: dict[str, Any] = {
    "sample_size": LATENT_SIZE,
    "in_channels": 2 * LATENT_CHANNELS,
    "out_channels": LATENT_CHANNELS,
    "block_out_channels": (320, 640, 1280, 1280),
    "layers_per_block": 2,
    "attention_head_dim": (5, 10, 20, 20),
    "cross_attention_dim": TEXT_DIM,
    "use_linear_projection": True,
    "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    "class_embed_type": "projection",
    "projection_class_embeddings_input_dim": TEXT_DIM,
}

DIT_1B3: dict[str, Any] = {
    "sample_size": LATENT_SIZE,
    "in_channels": 2 * LATENT_CHANNELS,
    "out_channels": LATENT_CHANNELS,
    "patch_size": 2,
    "num_layers": 34,
    "num_attention_heads": 12,
    "attention_head_dim": 128,
    "cross_attention_dim": 12 * 128,
    "caption_channels": TEXT_DIM,
    "norm_type": "ada_norm_single",
    "use_additional_conditions": False,
}

CONFIGS = {"sd2_unet": SD2_UNET, "dit_1b3": DIT_1B3}


@dataclass
class RealSizeInputs:
    latent: Any  # B×4×64×64 noisy mask latent
    image_latent: Any  # B×4×64×64
    t: Any  # B, in [0, 1]
    text: Any  # genseg TextFeatures: B×77×1024 tokens, mask, pooled


def build(name: str, device: str = "cpu"):
    """The named real-size denoiser, randomly initialised on ``device`` ("meta": no memory)."""
    import torch
    from diffusers import PixArtTransformer2DModel, UNet2DConditionModel

    cls = UNet2DConditionModel if name == "sd2_unet" else PixArtTransformer2DModel
    with torch.device(device):
        model = cls(**CONFIGS[name])
    return model.eval()


def parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def inputs(batch: int, device: str, seed: int = 0) -> RealSizeInputs:
    import torch

    from genseg.models.text_encoder import TextFeatures

    g = torch.Generator().manual_seed(seed)
    shape = (batch, LATENT_CHANNELS, LATENT_SIZE, LATENT_SIZE)

    def rand(*s: int):
        return torch.randn(*s, generator=g).to(device) if device != "meta" else torch.empty(*s, device="meta")

    text = TextFeatures(
        rand(batch, TEXT_TOKENS, TEXT_DIM),
        torch.ones(batch, TEXT_TOKENS, dtype=torch.long, device=device),
        rand(batch, TEXT_DIM),
    )
    t = torch.ones(batch, device=device)
    return RealSizeInputs(rand(*shape), rand(*shape), t, text)
