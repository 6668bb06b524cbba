"""Factories: a `ModelConfig` in, ready components out (`genseg.pipeline.build_pipeline` joins them)."""

from __future__ import annotations

from typing import Any

import torch

from genseg.config import CodecConfig, ModelConfig, TextEncoderConfig
from genseg.models.codec import AutoencoderKLCodec, LatentCodec, SpaceToDepthCodec, freeze
from genseg.models.denoisers import build_denoiser
from genseg.models.text_encoder import build_tiny_text_encoder, load_text_encoder, minilm_path, text_dim


def build_text_encoder(cfg: TextEncoderConfig):
    if cfg.kind == "tiny":
        return build_tiny_text_encoder(cfg.tiny_hidden_size)
    return load_text_encoder(minilm_path() if cfg.kind == "minilm" else cfg.path)


def build_codec(cfg: CodecConfig, image_channels: int = 3) -> LatentCodec:
    if cfg.kind == "space_to_depth":
        codec = SpaceToDepthCodec(
            factor=cfg.factor, image_channels=image_channels, mask_as_image=cfg.mask_as_image
        )
    elif cfg.kind == "tiny_autoencoder_kl":
        torch.manual_seed(0)
        codec = AutoencoderKLCodec()
    else:
        codec = AutoencoderKLCodec.from_vae_path(cfg.path)
    return freeze(codec)


def build_components(cfg: ModelConfig, seed: int = 0) -> dict[str, Any]:
    """Every module of a fresh `GenSegPipeline`, trainable parts randomly initialised from `seed`."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    text_encoder, tokenizer = build_text_encoder(cfg.text_encoder)
    codec = build_codec(cfg.codec, len(cfg.band_layout))
    tdim = text_dim(text_encoder)
    latent = cfg.resolution // codec.downsample
    torch.manual_seed(seed)
    denoiser_cfg = cfg.denoiser.model_copy(update={"readout_image": cfg.readout_reads_image})
    late = cfg.denoiser.kind == "late_fusion"
    encoder_cfg, encoder_kind = cfg.image_encoder, cfg.image_encoder_kind
    context_ch = encoder_cfg.channels if late and encoder_kind != "none" else 0
    denoiser = build_denoiser(
        denoiser_cfg, codec.mask_latent_channels, codec.image_latent_channels, tdim, latent, context_ch
    )
    image_encoder = None
    if encoder_kind == "efficientnet_lite0" and late:
        from genseg.models.image_encoder import PyramidImageEncoder

        image_encoder = PyramidImageEncoder.pretrained(encoder_cfg.channels, cfg.image_encoder_input_size)
    elif encoder_kind == "efficientnet_lite0":
        from genseg.models.image_encoder import SemanticImageEncoder

        image_encoder = SemanticImageEncoder.pretrained(tdim, encoder_cfg.num_tokens_side)
    mask_head = None
    # a discriminative model lays its output out as pixel logits by depth-to-space, which needs
    # whole channels per pixel of a latent cell; a VAE latent does not have that, so it gets the head
    no_inverse = codec.mask_latent_channels % codec.downsample**2 != 0
    if cfg.objective.loss == "linear_bce" or (cfg.objective.formulation == "discriminative" and no_inverse):
        from genseg.models.heads import LinearMaskHead

        mask_head = LinearMaskHead(codec.mask_latent_channels, codec.downsample)
    refiner = None
    if cfg.refiner.kind == "conv":
        from genseg.models.refiner import MaskRefiner

        refiner = MaskRefiner(image_channels=len(cfg.band_layout), channels=cfg.refiner.channels)
    return {
        "refiner": refiner,
        "denoiser": denoiser,
        "codec": codec,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "scheduler": FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0),
        "image_encoder": image_encoder,
        "mask_head": mask_head,
    }
