"""Loading pretrained parts from a local folder or a hub id, with errors that say what to do.

Offline (HF_HUB_OFFLINE=1, the default here) a hub id cannot be fetched; instead of a
retry loop and a misleading message, the user is told to pass a local folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from genseg.errors import ModelNotFoundError


def is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")


def quiet_library_bars() -> None:
    """diffusers' own loading bar ("Loading pipeline components") follows the hub's switch
    HF_HUB_DISABLE_PROGRESS_BARS, as transformers' bars already do (the CLI sets it)."""
    from huggingface_hub.utils import are_progress_bars_disabled

    if are_progress_bars_disabled():
        from diffusers.utils import logging

        logging.disable_progress_bar()


def looks_like_hub_id(ref: str) -> bool:
    """`org/name` with no such local path is taken as a hub id."""
    return not Path(ref).exists() and ref.count("/") == 1 and not ref.startswith((".", "/", "~"))


def check_reference(ref: str | Path, what: str) -> None:
    """Fail early and clearly when `ref` is neither a local folder nor a reachable hub id."""
    ref = str(ref)
    if Path(ref).expanduser().exists():
        return
    if looks_like_hub_id(ref):
        if is_offline():
            raise ModelNotFoundError(
                f"{what} '{ref}' looks like a hub id, but the hub is offline (HF_HUB_OFFLINE=1)",
                path=ref,
                fix="download it on a machine with a network (`huggingface-cli download` or "
                "`save_pretrained`) and pass the local folder",
            )
        return
    raise ModelNotFoundError(f"{what} folder does not exist", path=ref, fix="pass the folder that holds it")


def load_pretrained(cls: Any, ref: str | Path, *, what: str, subfolder: str | None = None, **kwargs: Any):
    """`cls.from_pretrained(ref)` with a one-line error naming the folder and the fix."""
    check_reference(ref, what)
    try:
        if subfolder:
            kwargs["subfolder"] = subfolder
        return cls.from_pretrained(
            str(Path(ref).expanduser()) if Path(ref).expanduser().exists() else ref, **kwargs
        )
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise ModelNotFoundError(
            f"cannot load {what}: {first}",
            path=ref,
            fix=f"check that the folder holds a {cls.__name__} saved with save_pretrained",
        ) from exc
