import pytest

from genseg.plugins import manager


@pytest.fixture(autouse=True)
def fresh_cache():
    manager.load_plugins.cache_clear()
    yield
    manager.load_plugins.cache_clear()


def test_builtin_and_installed_domain_plugins_are_listed():
    records = {r.name: r for r in manager.load_plugins().records}
    assert records["generic"].status == "builtin"
    for name, dist in [
        ("medical", "genseg-plugin-medical"),
        ("remote-sensing", "genseg-plugin-remote-sensing"),
        ("agriculture", "genseg-plugin-agriculture"),
    ]:
        assert records[name].status == "loaded", records[name].error
        assert records[name].distribution == dist
        assert "genseg_register_domains" in records[name].hooks
    domains = {d["name"] for d in manager.registered_domains()}
    assert {"generic", "medical", "remote-sensing", "agriculture"} <= domains


def test_autoload_can_be_disabled_and_narrowed(monkeypatch):
    monkeypatch.setenv("GENSEG_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert [r.name for r in manager.load_plugins().records] == ["generic"]
    manager.load_plugins.cache_clear()
    monkeypatch.delenv("GENSEG_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.setenv("GENSEG_PLUGINS", "medical")
    assert [r.name for r in manager.load_plugins().records] == ["generic", "medical"]


def test_a_plugin_that_fails_to_import_is_reported_not_fatal(monkeypatch):
    from importlib.metadata import EntryPoint

    broken = EntryPoint(name="broken", value="genseg_no_such_module.plugin", group="genseg")
    real = manager.entry_points
    monkeypatch.setattr(manager, "entry_points", lambda group: [*real(group=group), broken])
    records = {r.name: r for r in manager.load_plugins().records}
    assert records["broken"].status == "failed"
    assert "ModuleNotFoundError" in records["broken"].error
    assert records["medical"].status == "loaded"
