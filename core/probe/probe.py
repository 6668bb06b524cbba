"""`AttentionProbe`: Seg4Diff's zero-shot segmenter on a genseg MM-DiT pipeline.

It runs the very forward pass the one-step generator runs (noise in the mask channels at
t = 1, the clean image latent beside it, the prompt's tokens in the joint sequence), but reads
the answer from one block's image-to-text attention instead of the predicted latent. Nothing
is trained. It is called like `GenSegPipeline` and returns a `GenSegOutput` (probabilities =
the normalised maps), so `genseg.segment` and `genseg.evaluation` use it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from genseg.data.image_processor import resize_image
from genseg.errors import InputError
from genseg.probe.attention import recording
from genseg.probe.checks import check_layer, require_joint_attention
from genseg.probe.maps import masks_from_maps, minmax, prompt_maps, token_weights, upsample


@dataclass
class GridMaps:
    """Raw (unnormalised) maps per layer: layer → N × P × h × w on the patch grid."""

    maps: dict[int, torch.Tensor]
    size: tuple[int, int]  # the input images' height and width


class AttentionProbe:
    """Zero-shot masks from the image-to-text joint attention of one MM-DiT block."""

    def __init__(
        self,
        pipe,
        layer: int | None = None,
        rule: str = "argmax",
        timestep: float = 1.0,
        special_tokens: bool = False,
    ) -> None:
        require_joint_attention(pipe.denoiser)
        self.pipe = pipe
        self.num_layers = len(pipe.denoiser.transformer_blocks)
        # default: the middle block (Seg4Diff's expert in SD3-medium, block 9 of 24, is mid-depth);
        # `genseg probe-layers` finds the best one for a given model
        self.layer = check_layer(pipe.denoiser, self.num_layers // 2 if layer is None else layer)
        self.rule = rule
        self.timestep = timestep
        self.special_tokens = special_tokens

    @property
    def config(self):
        return self.pipe.config

    def grid(self, latent_hw: tuple[int, int]) -> tuple[int, int]:
        patch = self.pipe.denoiser.config.patch_size
        return latent_hw[0] // patch, latent_hw[1] // patch

    def pair_maps(
        self,
        z_images: torch.Tensor,
        text,
        weights: torch.Tensor,
        noise: torch.Tensor,
        layers: list[int],
        image_tokens: torch.Tensor | None = None,
        keep_grad: bool = False,
    ) -> dict[int, torch.Tensor]:
        """One forward pass over B (image latent, prompt) pairs → layer → B × h × w raw maps.

        Runs without `no_grad` so a caller may train through it (`keep_grad=True`).
        """
        from genseg.models.denoisers import predict_velocity
        from genseg.models.image_encoder import join_image_tokens

        if image_tokens is not None:
            text = join_image_tokens(text, image_tokens)
        grid = self.grid(tuple(z_images.shape[2:]))
        t = torch.full((z_images.shape[0],), self.timestep, device=z_images.device, dtype=z_images.dtype)
        with recording(self.pipe.denoiser, layers, keep_grad=keep_grad) as recorders:
            predict_velocity(self.pipe.denoiser, noise, z_images, t, text)
        return {i: prompt_maps(rec.maps, weights.to(rec.maps.device), grid) for i, rec in recorders.items()}

    def encode_images(self, tensors: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """3 × H × W images in [0, 1] (one size) → image latents and optional image tokens."""
        pipe = self.pipe
        device, dtype, res = pipe._execution_device, pipe.denoiser.dtype, pipe.config.resolution
        batch = torch.stack(tensors).to(device)
        resized = resize_image(batch, res)
        z_images = pipe.codec.encode_image(resized.to(pipe.codec.dtype)).to(dtype)
        tokens = pipe.image_encoder(resized.to(pipe.image_encoder.dtype)) if pipe.image_encoder else None
        return z_images, tokens

    def record(
        self,
        image,
        prompts: list[str],
        layers: list[int] | None = None,
        ensemble_size: int = 1,
        generator: torch.Generator | None = None,
        batch_size: int = 16,
    ) -> GridMaps:
        """Raw maps of every (image, prompt) at each of `layers`, averaged over noise draws."""
        from genseg.models.text_encoder import TextFeatures
        from genseg.pipeline import to_image_tensor

        pipe = self.pipe
        layers = [check_layer(pipe.denoiser, i) for i in (layers if layers is not None else [self.layer])]
        images = image if isinstance(image, list) else [image]
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        tensors = [to_image_tensor(i) for i in images]
        pipe.check_inputs(tensors, prompts, 1, ensemble_size, 0.5)
        sizes = {tuple(t.shape[1:]) for t in tensors}
        if len(sizes) > 1:
            raise InputError(
                f"images of different sizes in one call: {sorted(sizes)}", fix="call the probe once per size"
            )
        size = sizes.pop()
        device, dtype = pipe._execution_device, pipe.denoiser.dtype
        z_images, img_tokens = self.encode_images(tensors)
        text = pipe.encode_text(prompts).to(device, dtype)
        weights = token_weights(pipe.tokenizer, prompts, pipe.config.max_text_length, self.special_tokens)
        grid = self.grid(tuple(z_images.shape[2:]))

        n_img, n_prompt, k = len(tensors), len(prompts), ensemble_size
        rows = [(i, p) for i in range(n_img) for p in range(n_prompt) for _ in range(k)]
        latent_shape = (pipe.codec.mask_latent_channels, *z_images.shape[2:])
        noise = torch.randn((len(rows), *latent_shape), generator=generator, dtype=torch.float32)
        out: dict[int, list[torch.Tensor]] = {i: [] for i in layers}
        for start in range(0, len(rows), batch_size):
            idx = rows[start : start + batch_size]
            ii = torch.tensor([r[0] for r in idx], device=device)
            pp = torch.tensor([r[1] for r in idx])
            feats = TextFeatures(text.tokens[pp], text.mask[pp], text.pooled[pp])
            chunk = self.pair_maps(
                z_images[ii],
                feats,
                weights[pp],
                noise[start : start + len(idx)].to(device, dtype),
                layers,
                img_tokens[ii] if img_tokens is not None else None,
            )
            for i, maps in chunk.items():
                out[i].append(maps)
        maps = {i: torch.cat(v).view(n_img, n_prompt, k, *grid).mean(2) for i, v in out.items()}
        return GridMaps(maps, size)

    def normalised(self, raw: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """N × P × h × w raw maps → N × P × H × W in [0, 1] (per-map min-max after upsampling)."""
        return minmax(upsample(raw, size))

    @torch.no_grad()
    def __call__(
        self,
        image,
        prompt,
        num_inference_steps: int = 1,
        ensemble_size: int = 1,
        generator: torch.Generator | None = None,
        threshold: float = 0.5,
        batch_size: int = 16,
        output_type: str = "np",
        return_dict: bool = True,
    ):
        """Same signature and output as `GenSegPipeline.__call__`; `num_inference_steps` is
        ignored (the probe reads one forward pass)."""
        from genseg.pipeline import GenSegOutput

        recorded = self.record(image, prompt, None, ensemble_size, generator, batch_size)
        maps = self.normalised(recorded.maps[self.layer].cpu(), recorded.size)
        masks = torch.stack([masks_from_maps(m, threshold, self.rule) for m in maps])
        if output_type == "np":
            maps, masks = maps.numpy().astype(np.float32), masks.numpy()
        if not return_dict:
            return masks, maps, None
        return GenSegOutput(masks=masks, probabilities=maps, uncertainty=None)


def as_probe(pipe, method: str, layer: int | None, lora=None, path: str | None = None) -> AttentionProbe:
    """What `genseg segment --method attention-probe [--layer L] [--probe-lora DIR]` segments with."""
    from genseg.errors import ConfigError

    if method != "attention-probe":
        raise ConfigError(
            "--layer and --probe-lora apply to --method attention-probe only",
            fix="add --method attention-probe, or drop --layer/--probe-lora",
        )
    require_joint_attention(pipe.denoiser, path=path)
    if lora is not None:
        from genseg.probe.finetune import load_probe_lora

        trained = load_probe_lora(pipe, lora)
        layer = trained if layer is None else layer
    return AttentionProbe(pipe, layer=layer)
