"""Tiny, seeded models for engine tests (built in seconds, never downloaded)."""

from __future__ import annotations

import pytest

TINY_MODEL = {
    "resolution": 32,
    "text_encoder": {"kind": "tiny", "max_length": 8},
    "codec": {"kind": "space_to_depth", "factor": 4},
    "denoiser": {
        "kind": "unet",
        "block_out_channels": [16, 32],
        "cross_attention_dim": 32,
        "attention_head_dim": 8,
        "num_layers": 2,
        "num_attention_heads": 2,
        "dit_head_dim": 16,
    },
}


def tiny_model_config(extra: dict | None = None, **denoiser):
    from genseg.config import ModelConfig

    data = {**TINY_MODEL, "denoiser": {**TINY_MODEL["denoiser"], **denoiser}, **(extra or {})}
    return ModelConfig.model_validate(data)


@pytest.fixture
def make_tiny_config():
    """Build a tiny ModelConfig: top-level overrides as a dict, denoiser fields as keywords."""
    return tiny_model_config


@pytest.fixture(params=["unet", "dit"])
def tiny_pipeline(request):
    from genseg.models.factory import build_pipeline

    pipe = build_pipeline(tiny_model_config(kind=request.param), seed=0)
    pipe.set_progress_bar_config(disable=True)
    return pipe
