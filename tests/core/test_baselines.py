"""Baselines selected by configuration: the discriminative segmenter and the no-shortcut ablation.

Both must train in the same loop, run through the same pipeline call and round-trip through
a model folder, while the defaults keep every existing model a rectified-flow model with
the image-latent shortcut.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genseg.errors import ConfigError, InputError

DISCRIMINATIVE = {"objective": {"formulation": "discriminative"}}
NO_SHORTCUT = {"objective": {"image_shortcut": False}}


def _image(seed: int = 0, h: int = 32, w: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3)).astype(np.float32)


def _build(make_tiny_config, extra: dict, kind: str = "dit"):
    from genseg.pipeline import build_pipeline

    pipe = build_pipeline(make_tiny_config(extra, kind=kind))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _run(pipe, image, seed: int = 0, **kw):
    return pipe(image, ["thing", "stuff"], generator=torch.Generator().manual_seed(seed), **kw).probabilities


@pytest.fixture(scope="module")
def fake_dataset(tmp_path_factory):
    from genseg.plugins.testing import make_fake_dataset

    return make_fake_dataset(tmp_path_factory.mktemp("baselines") / "fake", n=8)


def _train_cfg(make_tiny_config, extra: dict, steps: int):
    from genseg.config import TrainConfig

    return TrainConfig(
        model=make_tiny_config(extra),
        steps=steps,
        batch_size=4,
        learning_rate=3e-3,
        warmup_steps=0,
        lr_schedule="constant",
        log_every=1,
        checkpoint_every=1000,
    )


def test_defaults_are_the_flow_model_with_the_shortcut():
    from genseg.config import ModelConfig, ObjectiveConfig, model_config_from_dict

    assert ObjectiveConfig().formulation == "flow"
    assert ObjectiveConfig().image_shortcut is True
    with pytest.raises(ConfigError, match="pixel_bce"):
        model_config_from_dict({"objective": {"formulation": "discriminative", "loss": "pixel_bce"}})
    # a config written before the baselines existed still validates, to the flow model
    assert ModelConfig.model_validate({"objective": {"loss": "latent_mse"}}).objective.formulation == "flow"


def test_a_folder_saved_without_the_baseline_keys_loads_as_a_flow_model(make_tiny_config, tmp_path):
    from genseg.pipeline import GenSegPipeline

    pipe = _build(make_tiny_config, {})
    before = _run(pipe, _image(), seed=2)
    pipe.save_pretrained(tmp_path / "m")
    index = tmp_path / "m" / "model_index.json"
    data = json.loads(index.read_text())
    assert data.pop("formulation") == "flow" and data.pop("image_shortcut") is True
    index.write_text(json.dumps(data))  # what an older genseg wrote
    old = GenSegPipeline.from_pretrained(tmp_path / "m")
    old.set_progress_bar_config(disable=True)
    assert old.config.formulation == "flow" and old.config.image_shortcut is True
    assert np.array_equal(before, _run(old, _image(), seed=2))


@pytest.mark.parametrize("kind", ["dit", "unet"])
def test_discriminative_output_ignores_seed_and_steps_and_round_trips(make_tiny_config, tmp_path, kind):
    from genseg.pipeline import GenSegPipeline

    pipe = _build(make_tiny_config, DISCRIMINATIVE, kind)
    flow = _build(make_tiny_config, {}, kind)
    # the same network: identical parameter count, no head for the space-to-depth codec
    count = lambda p: sum(x.numel() for x in p.denoiser.parameters())  # noqa: E731
    assert count(pipe) == count(flow) and pipe.mask_head is None
    a = _run(pipe, _image(), seed=0)
    assert a.shape == (1, 2, 32, 32)
    assert np.array_equal(a, _run(pipe, _image(), seed=123))
    assert np.array_equal(a, _run(pipe, _image(), seed=0, num_inference_steps=4))
    assert not np.array_equal(a, _run(pipe, _image(seed=1)))  # the image does matter
    with pytest.raises(InputError, match="ensemble_size"):
        _run(pipe, _image(), ensemble_size=2)
    pipe.save_pretrained(tmp_path / "m")
    loaded = GenSegPipeline.from_pretrained(tmp_path / "m")
    loaded.set_progress_bar_config(disable=True)
    assert loaded.config.formulation == "discriminative"
    assert np.array_equal(a, _run(loaded, _image(), seed=7))


def test_discriminative_with_a_vae_codec_gets_a_linear_head(make_tiny_config):
    pipe = _build(make_tiny_config, {**DISCRIMINATIVE, "codec": {"kind": "tiny_autoencoder_kl"}})
    assert pipe.mask_head is not None
    out = _run(pipe, _image())
    assert out.shape == (1, 2, 32, 32) and np.isfinite(out).all()


def test_discriminative_loss_leaves_invalid_pixels_out():
    from genseg.objective.discriminative import discriminative_loss

    g = torch.Generator().manual_seed(0)
    mask = (torch.rand(2, 1, 16, 16, generator=g) > 0.5).float()
    valid = torch.ones_like(mask)
    valid[:, :, :, :4] = 0
    good = (mask * 2 - 1) * 6
    scrambled = good.clone()
    scrambled[:, :, :, :4] = torch.randn(2, 1, 16, 4, generator=g) * 10  # only where invalid
    assert torch.allclose(discriminative_loss(good, mask, valid), discriminative_loss(scrambled, mask, valid))
    assert not torch.allclose(discriminative_loss(good, mask), discriminative_loss(scrambled, mask))
    assert discriminative_loss(good, mask, valid) < 0.05 < discriminative_loss(-good, mask, valid)


def test_per_prompt_dice_weighs_a_small_class_like_a_large_one_and_skips_absent_rows():
    import torch.nn.functional as F

    from genseg.objective.discriminative import discriminative_loss

    mask = torch.zeros(3, 1, 16, 16)
    mask[0, :, :12, :12] = 1  # a large structure
    mask[1, :, 5:7, 5:7] = 1  # a small one; row 2 is an absent class
    good = (mask * 2 - 1) * 8
    missed_small = good.clone()
    missed_small[1] = -8  # the small structure predicted empty
    bce = lambda x: F.binary_cross_entropy_with_logits(x, mask)  # noqa: E731
    # batch Dice hardly notices the missed small structure; per-prompt Dice charges it fully
    batch_gap = discriminative_loss(missed_small, mask) - bce(missed_small)
    prompt_gap = discriminative_loss(missed_small, mask, dice="per_prompt") - bce(missed_small)
    assert batch_gap < 0.05 and prompt_gap > 0.45
    # the absent row adds no Dice term: predicting it empty or not changes only the BCE
    assert discriminative_loss(good, mask, dice="per_prompt") < 0.01
    only_absent = torch.zeros(1, 1, 4, 4)
    assert discriminative_loss(torch.full_like(only_absent, -8.0), only_absent, dice="per_prompt") < 0.01


def test_discriminative_model_trains_saves_and_loads(make_tiny_config, fake_dataset, tmp_path):
    from genseg.pipeline import load_pipeline
    from genseg.training.trainer import train

    result = train(
        _train_cfg(make_tiny_config, DISCRIMINATIVE, steps=24),
        tmp_path / "run",
        [fake_dataset],
        progress=False,
    )
    losses = [
        json.loads(line)["loss"] for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()
    ]
    assert len(losses) == 24 and all(np.isfinite(losses))
    assert np.mean(losses[-6:]) < np.mean(losses[:6]), losses
    trained = result.pipeline
    trained.set_progress_bar_config(disable=True)
    loaded = load_pipeline(tmp_path / "run", device="cpu")
    assert loaded.config.formulation == "discriminative"
    assert np.array_equal(_run(trained, _image(), seed=0), _run(loaded, _image(), seed=9))


def test_no_shortcut_model_does_not_see_the_image_without_an_image_encoder(make_tiny_config):
    ablated = _build(make_tiny_config, NO_SHORTCUT)
    default = _build(make_tiny_config, {})
    assert sum(p.numel() for p in ablated.denoiser.parameters()) == sum(
        p.numel() for p in default.denoiser.parameters()
    )
    assert np.array_equal(_run(ablated, _image(0)), _run(ablated, _image(1)))
    assert not np.array_equal(_run(default, _image(0)), _run(default, _image(1)))
    # the same holds for the discriminative baseline without the shortcut
    both = _build(make_tiny_config, {"objective": {"formulation": "discriminative", "image_shortcut": False}})
    assert np.array_equal(_run(both, _image(0)), _run(both, _image(1)))


def test_no_shortcut_with_the_semantic_image_encoder_sees_the_image(make_tiny_config, tmp_path):
    from genseg.pipeline import GenSegPipeline

    pipe = _build(
        make_tiny_config,
        {**NO_SHORTCUT, "image_encoder": {"kind": "efficientnet_lite0", "num_tokens_side": 2}},
    )
    a = _run(pipe, _image(0))
    assert np.abs(a - _run(pipe, _image(1))).max() > 1e-4  # the image reaches it through the tokens
    pipe.save_pretrained(tmp_path / "m")
    loaded = GenSegPipeline.from_pretrained(tmp_path / "m")
    loaded.set_progress_bar_config(disable=True)
    assert loaded.config.image_shortcut is False
    assert np.array_equal(a, _run(loaded, _image(0)))


def test_no_shortcut_model_trains_with_the_image_slot_empty(make_tiny_config, fake_dataset, tmp_path):
    from genseg.training.trainer import train

    result = train(
        _train_cfg(make_tiny_config, NO_SHORTCUT, steps=3), tmp_path / "run", [fake_dataset], progress=False
    )
    assert np.isfinite(result.last_loss)
    assert result.pipeline.config.image_shortcut is False
