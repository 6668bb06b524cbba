"""Checkpoints and exports written so an interrupted run never leaves a file that looks complete.

A checkpoint is an accelerate state folder (weights in safetensors; optimizer and
scheduler states loaded back with `weights_only=True`) written under a temporary name and
renamed. A pipeline export moves every component into place first and writes
`model_index.json`, the file `from_pretrained` starts from, last.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from genseg.errors import CheckpointError
from genseg.file_modes import apply_umask
from genseg.model_card import write_card
from genseg.models.packaged import store_by_reference

CHECKPOINT_DIR = "checkpoints"
RUN_CONFIG = "genseg_train.json"  # the run's validated TrainConfig, written before the first step
_STEP = re.compile(r"^step-(\d+)$")


def checkpoint_path(output: Path, step: int) -> Path:
    return output / CHECKPOINT_DIR / f"step-{step:06d}"


def list_checkpoints(output: Path) -> list[tuple[int, Path]]:
    root = output / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        m = _STEP.match(child.name)
        if m and (child / "train_state.json").is_file():
            found.append((int(m.group(1)), child))
    return sorted(found)


def latest_checkpoint(output: Path) -> tuple[int, Path]:
    found = list_checkpoints(output)
    if not found and _finished(output):
        raise CheckpointError(
            "the run finished and its checkpoints were removed when it was exported",
            path=output,
            fix="to continue a run later, train it with --keep-checkpoints; to go on from this model, "
            "fine-tune it (genseg finetune --full -m MODEL)",
        )
    if not found:
        raise CheckpointError(
            "no complete checkpoint to resume from",
            path=output / CHECKPOINT_DIR,
            fix="train without --resume first, or point --output at the run folder",
        )
    return found[-1]


def _finished(output: Path) -> bool:
    """Whether the run's export is complete (a model folder's index, or an adapter's card)."""
    return (output / "model_index.json").is_file() or (output / "genseg_adapter.json").is_file()


def prune_checkpoints(output: Path) -> int:
    """Remove the run's ``checkpoints/`` once its export is complete; returns the bytes freed
    (0 when there were none, or when the export is not complete: an interrupted run keeps
    them for ``--resume``). The folder is renamed away before it is deleted, so a removal cut
    short never leaves a ``step-N`` that looks complete with some of its files gone."""
    root = Path(output) / CHECKPOINT_DIR
    if not root.is_dir() or root.is_symlink() or not _finished(Path(output)):
        return 0
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    doomed = root.with_name(f".{CHECKPOINT_DIR}.removing")
    if doomed.exists():
        shutil.rmtree(doomed)
    os.replace(root, doomed)
    shutil.rmtree(doomed)
    return size


def save_checkpoint(accelerator, output: Path, step: int, extra: dict[str, Any], keep: int) -> Path:
    """Called on every process (FSDP/DeepSpeed shard their state); the main one renames."""
    final = checkpoint_path(output, step)
    tmp = final.with_name(f".{final.name}.tmp")
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp), safe_serialization=True)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / "train_state.json").write_text(json.dumps({"step": step, **extra}, indent=2))
        apply_umask(tmp)  # safetensors writes 0600 whatever the umask
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for _, old in list_checkpoints(output)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def export_pipeline(
    pipeline,
    output: Path,
    preprocessing: dict[str, dict[str, str]] | None = None,
    readme: str | None = None,
    portable: bool = False,
) -> list[str]:
    """`save_pretrained` into `output` without ever showing a half-written model.

    ``preprocessing`` (per domain, the options of the training datasets' dataset.json) goes into
    ``preprocessing.json``, which `genseg segment` applies by default; ``readme`` (a model card,
    `genseg.training.model_card`) into ``README.md``. Every file gets the umask's mode.
    A text encoder or tokenizer that is the packaged MiniLM unchanged is stored by reference
    (`genseg.models.packaged`: 87 MB less per folder) unless ``portable``; returns the
    components stored so.
    """
    output.mkdir(parents=True, exist_ok=True)
    staging = output / ".export.tmp"
    if staging.exists():
        shutil.rmtree(staging)
    pipeline.save_pretrained(str(staging), safe_serialization=True)
    referenced = [] if portable else store_by_reference(pipeline, staging)
    if preprocessing is not None:
        from genseg.data.recorded_preprocessing import write_preprocessing

        write_preprocessing(staging, preprocessing)
    if readme is not None:
        write_card(staging, readme)
    apply_umask(staging)  # safetensors writes 0600 whatever the umask
    index = output / "model_index.json"
    if index.exists():
        index.unlink()  # the old model stops looking complete before its parts are replaced
    for item in staging.iterdir():
        if item.name == "model_index.json":
            continue
        target = output / item.name
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        os.replace(item, target)
    os.replace(staging / "model_index.json", index)
    shutil.rmtree(staging, ignore_errors=True)
    return referenced
