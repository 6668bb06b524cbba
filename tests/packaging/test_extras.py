"""A missing optional library is reported naming the extra that installs it."""

from __future__ import annotations

import sys

import pytest

from genseg.extras import OPTIONAL_MODULES, MissingExtraError, missing_extra, require


@pytest.fixture
def hide(monkeypatch):
    """Make ``import NAME`` fail as if the library were not installed."""

    def _hide(name: str) -> None:
        for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            monkeypatch.delitem(sys.modules, module)
        monkeypatch.setitem(sys.modules, name, None)

    return _hide


@pytest.mark.parametrize("module", sorted(OPTIONAL_MODULES))
def test_require_names_the_extra(hide, module):
    hide(module)
    extra = OPTIONAL_MODULES[module][0]
    with pytest.raises(MissingExtraError, match=rf'pip install "genseg\[{extra}\]"'):
        require(module)


def test_an_unknown_module_keeps_its_own_error(hide):
    hide("json_that_genseg_does_not_know")
    with pytest.raises(ModuleNotFoundError):
        require("json_that_genseg_does_not_know")
    assert missing_extra(ModuleNotFoundError("x", name="json_that_genseg_does_not_know")) is None


def test_the_uncertainty_colours_ask_for_plots(hide):
    from genseg.data.overlay import colormap_lut

    hide("matplotlib")
    with pytest.raises(MissingExtraError, match=r"genseg\[plots\]"):
        colormap_lut()


def test_the_cli_prints_one_line_for_a_missing_extra(monkeypatch, capsys):
    from genseg.cli import app as cli

    def fails() -> None:
        import sklearn.ensemble  # noqa: F401

    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setattr(cli, "app", fails)
    with pytest.raises(SystemExit) as exit_info:
        cli._run(debug=False)
    assert exit_info.value.code == MissingExtraError.exit_code
    err = capsys.readouterr().err
    assert "genseg[benchmark]" in err and "Traceback" not in err
