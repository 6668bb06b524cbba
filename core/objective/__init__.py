"""Rectified-flow objective: timestep samplers and losses."""

from genseg.objective.flow import FlowBatch, flow_loss, interpolate, velocity_target
from genseg.objective.timesteps import heavy_tail, logit_normal, sampler_from_config, uniform

__all__ = [
    "FlowBatch",
    "flow_loss",
    "heavy_tail",
    "interpolate",
    "logit_normal",
    "sampler_from_config",
    "uniform",
    "velocity_target",
]
