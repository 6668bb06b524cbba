"""Names a façade module resolves on first use (PEP 562), so importing the façade stays cheap.

A plugin module is imported just to be listed (``genseg plugins list``), so the names it
imports from genseg at its top must not pull numpy, PIL or the dataset code in with them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    module: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``module``.

    ``exports`` maps each public name to the module defining it, as ``"pkg.mod"`` or, when
    the name there differs, ``"pkg.mod:attribute"``. A name is imported on first access and
    then kept in the module, so later lookups cost nothing.
    """

    def __getattr__(name: str) -> Any:
        target = exports.get(name)
        if target is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        source, _, attribute = target.partition(":")
        value = getattr(importlib.import_module(source), attribute or name)
        setattr(sys.modules[module], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[module])) | set(exports))

    return __getattr__, __dir__
