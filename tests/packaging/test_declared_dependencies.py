"""Every library a distribution imports is one it declares, and every one it declares is used.

The imports are read from the source (``ast``, so imports inside functions count too) and
mapped to distributions with this environment's installed metadata. A library that is only
in an extra must be imported lazily (never at a module's top level) and be listed in
``genseg.extras`` so that its absence is reported naming the extra.
"""

from __future__ import annotations

import ast
import functools
import sys
from collections import defaultdict
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from genseg.extras import OPTIONAL_MODULES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]

# distribution -> (its pyproject.toml, its source folders, the top-level packages it provides)
DISTRIBUTIONS = {
    "genseg": (REPO / "pyproject.toml", ["core", "plugins", "evaluation"], {"genseg"}),
    "genseg-plugin-medical": (
        REPO / "domains/medical/pyproject.toml",
        ["domains/medical/genseg_medical"],
        {"genseg_medical"},
    ),
    "genseg-plugin-remote-sensing": (
        REPO / "domains/remote_sensing/pyproject.toml",
        ["domains/remote_sensing/genseg_remote_sensing"],
        {"genseg_remote_sensing"},
    ),
    "genseg-plugin-agriculture": (
        REPO / "domains/agriculture/pyproject.toml",
        ["domains/agriculture/genseg_agriculture"],
        {"genseg_agriculture"},
    ),
}
SKIPPED = ("plugins/template",)  # a separate distribution, copied by `genseg plugins new`
# other genseg distributions a module may use only when they are installed (try/except ImportError)
OPTIONAL_SIBLINGS = {"genseg_medical", "genseg_remote_sensing", "genseg_agriculture"}

# declared but never imported by name: why each is needed all the same
USED_WITHOUT_IMPORT = {
    "pyogrio": "geopandas' engine for reading and writing GeoPackages",
    "pylibjpeg": "pydicom's decoder plugin host for compressed pixel data",
    "pylibjpeg-openjpeg": "JPEG 2000 decoder that pydicom finds through pylibjpeg",
    "pyjpegls": "JPEG-LS decoder that pydicom uses",
    "pylibjpeg-libjpeg": "12-bit JPEG decoder that pydicom finds through pylibjpeg (extra [jpeg])",
}

# imported where an ImportError is caught and explained, never declared: why
OPTIONAL_UNDECLARED = {
    "bitsandbytes": "the adamw8bit optimizer on CUDA machines; training says how to install it",
}
# imported only by code that the library's own host loads: why
HOST_PROVIDED = {
    "pytest": "genseg.plugins.testing is a pytest plugin (pytest11 entry point): pytest imports it",
}


def _requirements(pyproject: Path) -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    base = {canonicalize_name(Requirement(r).name) for r in project.get("dependencies", [])}
    extras = {
        extra: {canonicalize_name(Requirement(r).name) for r in reqs}
        for extra, reqs in project.get("optional-dependencies", {}).items()
        if extra != "dev"
    }
    return base, extras


class _Imports(ast.NodeVisitor):
    """Top-level module names imported by a file, with whether the import runs on module import."""

    def __init__(self) -> None:
        self.found: list[tuple[str, bool, int]] = []  # (module, at module level, line)
        self._depth = 0  # inside a function
        self._guarded = 0  # inside `if TYPE_CHECKING:` or `try: ... except ImportError`

    def _add(self, name: str, line: int) -> None:
        self.found.append((name.partition(".")[0], self._depth == 0 and self._guarded == 0, line))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self._add(node.module, node.lineno)

    def visit_Call(self, node: ast.Call) -> None:
        """``require("nilearn.datasets")`` (genseg.extras) imports like ``import nilearn.datasets``."""
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if name == "require" and node.args and isinstance(node.args[0], ast.Constant):
            if isinstance(node.args[0].value, str):
                self._add(node.args[0].value, node.lineno)
        self.generic_visit(node)

    def _nested(self, node: ast.AST) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _nested

    def visit_If(self, node: ast.If) -> None:
        test = ast.unparse(node.test)
        if test in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            self._guarded += 1
            for child in node.body:
                self.visit(child)
            self._guarded -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Try(self, node: ast.Try) -> None:
        catches = {ast.unparse(h.type) for h in node.handlers if h.type is not None}
        guarded = bool(catches & {"ImportError", "ModuleNotFoundError"})
        self._guarded += guarded
        for child in node.body:
            self.visit(child)
        self._guarded -= guarded
        for child in [*node.handlers, *node.orelse, *node.finalbody]:
            self.visit(child)


@functools.cache
def _imports(distribution: str) -> dict[str, list[tuple[str, bool]]]:
    """Third-party top-level module -> [(file:line, imported at module level)] for one distribution."""
    _, folders, own = DISTRIBUTIONS[distribution]
    found: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for folder in folders:
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel.startswith(SKIPPED):
                continue
            visitor = _Imports()
            visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=rel))
            for module, top_level, line in visitor.found:
                if module in sys.stdlib_module_names or module in own or module == "__future__":
                    continue
                found[module].append((f"{rel}:{line}", top_level))
    return found


@functools.cache
def _module_owners() -> dict[str, list[str]]:
    return packages_distributions()


def _distributions_of(module: str) -> set[str]:
    return {canonicalize_name(d) for d in _module_owners().get(module, [])}


@pytest.mark.parametrize("distribution", sorted(DISTRIBUTIONS))
def test_every_imported_library_is_declared(distribution):
    pyproject = DISTRIBUTIONS[distribution][0]
    base, extras = _requirements(pyproject)
    declared = base | set().union(*extras.values())
    undeclared, unknown = [], []
    for module, sites in sorted(_imports(distribution).items()):
        if module in OPTIONAL_SIBLINGS and not any(top for _, top in sites):
            continue  # a sibling plugin, used only when installed
        dists = _distributions_of(module)
        if module in OPTIONAL_UNDECLARED and not any(top for _, top in sites):
            continue
        if module in HOST_PROVIDED:
            continue
        if not dists:
            unknown.append(f"{module} ({sites[0][0]})")
        elif not dists & declared:
            undeclared.append(f"{module} from {'/'.join(sorted(dists))} ({sites[0][0]})")
    assert not unknown, f"{distribution}: imports modules no installed distribution provides: {unknown}"
    assert not undeclared, f"{distribution}: imports libraries it does not declare: {undeclared}"


@pytest.mark.parametrize("distribution", sorted(DISTRIBUTIONS))
def test_every_declared_library_is_used(distribution):
    pyproject = DISTRIBUTIONS[distribution][0]
    base, extras = _requirements(pyproject)
    imported = set().union(*(_distributions_of(m) for m in _imports(distribution)))
    declared = (base | set().union(*extras.values())) - {"genseg"}
    unused = sorted(declared - imported - set(USED_WITHOUT_IMPORT))
    assert not unused, f"{distribution} declares libraries it never imports: {unused}"


@pytest.mark.parametrize("distribution", sorted(DISTRIBUTIONS))
def test_optional_libraries_are_imported_lazily_and_name_their_extra(distribution):
    base, extras = _requirements(DISTRIBUTIONS[distribution][0])
    optional_only = set().union(*extras.values()) - base
    problems = []
    for module, sites in sorted(_imports(distribution).items()):
        if not _distributions_of(module) & optional_only:
            continue
        problems += [f"{site}: {module} imported at module level" for site, top in sites if top]
        if distribution == "genseg":
            extra = OPTIONAL_MODULES.get(module, (None,))[0]
            if extra not in extras or not _distributions_of(module) & extras[extra]:
                problems.append(f"{module}: genseg.extras.OPTIONAL_MODULES names no extra that installs it")
    assert not problems, problems


def test_the_extras_table_names_extras_that_exist():
    _, extras = _requirements(REPO / "pyproject.toml")
    for module, (extra, _) in OPTIONAL_MODULES.items():
        assert extra in extras, f"{module}: no extra {extra!r} in pyproject.toml"
        assert _distributions_of(module) & extras[extra], f"genseg[{extra}] does not install {module}"
