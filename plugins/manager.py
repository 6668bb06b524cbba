"""Plugin discovery: the built-in plugin plus every `genseg` entry point.

A plugin that fails to import is recorded with its error and skipped, never fatal.
`GENSEG_DISABLE_PLUGIN_AUTOLOAD=1` loads only the built-in plugin; `GENSEG_PLUGINS=a,b`
loads only the named entry points.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import entry_points

import pluggy

from genseg.plugins import hookspecs


@dataclass
class PluginRecord:
    name: str
    distribution: str | None
    version: str | None
    status: str  # "loaded" | "failed" | "builtin"
    error: str | None = None
    hooks: list[str] = field(default_factory=list)


@dataclass
class LoadedPlugins:
    manager: pluggy.PluginManager
    records: list[PluginRecord]


def _wanted() -> set[str] | None:
    names = os.environ.get("GENSEG_PLUGINS", "").strip()
    return {n.strip() for n in names.split(",") if n.strip()} or None


@lru_cache(maxsize=1)
def load_plugins() -> LoadedPlugins:
    from genseg.plugins import builtin

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(builtin, name="generic")
    records = [PluginRecord("generic", "genseg", None, "builtin")]
    autoload = os.environ.get("GENSEG_DISABLE_PLUGIN_AUTOLOAD", "") in ("", "0")
    wanted = _wanted()
    for ep in entry_points(group=hookspecs.PROJECT) if autoload else []:
        if ep.name == "generic" or (wanted is not None and ep.name not in wanted):
            continue
        dist = ep.dist.name if ep.dist else None
        ver = ep.dist.version if ep.dist else None
        try:
            pm.register(ep.load(), name=ep.name)
            records.append(PluginRecord(ep.name, dist, ver, "loaded"))
        except Exception as exc:  # a broken plugin is reported, not fatal
            records.append(PluginRecord(ep.name, dist, ver, "failed", f"{exc.__class__.__name__}: {exc}"))
    for rec in records:
        plugin = pm.get_plugin(rec.name)
        if plugin is not None:
            rec.hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
    return LoadedPlugins(pm, records)


def registered_domains() -> list[dict]:
    return [d for group in load_plugins().manager.hook.genseg_register_domains() for d in group]


def registered_datasets() -> dict[str, str]:
    return {
        d["name"]: d["path"]
        for group in load_plugins().manager.hook.genseg_register_datasets()
        for d in group
    }
