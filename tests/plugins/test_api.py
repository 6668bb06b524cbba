"""genseg.plugins.api: every public name resolves, importing it stays light, plugins use only it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import genseg.plugins.api as api

REPO = Path(__file__).resolve().parents[2]
PLUGIN_PACKAGES = [
    REPO / "domains/medical/genseg_medical",
    REPO / "domains/remote_sensing/genseg_remote_sensing",
    REPO / "domains/agriculture/genseg_agriculture",
    REPO / "plugins/template",
]


@pytest.mark.parametrize("name", api.__all__)
def test_every_public_name_resolves(name):
    assert getattr(api, name) is not None
    assert name in dir(api)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'segment_files'"):
        api.segment_files  # noqa: B018


def test_the_registry_helpers_are_the_hosts_own():
    from genseg.plugins import registry

    assert api.registered_datasets is registry.datasets and api.read is registry.read


def test_importing_the_api_leaves_numpy_and_the_data_layer_unloaded():
    heavy = ("numpy", "PIL", "genseg.data.readers", "genseg.plugins.registry")
    code = f"import sys, genseg.plugins.api\nprint([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _genseg_imports(folder: Path) -> list[str]:
    found = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            found += [f"{path.name}:{node.lineno} {m}" for m in modules if m.split(".")[0] == "genseg"]
    return found


@pytest.mark.parametrize("package", PLUGIN_PACKAGES, ids=lambda p: p.name)
def test_plugin_packages_import_genseg_only_through_the_api(package):
    """What `make lint`'s second contract checks, kept here too for a checkout without import-linter."""
    imports = _genseg_imports(package)
    assert imports, "expected the package to use genseg"
    assert [i for i in imports if not i.endswith(" genseg.plugins.api")] == []
