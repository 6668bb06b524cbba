"""Training with accelerate: the loop, checkpoints and resuming."""
