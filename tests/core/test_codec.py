import torch

from genseg.models.codec import AutoencoderKLCodec, SpaceToDepthCodec


def test_space_to_depth_is_lossless_for_masks():
    codec = SpaceToDepthCodec(factor=4)
    mask = (torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    z = codec.encode_mask(mask)
    assert z.shape == (3, 16, 8, 8)
    assert set(z.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(codec.decode_mask(z), mask)
    assert codec.encode_image(torch.rand(3, 3, 32, 32)).shape == (3, 48, 8, 8)


def test_tiny_autoencoder_saved_in_diffusers_format_loads_by_path(tmp_path):
    from diffusers import AutoencoderKL

    from genseg.models.codec import TINY_VAE_CONFIG

    torch.manual_seed(0)
    vae = AutoencoderKL(**TINY_VAE_CONFIG)
    vae.save_pretrained(tmp_path / "vae")
    assert (tmp_path / "vae" / "diffusion_pytorch_model.safetensors").is_file()
    codec = AutoencoderKLCodec.from_vae_path(tmp_path / "vae")
    image = torch.rand(2, 3, 32, 32)
    mask = (torch.rand(2, 1, 32, 32) > 0.5).float()
    z = codec.encode_image(image)
    assert z.shape == (2, 4, 8, 8) and codec.downsample == 4
    assert torch.allclose(z, vae.encode(image * 2 - 1).latent_dist.mode() * vae.config.scaling_factor)
    assert codec.encode_mask(mask).shape == (2, 4, 8, 8)
    out = codec.decode_mask(z)
    assert out.shape == (2, 1, 32, 32) and out.min() >= 0 and out.max() <= 1
    # a full SD-style folder with a vae/ subfolder loads too
    vae.save_pretrained(tmp_path / "sd" / "vae")
    again = AutoencoderKLCodec.from_vae_path(tmp_path / "sd")
    assert torch.equal(again.encode_image(image), z)
