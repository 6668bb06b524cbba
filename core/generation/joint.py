"""GenMask's joint training: the segmentation denoiser also learns text-to-image generation.

Each training step keeps its mask samples exactly as segmentation-only training draws them
and adds generation samples at the configured ratio (1:1 by default, GenMask's mix):

- mask sample: [noisy mask latent ⊕ clean image latent], heavy-tailed t (`model.objective`);
- generation sample: [noisy image latent ⊕ zeros], SD3's logit-normal t, caption replaced by
  the empty prompt at `text_dropout` so classifier-free guidance has an unconditional model.

Both kinds share one latent space and channel count (mask as a black/white image: the VAE
codec always, space-to-depth with `codec.mask_as_image`), so the same input and output
layers serve both. The loss is the mean over the mixed batch. The generation samples draw
their randomness from a generator seeded off the step's own, after the mask samples have
drawn theirs, so the segmentation stream of a joint run equals that of a plain run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from genseg.config import JointGenerationConfig, TrainConfig
from genseg.data.transforms import HORIZONTAL_FLIP_P
from genseg.errors import ConfigError
from genseg.generation.captions import ImageCaptionDataset
from genseg.generation.text import EMPTY, CaptionCache
from genseg.objective.flow import interpolate, velocity_target
from genseg.objective.timesteps import logit_normal

JOINT_LOG = "joint_log.jsonl"
FIX_CODEC = "set model.codec.mask_as_image: true (space-to-depth) or use an autoencoder_kl codec"

# x_t, image-condition latent, t in [0, 1], text features → predicted velocity
VelocityFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, object], torch.Tensor]


def check_joint_config(cfg: TrainConfig, source: str | Path | None = None) -> None:
    """Refuse, before anything is written, a training config that cannot train jointly."""
    if cfg.joint_generation is None:
        return
    model = cfg.model
    if cfg.finetune is not None:
        raise ConfigError(
            "joint_generation trains a new model; it cannot be combined with finetune",
            path=source,
            fix="remove joint_generation from the fine-tuning config (or train from scratch with it)",
        )
    if model.codec.kind == "space_to_depth" and not model.codec.mask_as_image:
        raise ConfigError(
            "joint_generation needs masks and images in one latent space, but the space-to-depth codec gives "
            f"masks {model.codec.factor**2} channels and images {3 * model.codec.factor**2}",
            path=source,
            fix=FIX_CODEC,
        )
    if getattr(model.objective, "formulation", "flow") != "flow":
        raise ConfigError(
            "joint_generation needs the generative (flow) formulation: generation samples are flow samples",
            path=source,
            fix="set model.objective.formulation: flow",
        )
    if model.denoiser.kind == "late_fusion":
        raise ConfigError(
            "joint_generation cannot train with denoiser.kind=late_fusion: generation denoises an image "
            "latent with text in every block, and the late-fusion denoiser reads the image only through "
            "its text-free trunk",
            path=source,
            fix="set model.denoiser.kind: unet (or dit, mmdit) for joint generation",
        )
    if model.image_encoder_kind != "none":
        raise ConfigError(
            "joint_generation cannot use a semantic image encoder: generation samples have no input image",
            path=source,
            fix="set model.image_encoder.kind: none",
        )


def generation_count(n_mask: int, ratio: float, generator: torch.Generator) -> int:
    """Generation samples to add to `n_mask` mask samples: ratio·n_mask, rounded at random so
    that the expected count is exact for any ratio (2.4 → 2 or 3, 3 with probability 0.4)."""
    want = ratio * n_mask
    base = int(want)
    return base + int(torch.rand((), generator=generator).item() < want - base)


def drop_captions(captions: Sequence[str], p: float, generator: torch.Generator) -> list[str]:
    """Each caption becomes the empty prompt with probability `p` (CFG's unconditional case)."""
    drop = torch.rand(len(captions), generator=generator) < p
    return [EMPTY if d else c for c, d in zip(captions, drop.tolist(), strict=True)]


@dataclass
class GenerationBatch:
    """Generation samples of one micro-step, before encoding."""

    images: torch.Tensor  # N×3×R×R in [0, 1]
    captions: list[str]  # after text dropout
    t: torch.Tensor  # N, logit-normal
    generator: torch.Generator  # continues to draw the noise


class JointGeneration:
    """Draws the generation samples of each micro-step and mixes their loss with the mask loss."""

    def __init__(
        self,
        cfg: TrainConfig,
        dataset_paths: Sequence[str | Path],
        codec,
        text_encoder,
        tokenizer,
        device: torch.device | str,
        log_dir: Path | None = None,
    ) -> None:
        check_joint_config(cfg)
        self.cfg: JointGenerationConfig = cfg.joint_generation  # type: ignore[assignment]
        if codec.mask_latent_channels != codec.image_latent_channels:
            raise ConfigError(
                f"the codec gives masks {codec.mask_latent_channels} latent channels and images "
                f"{codec.image_latent_channels}; joint generation needs them equal",
                fix=FIX_CODEC,
            )
        self.codec, self.device = codec, device
        self.data = ImageCaptionDataset(
            dataset_paths,
            cfg.model.resolution,
            split="training",
            seed=cfg.seed,
            exclude_classes=getattr(cfg, "exclude_classes", ()),
        )
        self.text = CaptionCache(text_encoder, tokenizer, cfg.model.text_encoder.max_length)
        self.sample_t = logit_normal(self.cfg.logit_mean, self.cfg.logit_std)
        self.log_path = None if log_dir is None else Path(log_dir) / JOINT_LOG
        self.calls = 0

    def draw(self, n_mask: int, step_generator: torch.Generator) -> GenerationBatch:
        """The generation samples that join `n_mask` mask samples; seeded off the step's generator."""
        seed = int(torch.randint(0, 2**62, (1,), generator=step_generator).item())
        g = torch.Generator().manual_seed(seed)
        n = generation_count(n_mask, self.cfg.ratio, g)
        index = torch.randint(0, len(self.data), (n,), generator=g).tolist()
        flips = (torch.rand(n, generator=g) < HORIZONTAL_FLIP_P).tolist()
        items = [self.data.load(i, flip=f) for i, f in zip(index, flips, strict=True)]
        captions = drop_captions([str(it["caption"]) for it in items], self.cfg.text_dropout, g)
        images = torch.stack([it["image"] for it in items]) if items else torch.zeros(0, 3, 1, 1)
        return GenerationBatch(images, captions, self.sample_t(n, g), g)

    def generation_loss(self, batch: GenerationBatch, velocity: VelocityFn) -> torch.Tensor:
        """Rectified-flow velocity MSE on the image latent; the image-condition slot is zeros."""
        with torch.no_grad():
            x0 = self.codec.encode_image(batch.images.to(self.device, self.codec.dtype))
            text = self.text(batch.captions).to(self.device)
        noise = torch.randn(x0.shape, generator=batch.generator, dtype=x0.dtype).to(self.device)
        t = batch.t.to(self.device)
        x_t = interpolate(x0, noise, t)
        v = velocity(x_t, torch.zeros_like(x0), t, text)
        return F.mse_loss(v.float(), velocity_target(x0, noise).float())

    def mix(
        self, mask_loss: torch.Tensor, n_mask: int, velocity: VelocityFn, step_generator: torch.Generator
    ) -> torch.Tensor:
        """Mean loss over the mixed batch: (n_mask·L_mask + n_gen·L_gen) / (n_mask + n_gen)."""
        batch = self.draw(n_mask, step_generator)
        n_gen = len(batch.captions)
        self.calls += 1
        if n_gen == 0:
            self._log(mask_loss, None, batch)
            return mask_loss
        gen_loss = self.generation_loss(batch, velocity)
        self._log(mask_loss, gen_loss, batch)
        return (n_mask * mask_loss + n_gen * gen_loss) / (n_mask + n_gen)

    def _log(self, mask_loss: torch.Tensor, gen_loss: torch.Tensor | None, batch: GenerationBatch) -> None:
        if self.log_path is None:
            return
        record = {
            "micro_step": self.calls,
            "mask_loss": round(float(mask_loss.detach()), 6),
            "gen_loss": None if gen_loss is None else round(float(gen_loss.detach()), 6),
            "n_gen": len(batch.captions),
            "n_uncond": sum(c == EMPTY for c in batch.captions),
        }
        with self.log_path.open("a") as log:
            log.write(json.dumps(record) + "\n")
