"""Slice-wise volume segmentation: every slice predicted, order kept, same as one-by-one."""

from __future__ import annotations

import numpy as np
import pytest

from genseg.volumes import montage_slices, segment_volume


@pytest.fixture
def pipe():
    from genseg.plugins.testing import build_tiny_pipeline

    return build_tiny_pipeline("dit")


def test_every_slice_is_segmented_in_order_and_batching_does_not_change_results(pipe):
    volume = np.random.default_rng(0).random((5, 16, 24, 1), dtype=np.float32)
    seg = segment_volume(pipe, volume, ["a", "b"], batch_size=2, progress=False)
    assert seg.masks.shape == (2, 5, 16, 24) and seg.probabilities.shape == (2, 5, 16, 24)
    assert seg.uncertainty is None
    import torch

    for z in (0, 2, 4):  # the first slice of each batch sees the noise its seed (seed + start) gives first
        out = pipe(volume[z], ["a", "b"], generator=torch.Generator().manual_seed(z))
        np.testing.assert_allclose(out.probabilities[0], seg.probabilities[:, z], atol=1e-5)
    with pytest.raises(ValueError, match="D×H×W×C"):
        segment_volume(pipe, volume[0], ["a"], progress=False)


def test_montage_prefers_slices_with_mask():
    masks = np.zeros((1, 10, 4, 4), bool)
    masks[0, 6:9] = True
    assert montage_slices(masks) == [6, 7, 8]
    assert montage_slices(np.zeros((1, 10, 4, 4), bool)) == [0, 3, 6, 9]
