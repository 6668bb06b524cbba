"""The exit statuses of `genseg`, one meaning each, so scripts can tell a typo from bad data
from a bug (docs/cli.md lists them)."""

from __future__ import annotations

from enum import IntEnum

from genseg.errors import GenSegError


class ExitCode(IntEnum):
    OK = 0
    CHECK_FAILED = 1
    """A check ran and found problems (`genseg plugins validate`); also Python's own status
    when the interpreter itself fails before genseg starts."""
    USAGE = 2
    """The command line is wrong: unknown option, missing argument, bad value (click's)."""
    USER_ERROR = GenSegError.exit_code
    """genseg could not do it because of what it was given: an input, dataset, model folder,
    config, option value or output path (every `genseg.errors` error, and file system refusals)."""
    INTERNAL = 4
    """An unexpected exception: a bug in genseg or a plugin (``--debug`` shows the traceback)."""
    INTERRUPTED = 130
    """Ctrl-C (typer's, as shells report SIGINT)."""
