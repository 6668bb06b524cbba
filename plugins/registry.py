"""Registries filled by hooks: what every installed plugin provides, validated, with provenance.

Nothing here is hard-coded: the generic behaviour comes from the built-in plugin like any
other. Each entry is returned as ``(plugin name, item)`` so listings can say who provides
what. Lookups that fail raise a GenSegError that lists what exists and which plugin
package would add more (from ``known_providers.json``).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from fnmatch import fnmatch
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from genseg.errors import ConfigError, DatasetError, GenSegError, InputError
from genseg.plugins.manager import (
    BUILTIN,
    LoadedPlugins,
    call_each,
    first_result,
    load_plugins,
    plugin_failure,
    report_failure,
)
from genseg.plugins.schemas import (
    AdapterCard,
    ClassInfo,
    DatasetRegistration,
    DomainInfo,
    MetricSpec,
    ReaderSpec,
    SampleDataset,
    Vocabulary,
    WriterSpec,
    load_package_json,
    resolve_target,
    validate_as,
)

if TYPE_CHECKING:
    import numpy as np
    import typer

    from genseg.data.sample import Sample

M = TypeVar("M", bound=BaseModel)


def _collect(
    hook: str, model: type[M], plugins: LoadedPlugins | None = None, **kwargs: Any
) -> list[tuple[str, M]]:
    """Every item every plugin returns from a list hook, validated as ``model``.

    A plugin whose items do not validate gets the error recorded (see ``plugins validate``)
    and its items from that hook are skipped. Registrations are static data, so each hook
    runs once per plugin set (and keyword arguments) and the validated list is kept.
    """
    plugins = plugins or load_plugins()
    key = (hook, model, tuple(sorted(kwargs.items())))
    if key not in plugins.memo:
        plugins.memo[key] = _collect_uncached(hook, model, plugins, **kwargs)
    return list(plugins.memo[key])


def _collect_uncached(
    hook: str, model: type[M], plugins: LoadedPlugins, **kwargs: Any
) -> list[tuple[str, M]]:
    out: list[tuple[str, M]] = []
    for name, items in call_each(hook, plugins, reraise=(), **kwargs):
        try:
            if not isinstance(items, (list, tuple)):
                raise ConfigError(f"{hook} returned {type(items).__name__}, expected a list", path=name)
            out += [(name, validate_as(model, item, f"plugin {name}, {hook}")) for item in items]
        except ConfigError as exc:
            report_failure(plugins, name, hook, exc.message)
    return out


def domains(plugins: LoadedPlugins | None = None) -> list[tuple[str, DomainInfo]]:
    return _collect("genseg_register_domains", DomainInfo, plugins)


def check_domain(domain: str, plugins: LoadedPlugins | None = None) -> None:
    """A ConfigError naming the registered domains (and the plugin to install) if ``domain`` is unknown."""
    names = sorted({d.name for _, d in domains(plugins)})
    if domain not in names:
        hint = provider_hint("domains", domain, plugins)
        raise ConfigError(
            f"unknown domain {domain!r}" + (f" ({hint})" if hint else ""),
            fix=f"choose one of: {', '.join(names)}",
        )


def datasets(plugins: LoadedPlugins | None = None) -> dict[str, tuple[str, DatasetRegistration]]:
    """Dataset name → (plugin, registration); the first plugin in call order wins a name."""
    out: dict[str, tuple[str, DatasetRegistration]] = {}
    for plugin, reg in _collect("genseg_register_datasets", DatasetRegistration, plugins):
        out.setdefault(reg.name, (plugin, reg))
    return out


def vocabularies(plugins: LoadedPlugins | None = None) -> list[tuple[str, Vocabulary]]:
    return _collect("genseg_register_vocabularies", Vocabulary, plugins)


def vocabulary(domain: str, plugins: LoadedPlugins | None = None) -> list[tuple[str, Vocabulary]]:
    """The vocabularies registered for ``domain``; an error listing the domains that have one."""
    found = vocabularies(plugins)
    chosen = [(p, v) for p, v in found if v.domain == domain]
    if not chosen:
        have = sorted({v.domain for _, v in found})
        hint = provider_hint("domains", domain, plugins)
        raise ConfigError(
            f"no vocabulary for domain {domain!r}" + (f" ({hint})" if hint else ""),
            fix=f"choose one of: {', '.join(have) or 'none installed'}",
        )
    return chosen


def adapters(plugins: LoadedPlugins | None = None) -> list[tuple[str, AdapterCard]]:
    return _collect("genseg_register_adapters", AdapterCard, plugins)


def metrics(domain: str, plugins: LoadedPlugins | None = None) -> list[tuple[str, MetricSpec]]:
    return _collect("genseg_register_metrics", MetricSpec, plugins, domain=domain)


def sample_datasets(plugins: LoadedPlugins | None = None) -> list[tuple[str, SampleDataset]]:
    """What ``genseg sample-data`` writes, generated ones first; the first plugin wins a name."""
    out: dict[str, tuple[str, SampleDataset]] = {}
    for plugin, sample in _collect("genseg_register_sample_data", SampleDataset, plugins):
        out.setdefault(sample.name, (plugin, sample))
    return sorted(out.values(), key=lambda found: found[1].fetches)


def call_registrations(plugins: LoadedPlugins | None = None) -> None:
    """Run every registration hook once, so a plugin whose hook raises or returns invalid
    data is marked "failing" (what `genseg plugins list` shows) before anyone relies on it."""
    plugins = plugins or load_plugins()
    for collect in (readers, writers, datasets, vocabularies, adapters, sample_datasets):
        collect(plugins)
    for _, info in domains(plugins):
        metrics(info.name, plugins)


def _command_names(commands: list, groups: list) -> list[str]:
    names = [c.name or c.callback.__name__.replace("_", "-") for c in commands if c.callback]
    return names + [g.name for g in groups if g.name]


def register_commands(app: typer.Typer, plugins: LoadedPlugins | None = None) -> list[str]:
    """Let every plugin add CLI commands; returns the plugins that did.

    A command whose name is already taken (by genseg or an earlier plugin) is removed
    again and recorded as an error of the plugin that tried to add it.
    """
    plugins = plugins or load_plugins()
    added = []
    taken = set(_command_names(app.registered_commands, app.registered_groups))
    n_cmd, n_grp = len(app.registered_commands), len(app.registered_groups)
    for name, _ in call_each("genseg_register_commands", plugins, reraise=(), app=app):
        new_names = _command_names(app.registered_commands[n_cmd:], app.registered_groups[n_grp:])
        if clash := [c for c in new_names if c in taken]:
            del app.registered_commands[n_cmd:], app.registered_groups[n_grp:]
            report_failure(
                plugins,
                name,
                "genseg_register_commands",
                f"command name(s) {', '.join(clash)} already taken; the plugin's commands were not added",
            )
            continue
        taken |= set(new_names)
        n_cmd, n_grp = len(app.registered_commands), len(app.registered_groups)
        if new_names:
            added.append(name)
    return added


# --- files: readers and writers ------------------------------------------------------------


def readers(plugins: LoadedPlugins | None = None) -> list[tuple[str, ReaderSpec]]:
    return _collect("genseg_register_readers", ReaderSpec, plugins)


def writers(plugins: LoadedPlugins | None = None) -> list[tuple[str, WriterSpec]]:
    return _collect("genseg_register_writers", WriterSpec, plugins)


def claims(patterns: list[str], path: Path) -> bool:
    """Whether a file name matches one of ``patterns`` (case-insensitive fnmatch)."""
    name = path.name.lower()
    return any(fnmatch(name, p.lower()) for p in patterns)


def _unclaimed_file_error(path: Path, kind: str, plugins: LoadedPlugins | None) -> InputError:
    listed = "; ".join(f"{spec.name} ({' '.join(spec.patterns)}) from {p}" for p, spec in readers(plugins))
    more = known_providers().get("extensions", {})
    installed = {r.distribution for r in (plugins or load_plugins()).records if r.active}
    offers: dict[str, list[str]] = {}
    for ext, dist in more.items():
        if dist not in installed:
            offers.setdefault(dist, []).append(ext)
    extra = "; ".join(f"pip install {d} adds {' '.join(sorted(e))}" for d, e in sorted(offers.items()))
    suffixes = [s.lower() for s in path.suffixes]
    for key in ("".join(suffixes[-2:]), suffixes[-1] if suffixes else ""):
        hint = provider_hint("extensions", key, plugins) if key else ""
        if hint:
            extra = f"{hint}. {extra}" if extra else hint
            break
    what = "folder" if path.is_dir() else f"{kind} file type"
    return InputError(
        f"no installed reader claims this {what}. Readers: {listed}.",
        path=path,
        fix=extra
        or "convert the file to one of the formats above, or write a reader plugin (docs/plugins.md)",
    )


def find_reader(path: str | Path, kind: str, plugins: LoadedPlugins | None = None) -> tuple[str, ReaderSpec]:
    """(plugin, reader) for ``path``; an InputError listing the readers if none claims it."""
    path = Path(path)
    found = first_result("genseg_get_reader", plugins, path=path, kind=kind)
    if found is None:
        raise _unclaimed_file_error(path, kind, plugins)
    plugin, spec = found
    spec = validate_as(ReaderSpec, spec, f"plugin {plugin}, genseg_get_reader")
    if plugin == BUILTIN:  # the pattern dispatcher answered: name the plugin that registered it
        plugin = next((p for p, s in readers(plugins) if s == spec), plugin)
    return plugin, spec


def match_reader(path: Path, kind: str, plugins: LoadedPlugins | None = None) -> ReaderSpec | None:
    """The first registered reader whose patterns claim ``path`` (the built-in dispatcher)."""
    is_dir = path.is_dir()
    for plugin, spec in readers(plugins):
        if kind in spec.kinds and spec.directories == is_dir and claims(spec.patterns, path):
            if spec.claims is None or _reader_claims(plugins or load_plugins(), plugin, spec, path):
                return spec
    return None


def _reader_claims(plugins: LoadedPlugins, plugin: str, spec: ReaderSpec, path: Path) -> bool:
    """A reader's own ``claims(path)``; one that raises is an error naming the plugin, since
    passing over it would hand its files to another reader (or to none)."""
    try:
        return bool(resolve_target(spec.claims)(path))
    except GenSegError:
        raise
    except Exception as exc:
        raise plugin_failure(plugins, plugin, f"genseg_register_readers ({spec.name}.claims)", exc) from exc


def read(path: str | Path, kind: str, plugins: LoadedPlugins | None = None) -> Sample:
    """Read ``path`` as an image or label with whichever reader claims it."""
    path = Path(path)
    plugin, spec = find_reader(path, kind, plugins)
    if not path.exists():
        raise InputError(f"{kind} file not found", path=path, fix="check the path")
    try:
        return resolve_target(spec.read)(path, kind)
    except (GenSegError, OSError, MemoryError):
        raise  # already one line, or the file system's answer (the CLI names the path)
    except Exception as exc:  # a reader's bug: one line naming the plugin and the file
        error = plugin_failure(plugins or load_plugins(), plugin, f"its reader {spec.name} ({path})", exc)
        raise error from exc


def match_writer(path: Path, fmt: str | None, plugins: LoadedPlugins | None = None) -> WriterSpec | None:
    for _, spec in writers(plugins):
        if (fmt is not None and fmt.lower() in (f.lower() for f in spec.formats)) or (
            fmt is None and claims(spec.patterns, path)
        ):
            return spec
    return None


def find_writer(
    path: str | Path, fmt: str | None = None, plugins: LoadedPlugins | None = None, kind: str = "mask"
) -> tuple[str, WriterSpec]:
    """(plugin, writer) of ``kind`` ("mask" or "vector") for ``path`` / ``fmt``; an InputError
    listing the writers of that kind when none claims it."""
    path = Path(path)
    found = first_result("genseg_get_writer", plugins, path=path, fmt=fmt)
    if found is not None:
        plugin, spec = found
        spec = validate_as(WriterSpec, spec, f"plugin {plugin}, genseg_get_writer")
        if spec.kind == kind:
            if plugin == BUILTIN:
                plugin = next((p for p, s in writers(plugins) if s == spec), plugin)
            return plugin, spec
    listed = (
        "; ".join(
            f"{spec.name} ({' '.join(spec.patterns)}; formats {', '.join(spec.formats)}) from {p}"
            for p, spec in writers(plugins)
            if spec.kind == kind
        )
        or "none installed"
    )
    asked = f"format {fmt!r}" if fmt else "this output name"
    if found is not None:
        flag = "--vector" if kind == "mask" else "--output"
        fix = f"this is a {found[1].kind} format: pass it with {flag}, or choose a {kind} format listed above"
    else:
        fix = "choose an output name or format listed above, or install the domain plugin that writes it"
    what = "writer" if kind == "mask" else f"{kind} writer"
    raise InputError(
        f"no installed {what} handles {asked}. {what.capitalize()}s: {listed}.", path=path, fix=fix
    )


def write(
    path: str | Path,
    mask: np.ndarray,
    reference: Sample | None = None,
    fmt: str | None = None,
    plugins: LoadedPlugins | None = None,
    classes: Sequence[ClassInfo | Mapping[str, Any]] | None = None,
    model: str | None = None,
) -> Path:
    """Write a mask or label map with the writer that handles ``path`` / ``fmt``.

    The writer is given a temporary sibling of ``path`` (same format ending) and the file is
    renamed to ``path`` only when it returns: a writer that fails half-way leaves nothing
    under the final name. Its warnings and errors name ``path``, not the temporary file.
    ``classes`` (what each label value means) and ``model`` (the name of the model that
    predicted the mask) reach writers whose ``write`` accepts those keywords (hookspec 1.4);
    an older writer is called without them and genseg warns once that its files carry no
    class names. Sidecars the writer put at :func:`sidecar_path` of its temporary path are
    renamed beside ``path`` once the output is in place, and removed if it fails.
    """
    import os

    from genseg.data.atomic import atomic_write

    plugin, spec = find_writer(path, fmt, plugins)
    if spec.write is None:
        raise InputError(
            f"writer {spec.name!r} only writes streamed rasters",
            path=path,
            fix="report this to the plugin that registered it",
        )
    path, writer = Path(path), resolve_target(spec.write)
    extra = _writer_keywords(writer, f"{spec.name} (plugin {plugin})", classes, model)

    given: list[Path] = []

    def run(tmp: Path) -> None:
        given.append(tmp)
        _call_writer(writer, tmp, path, mask, reference, **extra)
        if not (tmp.exists() or tmp.is_symlink()):
            raise InputError(
                f"writer {spec.name!r} (plugin {plugin}) wrote no file at the path it was given",
                path=path,
                fix="report this to the plugin that registered it",
            )

    try:
        atomic_write(path, run)
    except BaseException:
        for side in _sidecars(given):
            side.unlink(missing_ok=True)
        raise
    head = len(sidecar_path(given[0], "").name) if given else 0
    for side in _sidecars(given):
        os.replace(side, sidecar_path(path, side.name[head:]))
    return path


def sidecar_path(path: Path, ending: str) -> Path:
    """``path`` with its format ending replaced by ``ending`` (``m.nii.gz``, ``".ctbl"`` →
    ``m.ctbl``): where a writer puts a file that accompanies its output. On the temporary
    path a writer is given, such a sidecar is renamed beside the output after the output
    itself (and removed when the write fails); on a final path it is that output's sidecar."""
    from genseg.data.atomic import format_suffix

    path = Path(path)
    suffix = format_suffix(path)
    head = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    return path.with_name(head + ending)


def _sidecars(given: list[Path]) -> list[Path]:
    """The sidecars a writer put beside the temporary path it was given (if any)."""
    import glob

    if not given or not given[0].parent.is_dir():
        return []
    tmp = given[0]
    return sorted(p for p in tmp.parent.glob(glob.escape(sidecar_path(tmp, "").name) + ".*") if p != tmp)


_WARNED_NO_CLASSES: set[str] = set()


def _accepts(function: Any, name: str) -> bool:
    """Whether ``function`` takes the keyword ``name`` (or any keyword)."""
    import inspect

    try:
        params = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: call it as before
        return False
    return any(
        (p.name == name and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)) or p.kind == p.VAR_KEYWORD
        for p in params
    )


def _writer_keywords(
    function: Any,
    who: str,
    classes: Sequence[ClassInfo | Mapping[str, Any]] | None,
    model: str | None,
) -> dict[str, Any]:
    """The optional keywords (hookspec 1.4) ``function`` accepts, ``classes`` validated; one
    warning per writer and process when it cannot take the class names."""
    import warnings

    extra: dict[str, Any] = {}
    if classes is not None:
        if _accepts(function, "classes"):
            extra["classes"] = [validate_as(ClassInfo, c, "classes given to registry.write") for c in classes]
        elif who not in _WARNED_NO_CLASSES:
            _WARNED_NO_CLASSES.add(who)
            warnings.warn(
                f"writer {who} does not accept `classes` (hookspec 1.4): its files carry no class names "
                "or colours; upgrade the plugin",
                UserWarning,
                stacklevel=3,
            )
    if model is not None and _accepts(function, "model"):
        extra["model"] = model
    return extra


def _call_writer(writer, tmp: Path, final: Path, mask, reference, **extra: Any) -> None:
    """``writer(tmp, mask, reference, **extra)``, with ``tmp`` replaced by ``final`` in what it reports."""
    import warnings

    def named(text: str) -> str:
        return text.replace(str(tmp), str(final)).replace(tmp.name, final.name)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            writer(tmp, mask, reference, **extra)
        except GenSegError as exc:
            exc.message = named(exc.message)
            exc.path = named(exc.path) if exc.path else exc.path
            exc.args = (exc.one_line(),)
            raise
    for w in caught:
        warnings.warn_explicit(named(str(w.message)), w.category, w.filename, w.lineno)


def open_stream(
    path: str | Path,
    reference: Sample,
    prompts: list[str],
    kind: str = "mask",
    plugins: LoadedPlugins | None = None,
    classes: Sequence[ClassInfo | Mapping[str, Any]] | None = None,
    model: str | None = None,
):
    """A sink taking finished rows (``write_rows``, ``close``, ``abort``) from the writer of
    ``kind`` that claims ``path``; None when that writer cannot stream (masks only).
    ``classes`` and ``model`` reach an ``open`` that accepts them, as in :func:`write`."""
    plugin, spec = find_writer(path, None, plugins, kind=kind)
    if spec.stream is None:
        return None
    opener = resolve_target(spec.stream)
    extra = _writer_keywords(opener, f"{spec.name} (plugin {plugin})", classes, model)
    return opener(Path(path), reference, list(prompts), **extra)


def domain_info(domain: str, plugins: LoadedPlugins | None = None) -> DomainInfo:
    """The registration of ``domain`` (an error naming the installed ones if unknown)."""
    check_domain(domain, plugins)
    return next(info for _, info in domains(plugins) if info.name == domain)


def preprocess(
    sample: Sample,
    domain: str = "generic",
    options: Mapping[str, Any] | None = None,
    plugins: LoadedPlugins | None = None,
) -> Sample:
    """``sample`` as model input (float32 in [0, 1]) by the first plugin that handles ``domain``."""
    found = first_result(
        "genseg_preprocess", plugins, sample=sample, domain=domain, options=dict(options or {})
    )
    if found is None:  # pragma: no cover - the built-in plugin always answers
        raise InputError(f"no plugin preprocesses domain {domain!r}", path=sample.path)
    return found[1]


# --- datasets -------------------------------------------------------------------------------


def data_dir() -> Path:
    """Where registered datasets live unless a root is given: ``$GENSEG_DATA_DIR`` or
    ``~/.cache/genseg/datasets``."""
    import os

    return Path(os.environ.get("GENSEG_DATA_DIR") or Path.home() / ".cache" / "genseg" / "datasets")


def load_dataset(name: str, root: str | Path | None = None, plugins: LoadedPlugins | None = None) -> Path:
    """The dataset folder (with a dataset.json) for a registered dataset ``name``.

    ``root`` is where the user keeps that dataset's files; by default ``data_dir()/name``.
    """
    registered = datasets(plugins)
    if name not in registered:
        raise unknown_dataset_error(name, registered)
    _, reg = registered[name]
    folder = resolve_target(reg.loader)(Path(root).expanduser() if root else data_dir() / name)
    return Path(folder)


def index_dataset_folder(folder: str | Path, plugins: LoadedPlugins | None = None) -> Path | None:
    """The genseg index a plugin writes for ``folder``, a dataset in another tool's layout
    (``genseg_index_dataset_folder``); None when no installed plugin knows the layout."""
    found = first_result("genseg_index_dataset_folder", plugins, folder=Path(folder))
    if found is None:
        return None
    plugin, result = found
    index = Path(result)
    if not (index / "dataset.json").is_file():
        raise DatasetError(
            f"plugin {plugin!r} indexed this folder but wrote no dataset.json into {index}",
            path=folder,
            fix=f"update the plugin or report it (genseg plugins validate {plugin})",
        )
    return index


def provider_hint(kind: str, key: str, plugins: LoadedPlugins | None = None) -> str:
    """'pip install X' for a ``kind`` ("datasets", "domains", "extensions") entry that an
    uninstalled plugin provides; a note when that plugin is installed but does not provide it."""
    provider = known_providers().get(kind, {}).get(key)
    if not provider:
        return ""
    installed = {r.distribution for r in (plugins or load_plugins()).records if r.active}
    if provider in installed:
        return f"{provider} is installed but this version does not provide {key!r}; upgrade it"
    return f"{key!r} is provided by {provider}: pip install {provider}"


def unknown_dataset_error(
    name: str, registered: Mapping[str, Any], plugins: LoadedPlugins | None = None
) -> DatasetError:
    hint = provider_hint("datasets", name, plugins)
    close = difflib.get_close_matches(name, list(registered), n=1)
    parts = [hint] if hint else []
    if close:
        parts.append(f"did you mean {close[0]!r}?")
    parts.append(
        f"registered datasets: {', '.join(sorted(registered)) or 'none'}; "
        "or pass a folder with a dataset.json (docs/datasets.md)"
    )
    return DatasetError(f"no dataset folder or registered dataset named {name!r}", fix=" ".join(parts))


@lru_cache(maxsize=1)
def known_providers() -> dict[str, dict[str, str]]:
    """Which plugin distribution provides a dataset / domain / file extension not installed."""
    import json
    from importlib import resources

    text = resources.files("genseg.plugins").joinpath("known_providers.json").read_text(encoding="utf-8")
    return json.loads(text)


__all__ = [
    "adapters",
    "data_dir",
    "datasets",
    "domains",
    "find_reader",
    "find_writer",
    "index_dataset_folder",
    "known_providers",
    "load_dataset",
    "load_package_json",
    "match_reader",
    "match_writer",
    "metrics",
    "preprocess",
    "read",
    "readers",
    "register_commands",
    "sidecar_path",
    "vocabularies",
    "vocabulary",
    "write",
    "writers",
]
