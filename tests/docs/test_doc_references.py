"""The docs cite the repository as it is: every path, link and genseg module that the Markdown
docs and the docstrings name exists, so a moved or deleted file cannot leave a dead pointer."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted(
    [
        ROOT / "README.md",
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "domains").glob("*/README.md"),
        ROOT / "plugins" / "template" / "README.md",
    ]
)
SOURCE_FOLDERS = ("core", "plugins", "evaluation", "domains", "scripts", "tests")
# a repository path: starts at a top-level folder, e.g. core/training/trainer.py, docs/results.md
PATH = re.compile(r"(?<![\w/.-])((?:core|plugins|evaluation|domains|scripts|docs|tests)/[\w./-]*[\w/])")
# a path inside an installed package, in backticks: `genseg/evaluation/protocols/methods.yaml`
PACKAGE_PATH = re.compile(r"`(genseg(?:_\w+)?/[\w./-]*[\w/])`")
# where the repository keeps each installed package folder (pyproject.toml's package-dir)
PACKAGE_DIRS = {"genseg/plugins": "plugins", "genseg/evaluation": "evaluation", "genseg": "core"}
# a dotted name in backticks: `genseg.training.finetune`, `genseg_medical.readers`, :mod:`~genseg.x`
MODULE = re.compile(r"`~?(genseg(?:_\w+)?(?:\.\w+)+)")
# a Markdown link or image: [text](target "title")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FILE_SUFFIXES = (".json", ".jsonl", ".yaml", ".yml", ".md", ".py", ".safetensors", ".txt", ".tif", ".png")
# packages that live in the repository without being installed: where to import them from
UNINSTALLED = {"genseg_example": ROOT / "plugins" / "template"}


def cited_paths(text: str) -> set[str]:
    return {m.group(1).rstrip(".") for m in PATH.finditer(text) if not re.search(r"[*<>{}]", m.group(1))}


def cited_package_paths(text: str) -> set[str]:
    return set(PACKAGE_PATH.findall(text))


def repository_path(package_path: str) -> Path | None:
    """The repository file a path inside an installed package comes from (under genseg: from
    core/, plugins/ or evaluation/; under a domain package: from its domain folder), or None."""
    for package, folder in PACKAGE_DIRS.items():
        if package_path.startswith(package + "/"):
            return ROOT / folder / package_path[len(package) + 1 :]
    top, _, rest = package_path.partition("/")
    homes = [*(ROOT / "domains").glob(f"*/{top}"), *(ROOT / "plugins" / "template").glob(top)]
    return homes[0] / rest if homes else None


def cited_modules(text: str) -> set[str]:
    return {m.group(1) for m in MODULE.finditer(text) if not m.group(1).endswith(FILE_SUFFIXES)}


def relative_links(text: str) -> set[str]:
    """Link targets inside the repository: no scheme (http:, mailto:), not a bare ``#anchor``."""
    return {t for t in LINK.findall(text) if not re.match(r"[a-zA-Z][\w+.-]*:", t) and not t.startswith("#")}


def heading_anchors(doc: Path) -> set[str]:
    """The ``#anchor`` of each heading, as GitHub makes it (lower case, punctuation dropped)."""
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", doc.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def link_is_dead(doc: Path, target: str) -> bool:
    path, _, anchor = target.partition("#")
    file = (doc.parent / path).resolve() if path else doc
    if not file.exists():
        return True
    return bool(anchor) and file.suffix == ".md" and anchor not in heading_anchors(file)


def resolves(name: str) -> bool:
    """True when `name` is a module, or an attribute path inside one."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        module = ".".join(parts[:i])
        try:
            spec = importlib.util.find_spec(module)
        except (ModuleNotFoundError, ValueError):
            spec = None
        if spec is None:
            continue
        obj = importlib.import_module(module)
        for attribute in parts[i:]:
            if not hasattr(obj, attribute):
                return False
            obj = getattr(obj, attribute)
        return True
    return False


def source_files() -> list[Path]:
    """genseg's Python files in the repository (no virtual environment, build or cache)."""
    skip = re.compile(r"^\.|^build$|^dist$|^__pycache__$|\.egg-info$")
    return sorted(
        p
        for folder in SOURCE_FOLDERS
        for p in (ROOT / folder).rglob("*.py")
        if not any(skip.search(part) for part in p.relative_to(ROOT).parts)
    )


def docstrings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of the module, class and function docstrings of a file, and of the strings
    that document an attribute (a string statement right after an assignment)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        for before, stmt in zip([None, *body[:-1]], body, strict=True):
            documents = before is None and isinstance(
                node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
            )
            documents = documents or isinstance(before, (ast.Assign, ast.AnnAssign))
            value = stmt.value if isinstance(stmt, ast.Expr) else None
            if documents and isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.append((stmt.lineno, value.value))
    return found


def test_the_reference_patterns_find_what_they_should(tmp_path):
    text = (
        "see core/training/trainer.py, `genseg.training.finetune` and `genseg_train.json`; a glob "
        "core/*.py; [the map](architecture.md#layers), [a site](https://example.org) and [here](#top)"
    )
    assert cited_paths(text) == {"core/training/trainer.py"}
    assert cited_modules(text) == {"genseg.training.finetune"}
    assert relative_links(text) == {"architecture.md#layers"}
    assert cited_package_paths('`genseg/evaluation/protocols/methods.yaml` and "genseg_x/y"') == {
        "genseg/evaluation/protocols/methods.yaml"
    }
    assert (
        repository_path("genseg/evaluation/protocols/methods.yaml")
        == ROOT / "evaluation/protocols/methods.yaml"
    )
    assert repository_path("genseg_medical/readers.py") == ROOT / "domains/medical/genseg_medical/readers.py"
    assert resolves("genseg.pipeline.build_pipeline") and not resolves("genseg.adapters.finetune")
    doc = tmp_path / "page.md"
    doc.write_text("# A page\n\n## Layers, as built\n")
    assert not link_is_dead(doc, "page.md#layers-as-built") and not link_is_dead(doc, "#a-page")
    assert link_is_dead(doc, "page.md#nowhere") and link_is_dead(doc, "gone.md")
    module = tmp_path / "module.py"
    module.write_text(
        '"""Top, see docs/gone.md."""\n\nX = 1\n"""X, see core/x.py."""\n\n\ndef f():\n    "f"\n'
    )
    assert docstrings(module) == [(1, "Top, see docs/gone.md."), (4, "X, see core/x.py."), (8, "f")]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_a_doc_cites_exists(doc: Path):
    # from the repository root, or from the doc's own folder (the template's README shows its tree)
    missing = sorted(
        p for p in cited_paths(doc.read_text()) if not any((d / p).exists() for d in (ROOT, doc.parent))
    )
    assert not missing, f"{doc.relative_to(ROOT)} cites paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_package_path_a_doc_cites_exists(doc: Path):
    def exists(cited: str) -> bool:
        path = repository_path(cited)
        return path is not None and path.exists()

    missing = sorted(p for p in cited_package_paths(doc.read_text()) if not exists(p))
    assert not missing, f"{doc.relative_to(ROOT)} cites package files that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_of_a_doc_leads_somewhere(doc: Path):
    dead = sorted(t for t in relative_links(doc.read_text()) if link_is_dead(doc, t))
    assert not dead, f"{doc.relative_to(ROOT)} links to files or headings that do not exist: {dead}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_genseg_module_a_doc_names_exists(doc: Path):
    missing = sorted(m for m in cited_modules(doc.read_text()) if not resolves(m))
    assert not missing, f"{doc.relative_to(ROOT)} names modules or attributes that do not exist: {missing}"


def test_every_path_a_docstring_cites_exists():
    def exists(cited: str) -> bool:
        if cited.startswith("genseg"):  # inside an installed package
            return (path := repository_path(cited)) is not None and path.exists()
        return (ROOT / cited).exists()

    missing = [
        f"{path.relative_to(ROOT)}:{line}: {cited}"
        for path in source_files()
        for line, text in docstrings(path)
        for cited in sorted(cited_paths(text) | cited_package_paths(text))
        if not exists(cited)
    ]
    assert not missing, "docstrings cite paths that do not exist:\n" + "\n".join(missing)


def test_every_genseg_module_a_docstring_names_exists(monkeypatch):
    for folder in UNINSTALLED.values():
        monkeypatch.syspath_prepend(str(folder))
    missing = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in source_files()
        for line, text in docstrings(path)
        for name in sorted(cited_modules(text))
        if not resolves(name)
    ]
    assert not missing, "docstrings name modules or attributes that do not exist:\n" + "\n".join(missing)


def test_the_architecture_page_names_every_part_of_the_layer_contract():
    """docs/architecture.md draws the layers of pyproject.toml's import contract: every module
    the contract lists appears there (in full, as ``.last_part``, or under ``parent.*``)."""
    import tomllib

    contract = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    names = [n.strip() for layer in contract["layers"] for n in re.split(r"[|:]", layer)]
    page = (ROOT / "docs" / "architecture.md").read_text()

    def drawn(name: str) -> bool:
        parent, _, last = name.rpartition(".")
        return name in page or f".{last}" in page or (bool(parent) and f"{parent}.*" in page)

    assert len(names) > 10
    missing = [n for n in names if not drawn(n)]
    assert not missing, f"docs/architecture.md does not show these layer-contract modules: {missing}"
