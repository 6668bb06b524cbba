"""The plugin CLI in real subprocesses, with fake *installed* plugins (dist-info on PYTHONPATH)."""

from __future__ import annotations

import json

import pytest

from genseg.plugins.testing import run_genseg, write_installed_plugin

RAISES_AT_IMPORT = """
raise RuntimeError("this plugin is broken on purpose")
"""

PARSES_ARGV_AT_IMPORT = """
import argparse

argparse.ArgumentParser(prog="theirs").parse_args()  # exits on genseg's own arguments
"""

REGISTRATION_RAISES = """
from genseg.plugins import hookimpl

GENSEG_HOOKSPEC = ">=1.0,<2"

@hookimpl
def genseg_register_readers():
    raise KeyError("readers.json")
"""

MISSPELT_HOOK = """
from genseg.plugins import hookimpl

GENSEG_HOOKSPEC = ">=1.0,<2"

@hookimpl
def genseg_register_vocabulary():
    return []
"""

BAD_LOADER = """
from genseg.plugins import hookimpl

GENSEG_HOOKSPEC = ">=1.0,<2"

@hookimpl
def genseg_register_domains():
    return [{"name": "half-done", "description": "a plugin with a dangling loader"}]

@hookimpl
def genseg_register_datasets():
    return [{"card": {"name": "ghost", "licence": "CC0-1.0"}, "loader": "genseg_nowhere.loaders:load"}]
"""

PREPROCESS_RAISES = """
from genseg.plugins import hookimpl

GENSEG_HOOKSPEC = ">=1.0,<2"

@hookimpl
def genseg_preprocess(sample, domain, options):
    raise ZeroDivisionError("preprocessing bug")
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    write_installed_plugin(root, "broken", "genseg_broken_plugin", RAISES_AT_IMPORT, "genseg-plugin-broken")
    write_installed_plugin(
        root, "misspelt", "genseg_misspelt_plugin", MISSPELT_HOOK, "genseg-plugin-misspelt"
    )
    write_installed_plugin(root, "half-done", "genseg_halfdone_plugin", BAD_LOADER, "genseg-plugin-halfdone")
    write_installed_plugin(root, "argv", "genseg_argv_plugin", PARSES_ARGV_AT_IMPORT, "genseg-plugin-argv")
    write_installed_plugin(
        root, "noreaders", "genseg_noreaders_plugin", REGISTRATION_RAISES, "genseg-plugin-nr"
    )
    write_installed_plugin(root, "prebug", "genseg_prebug_plugin", PREPROCESS_RAISES, "genseg-plugin-prebug")
    return root


def test_plugins_list_reports_broken_and_misspelt_plugins_and_keeps_the_others(site):
    result = run_genseg("plugins", "list", "--json", "-", site=site)
    assert result.returncode == 0, result.stderr
    records = {r["name"]: r for r in json.loads(result.stdout)}
    assert records["broken"]["status"] == "failed"
    assert records["broken"]["distribution"] == "genseg-plugin-broken"
    assert "RuntimeError: this plugin is broken on purpose" in records["broken"]["error"]
    assert records["misspelt"]["status"] == "rejected"
    assert "unknown hook 'genseg_register_vocabulary'" in records["misspelt"]["error"]
    assert "did you mean 'genseg_register_vocabularies'" in records["misspelt"]["error"]
    assert records["argv"]["status"] == "failed" and "SystemExit" in records["argv"]["error"]
    assert records["noreaders"]["status"] == "failing"  # its hook raises: not "loaded"
    assert "KeyError" in records["noreaders"]["hook_errors"]["genseg_register_readers"]
    for name in ("generic", "medical", "remote-sensing", "agriculture", "half-done"):
        assert records[name]["status"] in ("builtin", "loaded"), records[name]
    human = run_genseg("plugins", "list", site=site, env={"COLUMNS": "200"})
    assert human.returncode == 0 and "broken on purpose" in human.stdout
    assert "failing" in human.stdout and "readers.json" in human.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("datasets", "list", "--json", "-"),
        ("vocab", "show", "generic", "--json", "-"),
        ("env", "--json", "-"),
        ("adapters", "list"),
        ("segment", "--help"),
        ("train", "--help"),
        ("--help",),
    ],
)
def test_every_command_keeps_working_beside_broken_plugins(site, args):
    result = run_genseg(*args, site=site)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_plugins_validate_passes_a_sound_plugin_and_fails_a_dangling_loader(site):
    ok = run_genseg("plugins", "validate", "generic", site=site)
    assert ok.returncode == 0 and "generic: valid" in ok.stdout
    bad = run_genseg("plugins", "validate", "half-done", "--json", "-", site=site)
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert not report["ok"] and any(
        "cannot import genseg_nowhere.loaders:load" in p for p in report["problems"]
    )
    missing = run_genseg("plugins", "validate", "nobody", site=site)
    assert missing.returncode == 3 and "no plugin named 'nobody'" in missing.stderr
    failed = run_genseg("plugins", "validate", "broken", site=site)
    assert failed.returncode == 1 and "broken on purpose" in failed.stderr


def test_plugins_validate_calls_the_preprocessing_hook_and_fails_one_that_raises(site):
    bad = run_genseg("plugins", "validate", "prebug", "--json", "-", site=site)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert any(
        "genseg_preprocess raised ZeroDivisionError" in p and "preprocessing bug" in p
        for p in json.loads(bad.stdout)["problems"]
    )
    for name in ("generic", "medical", "remote-sensing", "agriculture"):
        sound = run_genseg("plugins", "validate", name, "--json", "-", site=site)
        report = json.loads(sound.stdout)
        assert sound.returncode == 0 and report["ok"], report
        assert any(c.startswith("genseg_preprocess: preprocesses") for c in report["checks"]), report


def test_datasets_list_shows_cards_with_licence_and_citation():
    result = run_genseg("datasets", "list", "--json", "-")
    assert result.returncode == 0, result.stderr
    cards = {c["name"]: c for c in json.loads(result.stdout)}
    assert {"shapes", "mni152"} <= set(cards)
    assert cards["mni152"]["plugin"] == "medical" and "Fonov" in cards["mni152"]["citation"]
    assert cards["shapes"]["licence"] and "red circle" in cards["shapes"]["classes"]


def test_vocab_show_lists_terms_and_names_domains_on_error():
    result = run_genseg("vocab", "show", "medical", "--json", "-")
    assert result.returncode == 0, result.stderr
    (vocab,) = json.loads(result.stdout)
    assert vocab["plugin"] == "medical"
    liver = next(t for t in vocab["terms"] if t["name"] == "liver")
    assert "hepatic" in liver["synonyms"] and liver["codes"]["SNOMED CT"] == "10200004"
    missing = run_genseg("vocab", "show", "astronomy")
    assert missing.returncode == 3
    assert "no vocabulary for domain 'astronomy'" in missing.stderr and "generic" in missing.stderr


def test_autoload_switches_reach_the_cli():
    only_builtin = run_genseg("plugins", "list", "--json", "-", env={"GENSEG_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert [r["name"] for r in json.loads(only_builtin.stdout)] == ["generic"]
    narrowed = run_genseg("plugins", "list", "--json", "-", env={"GENSEG_PLUGINS": "medical"})
    assert {r["name"] for r in json.loads(narrowed.stdout)} == {"generic", "medical"}
