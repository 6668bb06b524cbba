"""Choices shared by several commands, as enums so --help lists them."""

from __future__ import annotations

from enum import Enum


class Backbone(str, Enum):
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
