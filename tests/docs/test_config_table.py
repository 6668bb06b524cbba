"""docs/cli.md's table of config fields names every field of TrainConfig with its real default:
a field added or a default changed without the table fails here, not in a user's run."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from genseg.config import TrainConfig

CLI_DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _leaf_fields(model: type[BaseModel], prefix: str = ""):
    """(dotted path, default) of every field that is not itself a config section."""
    for name, field in model.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            yield from _leaf_fields(type(default), f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", default


def _table_rows() -> dict[str, str]:
    """field → default cell of the table under "Config file fields"."""
    text = CLI_DOC.read_text(encoding="utf-8")
    section = text.split("### Config file fields", 1)[1].split("\n#", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| `([a-z_.]+)` \| ([^|]*) \|", line)
        if m:
            rows[m.group(1)] = m.group(2).strip()
    return rows


def _same(cell: str, default) -> bool:
    cell = cell.strip("`")
    if default is None:
        return cell == "none"
    if isinstance(default, bool):
        return cell == str(default).lower()
    if isinstance(default, (int, float)):
        try:
            return float(cell) == float(default)
        except ValueError:
            return False
    if isinstance(default, list):
        return cell == str(default).replace("'", "")
    return cell == str(default)


def test_every_config_field_is_in_the_table_with_its_default():
    rows = _table_rows()
    missing = [path for path, _ in _leaf_fields(TrainConfig) if path not in rows]
    wrong = [
        f"{path}: table {rows[path]!r}, code {default!r}"
        for path, default in _leaf_fields(TrainConfig)
        if path in rows and not _same(rows[path], default)
    ]
    assert not missing, f"fields missing from docs/cli.md's config table: {missing}"
    assert not wrong, f"defaults that differ: {wrong}"


def test_the_table_names_no_field_the_config_lacks():
    fields = {path for path, _ in _leaf_fields(TrainConfig)}
    assert set(_table_rows()) - fields == set()
