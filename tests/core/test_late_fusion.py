"""The late-fusion denoiser: one trunk pass per image, a text-written readout per prompt."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genseg.errors import ConfigError


def _denoiser(seed: int = 0):
    from genseg.models.late_fusion import LateFusionDenoiser

    torch.manual_seed(seed)
    return LateFusionDenoiser(
        mask_channels=16, image_channels=48, text_dim=32, block_out_channels=(16, 32), sample_size=8
    ).eval()


def test_prompts_of_one_image_share_its_trunk_pass_and_get_the_same_answer_as_alone():
    net = _denoiser()
    g = torch.Generator().manual_seed(1)
    z = torch.randn(2, 48, 8, 8, generator=g)
    x = torch.randn(6, 16, 8, 8, generator=g)
    pooled = torch.randn(6, 32, generator=g)
    t = torch.rand(6, generator=g) * 1000
    index = torch.tensor([0, 0, 0, 1, 1, 1])
    with torch.no_grad():
        shared = net(x, z, t, pooled, image_index=index)
        alone = net(x, z[index], t, pooled)
        precomputed = net(x, None, t, pooled, features=net.image_features(z)[index])
    torch.testing.assert_close(shared, alone, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(precomputed, alone, rtol=1e-5, atol=1e-5)
    # the prompt decides the answer: two prompts on one image differ
    assert not torch.allclose(shared[0], shared[1])


def test_the_readout_depends_on_the_noisy_latent_and_the_timestep():
    net = _denoiser()
    z, pooled = torch.randn(1, 48, 8, 8), torch.randn(1, 32)
    x = torch.randn(1, 16, 8, 8)
    with torch.no_grad():
        base = net(x, z, torch.tensor([500.0]), pooled)
        other_x = net(x + 1, z, torch.tensor([500.0]), pooled)
        other_t = net(x, z, torch.tensor([50.0]), pooled)
    assert not torch.allclose(base, other_x) and not torch.allclose(base, other_t)


def test_a_late_fusion_pipeline_round_trips_and_batching_changes_nothing(tmp_path, make_tiny_config):
    from genseg.pipeline import build_pipeline, load_pipeline

    pipe = build_pipeline(make_tiny_config(kind="late_fusion"))
    image = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    prompts = ["thing", "stuff", "other"]

    def run(p, bs):
        return p(image, prompts, generator=torch.Generator().manual_seed(0), batch_size=bs).probabilities

    together, split = run(pipe, 16), run(pipe, 1)
    np.testing.assert_allclose(together, split, rtol=1e-5, atol=1e-5)
    pipe.save_pretrained(tmp_path / "m")
    index = json.loads((tmp_path / "m" / "model_index.json").read_text())
    assert index["denoiser"] == ["genseg.models.late_fusion", "LateFusionDenoiser"]
    np.testing.assert_allclose(run(load_pipeline(tmp_path / "m", device="cpu"), 16), together, atol=1e-6)
    # several Euler steps and an ensemble run through the same shared trunk
    g = torch.Generator().manual_seed(0)
    out = pipe(image, prompts, num_inference_steps=3, ensemble_size=2, generator=g)
    assert out.uncertainty.shape == (1, 3, 32, 32)


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"denoiser": {"kind": "late_fusion", "path": "some/unet"}}, ("denoiser.path", "late_fusion")),
    ],
)
def test_options_that_cannot_train_with_late_fusion_are_refused_naming_both(tmp_path, extra, named):
    import yaml

    from genseg.config import load_train_config

    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump({"model": extra}))
    with pytest.raises(ConfigError) as err:
        load_train_config(path)
    assert all(n in err.value.one_line() for n in named)


def test_the_pretrained_encoder_map_joins_the_trunk_and_trains_end_to_end(tmp_path, make_tiny_config):
    """EfficientNet-Lite0's stride 8/16/32 maps, laid on the latent grid, feed the trunk; its
    projection learns from the loss, the frozen backbone does not; the model round-trips."""
    from genseg.models.image_encoder import PyramidImageEncoder
    from genseg.pipeline import build_pipeline, load_pipeline
    from genseg.training.trainer import FlowModel

    encoder = {"kind": "efficientnet_lite0", "channels": 4}
    cfg = make_tiny_config({"image_encoder": encoder}, kind="late_fusion")
    pipe = build_pipeline(cfg)
    assert isinstance(pipe.image_encoder, PyramidImageEncoder)
    assert pipe.denoiser.trunk.config.in_channels == pipe.denoiser.config.image_channels + 4
    image = torch.rand(2, 3, 32, 32)
    z = pipe.codec.encode_image(image)
    context = pipe.image_encoder(image, tuple(z.shape[-2:]))
    assert context.shape == (2, 4, *z.shape[-2:])
    # the map carries the image: another picture gives another map
    assert not torch.allclose(context[0], context[1])
    with pytest.raises(ValueError, match="context channels"):
        pipe.denoiser.image_features(z)

    model = FlowModel(pipe.denoiser, pipe.image_encoder, codec=pipe.codec)
    x_t = torch.randn(2, pipe.codec.mask_latent_channels, *z.shape[-2:])
    text = pipe.cached_text(["a", "b"])
    v, _ = model(x_t, z, torch.rand(2), text, image)
    v.square().mean().backward()
    assert pipe.image_encoder.proj.weight.grad is not None
    assert all(p.grad is None for p in pipe.image_encoder.backbone.parameters())

    probs = pipe(image[0].permute(1, 2, 0).numpy(), ["a"], generator=torch.Generator().manual_seed(0))
    pipe.save_pretrained(tmp_path / "m")
    again = load_pipeline(tmp_path / "m", device="cpu")
    probs2 = again(image[0].permute(1, 2, 0).numpy(), ["a"], generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(probs.probabilities, probs2.probabilities, atol=1e-6)


def test_joint_generation_with_late_fusion_is_refused_before_anything_is_written(tmp_path):
    from genseg.config import TrainConfig
    from genseg.generation.joint import check_joint_config

    cfg = TrainConfig.model_validate(
        {"model": {"codec": {"mask_as_image": True}}, "joint_generation": {"ratio": 1.0}}
    )
    with pytest.raises(ConfigError, match="late_fusion"):
        check_joint_config(cfg)
    assert not any(tmp_path.iterdir())


def test_the_readout_reads_the_image_latent_where_the_model_reads_more_than_three_bands(make_tiny_config):
    from genseg.pipeline import build_pipeline

    rgb = build_pipeline(make_tiny_config(kind="late_fusion")).denoiser
    six = build_pipeline(
        make_tiny_config({"bands": ["red", "green", "blue", "nir", "swir16", "swir22"]}, kind="late_fusion")
    ).denoiser
    forced = build_pipeline(make_tiny_config(kind="late_fusion", readout_image=True)).denoiser
    assert (rgb.config.readout_image, six.config.readout_image, forced.config.readout_image) == (
        False,
        True,
        True,
    )
    # the per-pixel path: the readout's inputs are the trunk features followed by the latent itself
    z = torch.randn(1, six.config.image_channels, 8, 8)
    with torch.no_grad():
        features = six.image_features(z)
    assert features.shape[1] == six.config.feature_channels + six.config.image_channels
    torch.testing.assert_close(features[:, six.config.feature_channels :], z)
    f, m = six.config.feature_channels + six.config.image_channels, six.config.mask_channels
    assert six.hyper[-1].out_features == (f + m + 1) * m


def test_the_image_encoder_defaults_to_the_pyramid_for_late_fusion_only():
    from genseg.config import ModelConfig

    default = ModelConfig()
    assert (default.denoiser.kind, default.image_encoder_kind) == ("late_fusion", "efficientnet_lite0")
    assert default.image_encoder_input_size == 2 * default.resolution
    assert ModelConfig.model_validate({"resolution": 100}).image_encoder_input_size == 224  # a multiple of 32
    for kind in ("unet", "dit", "mmdit"):
        assert ModelConfig.model_validate({"denoiser": {"kind": kind}}).image_encoder_kind == "none"
    off = ModelConfig.model_validate({"image_encoder": {"kind": "none"}})
    assert off.image_encoder_kind == "none"
    with pytest.raises(ValueError, match="multiple of 32"):
        ModelConfig.model_validate({"image_encoder": {"input_size": 100}})


def test_an_encoder_input_size_for_a_denoiser_that_reads_tokens_is_refused_naming_both(tmp_path):
    import yaml

    from genseg.config import load_train_config

    path = tmp_path / "train.yaml"
    model = {"denoiser": {"kind": "dit"}, "image_encoder": {"input_size": 256}}
    path.write_text(yaml.safe_dump({"model": model}))
    with pytest.raises(ConfigError) as err:
        load_train_config(path)
    assert "image_encoder.input_size" in err.value.one_line() and "denoiser.kind=dit" in err.value.one_line()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.yaml"]
