"""Where a command's output goes: results on stdout, everything else (progress, notes) on
stderr, nothing but errors and the result under ``--quiet``, and ``--json PATH`` the same in
every command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

STDOUT = "-"
JSON_METAVAR = "PATH"

_state = {"quiet": False}


def set_quiet(value: bool) -> None:
    """``--quiet`` (before or after the command name) turns it on; nothing turns it off."""
    if value:
        _state["quiet"] = True
        from genseg.cli.progress import hide_progress

        hide_progress()


def is_quiet() -> bool:
    return _state["quiet"]


def reset() -> None:
    """Back to the defaults after a command (``main()`` and the tests run several in one process)."""
    _state["quiet"] = False


def info(message: str) -> None:
    """A line about what a command is doing (not its result): stderr, and none under --quiet."""
    if not _state["quiet"]:
        typer.echo(message, err=True)


def json_option(what: str) -> Any:
    """``--json PATH`` with the same meaning in every command that has it."""
    return typer.Option(
        None,
        "--json",
        metavar=JSON_METAVAR,
        show_default=False,
        help=f"Write {what} as JSON to PATH; '-' prints it on stdout instead of the table.",
    )


def json_to_stdout(target: Path | None) -> bool:
    """True when ``--json -``: stdout carries the JSON alone, the table is not printed."""
    return target is not None and str(target) == STDOUT


def check_json_target(target: Path | None) -> None:
    """Refuse an unwritable ``--json`` file before any work (a folder, a read-only place)."""
    if target is not None and not json_to_stdout(target):
        from genseg.data.atomic import check_writable

        check_writable(target)


def emit_json(data: Any, target: Path | None) -> None:
    """Print ``data`` (``--json -``) or write it to the file atomically (``--json PATH``)."""
    if target is None:
        return
    text = json.dumps(data, indent=2, default=str)
    if json_to_stdout(target):
        typer.echo(text)
        return
    from genseg.data.atomic import atomic_write

    atomic_write(target, lambda tmp: tmp.write_text(text + "\n"))
    info(f"wrote {target}")
