"""`GenSegPipeline.__call__` on volumes: numpy and torch arrays, the rule that tells a volume
from an image, and masks shaped like the volume (paths: tests/domains/medical)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genseg.errors import InputError
from genseg.plugins.testing import build_tiny_pipeline
from genseg.volumes import segment_volume


@pytest.fixture(scope="module")
def pipe():
    return build_tiny_pipeline("dit")


@pytest.fixture(scope="module")
def volume():
    """D×H×W in [0, 1]: 5 slices, no axis that could be a channel axis."""
    return np.random.default_rng(0).random((5, 24, 20), dtype=np.float32)


def test_a_medical_numpy_volume_gives_masks_shaped_like_it_equal_to_segment_volume(pipe, volume):
    out = pipe(volume, ["liver", "spleen"], domain="medical", generator=torch.Generator().manual_seed(3))
    assert out.masks.shape == (1, 2, 5, 24, 20) and out.masks.dtype == bool
    assert out.probabilities.shape == (1, 2, 5, 24, 20) and out.uncertainty is None
    direct = segment_volume(pipe, volume[..., None], ["liver", "spleen"], seed=3, progress=False)
    np.testing.assert_array_equal(out.masks[0], direct.masks)
    np.testing.assert_array_equal(out.probabilities[0], direct.probabilities)


def test_a_torch_volume_with_channels_and_an_ensemble_gives_tensors(pipe, volume):
    tensor = torch.from_numpy(volume)[..., None]  # D×H×W×1
    out = pipe(tensor, "liver", volume=True, ensemble_size=2, output_type="pt")
    assert isinstance(out.masks, torch.Tensor) and tuple(out.masks.shape) == (1, 1, 5, 24, 20)
    assert tuple(out.uncertainty.shape) == (1, 1, 5, 24, 20)
    as_numpy = pipe(volume, "liver", domain="medical", ensemble_size=2)  # seed 0 without a generator
    np.testing.assert_array_equal(out.masks.numpy(), as_numpy.masks)


def test_return_dict_false_gives_the_three_arrays(pipe, volume):
    masks, probs, unc = pipe(volume, "liver", domain="medical", return_dict=False)
    assert masks.shape == probs.shape == (1, 1, 5, 24, 20) and unc is None


def test_an_array_that_may_be_an_image_or_a_volume_is_an_error_naming_the_argument(pipe):
    ambiguous = np.random.default_rng(1).random((24, 20, 3), dtype=np.float32)  # H×W×RGB or 24 slices
    with pytest.raises(InputError, match="may be an image or a D×H×W") as err:
        pipe(ambiguous, "liver", domain="medical")
    assert "volume=True" in err.value.fix and "volume=False" in err.value.fix
    assert pipe(ambiguous, "liver", domain="medical", volume=False).masks.shape == (1, 1, 24, 20)
    assert pipe(ambiguous, "liver", domain="medical", volume=True).masks.shape == (1, 1, 24, 20, 3)


def test_outside_the_medical_domain_arrays_stay_images_unless_told(pipe, volume):
    image = np.random.default_rng(2).random((24, 20, 3), dtype=np.float32)
    assert pipe(image, "thing").masks.shape == (1, 1, 24, 20)  # as before: an H×W×C image
    with pytest.raises(InputError, match="is not an image") as err:
        pipe(volume, "thing")  # 5×24×20: no channel axis
    assert "volume=True" in err.value.fix
    assert pipe(volume, "thing", volume=True).masks.shape == (1, 1, 5, 24, 20)
    batch = torch.rand(2, 3, 24, 20)  # N×C×H×W stays a batch of images
    assert pipe(batch, "thing", domain="medical").masks.shape == (2, 1, 24, 20)


def test_volume_true_on_an_array_that_is_no_volume_and_a_volume_among_images_are_errors(pipe, volume):
    with pytest.raises(InputError, match="not D×H×W or D×H×W×C"):
        pipe(np.zeros((24, 20), np.float32), "thing", volume=True)
    with pytest.raises(InputError, match="in a call of its own"):
        pipe([volume, volume], "liver", domain="medical")


def test_volume_options_are_validated_before_any_slice(pipe, volume):
    with pytest.raises(InputError, match="ensemble"):
        pipe(volume, "liver", domain="medical", ensemble_size=0)
    with pytest.raises(InputError, match="unknown output_type"):
        pipe(volume, "liver", domain="medical", output_type="pil")
