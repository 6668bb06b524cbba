"""What every genseg command shares: short flags with one meaning, readable --help with
defaults, -q/--quiet, --json PATH ('-' for stdout), distinct exit statuses, and the libraries'
bars and warnings kept out of the way."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import warnings

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from genseg.cli.exit_codes import ExitCode


def _commands(group=None, path=()):
    """(command path, click command) for every command of the app, groups walked."""
    from genseg.cli.app import app

    group = group or get_command(app)
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


def _flat(help_text: str) -> str:
    """--help as one line of words (rich wraps it in a box at the terminal's width)."""
    return " ".join(help_text.replace("│", " ").split())


def _run(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    from genseg.cli.app import main

    monkeypatch.setattr(sys, "argv", ["genseg", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_short_flag_means_the_same_option_in_every_command():
    meaning: dict[str, set[str]] = {}
    where: dict[str, list[str]] = {}
    for path, command in _commands():
        for param in command.params:
            shorts = [o for o in param.opts + param.secondary_opts if len(o) == 2 and o[1] != "-"]
            longs = [o for o in param.opts if o.startswith("--")]
            for short in shorts:
                meaning.setdefault(short, set()).update(longs[:1])
                where.setdefault(short, []).append(f"{' '.join(path)} {longs[0]}")
    clashes = {s: where[s] for s, longs in meaning.items() if len(longs) > 1}
    assert not clashes, clashes
    # the common letters keep their meaning wherever they appear
    common = {"-p": "--prompt", "-o": "--output", "-m": "--model", "-d": "--dataset", "-q": "--quiet"}
    assert {s: meaning[s] for s in common} == {s: {long} for s, long in common.items()}


def test_every_command_has_quiet_readable_metavars_and_shows_its_defaults():
    from genseg.cli.app import app

    runner = CliRunner()
    for path, command in _commands():
        assert any("--quiet" in p.opts for p in command.params), path
        text = runner.invoke(app, [*path, "--help"], terminal_width=200).output
        assert not re.search(r"<[a-z]", text), (path, text)  # no <bool>, <list[str]>, <int range>
        for param in command.params:
            shown = param.param_type_name == "option" and not param.is_flag and not param.required
            if shown and param.default not in (None, [], ()) and param.show_default is not False:
                assert "[default:" in text, (path, param.name)
    train = _flat(runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).output)
    assert "Optimizer steps. [default: (1500)]" in train and "[late_fusion|unet|dit|mmdit]" in train
    segment = _flat(runner.invoke(app, ["segment", "--help"], env={"COLUMNS": "200"}).output)
    assert "genseg segment [OPTIONS] INPUTS..." in segment and "<bool>" not in segment


def test_json_dash_prints_only_json_and_a_path_writes_the_file_beside_the_table(
    monkeypatch, capsys, tmp_path
):
    from genseg.cli.app import app

    with_json = [p for p, c in _commands() if any("--json" in p_.opts for p_ in c.params)]
    assert len(with_json) >= 10
    for path, command in _commands():
        for param in command.params:
            if "--json" in param.opts:
                assert param.metavar == "PATH" and not param.is_flag, path

    code, out, _ = _run(monkeypatch, capsys, "vocab", "list", "--json", "-")
    assert code == 0 and {r["domain"] for r in json.loads(out)} >= {"generic", "medical"}
    target = tmp_path / "vocab.json"
    code, out, err = _run(monkeypatch, capsys, "vocab", "list", "--json", str(target))
    assert code == 0 and "terms" in out and f"wrote {target}" in err
    assert json.loads(target.read_text()) == json.loads(
        CliRunner().invoke(app, ["vocab", "list", "--json", "-"]).output
    )
    code, _, err = _run(monkeypatch, capsys, "env", "--json", str(tmp_path))  # a folder: refused in one line
    assert code == ExitCode.USER_ERROR and "cannot write the output" in err
    code, _, err = _run(monkeypatch, capsys, "env", "--json")  # a value is required, as everywhere
    assert code == ExitCode.USAGE and "requires an argument" in err


def test_exit_statuses_are_distinct_per_kind_of_failure(monkeypatch, capsys):
    import genseg.cli.cmd_env as cmd_env
    from genseg.errors import DatasetError

    assert len({int(c) for c in ExitCode}) == len(ExitCode)
    code, _, err = _run(monkeypatch, capsys, "segment", "--no-such-option")
    assert code == ExitCode.USAGE == 2 and "No such option" in err

    def fail(error):
        def collect_env():
            raise error

        monkeypatch.setattr(cmd_env, "collect_env", collect_env)
        return _run(monkeypatch, capsys, "env")

    code, _, err = fail(DatasetError("dataset.json has no classes", path="d/dataset.json", fix="add them"))
    assert code == ExitCode.USER_ERROR == 3 and "error: d/dataset.json: dataset.json has no classes" in err
    code, _, err = fail(PermissionError(13, "Permission denied", "/ro/x"))
    assert code == ExitCode.USER_ERROR and "/ro/x: Permission denied" in err
    code, _, err = fail(TypeError("'>' not supported between 'int' and 'NoneType'"))
    assert code == ExitCode.INTERNAL == 4 and "Traceback" not in err
    assert "internal error: TypeError" in err and "in collect_env" in err and "--debug" in err
    code, _, _ = fail(KeyboardInterrupt())
    assert code == ExitCode.INTERRUPTED == 130
    monkeypatch.setattr(sys, "argv", ["genseg", "--debug", "env"])
    with pytest.raises(TypeError):  # --debug lets the traceback through
        monkeypatch.setattr(cmd_env, "collect_env", lambda: (_ for _ in ()).throw(TypeError("bug")))
        from genseg.cli.app import main

        main()


def test_a_failed_plugin_check_exits_1(monkeypatch, capsys):
    import genseg.plugins.validate as validate
    from genseg.plugins.validate import ValidationReport

    report = ValidationReport(plugin="half-done", problems=["no readers"])
    monkeypatch.setattr(validate, "validate_plugin", lambda name: report)
    code, out, _ = _run(monkeypatch, capsys, "plugins", "validate", "half-done", "--json", "-")
    assert code == ExitCode.CHECK_FAILED == 1 and json.loads(out)["problems"] == ["no readers"]


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_hides_bars_and_notes_but_not_the_result(monkeypatch, capsys, where):
    """Bars show on a terminal (forced here) and go to stderr; -q, before or after the command
    name, hides them and the notes, not the JSON."""
    import genseg.cli.cmd_env as cmd_env
    from genseg.cli.output import info

    def collect_env():
        from rich.progress import track

        for _ in track(range(3), description="counting things"):
            pass
        info("a note about the work")
        return {"answer": 42}

    monkeypatch.setattr(cmd_env, "collect_env", collect_env)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("TTY_INTERACTIVE", "1")
    code, out, err = _run(monkeypatch, capsys, "env", "--json", "-")
    assert code == 0 and json.loads(out) == {"answer": 42}  # bars never on stdout
    assert "counting things" in err and "a note about the work" in err
    quiet = ["-q", "env", "--json", "-"] if where == "before" else ["env", "--json", "-", "--quiet"]
    code, out, err = _run(monkeypatch, capsys, *quiet)
    assert code == 0 and json.loads(out) == {"answer": 42} and err == ""
    import rich

    assert not rich.get_console().quiet  # the caller's console is back as it was


def test_a_bar_inside_another_is_transient_so_one_line_stays_per_job():
    from rich.progress import Progress, track

    from genseg.cli.progress import CliConsole

    console = CliConsole(file=io.StringIO(), force_terminal=True, width=60)
    seen = []
    with Progress(console=console) as outer:
        task = outer.add_task("scans", total=2)
        for _ in range(2):
            with Progress(console=console) as inner:
                seen.append(inner.live.transient)
                for _ in track(range(2), console=console):
                    pass
            outer.advance(task)
    assert seen == [True, True] and not outer.live.transient


def test_warnings_are_one_line_and_gdal_plain_tiff_note_is_dropped(monkeypatch, capsys):
    import genseg.cli.cmd_env as cmd_env
    from genseg.cli.noise import one_line_warning

    def collect_env():
        warnings.warn(
            "Dataset has no geotransform, gcps, or rpcs. The identity matrix will be returned.", stacklevel=1
        )
        warnings.warn("a.tif: band 4 is\n  not used", stacklevel=1)
        return {}

    monkeypatch.setattr(cmd_env, "collect_env", collect_env)

    def show(message, category, filename, lineno, file=None, line=None):  # Python's default, not pytest's
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        monkeypatch.setattr(warnings, "showwarning", show)
        code, _, err = _run(monkeypatch, capsys, "env", "--json", "-")
        assert code == 0 and err.splitlines() == ["warning: a.tif: band 4 is not used"]
        code, _, err = _run(monkeypatch, capsys, "--debug", "env", "--json", "-")
        assert "geotransform" in err and "test_cli_conventions.py" in err  # --debug: Python's format, all
    assert one_line_warning("x", FutureWarning, "/site-packages/a.py", 3) == "warning (FutureWarning): x\n"


def test_the_libraries_bars_are_switched_off_when_they_are_imported():
    code = (
        "import genseg.cli.noise as noise\n"
        "noise.silence_library_bars()\n"
        "from diffusers.utils import logging as d\n"
        "from transformers.utils import logging as t\n"
        "from huggingface_hub.utils import are_progress_bars_disabled\n"
        "print(d.is_progress_bar_enabled(), t.is_progress_bar_enabled(), are_progress_bars_disabled())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.stdout.strip() == "False False True", done.stderr[-2000:]


def test_library_bars_stay_when_asked_for(monkeypatch):
    from genseg.cli import noise

    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "0")
    before = list(sys.meta_path)
    noise.silence_library_bars()
    assert sys.meta_path == before and os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "0"
