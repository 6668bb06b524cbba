"""Every hook genseg defines must be documented in docs/plugins.md and exercised by a test.

A hook counts as tested when some test function under tests/ (outside this file) has the
hook's name in its own name, e.g. ``def test_genseg_get_reader_prefers_domain_plugins``.
Adding a hook to plugins/hookspecs.py therefore fails here until both exist.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from genseg.plugins import hookspecs
from genseg.plugins.manager import spec_names

TESTS = Path(__file__).resolve().parents[1]
DOCS = TESTS.parent / "docs" / "plugins.md"
_TEST_DEF = re.compile(r"^\s*(?:async\s+)?def\s+(test\w*)\s*\(", re.MULTILINE)


def signature(hook: str) -> str:
    """The line docs/plugins.md shows for ``hook``, exactly as inspect renders the spec."""
    return f"def {hook}{inspect.signature(getattr(hookspecs, hook))}"


def _doc_sections() -> dict[str, str]:
    """``### title`` → its text, up to the next heading of level 1 to 3 outside code blocks."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    in_code = False
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        elif not in_code and re.match(r"#{1,3} ", line):
            title = line.removeprefix("### ").strip() if line.startswith("### ") else None
            current = sections.setdefault(title, []) if title else None
            continue
        if current is not None:
            current.append(line)
    return {title: "\n".join(lines) for title, lines in sections.items()}


def _test_function_names() -> set[str]:
    names: set[str] = set()
    for path in TESTS.rglob("*.py"):
        if path.resolve() != Path(__file__).resolve():
            names.update(_TEST_DEF.findall(path.read_text(encoding="utf-8", errors="replace")))
    return names


def test_every_hook_is_checked_here():
    assert spec_names(), "no hooks found in genseg.plugins.hookspecs"
    assert all(callable(getattr(hookspecs, hook)) for hook in spec_names())


@pytest.mark.parametrize("hook", spec_names())
def test_hook_is_documented_with_its_exact_signature(hook):
    sections = _doc_sections()
    assert hook in sections, f"docs/plugins.md has no '### {hook}' section"
    assert signature(hook) in sections[hook], (
        f"the '### {hook}' section of docs/plugins.md must show the signature: {signature(hook)}"
    )


@pytest.mark.parametrize("hook", spec_names())
def test_hook_has_a_test(hook):
    tests = sorted(name for name in _test_function_names() if hook in name)
    assert tests, f"no test function under tests/ has {hook!r} in its name (e.g. def test_{hook}_...)"
