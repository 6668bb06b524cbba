"""What a package index shows of each distribution: licence, description, links, version."""

from __future__ import annotations

import importlib
import re
import runpy
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from genseg.version import __version__

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
PLUGINS = {
    "medical": "genseg_medical",
    "remote_sensing": "genseg_remote_sensing",
    "agriculture": "genseg_agriculture",
}
PROJECTS = {"genseg": REPO, **{f"genseg-plugin-{d.replace('_', '-')}": REPO / "domains" / d for d in PLUGINS}}
PACKAGE_DIRS = [
    REPO / "core",
    REPO / "plugins",
    REPO / "evaluation",
    *(REPO / "domains" / d / p for d, p in PLUGINS.items()),
]
_LINK_TARGET = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)")


def _project(folder: Path) -> dict:
    return tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_every_distribution_has_what_an_index_page_needs(name):
    folder = PROJECTS[name]
    project = _project(folder)
    assert project["name"] == name
    assert project["description"] and project["license"] == "Apache-2.0"
    for licence in project["license-files"]:
        assert "Apache License" in (folder / licence).read_text(encoding="utf-8")
    readme = project.get("readme") or ("readme" in project["dynamic"] and "README.md")
    assert (folder / readme).is_file(), f"{name}: no README for the long description"
    assert {"Homepage", "Source", "Issues"} <= set(project["urls"]), project.get("urls")
    assert all(u.startswith("https://") for u in project["urls"].values())
    assert "Typing :: Typed" in project["classifiers"]
    assert not [c for c in project["classifiers"] if c.startswith("License ::")], "licence: an expression"
    assert "version" in project["dynamic"] and "version" not in project, "the version lives in the code"


@pytest.mark.parametrize("folder", PACKAGE_DIRS, ids=lambda p: p.name)
def test_every_package_is_marked_typed(folder):
    assert (folder / "py.typed").is_file()


@pytest.mark.parametrize("domain", sorted(PLUGINS))
def test_plugins_are_released_with_genseg_and_require_its_release_line(domain):
    plugin = importlib.import_module(PLUGINS[domain])
    assert plugin.__version__ == __version__, "genseg and its domain plugins carry one version"
    [genseg] = [
        Requirement(r) for r in _project(REPO / "domains" / domain)["dependencies"] if r.startswith("genseg")
    ]
    current = Version(__version__)
    next_minor = Version(f"{current.major}.{current.minor + 1}")
    assert current in genseg.specifier and next_minor not in genseg.specifier, str(genseg)


def _long_description() -> str:
    namespace = runpy.run_path(str(REPO / "setup.py"), run_name="genseg_setup")
    return namespace["long_description"]()


def test_the_long_description_has_only_absolute_links():
    text = _long_description()
    targets = _LINK_TARGET.findall(text)
    assert targets, "the README links to its docs"
    relative = [t for t in targets if not t.startswith(("https://", "http://", "#"))]
    assert not relative, f"these links would break on a package index: {relative}"
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)", text)
    assert images and all(t.startswith("https://raw.githubusercontent.com/") for t in images)


def test_relative_links_are_resolved_against_the_source_url():
    namespace = runpy.run_path(str(REPO / "setup.py"), run_name="genseg_setup")
    absolute_links = namespace["absolute_links"]
    text = "[cli](docs/cli.md) ![m](./docs/images/m.png) [web](https://x.org/a) [top](#plugins)"
    assert absolute_links(text, "https://github.com/o/r/") == (
        "[cli](https://github.com/o/r/blob/main/docs/cli.md) "
        "![m](https://raw.githubusercontent.com/o/r/main/docs/images/m.png) "
        "[web](https://x.org/a) [top](#plugins)"
    )


@pytest.mark.parametrize("domain", sorted(PLUGINS))
def test_plugin_readmes_link_absolutely(domain):
    text = (REPO / "domains" / domain / "README.md").read_text(encoding="utf-8")
    targets = _LINK_TARGET.findall(text)
    assert targets and all(t.startswith("https://") for t in targets), targets
