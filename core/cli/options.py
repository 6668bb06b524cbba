"""Choices shared by several commands, as enums so --help lists them."""

from __future__ import annotations

from enum import Enum

import typer

ALLOW_PICKLE_HELP = (
    "Also load weights stored as pickle (.bin/.pt), which can run code when loaded; only for "
    "models you trust. Default: safetensors only."
)


def allow_pickle_option() -> bool:
    """The same --allow-pickle flag on every command that loads a model."""
    return typer.Option(False, "--allow-pickle", help=ALLOW_PICKLE_HELP)


class Backbone(str, Enum):
    late_fusion = "late_fusion"
    unet = "unet"
    dit = "dit"
    mmdit = "mmdit"


class Timesteps(str, Enum):
    heavy_tail = "heavy_tail"
    logit_normal = "logit_normal"
    uniform = "uniform"


class Loss(str, Enum):
    latent_mse = "latent_mse"
    pixel_bce = "pixel_bce"
    linear_bce = "linear_bce"
