"""Refuse what the probe cannot do, naming what would work instead."""

from __future__ import annotations

from genseg.errors import ConfigError, InputError

JOINT_ATTENTION_BACKBONES = ("mmdit",)


class NoJointAttentionError(ConfigError):
    """The model's denoiser has no joint image-text attention to read."""


class LayerRangeError(InputError):
    """A block index outside the model."""


def backbone_kind(denoiser) -> str:
    from diffusers import PixArtTransformer2DModel, SD3Transformer2DModel, UNet2DConditionModel

    if isinstance(denoiser, SD3Transformer2DModel):
        return "mmdit"
    if isinstance(denoiser, UNet2DConditionModel):
        return "unet"
    if isinstance(denoiser, PixArtTransformer2DModel):
        return "dit"
    return type(denoiser).__name__


def require_joint_attention(denoiser, path: str | None = None) -> None:
    """U-Net and PixArt DiT read text by cross-attention: text tokens never compete with image
    tokens in one softmax, so there is no image-to-text joint attention to normalise and read."""
    kind = backbone_kind(denoiser)
    if kind not in JOINT_ATTENTION_BACKBONES:
        raise NoJointAttentionError(
            f"--method attention-probe needs a backbone with joint image-text attention "
            f"({', '.join(JOINT_ATTENTION_BACKBONES)}); this model's denoiser is {kind}",
            path=path,
            fix="train with model.denoiser.kind=mmdit, or use --method generator",
        )


def check_layer(denoiser, layer: int) -> int:
    """`layer` as a valid block index (negative counts from the end, as in Python)."""
    n = len(denoiser.transformer_blocks)
    if not -n <= layer < n:
        raise LayerRangeError(
            f"layer {layer} is out of range: this MM-DiT has {n} blocks, valid layers are 0 to {n - 1}",
            fix=f"pass --layer between 0 and {n - 1} (genseg probe-layers finds the best one)",
        )
    return layer % n
