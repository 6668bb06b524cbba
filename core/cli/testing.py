"""Running the CLI inside a test process (pytest's ``monkeypatch`` and ``capsys``)."""

from __future__ import annotations

import sys

from genseg.cli.app import main


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """``genseg ARGS`` in this process: the exit status (0 when the command returns), stdout
    and stderr."""
    monkeypatch.setattr(sys, "argv", ["genseg", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out = capsys.readouterr()
    return code, out.out, out.err
