import math

import pytest
import torch

from genseg.objective.timesteps import heavy_tail, logit_normal, uniform


def test_heavy_tail_005_puts_ninety_percent_above_085():
    t = heavy_tail(0.05)(100_000, torch.Generator().manual_seed(0))
    frac = (t > 0.85).float().mean().item()
    assert 0.88 <= frac <= 0.92, frac


@pytest.mark.parametrize("a", [0.05, 0.1, 0.5])
def test_heavy_tail_matches_its_cdf(a):
    # CDF of s = 1 - t is s^2 / (s^2 + a^2); check it at a few points
    s = 1 - heavy_tail(a)(200_000, torch.Generator().manual_seed(1))
    for q in (0.02, 0.05, 0.2, 0.5):
        expected = q * q / (q * q + a * a)
        assert abs((s <= q).float().mean().item() - expected) < 0.01


def test_samplers_stay_in_unit_interval_and_differ():
    g = torch.Generator().manual_seed(0)
    draws = {
        name: fn(50_000, g)
        for name, fn in {"ht": heavy_tail(0.5), "ln": logit_normal(0.0, 1.0), "u": uniform()}.items()
    }
    for t in draws.values():
        assert t.min() >= 0 and t.max() <= 1
    assert abs(draws["u"].mean().item() - 0.5) < 0.01
    assert abs(draws["ln"].mean().item() - 0.5) < 0.01
    # logit-normal concentrates in the middle: its spread is below the uniform's 1/sqrt(12)
    assert draws["ln"].std().item() < 1 / math.sqrt(12)
    # s = 1 - t has median a, and mass 1 - 1/(1 + a^2) clamped to t = 0
    assert abs(draws["ht"].median().item() - 0.5) < 0.01
    assert abs((draws["ht"] == 0).float().mean().item() - (1 - 1 / 1.25)) < 0.01


def test_heavy_tail_rejects_non_positive_scale():
    with pytest.raises(ValueError):
        heavy_tail(0.0)
