"""Plugin discovery and checking: the built-in plugin plus every ``genseg`` entry point.

Nothing a plugin does can break genseg: a plugin that fails to import, declares a hookspec
range this genseg is outside of, or implements a hook that does not exist (a typo) is
recorded with the reason and left out (``SystemExit`` at import included: a plugin that
parses the command line cannot end genseg). A listing hook that raises is recorded on the
plugin, reported once as a :class:`PluginWarning` and its items left out (the others are
still right); a first-result hook that raises (a reader, writer, preprocessing) is a
:class:`~genseg.errors.PluginError`, since asking the next plugin would silently give
another result (see :func:`call_each`). ``GENSEG_DISABLE_PLUGIN_AUTOLOAD=1`` loads only
the built-in plugin; ``GENSEG_PLUGINS=a,b`` loads only the named entry points.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import io
import os
import warnings
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from genseg.errors import GenSegError, PluginError
from genseg.plugins import hookspecs

BUILTIN = "generic"
BUILTIN_MODULE = "genseg.plugins.builtin"  # the generic domain, genseg's own plugin
STATUSES = ("builtin", "loaded", "failing", "failed", "incompatible", "rejected")


class PluginWarning(UserWarning):
    """A plugin's hook raised; what it would have added is left out."""


@dataclass
class PluginRecord:
    """What `genseg plugins list` shows about one plugin."""

    name: str
    distribution: str | None
    version: str | None
    status: str  # one of STATUSES
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    hookspec: str | None = None  # the range the plugin declares
    warnings: list[str] = field(default_factory=list)
    hook_errors: dict[str, str] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.status in ("builtin", "loaded", "failing")

    def hook_failed(self, hook: str, error: str) -> bool:
        """Record that ``hook`` raised; False when it was already recorded (report once)."""
        first = hook not in self.hook_errors
        self.hook_errors.setdefault(hook, error)
        if self.status in ("builtin", "loaded"):
            self.status = "failing"
        return first

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoadedPlugins:
    manager: pluggy.PluginManager
    records: list[PluginRecord]
    # Validated results of the registration hooks, kept so lookups on hot paths (a reader
    # per file read) do not call every plugin and re-validate its data each time.
    memo: dict[tuple, Any] = field(default_factory=dict, repr=False)

    def record(self, name: str) -> PluginRecord | None:
        return next((r for r in self.records if r.name == name), None)


def spec_names() -> list[str]:
    """Every hook name genseg defines."""
    return sorted(n for n in dir(hookspecs) if n.startswith("genseg_"))


def new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _check_hookspec_range(plugin: object, record: PluginRecord) -> bool:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    declared = getattr(plugin, hookspecs.HOOKSPEC_ATTRIBUTE, None)
    if declared is None:
        record.warnings.append(
            f"declares no {hookspecs.HOOKSPEC_ATTRIBUTE} range; assumed to work with "
            f"hookspec {hookspecs.GENSEG_HOOKSPEC_VERSION}"
        )
        return True
    record.hookspec = str(declared)
    try:
        ok = SpecifierSet(str(declared)).contains(hookspecs.GENSEG_HOOKSPEC_VERSION, prereleases=True)
    except InvalidSpecifier:
        record.status = "rejected"
        record.error = (
            f"{hookspecs.HOOKSPEC_ATTRIBUTE} = {declared!r} is not a version range. "
            "Fix: write it like '>=1.0,<2'"
        )
        return False
    if not ok:
        record.status = "incompatible"
        record.error = (
            f"plugin {record.name!r} supports genseg hookspec {declared}, this genseg has "
            f"{hookspecs.GENSEG_HOOKSPEC_VERSION}. Fix: upgrade or downgrade the plugin or genseg to match"
        )
    return ok


def _unknown_hooks(pm: pluggy.PluginManager, plugin: object, record: PluginRecord) -> bool:
    """Reject marked functions that name no hook; warn about unmarked ``genseg_*`` functions."""
    known = set(spec_names())
    for attr in dir(plugin):
        if not attr.startswith("genseg_"):
            continue
        marked = pm.parse_hookimpl_opts(plugin, attr) is not None
        if marked and attr not in known:
            close = difflib.get_close_matches(attr, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            record.status = "rejected"
            record.error = (
                f"plugin {record.name!r} implements unknown hook {attr!r}; {hint}"
                "Fix: rename it to one of the hooks listed in docs/plugins.md"
            )
            return False
        if not marked and attr in known and callable(getattr(plugin, attr)):
            record.warnings.append(f"{attr} is not decorated with @genseg.plugins.hookimpl and is ignored")
    return True


def register_plugin(
    pm: pluggy.PluginManager,
    plugin: object,
    name: str,
    distribution: str | None = None,
    version: str | None = None,
    status: str = "loaded",
) -> PluginRecord:
    """Check ``plugin`` and register it on ``pm`` if it passes; the record says what happened."""
    record = PluginRecord(name, distribution, version, status)
    if pm.get_plugin(name) is not None:
        record.status, record.error = "rejected", f"another plugin is already registered as {name!r}"
        return record
    if not _check_hookspec_range(plugin, record) or not _unknown_hooks(pm, plugin, record):
        return record
    try:
        pm.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        record.status = "rejected"
        record.error = f"plugin {name!r} is invalid: {exc}. Fix: match the hook signatures in docs/plugins.md"
        return record
    record.hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
    return record


def _wanted() -> set[str] | None:
    names = os.environ.get("GENSEG_PLUGINS", "").strip()
    return {n.strip() for n in names.split(",") if n.strip()} or None


def _autoload() -> bool:
    return os.environ.get("GENSEG_DISABLE_PLUGIN_AUTOLOAD", "").strip().lower() in ("", "0", "false", "no")


def build_plugins(extra: Iterable[tuple[str, object]] = (), autoload: bool | None = None) -> LoadedPlugins:
    """A fresh manager: the built-in plugin, entry points (unless disabled), then ``extra``."""
    # the host knows its built-in plugin by module name, as it knows the others by entry point,
    # so the contract never imports an implementation (docs/architecture.md)
    builtin = importlib.import_module(BUILTIN_MODULE)
    pm = new_manager()
    records = [register_plugin(pm, builtin, BUILTIN, "genseg", _genseg_version(), status="builtin")]
    wanted = _wanted()
    for ep in (
        entry_points(group=hookspecs.PROJECT) if (_autoload() if autoload is None else autoload) else []
    ):
        if ep.name == BUILTIN or (wanted is not None and ep.name not in wanted):
            continue
        dist = ep.dist.name if ep.dist else None
        ver = ep.dist.version if ep.dist else None
        plugin, error = _import_plugin(ep)
        if error is not None:  # a broken plugin is reported, never fatal
            records.append(PluginRecord(ep.name, dist, ver, "failed", error))
            continue
        records.append(register_plugin(pm, plugin, ep.name, dist, ver))
    for name, plugin in extra:
        records.append(register_plugin(pm, plugin, name))
    return LoadedPlugins(pm, records)


def _import_plugin(ep) -> tuple[object | None, str | None]:
    """``ep.load()``, or why it failed. ``SystemExit`` is caught too (a plugin that runs
    argparse or ``sys.exit`` at import would end every command, ``--help`` included), and
    what the plugin printed meanwhile is kept for the reason, not shown."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            return ep.load(), None
    except (Exception, SystemExit) as exc:
        said = " ".join(printed.getvalue().split())[:200]
        reason = f"import failed: {exc.__class__.__name__}: {exc}"
        if isinstance(exc, SystemExit):
            reason += " (the plugin exits at import, e.g. argparse or sys.exit outside a function)"
        return None, reason + (f"; it printed: {said}" if said else "")


_active: LoadedPlugins | None = None


def load_plugins() -> LoadedPlugins:
    """The process-wide plugins, discovered once (see :func:`use_plugins`)."""
    global _active
    if _active is None:
        _active = build_plugins()
    return _active


def use_plugins(plugins: LoadedPlugins | None) -> None:
    """Make ``plugins`` what genseg sees from now on; None rediscovers on the next use."""
    global _active
    _active = plugins


def _genseg_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("genseg")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return None


_calling: ContextVar[LoadedPlugins | None] = ContextVar("genseg_plugins_calling", default=None)


def current_plugins() -> LoadedPlugins:
    """The plugin set whose hook is being called (for hooks that consult other plugins,
    like the built-in pattern dispatcher); the process-wide set otherwise."""
    return _calling.get() or load_plugins()


def _impls_in_call_order(plugins: LoadedPlugins, hook_name: str) -> list[pluggy.HookImpl]:
    # pluggy calls the implementations list back to front (tryfirst last in the list).
    return list(reversed(getattr(plugins.manager.hook, hook_name).get_hookimpls()))


def call_each(
    hook_name: str,
    plugins: LoadedPlugins | None = None,
    reraise: tuple[type[BaseException], ...] = (GenSegError,),
    skip_failures: bool = True,
    **kwargs: Any,
) -> Iterator[tuple[str, Any]]:
    """Yield ``(plugin name, result)`` for each implementation of a hook, in pluggy's order.

    An implementation that raises is recorded on its plugin (``hook_errors``, status
    "failing"), reported once as a PluginWarning and skipped, so one broken plugin cannot
    take a listing down; exceptions of the ``reraise`` types (by default GenSegError: a user
    error such as an unknown CT window) propagate.
    """
    plugins = plugins or load_plugins()
    for impl in _impls_in_call_order(plugins, hook_name):
        args = {k: kwargs[k] for k in impl.argnames if k in kwargs}
        token = _calling.set(plugins)
        try:
            result = impl.function(**args)
        except reraise:
            raise
        except Exception as exc:
            if not skip_failures:
                raise plugin_failure(plugins, impl.plugin_name, hook_name, exc) from exc
            report_failure(plugins, impl.plugin_name, hook_name, f"{exc.__class__.__name__}: {exc}")
            continue
        finally:
            _calling.reset(token)
        yield impl.plugin_name, result


def first_result(
    hook_name: str, plugins: LoadedPlugins | None = None, **kwargs: Any
) -> tuple[str, Any] | None:
    """``(plugin name, result)`` of the first implementation that returns something not None.

    An implementation that raises is a PluginError: the next plugin's answer would be
    another result (no windowing, another reader), given silently."""
    for name, result in call_each(hook_name, plugins, skip_failures=False, **kwargs):
        if result is not None:
            return name, result
    return None


def report_failure(plugins: LoadedPlugins, plugin: str, hook: str, error: str) -> None:
    """Mark ``plugin`` failing in ``hook`` and warn, once per plugin and hook."""
    record = plugins.record(plugin)
    if record is None or record.hook_failed(hook, error):
        warnings.warn(
            f"plugin {plugin!r} failed in {hook} ({error}); what it provides there is left out. "
            f"Fix: update or uninstall it (genseg plugins validate {plugin})",
            PluginWarning,
            stacklevel=3,
        )


def plugin_failure(plugins: LoadedPlugins, plugin: str, hook: str, exc: BaseException) -> PluginError:
    """The error for a hook whose answer cannot be replaced by another plugin's."""
    error = f"{exc.__class__.__name__}: {exc}".strip()
    record = plugins.record(plugin)
    if record is not None:
        record.hook_failed(hook, error)
    return PluginError(
        f"plugin {plugin!r} failed in {hook}: {error}",
        fix=f"update or uninstall the plugin (genseg plugins validate {plugin}), or leave it out "
        "with GENSEG_PLUGINS=<the plugins to load>",
    )
