"""One exception root for everything genseg reports to a user.

Each error carries the file it is about and what to do, so the CLI can print a single
line and exit non-zero without a traceback (docs/architecture.md, "Errors and outputs";
the exit statuses are in docs/cli.md).
"""

from __future__ import annotations

from pathlib import Path


class GenSegError(Exception):
    """Root of all genseg errors: a message, the path it concerns and a fix."""

    exit_code = 3
    """The CLI's status for every error a user can fix (2 is click's, for a wrong command line;
    genseg.cli.exit_codes lists them all)."""

    def __init__(self, message: str, *, path: str | Path | None = None, fix: str | None = None) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = [f"{self.path}: {self.message}" if self.path else self.message]
        if self.fix:
            parts.append(f"Fix: {self.fix}")
        return " ".join(parts)


class ConfigError(GenSegError):
    """A configuration file or option is invalid."""


class InputError(GenSegError):
    """An input file cannot be read or does not match what it is paired with."""


class DatasetError(GenSegError):
    """A dataset folder or its dataset.json is malformed."""


class ModelNotFoundError(GenSegError):
    """A model folder is missing or incomplete, or a hub id cannot be reached offline."""


class PromptError(GenSegError):
    """A text prompt is empty or unusable."""


class CheckpointError(GenSegError):
    """A training checkpoint cannot be resumed from."""


class AdapterError(GenSegError):
    """An adapter folder is incomplete or invalid, or was made for another base model."""


class PluginError(GenSegError):
    """An installed plugin raised where no other plugin can stand in for it."""


class OutputError(GenSegError):
    """An output file or folder cannot be written (read-only, not a folder, name too long)."""
