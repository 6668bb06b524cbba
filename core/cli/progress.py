"""genseg's progress bars as the CLI shows them: on stderr (stdout is for results and JSON),
one bar per job, none in a log file or under ``--quiet``.

Every bar in genseg (training, tiles, slices, evaluation) draws on rich's global console; the
CLI swaps in this one for the length of a command, so no module below it needs a flag.
"""

from __future__ import annotations

import rich
from rich.console import Console


class CliConsole(Console):
    """A bar started while another is showing (the slices of one of many scans) is transient:
    it disappears when done, so the screen keeps one line per job and no blank line after it."""

    def set_live(self, live) -> bool:
        with self._lock:
            if self._live_stack:
                live.transient = True
            return super().set_live(live)


_saved: list[Console | None] = []


def use_cli_console(quiet: bool = False) -> None:
    """Install the CLI's console as rich's global one. Outside a terminal (a log file, a pipe)
    rich would print each finished bar and a blank line after it, so bars are not drawn there."""
    if not _saved:
        _saved.append(rich._console)  # rich's global console (None until first used)
    console = CliConsole(stderr=True)
    console.quiet = quiet or not console.is_terminal
    rich._console = console


def hide_progress() -> None:
    """``--quiet``: no bars from here on (on the CLI's console only, never on a caller's)."""
    if _saved:
        rich.get_console().quiet = True


def restore_console() -> None:
    """Put back the console that was there before the command (in-process callers, tests)."""
    if _saved:
        rich._console = _saved.pop()
