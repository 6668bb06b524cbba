"""Timestep samplers for rectified flow (t = 0 is data, t = 1 is pure noise).

Segmentation is served best by timesteps concentrated near pure noise, since inference
runs one step from t = 1 (GenMask; docs/how-it-works.md). With s = 1 - t the heavy-tailed density
is p(s) = 2a²s / (s² + a²)², whose CDF s² / (s² + a²) inverts to s = a·sqrt(u / (1 - u)).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

TimestepSampler = Callable[[int, torch.Generator | None, torch.device | str], torch.Tensor]


def heavy_tail(a: float = 0.05) -> TimestepSampler:
    """t = 1 - a·sqrt(u/(1-u)), clamped to [0, 1]; a = 0.05 puts ~90 % of draws above 0.85."""
    if a <= 0:
        raise ValueError("heavy_tail needs a > 0")

    def sample(n: int, generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
        u = torch.rand(n, generator=generator, dtype=torch.float64).clamp(max=1 - 1e-12)
        t = 1.0 - a * torch.sqrt(u / (1.0 - u))
        return t.clamp(0.0, 1.0).float().to(device)

    return sample


def logit_normal(mean: float = 0.0, std: float = 1.0) -> TimestepSampler:
    """t = sigmoid(m + s·n), the sampling SD3 uses for image generation."""

    def sample(n: int, generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
        z = torch.randn(n, generator=generator) * std + mean
        return torch.sigmoid(z).to(device)

    return sample


def uniform() -> TimestepSampler:
    """t ~ U(0, 1), the plain rectified-flow choice."""

    def sample(n: int, generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
        return torch.rand(n, generator=generator).to(device)

    return sample


def sampler_from_config(cfg) -> TimestepSampler:
    """Build the sampler an `ObjectiveConfig` names."""
    if cfg.timesteps == "heavy_tail":
        return heavy_tail(cfg.heavy_tail_a)
    if cfg.timesteps == "logit_normal":
        return logit_normal(cfg.logit_mean, cfg.logit_std)
    return uniform()
