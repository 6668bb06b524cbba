"""genseg's optional parts and the extra that installs each.

A plain ``pip install genseg`` leaves out libraries that only some features use (the
figures' matplotlib, the EfficientNet image encoder, the random-forest peer). When
one of them is missing, the user should read which extra brings it, not a bare
``ModuleNotFoundError``: :func:`require` imports with that message, and the CLI turns any
``ModuleNotFoundError`` of a module listed here into the same one line.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from genseg.errors import GenSegError

# top-level module -> (extra of the genseg distribution, what needs it)
OPTIONAL_MODULES: dict[str, tuple[str, str]] = {
    "matplotlib": ("plots", "figures and colour maps (benchmark plots, uncertainty maps)"),
    "sklearn": ("benchmark", "the benchmark's random-forest peer"),
    "joblib": ("benchmark", "the benchmark's random-forest peer"),
}


class MissingExtraError(GenSegError):
    """An optional library is not installed; the fix names the extra that installs it."""


def missing_extra(exc: ModuleNotFoundError) -> MissingExtraError | None:
    """The error to show for ``exc`` if it is about an optional module genseg knows, else None."""
    top = (exc.name or "").partition(".")[0]
    if top not in OPTIONAL_MODULES:
        return None
    extra, purpose = OPTIONAL_MODULES[top]
    return MissingExtraError(
        f"{purpose} needs {top}, an optional dependency that is not installed",
        fix=f'pip install "genseg[{extra}]"',
    )


def require(module: str) -> ModuleType:
    """Import ``module`` (one of :data:`OPTIONAL_MODULES` or a submodule of one), or raise
    :class:`MissingExtraError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        error = missing_extra(exc)
        if error is None:
            raise
        raise error from exc
