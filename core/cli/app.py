"""Entry point: builds the typer app and maps every way a command can end to one exit status
(genseg.cli.exit_codes): a wrong command line 2 (click), a user's error 3 (one line), a bug 4."""

from __future__ import annotations

import os
import sys

import typer

from genseg.cli import commands, environment  # noqa: F401  (environment: sets the libraries' variables, as before any command runs)
from genseg.cli.conventions import QUIET_HELP, GensegGroup
from genseg.cli.exit_codes import ExitCode
from genseg.errors import GenSegError

app = typer.Typer(
    name="genseg",
    cls=GensegGroup,
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
    ctx: typer.Context,
    debug: bool = typer.Option(
        False, "--debug", help="Show full tracebacks, and warnings as Python prints them."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print genseg's version and exit."
    ),
) -> None:
    from genseg.cli import output, progress
    from genseg.cli.noise import silence_library_bars

    _state["debug"] = debug
    output.reset()
    progress.use_cli_console()
    output.set_quiet(quiet)
    silence_library_bars()
    ctx.call_on_close(progress.restore_console)
    ctx.call_on_close(output.reset)


commands.register(app)


def main() -> None:
    """Run the CLI: typer's usage errors exit 2, GenSegError (and a file system refusal) one line
    and 3, any other exception one line and 4; ``--debug`` lets the traceback through."""
    from genseg.cli.noise import route_warnings

    debug = "--debug" in sys.argv
    undo = route_warnings(debug)
    try:
        _run(debug)
    finally:
        undo()  # main() called in-process leaves the warning settings as it found them


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

        if debug:
            raise
        error = missing_extra(exc)
        _print_error(error.one_line() if error else _internal_error_line(exc))
        sys.exit(error.exit_code if error else ExitCode.INTERNAL)
    except OSError as exc:  # the file system refused (read-only, full disk) where no check caught it
        if debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        _print_error(
            f"{where}{exc.strerror or exc} Fix: check the path and its permissions (--debug shows where)"
        )
        sys.exit(ExitCode.USER_ERROR)
    except Exception as exc:  # a bug: say so in one line, and how to see the traceback
        if debug:
            raise
        _print_error(_internal_error_line(exc))
        sys.exit(ExitCode.INTERNAL)


def _internal_error_line(exc: Exception) -> str:
    """``internal error: TypeError: … (at segment.py:402 in segment_files)`` and what to do."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = (
        f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno} in {frames[-1].name})"
        if frames
        else ""
    )
    return (
        f"internal error: {type(exc).__name__}: {exc}{where}. This is a bug in genseg or a plugin: "
        "rerun with `genseg --debug …` for the traceback and report it"
    )


def _print_error(line: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    # escaped: a message quoting "[jpeg]" (an extra) or "[0, 1]" must print as written
    Console(stderr=True).print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)


if __name__ == "__main__":  # pragma: no cover
    main()
