"""The MM-DiT backbone (diffusers SD3Transformer2DModel): build, pretrained widening, train/save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genseg.errors import ConfigError


def _sd3_folder(tmp_path, in_channels: int = 16):
    """A tiny SD3 transformer saved as a pipeline would hold it (subfolder `transformer`)."""
    from diffusers import SD3Transformer2DModel

    torch.manual_seed(0)
    base = SD3Transformer2DModel(
        sample_size=8,
        patch_size=2,
        in_channels=in_channels,
        out_channels=in_channels,
        num_layers=2,
        attention_head_dim=8,
        num_attention_heads=2,
        joint_attention_dim=24,
        caption_projection_dim=16,
        pooled_projection_dim=20,
        pos_embed_max_size=8,
    )
    base.save_pretrained(tmp_path / "sd3" / "transformer")
    return tmp_path / "sd3", base


def test_tiny_mmdit_predicts_a_velocity_of_the_mask_latent_shape(make_tiny_config):
    from diffusers import SD3Transformer2DModel

    from genseg.models.denoisers import predict_velocity
    from genseg.pipeline import build_pipeline

    pipe = build_pipeline(make_tiny_config(kind="mmdit"))
    assert isinstance(pipe.denoiser, SD3Transformer2DModel)
    assert pipe.denoiser.config.joint_attention_dim == pipe.text_encoder.config.hidden_size
    assert pipe.denoiser.config.pooled_projection_dim == pipe.text_encoder.config.hidden_size
    text = pipe.encode_text(["a", "b"])
    x, z = torch.randn(2, 16, 8, 8), torch.randn(2, 48, 8, 8)
    v = predict_velocity(pipe.denoiser, x, z, torch.tensor([1.0, 0.5]), text)
    assert v.shape == x.shape and torch.isfinite(v).all()
    # the text changes the prediction (joint attention + pooled vector reach the output)
    v2 = predict_velocity(pipe.denoiser, x, z, torch.tensor([1.0, 0.5]), pipe.encode_text(["b", "a"]))
    assert not torch.allclose(v, v2)


def test_pretrained_mmdit_widens_the_patch_embedding_with_zeros(tmp_path):
    from genseg.config import DenoiserConfig
    from genseg.models.denoisers import build_denoiser

    path, base = _sd3_folder(tmp_path)
    mmdit = build_denoiser(DenoiserConfig(kind="mmdit", path=str(path)), 16, 48, 32, 8)
    w = mmdit.pos_embed.proj.weight
    assert w.shape[1] == 64
    assert torch.equal(w[:, :16], base.pos_embed.proj.weight)
    assert not w[:, 16:].any()
    # the blocks are SD3's; the text entry layers are new (text width 32, not SD3's 24/20)
    assert torch.equal(
        mmdit.transformer_blocks[1].attn.to_q.weight, base.transformer_blocks[1].attn.to_q.weight
    )
    assert mmdit.context_embedder.in_features == 32
    assert not mmdit.time_text_embed.text_embedder.linear_2.weight.any()


def test_pretrained_mmdit_refuses_other_latent_channels(tmp_path):
    from genseg.config import DenoiserConfig
    from genseg.models.denoisers import build_denoiser

    path, _ = _sd3_folder(tmp_path)
    with pytest.raises(ConfigError, match="takes 16 latent channels but the codec gives 4") as err:
        build_denoiser(DenoiserConfig(kind="mmdit", path=str(path)), 4, 12, 32, 8)
    assert err.value.path == str(path) and "VAE" in err.value.fix


def test_mmdit_trains_with_the_trainer_and_round_trips_through_from_pretrained(
    tmp_path, make_tiny_config, genseg_fake_dataset
):
    from genseg.config import TrainConfig
    from genseg.pipeline import load_pipeline
    from genseg.training.trainer import train

    data = genseg_fake_dataset(tmp_path / "data", n=4)
    cfg = TrainConfig(
        model=make_tiny_config(kind="mmdit"),
        steps=4,
        batch_size=2,
        warmup_steps=0,
        log_every=1,
        checkpoint_every=4,
    )
    result = train(cfg, tmp_path / "run", [data], progress=False)
    assert result.steps == 4 and np.isfinite(result.last_loss)
    loaded = load_pipeline(tmp_path / "run", device="cpu")
    assert type(loaded.denoiser).__name__ == "SD3Transformer2DModel"
    trained = result.pipeline
    for (name, a), (_, b) in zip(
        trained.denoiser.state_dict().items(), loaded.denoiser.state_dict().items(), strict=True
    ):
        assert torch.equal(a.cpu(), b), name
    image = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    run = dict(generator=None, output_type="np")
    a = trained(image, "thing", **{**run, "generator": torch.Generator().manual_seed(0)})
    b = loaded(image, "thing", **{**run, "generator": torch.Generator().manual_seed(0)})
    np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-5)
