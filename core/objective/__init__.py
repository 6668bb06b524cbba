"""Rectified-flow objective: timestep samplers and losses."""

from genseg.objective.discriminative import DISCRIMINATIVE_T, discriminative_loss
from genseg.objective.flow import FlowBatch, flow_loss, interpolate, velocity_target
from genseg.objective.timesteps import heavy_tail, logit_normal, sampler_from_config, uniform

__all__ = [
    "DISCRIMINATIVE_T",
    "FlowBatch",
    "discriminative_loss",
    "flow_loss",
    "heavy_tail",
    "interpolate",
    "logit_normal",
    "sampler_from_config",
    "uniform",
    "velocity_target",
]
