"""Each domain declares the preprocessing options it understands, exactly those its preprocessing takes."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(
    ("package", "constant"),
    [
        ("genseg_medical", "OPTION_KEYS"),
        ("genseg_remote_sensing", "OPTION_KEYS"),
        ("genseg_agriculture", "OPTIONS"),
    ],
)
def test_declared_option_keys_match_the_preprocessing(package, constant):
    plugin = importlib.import_module(f"{package}.plugin")
    preprocessing = importlib.import_module(f"{package}.preprocessing")
    (info,) = plugin.genseg_register_domains()
    assert tuple(info["option_keys"]) == tuple(getattr(preprocessing, constant))


def test_dataset_options_are_checked_against_the_domain():
    from genseg.errors import ConfigError
    from genseg.plugins.options import check_domain_options

    check_domain_options("medical", {"window": "lung", "strict": "true"})
    with pytest.raises(ConfigError, match=r"unknown generic preprocessing option\(s\) window; known: none"):
        check_domain_options("generic", {"window": "lung"})
