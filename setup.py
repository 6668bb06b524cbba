"""genseg's long description: README.md with its relative links made absolute.

A package index shows the README without the repository around it, so ``docs/cli.md`` or
``docs/images/x.png`` would lead nowhere there. Everything else is declared in pyproject.toml;
the links point at the ``Source`` URL given there (pages at ``blob/main``, images at the raw
file so that the index can display them).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from setuptools import setup

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - build requirement on 3.10
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
REF = "main"
# [text](target) and ![alt](target); a target with a scheme, an anchor or a leading "/" is kept
_LINK = re.compile(r"(?P<bang>!?)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?P<title>\s+\"[^\"]*\")?\)")
_KEEP = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*:|#|/)")


def absolute_links(markdown: str, source: str, ref: str = REF) -> str:
    """``markdown`` with every relative link resolved against the repository at ``source``."""
    source = source.rstrip("/")
    raw = source.replace("https://github.com/", "https://raw.githubusercontent.com/", 1) + f"/{ref}/"
    page = f"{source}/blob/{ref}/"

    def resolve(match: re.Match[str]) -> str:
        target = match["target"]
        if _KEEP.match(target):
            return match[0]
        path = target.removeprefix("./")
        base = raw if match["bang"] else page
        return f"{match['bang']}[{match['text']}]({base}{path}{match['title'] or ''})"

    return _LINK.sub(resolve, markdown)


def long_description() -> str:
    urls = tomllib.loads((HERE / "pyproject.toml").read_text(encoding="utf-8"))["project"]["urls"]
    return absolute_links((HERE / "README.md").read_text(encoding="utf-8"), urls["Source"])


if __name__ == "__main__":
    setup(long_description=long_description(), long_description_content_type="text/markdown")
