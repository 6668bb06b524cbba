"""`genseg plugins new NAME`: a plugin package from the shipped template, renamed, that works as made."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import tomllib
from typer.testing import CliRunner

from genseg.cli.app import app
from genseg.errors import ConfigError, OutputError
from genseg.plugins.scaffold import PluginNames, new_plugin


def test_names_follow_the_domain_name():
    assert PluginNames.from_name("dental-xray") == PluginNames(
        "dental-xray", "genseg_dental_xray", "genseg-plugin-dental-xray"
    )
    assert PluginNames.from_name("soil_cores").domain == "soil-cores"
    for bad in ("Histology", "1st", "a b", "x-", "", "../up"):
        with pytest.raises(ConfigError, match="not a usable plugin name"):
            PluginNames.from_name(bad)


def test_the_new_package_carries_its_own_names_only(tmp_path):
    folder, names = new_plugin("dental-xray", tmp_path / "dx")
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "genseg_dental_xray/__init__.py",
        "genseg_dental_xray/data/datasets.json",
        "genseg_dental_xray/data/vocabulary.json",
        "genseg_dental_xray/plugin.py",
        "genseg_dental_xray/py.typed",
        "pyproject.toml",
        "tests/test_plugin.py",
    ]
    text = "\n".join((folder / f).read_text(encoding="utf-8") for f in files)
    assert "genseg_example" not in text and "genseg-plugin-example" not in text
    assert '"example"' not in text and "example-npy" not in text
    project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["name"] == names.distribution
    assert project["project"]["entry-points"]["genseg"] == {"dental-xray": "genseg_dental_xray.plugin"}
    assert 'DOMAIN = "dental-xray"' in (folder / "genseg_dental_xray/plugin.py").read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_new_plugin_passes_its_own_tests(tmp_path):
    folder, _ = new_plugin("soil-cores", tmp_path / "soil")
    env = {**os.environ, "PYTHONPATH": str(folder)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout


def test_an_existing_folder_is_never_written_over(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep")
    with pytest.raises(OutputError, match="already exists"):
        new_plugin("histology", tmp_path / "taken")
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["mine.txt"]


def test_the_command_writes_the_default_folder_and_says_what_next(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["plugins", "new", "histology"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "genseg-plugin-histology" / "genseg_histology" / "plugin.py").is_file()
    assert "genseg plugins validate histology" in result.output
    again = CliRunner().invoke(app, ["plugins", "new", "histology"])
    assert again.exit_code != 0 and isinstance(again.exception, (OutputError, SystemExit))
