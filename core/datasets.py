"""Turning a ``--dataset`` argument into a dataset folder.

A dataset is a folder holding a ``dataset.json`` (docs/datasets.md), or a name that a plugin
registered (``genseg datasets list``), optionally with where its files are:
``kvasir-seg=/data/Kvasir-SEG``. Without a root, a registered dataset lives under
``$GENSEG_DATA_DIR/NAME`` (default ``~/.cache/genseg/datasets/NAME``).
"""

from __future__ import annotations

from pathlib import Path

from genseg.errors import DatasetError


def resolve_dataset(name_or_path: str | Path) -> Path:
    """A folder with a dataset.json for a folder, a dataset.json file, NAME or NAME=ROOT."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if (path / "dataset.json").is_file():
        return path
    if path.is_file() and path.name == "dataset.json":
        return path.parent
    if path.is_dir():
        raise DatasetError(
            "folder has no dataset.json",
            path=path,
            fix="add a dataset.json (see docs/datasets.md) or pass the folder that has one",
        )
    from genseg.plugins import registry

    name, sep, root = text.partition("=")
    if sep and not root:
        raise DatasetError(f"{text!r} names no folder after '='", fix=f"write {name}=/path/to/{name}")
    registered = registry.datasets()
    if name in registered:
        return registry.load_dataset(name, root or None)
    raise registry.unknown_dataset_error(name, registered)
