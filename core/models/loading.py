"""Loading pretrained parts from a local folder or a hub id, with errors that say what to do.

Offline (HF_HUB_OFFLINE=1, the default here) a hub id cannot be fetched; instead of a
retry loop and a misleading message, the user is told to pass a local folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from genseg.errors import ModelNotFoundError


def is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")


def quiet_library_output() -> None:
    """Under the CLI (which sets HF_HUB_DISABLE_PROGRESS_BARS), diffusers' loading bar and the
    libraries' loading notes ("Defaulting to unsafe serialization", "An error occurred while
    trying to fetch") are turned off: genseg says what matters itself, in one line (its
    --allow-pickle warning, its load error). HF_HUB_DISABLE_PROGRESS_BARS=0 keeps them."""
    from huggingface_hub.utils import are_progress_bars_disabled

    if are_progress_bars_disabled():
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        diffusers_logging.disable_progress_bar()
        diffusers_logging.set_verbosity_error()
        transformers_logging.set_verbosity_error()


@contextmanager
def quiet_loading_logs() -> Iterator[None]:
    """diffusers logs a failed safetensors lookup as an *error* ("An error occurred while trying
    to fetch ...") before it falls back to pickle files under --allow-pickle; genseg has already
    warned about that fallback, and a load that fails is genseg's one error line. So while a
    pipeline loads under the CLI, only the libraries' critical messages pass."""
    from huggingface_hub.utils import are_progress_bars_disabled

    if not are_progress_bars_disabled():
        yield
        return
    from diffusers.utils import logging as diffusers_logging

    level = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity(diffusers_logging.CRITICAL)
    try:
        yield
    finally:
        diffusers_logging.set_verbosity(level)


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
