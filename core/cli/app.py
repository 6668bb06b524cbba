"""Entry point: builds the typer app and turns GenSegError into one line and a non-zero exit."""

from __future__ import annotations

import os
import sys
import warnings

import typer

from genseg.cli import commands
from genseg.errors import GenSegError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# the libraries' own loading/saving bars ("Loading weights", "Writing model shards") would sit
# between genseg's progress bars and its one-line errors; HF_HUB_DISABLE_PROGRESS_BARS=0 shows them
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

app = typer.Typer(
    name="genseg",
    help="Text-prompted segmentation by generating the mask with a diffusion model.\n\n"
    "Example: genseg segment --model runs/demo --prompt 'white matter' --output out/ scan.png",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
_state = {"debug": False}


def _print_version(value: bool) -> None:
    if value:
        from genseg.version import __version__

        typer.echo(f"genseg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print genseg's version and exit."
    ),
) -> None:
    _state["debug"] = debug


commands.register(app)


def main() -> None:
    """Run the CLI; usage errors are typer's (exit 2), GenSegError becomes one line and exit 2."""
    debug = "--debug" in sys.argv
    python_format = warnings.formatwarning
    if not debug:
        warnings.formatwarning = _one_line_warning
    try:
        _run(debug)
    finally:
        warnings.formatwarning = python_format  # main() called in-process leaves the format as it was


def _run(debug: bool) -> None:
    try:
        app()  # standalone: typer prints usage errors itself and exits
    except GenSegError as exc:
        if debug:
            raise
        _print_error(exc.one_line())
        sys.exit(exc.exit_code)
    except ModuleNotFoundError as exc:  # an optional part left out: name the extra that installs it
        from genseg.extras import missing_extra

        error = missing_extra(exc)
        if debug or error is None:
            raise
        _print_error(error.one_line())
        sys.exit(error.exit_code)
    except OSError as exc:  # the file system refused (read-only, full disk) where no check caught it
        if debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        _print_error(
            f"{where}{exc.strerror or exc} Fix: check the path and its permissions (--debug shows where)"
        )
        sys.exit(GenSegError.exit_code)


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as the user reads it: one line, without the source file and code line
    (``--debug`` keeps Python's format, which says where it came from)."""
    kind = "" if category is UserWarning else f" ({category.__name__})"
    return f"warning{kind}: {message}\n"


def _print_error(line: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    # escaped: a message quoting "[jpeg]" (an extra) or "[0, 1]" must print as written
    Console(stderr=True).print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)


if __name__ == "__main__":  # pragma: no cover
    main()
