"""Validation during training and the choice of the weights a run exports.

The trainer scores nothing itself: the command hands it a callback ``(pipeline, step) ->
scores`` (`genseg train` passes one built on `genseg.evaluation.runner`, which the training
layer may not import). This module decides when the callback runs, keeps the weights of the
best validation mIoU on disk (``checkpoints/best/``, so a resumed run still knows them) and
puts them back before the export.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from genseg.errors import CheckpointError
from genseg.training.checkpoints import CHECKPOINT_DIR

# (pipeline, step) -> validation scores; the one named METRIC picks the best weights
Validate = Callable[[Any, int], dict[str, float]]
METRIC = "mIoU"
BEST_DIR = "best"
_WEIGHTS = "weights.safetensors"
_RECORD = "best.json"


def validation_due(done: int, steps: int, every: int | None) -> bool:
    """Every ``every`` steps and at the last step, in runs at least ``every`` steps long
    (a shorter run is a quick try, and exports its last weights unvalidated)."""
    if every is None or steps < every:
        return False
    return done % every == 0 or done == steps


def trained_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of what training changes in ``module``: the parameters that require
    gradients (the LoRA layers alone in a LoRA run) and the buffers (e.g. running statistics)."""
    keep = {name for name, p in module.named_parameters() if p.requires_grad}
    keep |= {name for name, _ in module.named_buffers()}
    state = module.state_dict()
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items() if k in keep}


def _finite(score: Any) -> float | None:
    try:
        value = float(score)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class BestWeights:
    """The weights of the best validation score so far and every check's score.

    Kept in ``<output>/checkpoints/best/`` (weights, then ``best.json`` renamed into place),
    outside the ``step-N`` folders that ``keep_checkpoints`` prunes.
    """

    def __init__(self, output: Path) -> None:
        self.folder = Path(output) / CHECKPOINT_DIR / BEST_DIR
        self.step: int | None = None
        self.score: float | None = None
        self.history: dict[int, float | None] = {}
        record = self.folder / _RECORD
        if record.is_file():  # a resumed run: the checks before the interruption still count
            data = json.loads(record.read_text())
            self.step, self.score = data.get("step"), data.get("score")
            self.history = {int(k): v for k, v in data.get("history", {}).items()}

    def offer(self, module: torch.nn.Module, step: int, scores: dict[str, Any]) -> bool:
        """Record a check; save ``module``'s trained state if its score beats the best so far.
        A missing or NaN score is recorded but never best. Returns whether it was best."""
        score = _finite(scores.get(METRIC))
        self.history[step] = score
        best = score is not None and (self.score is None or score > self.score or self.step == step)
        if best:
            from safetensors.torch import save_file

            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.folder / f".{_WEIGHTS}.tmp"
            save_file(trained_state(module), str(tmp))
            os.replace(tmp, self.folder / _WEIGHTS)
            self.step, self.score = step, score
        self._write_record()
        return best

    def _write_record(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {"step": self.step, "metric": METRIC, "score": self.score, "history": self.history}
        tmp = self.folder / f".{_RECORD}.tmp"
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, self.folder / _RECORD)

    def restore(self, module: torch.nn.Module) -> None:
        """Load the best weights back into ``module`` (the unwrapped trainable model)."""
        from safetensors.torch import load_file

        path = self.folder / _WEIGHTS
        try:
            state = load_file(str(path))
        except Exception as exc:  # a missing or truncated file: safetensors raises several types
            raise CheckpointError(
                f"cannot read the best validation weights ({exc.__class__.__name__})",
                path=path,
                fix="export the last weights instead (--export last), or delete the folder and train again",
            ) from exc
        unexpected = module.load_state_dict(state, strict=False).unexpected_keys
        if unexpected:
            raise CheckpointError(
                f"the best validation weights do not fit this model ({unexpected[0]}, ...)",
                path=path,
                fix="export the last weights instead (--export last)",
            )

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def inference_mode(pipe) -> Iterator[None]:
    """The pipeline in eval mode without gradients for a check, then back as training left
    it: the modules' modes and every random-number state (torch, CUDA, numpy, Python), so a run
    with validation trains exactly as one without."""
    import numpy as np

    parts = [part for part in pipe.components.values() if isinstance(part, torch.nn.Module)]
    modules = [m for part in parts for m in part.modules()]
    modes = [m.training for m in modules]
    np_state, py_state = np.random.get_state(), random.getstate()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            for m in modules:
                m.eval()
            yield
    finally:
        for m, mode in zip(modules, modes, strict=True):
            m.train(mode)
        np.random.set_state(np_state)
        random.setstate(py_state)
