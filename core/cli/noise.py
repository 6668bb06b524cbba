"""What the libraries under genseg print on their own, made quiet under the CLI: the Hugging
Face loading and saving bars ("Loading pipeline components…", "Loading weights", "Writing
model shards"), Python's two-line warnings with site-packages paths, and GDAL's
NotGeoreferencedWarning on plain TIFFs (the remote-sensing reader says that in its own words).

``HF_HUB_DISABLE_PROGRESS_BARS=0`` keeps the libraries' bars; ``--debug`` keeps Python's
warning format and every warning.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
import warnings
from collections.abc import Callable
from types import ModuleType

HUB_SWITCH = "HF_HUB_DISABLE_PROGRESS_BARS"
NOT_GEOREFERENCED = "Dataset has no geotransform, gcps, or rpcs"
"""GDAL's words (rasterio's NotGeoreferencedWarning); matched by text so rasterio is not imported."""


def _disable_bar(module: ModuleType) -> None:
    module.disable_progress_bar()


# modules whose bar switch is set when they are first imported: importing them up front would
# cost every command (even `--help`) seconds, and most commands never load them
_SWITCHES: dict[str, Callable[[ModuleType], None]] = {
    "diffusers.utils.logging": _disable_bar,
    "transformers.utils.logging": _disable_bar,
}


class _RunAfter:
    """A module loader that runs ``then(module)`` once the module has executed."""

    def __init__(self, loader, then: Callable[[ModuleType], None]) -> None:
        self._loader, self._then = loader, then

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        self._then(module)

    def __getattr__(self, name: str):  # get_source, is_package, resource readers: the real loader's
        return getattr(self._loader, name)


class _SwitchOnImport:
    """A meta-path finder that hands the named modules to ``_RunAfter``; finds nothing itself."""

    def find_spec(self, name: str, path=None, target=None):
        then = _SWITCHES.get(name)
        if then is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _RunAfter(spec.loader, then)
        return spec


_FINDER = _SwitchOnImport()


def library_bars_wanted() -> bool:
    return os.environ.get(HUB_SWITCH, "1").strip().lower() in ("0", "false", "no", "off")


def silence_library_bars() -> None:
    """Turn the Hugging Face libraries' progress bars off, now for those already imported and
    at import for the others (``HF_HUB_DISABLE_PROGRESS_BARS=0`` keeps them)."""
    if library_bars_wanted():
        return
    os.environ[HUB_SWITCH] = "1"  # huggingface_hub and transformers read it at import
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    for name, switch in _SWITCHES.items():
        if name in sys.modules:
            switch(sys.modules[name])
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def one_line_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as the user reads it: one line, without the source file and code line
    (``--debug`` keeps Python's format, which says where it came from)."""
    kind = "" if category is UserWarning else f" ({category.__name__})"
    text = " ".join(str(message).split())  # a library's multi-line message stays one line
    return f"warning{kind}: {text}\n"


def route_warnings(debug: bool) -> Callable[[], None]:
    """Use genseg's warning format and drop GDAL's note on plain TIFFs; returns the undo."""
    python_format = warnings.formatwarning
    filters = warnings.filters[:]
    if not debug:
        warnings.formatwarning = one_line_warning
        warnings.filterwarnings("ignore", message=NOT_GEOREFERENCED)

    def undo() -> None:
        warnings.formatwarning = python_format
        warnings.filters[:] = filters

    return undo
