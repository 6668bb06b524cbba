"""Seeded synthetic inputs, identical for genseg and its peers within a run.

Cost does not depend on pixel values, but a real photograph (scikit-image's astronaut)
tiled over the scene keeps the numbers honest for code paths that skip empty tiles.
"""

from __future__ import annotations

import numpy as np


def images(count: int, size: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` size×size×3 float32 images in [0, 1]."""
    rng = np.random.default_rng(seed)
    return [rng.random((size, size, 3), dtype=np.float32) for _ in range(count)]


def scene(size: int, seed: int = 0) -> np.ndarray:
    """A size×size×3 float32 scene in [0, 1]: a photograph tiled and shifted per row band."""
    from skimage import data

    texture = data.astronaut().astype(np.float32) / 255.0  # 512×512×3
    reps = -(-size // texture.shape[0])
    tiled = np.tile(texture, (reps, reps, 1))[:size, :size]
    rng = np.random.default_rng(seed)
    for row in range(0, size, texture.shape[0]):
        tiled[row : row + texture.shape[0]] = np.roll(
            tiled[row : row + texture.shape[0]], int(rng.integers(0, size)), axis=1
        )
    return np.ascontiguousarray(tiled)


def volume(depth: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """A D×H×W×3 float32 volume in [0, 1]: a bright ellipsoid in noise, as a windowed CT looks."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*(np.linspace(-1, 1, n) for n in (depth, height, width)), indexing="ij")
    organ = (x**2 / 0.3 + y**2 / 0.2 + z**2 / 0.6 < 1).astype(np.float32)
    vol = np.clip(0.3 + 0.5 * organ + rng.normal(0, 0.05, organ.shape), 0, 1).astype(np.float32)
    return np.repeat(vol[..., None], 3, axis=-1)


def denoiser_inputs(pipe, batch: int, prompts: list[str], device: str, seed: int = 0):
    """(noisy mask latent, image latent, t, text features, encoder map) for ``batch`` rows, as
    the pipeline and the trainer build them: images through the codec, prompts through the
    text encoder, and, for a late-fusion trunk that reads one, the frozen image encoder's map
    (an input here, like the image latent; None otherwise)."""
    import torch

    res = pipe.config.resolution
    g = torch.Generator().manual_seed(seed)
    imgs = torch.rand(batch, 3, res, res, generator=g).to(device)
    with torch.no_grad():
        z_image = pipe.codec.encode_image(imgs.to(pipe.codec.dtype)).float()
        text = pipe.encode_text([prompts[i % len(prompts)] for i in range(batch)]).to(device, torch.float32)
    shape = (batch, pipe.codec.mask_latent_channels, *z_image.shape[2:])
    noise = torch.randn(shape, generator=g).to(device)
    t = torch.rand(batch, generator=g).to(device)
    context = None
    if getattr(pipe.denoiser.config, "context_channels", 0):
        with torch.no_grad():
            context = pipe.image_encoder(imgs, tuple(z_image.shape[2:])).float()
    return noise, z_image, t, text, context
