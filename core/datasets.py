"""Turning a `--dataset` argument into a dataset folder.

A dataset is a folder holding a `dataset.json` (DESIGN.md §5). Plugins may register names
that resolve to such folders; a name that is neither is reported with what exists.
"""

from __future__ import annotations

from pathlib import Path

from genseg.errors import DatasetError


def resolve_dataset(name_or_path: str | Path) -> Path:
    path = Path(name_or_path).expanduser()
    if (path / "dataset.json").is_file():
        return path
    if path.is_file() and path.name == "dataset.json":
        return path.parent
    registered = _registered_datasets()
    if str(name_or_path) in registered:
        return Path(registered[str(name_or_path)])
    if path.is_dir():
        raise DatasetError(
            "folder has no dataset.json",
            path=path,
            fix="add a dataset.json (see docs/datasets.md) or pass the folder that has one",
        )
    known = ", ".join(sorted(registered)) or "none installed"
    raise DatasetError(
        "no such dataset folder or registered dataset",
        path=path,
        fix=f"pass a folder with a dataset.json; registered names: {known}",
    )


def _registered_datasets() -> dict[str, str]:
    try:
        from genseg.plugins.manager import registered_datasets
    except ImportError:  # pragma: no cover - plugins package is part of the distribution
        return {}
    return registered_datasets()
