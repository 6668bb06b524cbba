"""Tiny models saved in their library's own format by the test, then loaded back by path."""

import pytest
import torch

from genseg.config import DenoiserConfig
from genseg.errors import ModelNotFoundError
from genseg.models.denoisers import build_tiny_dit, build_tiny_unet, dit_from_pretrained, unet_from_pretrained


def _sd_like_unet():
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    return UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=24,
        attention_head_dim=8,
        norm_num_groups=8,
    )


def test_pretrained_unet_is_widened_with_zero_image_weights(tmp_path):
    base = _sd_like_unet()
    base.save_pretrained(tmp_path / "sd" / "unet")
    unet = unet_from_pretrained(tmp_path / "sd", mask_ch=4, img_ch=4, text_dim=32)
    w = unet.conv_in.weight
    assert w.shape[1] == 8
    assert torch.equal(w[:, :4], base.conv_in.weight)
    assert torch.count_nonzero(w[:, 4:]) == 0
    # with zeroed new inputs and a silent pooled path, the widened net computes what the base did
    x, z = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    ctx = torch.randn(2, 5, 24)
    with torch.no_grad():
        expected = base(x, 500, encoder_hidden_states=ctx).sample
        unet.encoder_hid_proj = torch.nn.Identity()  # feed the base's own context width for the comparison
        got = unet(
            torch.cat([x, z], 1), 500, encoder_hidden_states=ctx, class_labels=torch.randn(2, 32)
        ).sample
    assert torch.allclose(got, expected, atol=1e-5)


def test_pretrained_unet_with_mismatched_latents_is_refused(tmp_path):
    from genseg.errors import ConfigError

    _sd_like_unet().save_pretrained(tmp_path / "unet")
    with pytest.raises(ConfigError, match="latent channels"):
        unet_from_pretrained(tmp_path / "unet", mask_ch=16, img_ch=48, text_dim=32)


def test_pretrained_dit_is_widened_and_loads_by_path(tmp_path):
    cfg = DenoiserConfig(kind="dit", num_layers=2, num_attention_heads=2, dit_head_dim=16)
    base = build_tiny_dit(cfg, mask_ch=4, img_ch=0, text_dim=32, sample_size=8)
    base.save_pretrained(tmp_path / "pixart" / "transformer")
    dit = dit_from_pretrained(tmp_path / "pixart", mask_ch=4, img_ch=4, text_dim=32)
    w = dit.pos_embed.proj.weight
    assert w.shape[1] == 8 and torch.equal(w[:, :4], base.pos_embed.proj.weight)
    assert torch.count_nonzero(w[:, 4:]) == 0
    assert torch.equal(dit.caption_projection.linear_1.weight, base.caption_projection.linear_1.weight)


def test_tiny_unet_saved_and_loaded_gives_the_same_outputs(tmp_path):
    from diffusers import UNet2DConditionModel

    cfg = DenoiserConfig(block_out_channels=[16, 32], cross_attention_dim=32)
    unet = build_tiny_unet(cfg, mask_ch=4, img_ch=12, text_dim=24, sample_size=8).eval()
    unet.save_pretrained(tmp_path / "u")
    again = UNet2DConditionModel.from_pretrained(tmp_path / "u").eval()
    x, ctx, pooled = torch.randn(1, 16, 8, 8), torch.randn(1, 3, 24), torch.randn(1, 24)
    with torch.no_grad():
        a = unet(x, 10, encoder_hidden_states=ctx, class_labels=pooled).sample
        b = again(x, 10, encoder_hidden_states=ctx, class_labels=pooled).sample
    assert (a - b).abs().max() < 1e-5, (a - b).abs().max()
    for (k, v), (k2, v2) in zip(unet.state_dict().items(), again.state_dict().items(), strict=False):
        assert k == k2 and torch.equal(v, v2), k


def test_tiny_text_encoder_saved_in_transformers_format_loads_by_path(tmp_path):
    from genseg.models.text_encoder import build_tiny_text_encoder, encode_prompts, load_text_encoder

    model, tok = build_tiny_text_encoder(16)
    model.save_pretrained(tmp_path / "te")
    tok.save_pretrained(tmp_path / "te")
    loaded, tok2 = load_text_encoder(tmp_path / "te")
    a = encode_prompts(model, tok, ["white matter", "red circle"], 8)
    b = encode_prompts(loaded, tok2, ["white matter", "red circle"], 8)
    assert a.tokens.shape == (2, 8, 16) and a.pooled.shape == (2, 16)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.pooled, b.pooled)
    assert torch.allclose(a.pooled.norm(dim=-1), torch.ones(2), atol=1e-5)


def test_minilm_default_gives_sentence_similarities():
    from genseg.models.text_encoder import encode_prompts, load_text_encoder, minilm_path

    model, tok = load_text_encoder(minilm_path())
    f = encode_prompts(model, tok, ["A man is eating food.", "A man is eating a piece of bread."], 32)
    cos = float((f.pooled[0] * f.pooled[1]).sum())
    assert abs(cos - 0.7553) < 2e-3  # the value the model card's example gives


def test_hub_id_offline_and_missing_folder_errors_name_the_reference(monkeypatch, tmp_path):
    from genseg.models.loading import load_pretrained
    from genseg.models.text_encoder import load_text_encoder

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="stabilityai/sd-vae-ft-mse.*offline") as e:
        from diffusers import AutoencoderKL

        load_pretrained(AutoencoderKL, "stabilityai/sd-vae-ft-mse", what="VAE")
    assert "local folder" in str(e.value)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        load_text_encoder(tmp_path / "nope")
