"""`genseg sample-data` writes what the plugins register with genseg_register_sample_data."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import typer

import genseg.data.sample_data as sample_data
from genseg.cli.cmd_sample_data import sample_data as sample_data_command
from genseg.errors import ConfigError, DatasetError
from genseg.plugins import registry
from genseg.plugins.hookspecs import hookimpl
from genseg.plugins.schemas import SampleDataset, validate_as


@pytest.fixture
def toy(monkeypatch, genseg_plugins):
    """A plugin with one generated sample (``toy``) and one fetched one (``far``, offline here)."""
    module = types.ModuleType("toysamples")
    module.GENSEG_HOOKSPEC = ">=1.6,<2"
    made: list[tuple[str, Path, int]] = []

    def make(root: Path, seed: int) -> Path:
        made.append(("toy", root, seed))
        return root

    def load_far(root: Path) -> Path:
        raise DatasetError("cannot fetch far-data 1.0", path=root, fix="connect and run it again")

    @hookimpl
    def genseg_register_sample_data():
        return [{"name": "far", "fetches": True}, {"name": "toy", "make": "toysamples:make"}]

    @hookimpl
    def genseg_register_datasets():
        return [{"card": {"name": "far", "licence": "CC0-1.0"}, "loader": "toysamples:load_far"}]

    module.make, module.load_far = make, load_far
    module.genseg_register_sample_data = genseg_register_sample_data
    module.genseg_register_datasets = genseg_register_datasets
    monkeypatch.setitem(sys.modules, "toysamples", module)
    monkeypatch.setattr(
        sample_data, "make_shapes_dataset", lambda root, seed: made.append(("shapes", root, seed)) or root
    )
    genseg_plugins(module)
    return made


def test_genseg_register_sample_data_lists_generated_samples_first(toy):
    found = [(plugin, sample.name, sample.fetches) for plugin, sample in registry.sample_datasets()]
    assert found[-1] == ("toysamples", "far", True)
    assert {("generic", "shapes", False), ("toysamples", "toy", False)} == set(found[:-1])


def test_the_command_makes_each_sample_with_the_seed_and_reports_a_failed_fetch(toy, tmp_path, capsys):
    sample_data_command(output=tmp_path, seed=3, generated_only=False, real_only=False)
    assert sorted(toy) == [("shapes", tmp_path / "shapes", 3), ("toy", tmp_path / "toy", 3)]
    captured = capsys.readouterr()
    assert "wrote toy:" in captured.out
    assert captured.err.startswith("skipped far: ") and "cannot fetch far-data 1.0" in captured.err


def test_generated_only_fetches_nothing_and_real_only_fails_on_a_failed_fetch(toy, tmp_path, capsys):
    sample_data_command(output=tmp_path, seed=0, generated_only=True, real_only=False)
    assert "far" not in capsys.readouterr().err
    toy.clear()
    with pytest.raises(typer.Exit) as stopped:
        sample_data_command(output=tmp_path, seed=0, generated_only=False, real_only=True)
    assert stopped.value.exit_code == 3 and toy == []


def test_a_sample_neither_made_nor_fetched_is_refused():
    with pytest.raises(ConfigError, match="'make'.*'fetches'"):
        validate_as(SampleDataset, {"name": "nothing"}, "plugin x")
    with pytest.raises(ConfigError, match="package.module:attribute"):
        validate_as(SampleDataset, {"name": "bad", "make": "no_colon"}, "plugin x")
