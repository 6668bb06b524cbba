"""Evaluation: metrics (through torchmetrics), scoring predictions, reports."""
