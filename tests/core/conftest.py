"""Tiny, seeded models for engine tests (built in seconds, never downloaded)."""

from __future__ import annotations

import pytest

from genseg.plugins.testing import tiny_model_config


@pytest.fixture
def make_tiny_config():
    """Build a tiny ModelConfig: top-level overrides as a dict, denoiser fields as keywords."""
    return tiny_model_config


@pytest.fixture(params=["unet", "dit", "late_fusion"])
def tiny_pipeline(request):
    from genseg.plugins.testing import build_tiny_pipeline

    return build_tiny_pipeline(request.param)
