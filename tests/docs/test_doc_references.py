"""The docs cite the repository as it is: every path and every genseg module they name exists."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "domains").glob("*/README.md")])
# a repository path: starts at a top-level folder, e.g. core/training/trainer.py, docs/results.md
PATH = re.compile(r"(?<![\w/.-])((?:core|plugins|evaluation|domains|scripts|docs|tests)/[\w./-]*[\w/])")
# a dotted name in backticks: `genseg.training.finetune`, `genseg_medical.readers`
MODULE = re.compile(r"`(genseg(?:_\w+)?(?:\.\w+)+)")
FILE_SUFFIXES = (".json", ".jsonl", ".yaml", ".yml", ".md", ".py", ".safetensors", ".txt", ".tif", ".png")


def cited_paths(text: str) -> set[str]:
    return {m.group(1).rstrip(".") for m in PATH.finditer(text) if not re.search(r"[*<>{}]", m.group(1))}


def cited_modules(text: str) -> set[str]:
    return {m.group(1) for m in MODULE.finditer(text) if not m.group(1).endswith(FILE_SUFFIXES)}


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


def test_the_reference_patterns_find_what_they_should():
    text = (
        "see core/training/trainer.py, `genseg.training.finetune` and `genseg_train.json`; a glob core/*.py"
    )
    assert cited_paths(text) == {"core/training/trainer.py"}
    assert cited_modules(text) == {"genseg.training.finetune"}
    assert resolves("genseg.pipeline.build_pipeline") and not resolves("genseg.adapters.finetune")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_a_doc_cites_exists(doc: Path):
    missing = sorted(p for p in cited_paths(doc.read_text()) if not (ROOT / p).exists())
    assert not missing, f"{doc.relative_to(ROOT)} cites paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_genseg_module_a_doc_names_exists(doc: Path):
    missing = sorted(m for m in cited_modules(doc.read_text()) if not resolves(m))
    assert not missing, f"{doc.relative_to(ROOT)} names modules or attributes that do not exist: {missing}"
