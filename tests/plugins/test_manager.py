"""Discovery and checking of plugins: a broken, outdated or misspelt plugin is reported, never fatal."""

from __future__ import annotations

import types
import warnings
from importlib.metadata import EntryPoint

import numpy as np
import pytest

from genseg.plugins import hookimpl, manager, registry
from genseg.plugins.hookspecs import GENSEG_HOOKSPEC_VERSION


def _plugin(name: str, **attrs) -> types.SimpleNamespace:
    return types.SimpleNamespace(__name__=name, GENSEG_HOOKSPEC=">=1.0,<2", **attrs)


def _domains(name):
    @hookimpl
    def genseg_register_domains():
        return [{"name": name, "description": "test"}]

    return genseg_register_domains


def test_builtin_and_installed_domain_plugins_are_listed():
    records = {r.name: r for r in manager.load_plugins().records}
    assert records["generic"].status == "builtin"
    assert records["generic"].distribution == "genseg"
    for name, dist in [
        ("medical", "genseg-plugin-medical"),
        ("remote-sensing", "genseg-plugin-remote-sensing"),
        ("agriculture", "genseg-plugin-agriculture"),
    ]:
        assert records[name].status == "loaded", records[name].error
        assert records[name].distribution == dist
        assert records[name].hookspec in (">=1.0,<2", ">=1.6,<2") and records[name].warnings == []
        assert {"genseg_register_domains", "genseg_register_vocabularies"} <= set(records[name].hooks)
    names = {d.name for _, d in registry.domains()}
    assert {"generic", "medical", "remote-sensing", "agriculture"} <= names


def test_autoload_can_be_disabled_and_narrowed(monkeypatch):
    monkeypatch.setenv("GENSEG_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert [r.name for r in manager.build_plugins().records] == ["generic"]
    monkeypatch.delenv("GENSEG_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.setenv("GENSEG_PLUGINS", "medical, agriculture")
    assert {r.name for r in manager.build_plugins().records} == {"generic", "agriculture", "medical"}


def test_a_plugin_that_fails_to_import_is_reported_not_fatal(monkeypatch):
    broken = EntryPoint(name="broken", value="genseg_no_such_module.plugin", group="genseg")
    real = manager.entry_points
    monkeypatch.setattr(manager, "entry_points", lambda group: [*real(group=group), broken])
    loaded = manager.build_plugins()
    records = {r.name: r for r in loaded.records}
    assert records["broken"].status == "failed"
    assert "import failed: ModuleNotFoundError" in records["broken"].error
    assert records["medical"].status == "loaded"
    assert "medical" in {d.name for _, d in registry.domains(loaded)}


def test_unknown_hook_is_rejected_naming_plugin_and_hook():
    @hookimpl
    def genseg_register_domain():  # typo: the hook is genseg_register_domains
        return []

    loaded = manager.build_plugins(
        [("typo", _plugin("typo", genseg_register_domain=genseg_register_domain))], False
    )
    record = loaded.record("typo")
    assert record.status == "rejected"
    assert "'typo'" in record.error and "'genseg_register_domain'" in record.error
    assert "did you mean 'genseg_register_domains'" in record.error
    assert loaded.manager.get_plugin("typo") is None


def test_wrong_hook_arguments_are_rejected():
    @hookimpl
    def genseg_get_reader(path, kind, colour):
        return None

    loaded = manager.build_plugins([("args", _plugin("args", genseg_get_reader=genseg_get_reader))], False)
    assert loaded.record("args").status == "rejected"
    assert "colour" in loaded.record("args").error


@pytest.mark.parametrize(
    "declared, status",
    [
        (">=1.0,<2", "loaded"),
        (">=2.0", "incompatible"),
        ("<1.0", "incompatible"),
        ("one point oh", "rejected"),
    ],
)
def test_hookspec_version_range_is_checked(declared, status):
    plugin = _plugin("ranged", genseg_register_domains=_domains("ranged"))
    plugin.GENSEG_HOOKSPEC = declared
    record = manager.build_plugins([("ranged", plugin)], False).record("ranged")
    assert record.status == status
    if status == "incompatible":
        assert GENSEG_HOOKSPEC_VERSION in record.error and declared in record.error


def test_missing_range_and_undecorated_hooks_are_warnings():
    def genseg_register_vocabularies():  # forgot @hookimpl
        return []

    plugin = types.SimpleNamespace(
        genseg_register_domains=_domains("loose"), genseg_register_vocabularies=genseg_register_vocabularies
    )
    record = manager.build_plugins([("loose", plugin)], False).record("loose")
    assert record.status == "loaded"
    assert any("GENSEG_HOOKSPEC" in w for w in record.warnings)
    assert any("genseg_register_vocabularies is not decorated" in w for w in record.warnings)


def test_a_hook_that_raises_is_recorded_and_skipped():
    @hookimpl
    def genseg_register_domains():
        raise RuntimeError("bad data file")

    loaded = manager.build_plugins(
        [("raiser", _plugin("raiser", genseg_register_domains=genseg_register_domains))]
    )
    with pytest.warns(manager.PluginWarning, match="plugin 'raiser' failed in genseg_register_domains"):
        names = {d.name for _, d in registry.domains(loaded)}
    assert "generic" in names and "medical" in names  # the others' registrations are still there
    record = loaded.record("raiser")
    assert "RuntimeError: bad data file" in record.hook_errors["genseg_register_domains"]
    assert record.status == "failing"
    loaded.memo.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reported once, not on every call
        registry.domains(loaded)


def test_a_preprocess_hook_that_raises_is_an_error_naming_plugin_hook_and_exception(tmp_path):
    from genseg.data.sample import Sample
    from genseg.errors import PluginError

    @hookimpl
    def genseg_preprocess(sample, domain, options):
        raise ZeroDivisionError("window width 0")

    loaded = manager.build_plugins(
        [("windows", _plugin("windows", genseg_preprocess=genseg_preprocess))], False
    )
    raw = Sample(np.zeros((2, 2, 1), np.float32), tmp_path / "a.png", "image", "r")
    with pytest.raises(PluginError) as err:
        registry.preprocess(raw, "generic", plugins=loaded)  # never the generic scaling instead
    message = err.value.one_line()
    assert "plugin 'windows' failed in genseg_preprocess: ZeroDivisionError: window width 0" in message
    assert loaded.record("windows").status == "failing"


def test_a_reader_whose_claims_raises_is_an_error_and_other_readers_stay(tmp_path):
    from genseg.errors import PluginError
    from genseg.plugins.testing import make_fake_image

    @hookimpl
    def genseg_register_readers():
        return [{"name": "sniff", "patterns": ["*.png"], "claims": f"{__name__}:claims_crash", "read": "x:y"}]

    loaded = manager.build_plugins(
        [("sniffer", _plugin("sniffer", genseg_register_readers=genseg_register_readers))], False
    )
    image = make_fake_image(tmp_path / "a.png")
    with pytest.raises(
        PluginError, match=r"plugin 'sniffer' failed in .*sniff\.claims.*OSError: cannot peek"
    ):
        registry.find_reader(image, "image", loaded)
    assert registry.find_reader(tmp_path / "b.tif", "image", loaded)[1].name != "sniff"  # others still read
    assert loaded.record("sniffer").status == "failing"


def claims_crash(path):
    raise OSError("cannot peek")


def read_crash(path, kind):
    raise KeyError("bad tag")


def test_a_reader_that_raises_is_one_error_naming_plugin_reader_and_file(tmp_path):
    from genseg.errors import PluginError

    @hookimpl
    def genseg_register_readers():
        return [{"name": "boomreader", "patterns": ["*.boom"], "read": f"{__name__}:read_crash"}]

    loaded = manager.build_plugins(
        [("boomer", _plugin("boomer", genseg_register_readers=genseg_register_readers))], False
    )
    path = tmp_path / "x.boom"
    path.write_text("junk")
    with pytest.raises(PluginError) as err:
        registry.read(path, "image", loaded)
    message = err.value.one_line()
    assert "plugin 'boomer' failed in its reader boomreader" in message and str(path) in message
    assert "KeyError: 'bad tag'" in message and loaded.record("boomer").status == "failing"


@pytest.mark.parametrize(
    "source",
    ["import sys\nsys.exit(3)\n", "import argparse\nargparse.ArgumentParser().parse_args(['--nope'])\n"],
)
def test_a_plugin_that_exits_at_import_is_reported_failed(monkeypatch, tmp_path, source):
    (tmp_path / "genseg_exits_plugin.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    exits = EntryPoint(name="exits", value="genseg_exits_plugin", group="genseg")
    real = manager.entry_points
    monkeypatch.setattr(manager, "entry_points", lambda group: [*real(group=group), exits])
    records = {r.name: r for r in manager.build_plugins().records}
    assert records["exits"].status == "failed" and "SystemExit" in records["exits"].error
    assert records["medical"].status == "loaded"


def test_two_plugins_with_one_name_keep_the_first():
    first = _plugin("twin", genseg_register_domains=_domains("first"))
    second = _plugin("twin", genseg_register_domains=_domains("second"))
    loaded = manager.build_plugins([("twin", first), ("twin", second)], False)
    assert [r.status for r in loaded.records if r.name == "twin"] == ["loaded", "rejected"]
    assert {d.name for _, d in registry.domains(loaded)} == {"generic", "first"}
