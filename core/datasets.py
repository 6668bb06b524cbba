"""Turning a ``--dataset`` argument into a dataset folder.

A dataset is a folder holding a ``dataset.json`` (docs/datasets.md), or a name that a plugin
registered (``genseg datasets list``), optionally with where its files are:
``kvasir-seg=/data/Kvasir-SEG``. Without a root, a registered dataset lives under
``$GENSEG_DATA_DIR/NAME`` (default ``~/.cache/genseg/datasets/NAME``).

A folder in another tool's layout (an nnU-Net or Decathlon folder, whose ``dataset.json``
shares the file name but not the schema) is offered to the plugins
(``genseg_index_dataset_folder``): one that knows the layout writes genseg's index
elsewhere, and that index folder is the dataset. The user's folder is never written to.
"""

from __future__ import annotations

import json
from pathlib import Path

from genseg.data.schema import DATASET_JSON
from genseg.errors import DatasetError

_FOREIGN_KEYS = ("labels", "channel_names", "file_ending", "modality", "numTraining")
"""Top-level keys of other tools' dataset.json (nnU-Net, the Decathlon) that genseg's lacks."""


def resolve_dataset(name_or_path: str | Path) -> Path:
    """A folder with a dataset.json for a folder, a dataset.json file, NAME or NAME=ROOT."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_file() and path.name == DATASET_JSON:
        path = path.parent
    if path.is_dir():
        return _resolve_folder(path)
    from genseg.plugins import registry

    name, sep, root = text.partition("=")
    if sep and not root:
        raise DatasetError(f"{text!r} names no folder after '='", fix=f"write {name}=/path/to/{name}")
    registered = registry.datasets()
    if name in registered:
        return registry.load_dataset(name, root or None)
    raise registry.unknown_dataset_error(name, registered)


def _resolve_folder(path: Path) -> Path:
    """``path`` itself when its dataset.json is genseg's; else the index a plugin writes for it."""
    spec = path / DATASET_JSON
    keys = _top_level_keys(spec)
    if keys is None or "classes" in keys:  # genseg's (or unreadable: the schema check says why)
        return path
    from genseg.plugins import registry

    index = registry.index_dataset_folder(path)
    if index is not None:
        return index
    foreign = [k for k in _FOREIGN_KEYS if k in keys]
    if foreign:
        raise DatasetError(
            f"this dataset.json is another tool's (it has {', '.join(foreign)} but no 'classes'), and no "
            "installed plugin reads its layout",
            path=spec,
            fix="nnU-Net v2 and Decathlon folders are read by the medical plugin (pip install "
            "genseg-plugin-medical); otherwise write genseg's dataset.json in another folder "
            "(docs/datasets.md)",
        )
    if spec.is_file():
        return path  # genseg's schema, with fields missing: the schema check names them
    raise DatasetError(
        "folder has no dataset.json",
        path=path,
        fix="add a dataset.json (see docs/datasets.md) or pass the folder that has one",
    )


def _top_level_keys(spec: Path) -> set[str] | None:
    """The keys of the JSON object in ``spec``: empty when there is no file, None when it is not
    a readable JSON object (so that the schema check reports it)."""
    if not spec.is_file():
        return set()
    try:
        raw = json.loads(spec.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return set(raw) if isinstance(raw, dict) else None
