"""`genseg plugins validate NAME`: call every hook a plugin implements and check what comes back.

Loading only proves a plugin imports; this proves its registrations validate, the code they
name imports, its vocabularies cover the domains it declares and its hooks do not raise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from genseg.errors import ConfigError
from genseg.plugins.manager import LoadedPlugins, load_plugins

# Registration hooks that take no arguments, with the model each item must validate as.
_LIST_HOOKS = {
    "genseg_register_domains": "DomainInfo",
    "genseg_register_datasets": "DatasetRegistration",
    "genseg_register_vocabularies": "Vocabulary",
    "genseg_register_readers": "ReaderSpec",
    "genseg_register_writers": "WriterSpec",
    "genseg_register_adapters": "AdapterCard",
    "genseg_register_sample_data": "SampleDataset",
}
_TARGET_FIELDS = {
    "DatasetRegistration": ("loader",),
    "ReaderSpec": ("read", "claims", "open_windowed"),
    "WriterSpec": ("write", "stream"),
    "SampleDataset": ("make",),
}


@dataclass
class ValidationReport:
    plugin: str
    checks: list[str] = field(default_factory=list)  # what passed, for the user to see
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_plugin(name: str, plugins: LoadedPlugins | None = None) -> ValidationReport:
    """Check the plugin registered as ``name``; raises ConfigError if no such plugin exists."""
    from genseg.plugins import schemas

    plugins = plugins or load_plugins()
    record = plugins.record(name)
    if record is None:
        known = ", ".join(r.name for r in plugins.records)
        raise ConfigError(f"no plugin named {name!r}", fix=f"installed plugins: {known}")
    report = ValidationReport(name)
    if not record.active:
        report.problems.append(f"not loaded ({record.status}): {record.error}")
        return report
    report.checks.append(f"loaded; hooks: {', '.join(record.hooks) or 'none'}")
    report.warnings += record.warnings
    plugin = plugins.manager.get_plugin(name)
    impls = {
        hook: impl
        for hook in record.hooks
        for impl in getattr(plugins.manager.hook, hook).get_hookimpls()
        if impl.plugin is plugin
    }
    domains: set[str] = set()
    vocab_domains: set[str] = set()
    for hook, model_name in _LIST_HOOKS.items():
        if hook not in impls:
            continue
        model = getattr(schemas, model_name)
        try:
            items = impls[hook].function()
        except Exception as exc:
            report.problems.append(f"{hook} raised {exc.__class__.__name__}: {exc}")
            continue
        if not isinstance(items, (list, tuple)):
            report.problems.append(f"{hook} returned {type(items).__name__}, expected a list")
            continue
        good = 0
        for item in items:
            try:
                value = schemas.validate_as(model, item, f"{name}.{hook}")
            except ConfigError as exc:
                report.problems.append(exc.message)
                continue
            targets = [getattr(value, f) for f in _TARGET_FIELDS.get(model_name, ())]
            broken = [problem for t in targets if t and (problem := _target_problem(hook, t))]
            if broken:
                report.problems += broken
                continue
            if model_name == "DomainInfo":
                domains.add(value.name)
            if model_name == "Vocabulary":
                vocab_domains.add(value.domain)
            good += 1
        report.checks.append(f"{hook}: {good} valid {model_name}")
    for domain in sorted(domains - vocab_domains):
        if domain != "generic":
            report.warnings.append(f"domain {domain!r} has no vocabulary (genseg vocab show fails)")
    if "genseg_preprocess" in impls:
        _try_preprocess(impls["genseg_preprocess"].function, sorted(domains | {"generic"}), report)
    report.problems += [f"{hook} raised: {err}" for hook, err in record.hook_errors.items()]
    return report


def _try_preprocess(hook, domains: list[str], report: ValidationReport) -> None:
    """Call the plugin's ``genseg_preprocess`` on a small seeded RGB image, once per domain it
    declares (and generic): a hook that raises on any input only shows when it is called. A
    GenSegError is the hook refusing that input (a warning); any other exception is a bug."""
    import numpy as np

    from genseg.data.sample import Sample
    from genseg.errors import GenSegError

    array = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    sample = Sample(array=array, path=Path("validate-probe.png"), kind="image", reader="pillow")
    served = []
    for domain in domains:
        try:
            result = hook(sample=sample, domain=domain, options={})
        except GenSegError as exc:
            report.warnings.append(f"genseg_preprocess refused a 16×16 RGB image of domain {domain!r}: {exc}")
            continue
        except Exception as exc:
            report.problems.append(
                f"genseg_preprocess raised {exc.__class__.__name__} on a 16×16 RGB image of domain "
                f"{domain!r}: {exc}"
            )
            continue
        if result is None:
            continue
        if not isinstance(result, Sample):
            report.problems.append(
                f"genseg_preprocess returned {type(result).__name__} for domain {domain!r}, "
                "expected a Sample or None"
            )
            continue
        served.append(domain)
    if served:
        report.checks.append(f"genseg_preprocess: preprocesses a 16×16 RGB image of {', '.join(served)}")


def _target_problem(hook: str, target: str) -> str | None:
    """Why ``target`` ("module:attr") cannot serve, or None when it imports and is callable."""
    from genseg.plugins import schemas

    try:
        if not callable(schemas.resolve_target(target)):
            return f"{hook}: {target} is not callable"
    except (ImportError, AttributeError) as exc:
        return f"{hook}: cannot import {target}: {exc}"
    return None
