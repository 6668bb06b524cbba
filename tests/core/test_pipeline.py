import numpy as np
import pytest
import torch

from genseg.errors import InputError, PromptError


def _image(h=40, w=30, seed=0):
    return np.random.default_rng(seed).random((h, w, 3)).astype(np.float32)


def test_one_step_masks_have_the_input_size_and_are_deterministic(tiny_pipeline):
    img = _image()
    a = tiny_pipeline(img, ["red circle", "grass"], generator=torch.Generator().manual_seed(3))
    b = tiny_pipeline(img, ["red circle", "grass"], generator=torch.Generator().manual_seed(3))
    assert a.masks.shape == (1, 2, 40, 30) and a.masks.dtype == bool
    assert a.probabilities.min() >= 0 and a.probabilities.max() <= 1
    assert a.uncertainty is None
    assert np.array_equal(a.probabilities, b.probabilities)


def test_results_do_not_depend_on_batch_size(tiny_pipeline):
    imgs = [_image(seed=i) for i in range(3)]
    a = tiny_pipeline(imgs, ["a", "b"], generator=torch.Generator().manual_seed(0), batch_size=16)
    b = tiny_pipeline(imgs, ["a", "b"], generator=torch.Generator().manual_seed(0), batch_size=2)
    assert np.allclose(a.probabilities, b.probabilities, atol=1e-5)


def test_ensemble_gives_uncertainty_and_steps_change_the_result(tiny_pipeline):
    img = _image()
    ens = tiny_pipeline(img, "brain", ensemble_size=4, generator=torch.Generator().manual_seed(0))
    assert ens.uncertainty.shape == (1, 1, 40, 30)
    assert ens.uncertainty.max() > 0  # four noise draws do not agree exactly on an untrained model
    one = tiny_pipeline(img, "brain", num_inference_steps=1, generator=torch.Generator().manual_seed(0))
    ten = tiny_pipeline(img, "brain", num_inference_steps=10, generator=torch.Generator().manual_seed(0))
    assert not np.allclose(one.probabilities, ten.probabilities)


def test_save_and_load_give_identical_outputs(tiny_pipeline, tmp_path):
    from genseg.pipeline import GenSegPipeline

    img = _image()
    before = tiny_pipeline(
        img, ["white matter", "red square"], num_inference_steps=3, generator=torch.Generator().manual_seed(1)
    )
    tiny_pipeline.save_pretrained(tmp_path / "model")
    loaded = GenSegPipeline.from_pretrained(tmp_path / "model")
    loaded.set_progress_bar_config(disable=True)
    after = loaded(
        img, ["white matter", "red square"], num_inference_steps=3, generator=torch.Generator().manual_seed(1)
    )
    assert np.array_equal(before.probabilities, after.probabilities)
    assert type(loaded.denoiser) is type(tiny_pipeline.denoiser)
    assert loaded.config.resolution == 32


@pytest.mark.parametrize("prompt", ["", "   ", ["ok", ""]])
def test_empty_prompt_is_refused(tiny_pipeline, prompt):
    with pytest.raises(PromptError, match="empty prompt"):
        tiny_pipeline(_image(), prompt)


def test_bad_images_are_refused(tiny_pipeline):
    with pytest.raises(InputError, match="channels"):
        tiny_pipeline(torch.rand(5, 8, 8), "x")
    with pytest.raises(InputError, match="different sizes"):
        tiny_pipeline([_image(8, 8), _image(9, 9)], "x")
    with pytest.raises(InputError, match="num_inference_steps"):
        tiny_pipeline(_image(), "x", num_inference_steps=0)


def test_grey_uint8_and_pil_inputs_are_accepted(tiny_pipeline):
    from PIL import Image

    grey = (np.random.default_rng(0).random((20, 24)) * 255).astype(np.uint8)
    a = tiny_pipeline(grey, "x", generator=torch.Generator().manual_seed(0))
    b = tiny_pipeline(Image.fromarray(grey), "x", generator=torch.Generator().manual_seed(0))
    assert a.masks.shape == (1, 1, 20, 24)
    assert np.allclose(a.probabilities, b.probabilities, atol=1e-6)


def test_optional_image_encoder_and_linear_head_round_trip(tmp_path, make_tiny_config):
    from genseg.pipeline import GenSegPipeline, build_pipeline

    cfg = make_tiny_config(
        {
            "image_encoder": {"kind": "efficientnet_lite0", "num_tokens_side": 2},
            "objective": {"loss": "linear_bce"},
        }
    )
    pipe = build_pipeline(cfg)
    pipe.set_progress_bar_config(disable=True)
    out = pipe(_image(), "x", generator=torch.Generator().manual_seed(0))
    pipe.save_pretrained(tmp_path / "m")
    again = GenSegPipeline.from_pretrained(tmp_path / "m")
    out2 = again(_image(), "x", generator=torch.Generator().manual_seed(0))
    assert again.image_encoder is not None and again.mask_head is not None
    assert np.array_equal(out.probabilities, out2.probabilities)


def test_refiner_round_trips_and_changes_the_decoded_mask(tmp_path, make_tiny_config):
    from genseg.pipeline import GenSegPipeline, build_pipeline

    pipe = build_pipeline(make_tiny_config({"refiner": {"kind": "conv", "channels": 8}}))
    pipe.set_progress_bar_config(disable=True)
    before = pipe(_image(), "x", generator=torch.Generator().manual_seed(0)).probabilities
    # the last layer starts at zero (an untrained refiner is the identity); give it weights
    with torch.no_grad():
        torch.nn.init.normal_(pipe.refiner.out.weight, std=0.5)
    after = pipe(_image(), "x", generator=torch.Generator().manual_seed(0)).probabilities
    assert not np.allclose(before, after)
    pipe.save_pretrained(tmp_path / "m")
    again = GenSegPipeline.from_pretrained(tmp_path / "m")
    assert again.refiner is not None
    again_out = again(_image(), "x", generator=torch.Generator().manual_seed(0)).probabilities
    assert np.array_equal(after, again_out)


def test_refiner_needs_the_segmentation_loss(make_tiny_config):
    with pytest.raises(Exception, match="refiner learns from the segmentation loss"):
        make_tiny_config({"refiner": {"kind": "conv"}, "objective": {"seg_loss": "none"}})


def test_the_pipeline_takes_a_path_a_batched_tensor_and_refuses_an_unknown_output_type(tmp_path):
    import numpy as np
    import pytest
    import torch

    from genseg.data.io import load_image
    from genseg.errors import InputError
    from genseg.plugins.testing import build_tiny_pipeline, make_fake_image

    pipe = build_tiny_pipeline("late_fusion")
    path = make_fake_image(tmp_path / "scan.png", size=(24, 20))
    from_path = pipe(str(path), ["liver"], generator=torch.Generator().manual_seed(0))
    array = load_image(path).array
    from_array = pipe(array, ["liver"], generator=torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(from_path.probabilities, from_array.probabilities)
    assert from_path.masks.shape == (1, 1, 24, 20)

    batch = torch.from_numpy(np.stack([array, array[::-1].copy()])).permute(0, 3, 1, 2)
    out = pipe(batch, ["liver", "spleen"], output_type="pt")
    assert isinstance(out.masks, torch.Tensor) and out.masks.shape == (2, 2, 24, 20)
    for bad in ("pil", "bogus"):
        with pytest.raises(InputError, match="output_type"):
            pipe(array, ["liver"], output_type=bad)
