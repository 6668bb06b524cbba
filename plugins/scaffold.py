"""``genseg plugins new NAME``: a new plugin package made from the template genseg ships.

The template (``genseg/plugins/template``, the ``genseg-plugin-example`` package) is a plugin
that loads, validates and passes its own tests; a new plugin is that package with its names
replaced, so that it works the same before its author changes anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import as_file, files
from pathlib import Path

from genseg.data.atomic import atomic_write
from genseg.errors import ConfigError, OutputError

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
TEMPLATE_SUFFIXES = (".py", ".json", ".toml", ".md", ".typed")


@dataclass(frozen=True)
class PluginNames:
    """The names one plugin goes by: domain and entry point, Python package, distribution."""

    domain: str
    package: str
    distribution: str

    @classmethod
    def from_name(cls, name: str) -> PluginNames:
        if not NAME_PATTERN.match(name):
            raise ConfigError(
                f"{name!r} is not a usable plugin name",
                fix="use lower-case letters and digits, words joined by '-' (e.g. histology, dental-xray)",
            )
        domain = name.replace("_", "-")
        return cls(domain, "genseg_" + domain.replace("-", "_"), "genseg-plugin-" + domain)


def _renamed(text: str, names: PluginNames) -> str:
    """The template's text with the example plugin's names replaced by ``names``."""
    suffix = names.package.removeprefix("genseg_")
    for old, new in (
        ("genseg_example", names.package),
        ("genseg-plugin-example", names.distribution),
        ("load_example_shapes", f"load_{suffix}_shapes"),
        ("example-npy", f"{names.domain}-npy"),
        ("example-shapes", f"{names.domain}-shapes"),
        ('"example"', f'"{names.domain}"'),
        ("`example`", f"`{names.domain}`"),
        ("plugins new example", f"plugins new {names.domain}"),
    ):
        text = text.replace(old, new)
    # the entry point, `example = "genseg_example.plugin"` in pyproject.toml
    return re.sub(r'(?m)^example = "', f'{names.domain} = "', text)


def _copy_template(template: Path, folder: Path, names: PluginNames) -> None:
    for source in sorted(template.rglob("*")):
        rel = source.relative_to(template)
        if not source.is_file() or source.suffix not in TEMPLATE_SUFFIXES:
            continue
        if any(part.startswith((".", "__")) for part in rel.parts[:-1]):
            continue  # caches (.ruff_cache, __pycache__) of a source checkout
        target = folder / Path(*(names.package if p == "genseg_example" else p for p in rel.parts))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_renamed(source.read_text(encoding="utf-8"), names), encoding="utf-8")


def new_plugin(name: str, output: Path | None = None) -> tuple[Path, PluginNames]:
    """Write the plugin package ``genseg-plugin-NAME`` to ``output`` (default
    ``./genseg-plugin-NAME``), which must not exist yet; it appears whole or not at all."""
    names = PluginNames.from_name(name)
    folder = Path(output) if output is not None else Path(names.distribution)
    if folder.exists():
        raise OutputError(
            "already exists; a new plugin is never written over files",
            path=folder,
            fix="choose another --output, or remove this folder",
        )
    with as_file(files("genseg.plugins").joinpath("template")) as template:
        if not (Path(template) / "pyproject.toml").is_file():
            raise OutputError(  # pragma: no cover - a broken installation
                "the plugin template is missing from this genseg installation",
                path=template,
                fix='reinstall genseg: pip install --force-reinstall "genseg"',
            )
        atomic_write(folder, lambda tmp: _copy_template(Path(template), tmp, names))
    return folder, names
