import torch

from genseg.objective.flow import FlowBatch, flow_loss, interpolate, predicted_clean, velocity_target


def test_interpolation_endpoints_and_one_step_inversion():
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(4, 3, 5, 5, generator=g), torch.randn(4, 3, 5, 5, generator=g)
    assert torch.equal(interpolate(x0, eps, torch.zeros(4)), x0)
    assert torch.equal(interpolate(x0, eps, torch.ones(4)), eps)
    v = velocity_target(x0, eps)
    # from pure noise at t = 1, the exact velocity gives back the data in one step
    assert torch.allclose(eps - v, x0)
    t = torch.rand(4, generator=g)
    assert torch.allclose(predicted_clean(interpolate(x0, eps, t), v, t), x0, atol=1e-6)


def test_losses_are_zero_at_the_exact_velocity_and_positive_elsewhere():
    from genseg.models.codec import SpaceToDepthCodec
    from genseg.models.heads import LinearMaskHead

    codec = SpaceToDepthCodec(factor=2)
    mask = (torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    x0 = codec.encode_mask(mask)
    eps = torch.randn_like(x0)
    t = torch.full((2,), 0.9)
    x_t = interpolate(x0, eps, t)
    exact = FlowBatch(x0, eps, t, x_t, velocity_target(x0, eps), mask)
    wrong = FlowBatch(x0, eps, t, x_t, torch.zeros_like(x0), mask)
    assert flow_loss("latent_mse", exact).item() < 1e-10
    assert flow_loss("latent_mse", wrong).item() > 0.1
    assert flow_loss("pixel_bce", exact, codec=codec).item() < 1e-3
    assert flow_loss("pixel_bce", wrong, codec=codec).item() > 0.1
    head = LinearMaskHead(latent_channels=4, downsample=2)
    logits = head(predicted_clean(x_t, exact.v_pred, t))
    assert logits.shape == mask.shape
    assert flow_loss("linear_bce", exact, head_logits=logits).item() > 0


def test_sample_prediction_becomes_the_exact_velocity_and_one_step_returns_it():
    from genseg.objective.flow import velocity_from_output

    g = torch.Generator().manual_seed(2)
    x0, eps = torch.randn(3, 4, 2, 2, generator=g), torch.randn(3, 4, 2, 2, generator=g)
    t = torch.tensor([1.0, 0.7, 0.3])
    x_t = interpolate(x0, eps, t)
    # a network that outputs the clean latent yields the true velocity, so the loss is unchanged
    assert torch.allclose(velocity_from_output(x0, x_t, t, "sample"), velocity_target(x0, eps), atol=1e-5)
    v = velocity_target(x0, eps)
    assert torch.equal(velocity_from_output(v, x_t, t, "velocity"), v)
    # at t = 1 one Euler step lands exactly on the predicted sample
    one = velocity_from_output(x0[:1], eps[:1], torch.ones(1), "sample")
    assert torch.allclose(eps[:1] - one, x0[:1], atol=1e-6)
