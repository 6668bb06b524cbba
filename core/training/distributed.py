"""accelerate's process state, so `accelerate launch` on CPUs runs one training, not several.

On a machine without a GPU (or with ``ACCELERATE_USE_CPU``), accelerate's ``PartialState()``
only joins the processes that a launcher started into one gloo group when it is told the
run is on CPU; otherwise every process believes it is the only one, and all of them train
alone and write the same output folder at once. :func:`process_state` creates the shared
state the right way before the trainer asks for it (accelerate keeps one per process).

Launch several CPU processes with torchrun (``accelerate launch --multi_gpu
--num_processes N`` uses it; accelerate's ``--cpu --num_processes N`` starts only one
process unless MPI is set up).
"""

from __future__ import annotations

import os


def _has_accelerator() -> bool:
    try:
        from accelerate.utils.imports import get_torch_accelerator_backend

        return get_torch_accelerator_backend()[0] is not None
    except ImportError:  # older accelerate
        import torch

        return torch.cuda.is_available()


def launched_processes() -> int:
    """How many processes the launcher started (``WORLD_SIZE``; 1 when not launched)."""
    text = os.environ.get("WORLD_SIZE", "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else 1


def process_state():
    """accelerate's ``PartialState``, on CPU when the user asked for it or no GPU is there."""
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    cpu = parse_flag_from_env("ACCELERATE_USE_CPU") or (launched_processes() > 1 and not _has_accelerator())
    return PartialState(cpu=cpu)
