"""Denoisers that predict the velocity of the mask latent.

The default, late fusion (genseg.models.late_fusion), runs an image trunk once per image and
a text-written readout per prompt. The early-fusion ones below take the noisy mask latent
concatenated with the clean image latent along channels (Marigold/DiGSeg style; GenMask's
"low-level shortcut"), a timestep in [0, 1000] and the text features:
- U-Net (DiGSeg): diffusers `UNet2DConditionModel`; text reaches every resolution through
  the pooled vector added to the time embedding (`class_embed_type="projection"`), which
  conditions every ResNet block, and through cross-attention at the coarser levels (all
  levels with `cross_attention_levels`; the SD U-Net has it at every level but the coarsest).
- DiT (GenMask): diffusers `PixArtTransformer2DModel`; text by cross-attention in every block.
- MM-DiT (SD3, Seg4Diff): diffusers `SD3Transformer2DModel`; image and text tokens attend
  jointly (one softmax over the concatenated sequence) in every block, and the pooled text
  vector joins the time embedding. Its image-to-text attention is what `genseg.probe` reads.

Starting from pretrained weights, the input layer is widened and the new image-latent input
weights start at zero, so at step 0 the network computes what it was pretrained to compute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from diffusers import PixArtTransformer2DModel, SD3Transformer2DModel, UNet2DConditionModel

from genseg.config import DenoiserConfig
from genseg.errors import ConfigError
from genseg.models.late_fusion import LateFusionDenoiser
from genseg.models.loading import load_pretrained
from genseg.models.text_encoder import TextFeatures


def _public(config: Any) -> dict[str, Any]:
    return {k: v for k, v in dict(config).items() if not k.startswith("_")}


def build_tiny_unet(cfg: DenoiserConfig, mask_ch: int, img_ch: int, text_dim: int, sample_size: int):
    levels = len(cfg.block_out_channels)
    attn = cfg.cross_attention_levels or [levels == 1 or i > 0 for i in range(levels)]
    down = tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attn)
    up = tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attn))
    return UNet2DConditionModel(
        sample_size=sample_size,
        in_channels=mask_ch + img_ch,
        out_channels=mask_ch,
        block_out_channels=tuple(cfg.block_out_channels),
        layers_per_block=cfg.layers_per_block,
        down_block_types=down,
        up_block_types=up,
        cross_attention_dim=cfg.cross_attention_dim,
        attention_head_dim=cfg.attention_head_dim,
        encoder_hid_dim=text_dim,
        encoder_hid_dim_type="text_proj",
        class_embed_type="projection",
        projection_class_embeddings_input_dim=text_dim,
        norm_num_groups=min(32, min(cfg.block_out_channels)),
    )


def build_tiny_dit(cfg: DenoiserConfig, mask_ch: int, img_ch: int, text_dim: int, sample_size: int):
    inner = cfg.num_attention_heads * cfg.dit_head_dim
    return PixArtTransformer2DModel(
        sample_size=sample_size,
        in_channels=mask_ch + img_ch,
        out_channels=mask_ch,
        patch_size=cfg.patch_size,
        num_layers=cfg.num_layers,
        num_attention_heads=cfg.num_attention_heads,
        attention_head_dim=cfg.dit_head_dim,
        cross_attention_dim=inner,
        caption_channels=text_dim,
        norm_type="ada_norm_single",
        use_additional_conditions=False,
    )


def _widen_input(weight: torch.Tensor, new_in: int) -> torch.Tensor:
    """Keep the pretrained input weights for the first channels, zeros for the new ones."""
    out = torch.zeros(weight.shape[0], new_in, *weight.shape[2:], dtype=weight.dtype)
    out[:, : weight.shape[1]] = weight
    return out


def _load_base(cls, path: str | Path, subfolder: str, what: str, mask_ch: int, vae_hint: str = ""):
    """A pretrained denoiser and its public config, refused when its latent width is not the codec's."""
    sub = subfolder if (Path(path) / subfolder / "config.json").is_file() else None
    base = load_pretrained(cls, path, subfolder=sub, what=what)
    cfg = _public(base.config)
    if cfg["in_channels"] != mask_ch:
        raise ConfigError(
            f"the pretrained {what} takes {cfg['in_channels']} latent channels but the codec gives {mask_ch}",
            path=path,
            fix=f"use codec.kind=autoencoder_kl with the VAE the {what} was trained with{vae_hint}",
        )
    return base, cfg


def unet_from_pretrained(path: str | Path, mask_ch: int, img_ch: int, text_dim: int):
    base, cfg = _load_base(UNet2DConditionModel, path, "unet", "U-Net", mask_ch)
    cfg.update(
        in_channels=mask_ch + img_ch,
        out_channels=mask_ch,
        class_embed_type="projection",
        projection_class_embeddings_input_dim=text_dim,
    )
    if cfg.get("cross_attention_dim") != text_dim:
        cfg.update(encoder_hid_dim=text_dim, encoder_hid_dim_type="text_proj")
    unet = UNet2DConditionModel.from_config(cfg)
    state = base.state_dict()
    state["conv_in.weight"] = _widen_input(state["conv_in.weight"], mask_ch + img_ch)
    unet.load_state_dict(state, strict=False)
    # the pooled-text path starts silent, so the pretrained time embedding is unchanged
    torch.nn.init.zeros_(unet.class_embedding.linear_2.weight)
    torch.nn.init.zeros_(unet.class_embedding.linear_2.bias)
    return unet


def dit_from_pretrained(path: str | Path, mask_ch: int, img_ch: int, text_dim: int):
    base, cfg = _load_base(PixArtTransformer2DModel, path, "transformer", "DiT", mask_ch)
    cfg.update(in_channels=mask_ch + img_ch, caption_channels=text_dim)
    dit = PixArtTransformer2DModel.from_config(cfg)
    state = base.state_dict()
    state["pos_embed.proj.weight"] = _widen_input(state["pos_embed.proj.weight"], mask_ch + img_ch)
    if base.config.caption_channels != text_dim:
        state = {k: v for k, v in state.items() if not k.startswith("caption_projection.")}
    dit.load_state_dict(state, strict=False)
    return dit


def build_tiny_mmdit(cfg: DenoiserConfig, mask_ch: int, img_ch: int, text_dim: int, sample_size: int):
    """SD3's layout at toy width: text tokens enter through `joint_attention_dim`, the pooled
    vector through `pooled_projection_dim`; both are the text encoder's width."""
    inner = cfg.num_attention_heads * cfg.dit_head_dim
    return SD3Transformer2DModel(
        sample_size=sample_size,
        patch_size=cfg.patch_size,
        in_channels=mask_ch + img_ch,
        out_channels=mask_ch,
        num_layers=cfg.num_layers,
        attention_head_dim=cfg.dit_head_dim,
        num_attention_heads=cfg.num_attention_heads,
        joint_attention_dim=text_dim,
        caption_projection_dim=inner,
        pooled_projection_dim=text_dim,
        pos_embed_max_size=max(sample_size // cfg.patch_size, 1),
    )


def mmdit_from_pretrained(path: str | Path, mask_ch: int, img_ch: int, text_dim: int):
    """SD3 (or any `SD3Transformer2DModel` folder) with the patch embedding widened for the
    image latent (zero init) and new text entry layers when the text encoder's width differs
    from SD3's T5/CLIP; the new pooled-text path starts silent so the time embedding is SD3's."""
    base, cfg = _load_base(
        SD3Transformer2DModel, path, "transformer", "MM-DiT", mask_ch, vae_hint=" (SD3: 16 channels)"
    )
    cfg.update(
        in_channels=mask_ch + img_ch,
        out_channels=mask_ch,
        joint_attention_dim=text_dim,
        pooled_projection_dim=text_dim,
    )
    mmdit = SD3Transformer2DModel.from_config(cfg)
    state = base.state_dict()
    state["pos_embed.proj.weight"] = _widen_input(state["pos_embed.proj.weight"], mask_ch + img_ch)
    if base.config.joint_attention_dim != text_dim:
        state = {k: v for k, v in state.items() if not k.startswith("context_embedder.")}
    if base.config.pooled_projection_dim != text_dim:
        state = {k: v for k, v in state.items() if not k.startswith("time_text_embed.text_embedder.")}
        torch.nn.init.zeros_(mmdit.time_text_embed.text_embedder.linear_2.weight)
        torch.nn.init.zeros_(mmdit.time_text_embed.text_embedder.linear_2.bias)
    mmdit.load_state_dict(state, strict=False)
    return mmdit


def build_late_fusion(
    cfg: DenoiserConfig, mask_ch: int, img_ch: int, text_dim: int, sample_size: int, context_ch: int = 0
):
    return LateFusionDenoiser(
        mask_channels=mask_ch,
        image_channels=img_ch,
        text_dim=text_dim,
        block_out_channels=tuple(cfg.block_out_channels),
        layers_per_block=cfg.layers_per_block,
        feature_channels=cfg.feature_channels,
        hyper_hidden=cfg.hyper_hidden,
        attention_head_dim=cfg.attention_head_dim,
        sample_size=sample_size,
        readout_image=cfg.readout_image is True,  # "auto" is resolved by the factory, which knows the bands
        context_channels=context_ch,
    )


def build_denoiser(
    cfg: DenoiserConfig, mask_ch: int, img_ch: int, text_dim: int, sample_size: int, context_ch: int = 0
):
    """``context_ch``: channels of a pretrained encoder's map that join a late-fusion trunk's input."""
    if cfg.kind == "late_fusion":
        return build_late_fusion(cfg, mask_ch, img_ch, text_dim, sample_size, context_ch)
    if cfg.kind == "mmdit":
        if cfg.path:
            return mmdit_from_pretrained(cfg.path, mask_ch, img_ch, text_dim)
        return build_tiny_mmdit(cfg, mask_ch, img_ch, text_dim, sample_size)
    if cfg.kind == "unet":
        if cfg.path:
            return unet_from_pretrained(cfg.path, mask_ch, img_ch, text_dim)
        return build_tiny_unet(cfg, mask_ch, img_ch, text_dim, sample_size)
    if cfg.path:
        return dit_from_pretrained(cfg.path, mask_ch, img_ch, text_dim)
    return build_tiny_dit(cfg, mask_ch, img_ch, text_dim, sample_size)


def image_context(
    denoiser, image_encoder, z_image: torch.Tensor, image: torch.Tensor | None
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """What the denoiser reads of each image beside its latent, one row per image, as
    (late-fusion trunk features, image tokens): a late-fusion trunk runs here on the latent and
    the pretrained encoder's map (when the model has an encoder); the other denoisers get the
    encoder's tokens to join the text. ``image`` is N×C×H×W in [0, 1] at the model's
    resolution; the encoder reads its three colour slots."""
    late = isinstance(denoiser, LateFusionDenoiser)
    encoded = None
    if image_encoder is not None:
        colour = image[:, :3].to(image_encoder.dtype)
        encoded = image_encoder(colour, tuple(z_image.shape[-2:])) if late else image_encoder(colour)
    if late:
        return denoiser.image_features(z_image, encoded), None
    return None, encoded


def predict_velocity(
    denoiser,
    x_t: torch.Tensor,
    z_image: torch.Tensor,
    t: torch.Tensor,
    text: TextFeatures,
    image_index: torch.Tensor | None = None,
    image_features: torch.Tensor | None = None,
) -> torch.Tensor:
    """v = denoiser(x_t ⊕ z_image, 1000·t, text); `t` is one value per sample in [0, 1].

    With ``image_index`` ``z_image`` holds one row per image and row i of ``x_t`` belongs to
    image ``image_index[i]``: the late-fusion denoiser then runs its image trunk once per image
    (or not at all, given the trunk's ``image_features``); the others repeat the image latent.
    """
    timestep = (t * 1000).to(x_t.dtype)
    if isinstance(denoiser, LateFusionDenoiser):
        return denoiser(x_t, z_image, timestep, text.pooled, image_index, image_features)
    if image_index is not None:
        z_image = z_image[image_index]
    inp = torch.cat([x_t, z_image], dim=1)
    mask_ch = x_t.shape[1]
    if isinstance(denoiser, UNet2DConditionModel):
        class_labels = text.pooled if denoiser.class_embedding is not None else None
        out = denoiser(
            inp,
            timestep,
            encoder_hidden_states=text.tokens,
            class_labels=class_labels,
            encoder_attention_mask=text.mask,
        ).sample
    elif isinstance(denoiser, SD3Transformer2DModel):
        # as in SD3, padding tokens stay in the joint sequence (its processor takes no text mask)
        out = denoiser(
            inp,
            encoder_hidden_states=text.tokens,
            pooled_projections=text.pooled,
            timestep=timestep,
        ).sample
    else:
        b, _, h, w = inp.shape
        added = {"resolution": None, "aspect_ratio": None}
        if getattr(denoiser, "use_additional_conditions", False):
            scale = 8  # PixArt's micro-conditions are in pixels of its 8× VAE
            added = {
                "resolution": torch.tensor([[h * scale, w * scale]], device=inp.device)
                .repeat(b, 1)
                .to(inp.dtype),
                "aspect_ratio": torch.full((b, 1), h / w, device=inp.device, dtype=inp.dtype),
            }
        out = denoiser(
            inp,
            encoder_hidden_states=text.tokens,
            timestep=timestep,
            added_cond_kwargs=added,
            encoder_attention_mask=text.mask,
        ).sample
    return out[:, :mask_ch]
