"""Text-to-image sampling with a jointly trained genseg model.

Euler integration of the rectified-flow ODE from pure noise (t = 1) to data (t = 0) over
evenly spaced steps, with classifier-free guidance against the empty prompt:
v = v(∅) + g·(v(text) − v(∅)). The image-condition slot holds zeros, as in training's
generation samples. Guidance exists only here: mask sampling (`GenSegPipeline.__call__`)
never sees it, matching GenMask, where CFG applies to generation and never to masks.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from genseg.errors import ConfigError, InputError, ModelNotFoundError
from genseg.generation.text import CaptionCache
from genseg.models.denoisers import predict_velocity
from genseg.objective.flow import velocity_from_output

TRAIN_RECORD = "genseg_train.json"  # written by genseg.training.trainer into every run folder


def require_joint_model(model_dir: str | Path) -> dict:
    """The joint_generation settings a model was trained with; a clear error if it was not."""
    path = Path(model_dir)
    if not (path / "model_index.json").is_file():
        raise ModelNotFoundError(
            "not a genseg model folder: no model_index.json",
            path=path,
            fix="pass the --output folder of a finished `genseg train`",
        )
    record = path / TRAIN_RECORD
    if not record.is_file():
        raise ConfigError(
            f"cannot tell whether this model was trained to generate images: no {TRAIN_RECORD}",
            path=path,
            fix="use a model folder written by `genseg train` with joint_generation in its config",
        )
    joint = json.loads(record.read_text()).get("joint_generation")
    if not joint:
        raise ConfigError(
            "this model was trained for segmentation only; it cannot generate images",
            path=record,
            fix="train with joint_generation in the config (see docs/methods.md), e.g. "
            "joint_generation: {ratio: 1.0} and model.codec.mask_as_image: true",
        )
    return joint


def _check_pipeline(pipe) -> None:
    codec = pipe.codec
    if codec.mask_latent_channels != codec.image_latent_channels:
        raise ConfigError(
            f"the model's codec gives masks {codec.mask_latent_channels} channels and images "
            f"{codec.image_latent_channels}: its denoiser outputs mask latents, not image latents",
            fix="train with joint_generation (and model.codec.mask_as_image: true for space-to-depth)",
        )


@torch.no_grad()
def generate_images(
    pipe,
    prompt: str | list[str],
    steps: int = 30,
    guidance: float = 4.0,
    seed: int = 0,
    size: int | None = None,
) -> torch.Tensor:
    """Generate one image per prompt: N×3×S×S float in [0, 1] on the CPU.

    `pipe` is a `GenSegPipeline` trained with joint generation. Images are made at the model's
    training resolution and resized (bicubic, antialiased) to `size` when it differs. Guidance
    1.0 is the conditional model alone; 0.0 the unconditional one. Noise comes from a CPU
    generator seeded with `seed`, so a result does not depend on the device.
    """
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    if not prompts:
        raise InputError("no prompt given", fix='pass a prompt, e.g. "grass, red circle and blue square"')
    if steps < 1:
        raise InputError(f"steps must be >= 1, got {steps}")
    if guidance < 0:
        raise InputError(f"guidance must be >= 0, got {guidance}")
    if size is not None and size < 1:
        raise InputError(f"size must be >= 1, got {size}")
    _check_pipeline(pipe)
    device, dtype = pipe._execution_device, pipe.denoiser.dtype
    res = pipe.config.resolution
    side = res // pipe.codec.downsample
    n = len(prompts)
    shape = (n, pipe.codec.image_latent_channels, side, side)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float32)
    x = x.to(device, dtype)
    captions = CaptionCache(pipe.text_encoder, pipe.tokenizer, pipe.config.max_text_length)
    guided = guidance != 1.0
    text = captions([*prompts, *([""] * n)] if guided else prompts).to(device, dtype)
    empty_image = torch.zeros_like(x)
    prediction = pipe.config.prediction_type
    for i in range(steps):
        t_now, t_next = 1.0 - i / steps, 1.0 - (i + 1) / steps
        x_in = torch.cat([x, x]) if guided else x
        t = torch.full((x_in.shape[0],), t_now, device=device, dtype=dtype)
        z = torch.cat([empty_image, empty_image]) if guided else empty_image
        v = velocity_from_output(predict_velocity(pipe.denoiser, x_in, z, t, text), x_in, t, prediction)
        if guided:
            v_cond, v_uncond = v.chunk(2)
            v = v_uncond + guidance * (v_cond - v_uncond)
        x = x + (t_next - t_now) * v
    images = pipe.codec.decode_image(x.to(pipe.codec.dtype)).float().cpu()
    if size is not None and size != res:
        images = F.interpolate(images, size=(size, size), mode="bicubic", align_corners=False, antialias=True)
    return images.clamp(0, 1)


def to_pil(image: torch.Tensor):
    """3×H×W in [0, 1] → an 8-bit RGB PIL image."""
    from PIL import Image

    array = (image.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype("uint8")
    return Image.fromarray(array)


def save_png(image: torch.Tensor, path: str | Path) -> Path:
    """Write one generated image as PNG, atomically (never a half-written file)."""
    from genseg.data.atomic import atomic_write

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise InputError(f"the output must be a .png file, got {path.name!r}", path=path, fix="name it *.png")
    return atomic_write(path, lambda tmp: to_pil(image).save(tmp, format="PNG"))
