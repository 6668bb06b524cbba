"""The preprocessing options a model was trained with, recorded in its folder and applied again.

A dataset.json may set options for its domain's preprocessing (``"preprocessing": {"window":
"abdomen"}``). Training applies them per dataset and writes them, per domain, into the model
folder (:data:`PREPROCESSING_FILE`); `genseg segment` then reads inputs with them unless
``-O`` says otherwise, in which case it warns naming both values.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

PREPROCESSING_FILE = "preprocessing.json"


class PreprocessingWarning(UserWarning):
    """Preprocessing options that disagree (between datasets, or with the model's record)."""


def options_by_domain(specs: Iterable[Any]) -> dict[str, dict[str, str]]:
    """Each domain's options over several dataset specs; a key two datasets set differently
    warns and the first value is recorded (each dataset still trains with its own)."""
    from genseg.data.schema import preprocessing_options

    out: dict[str, dict[str, str]] = {}
    source: dict[tuple[str, str], str] = {}
    for spec in specs:
        mine = out.setdefault(spec.domain, {})
        for key, value in preprocessing_options(spec).items():
            if key not in mine:
                mine[key], source[spec.domain, key] = value, spec.name
            elif mine[key] != value:
                warnings.warn(
                    f"datasets {source[spec.domain, key]!r} and {spec.name!r} set different {spec.domain} "
                    f"preprocessing: {key}={mine[key]} and {key}={value}; each trains with its own, the "
                    f"model records {key}={mine[key]}",
                    PreprocessingWarning,
                    stacklevel=2,
                )
    return out


def write_preprocessing(folder: str | Path, by_domain: Mapping[str, Mapping[str, str]]) -> Path:
    from genseg.data.atomic import atomic_write

    text = json.dumps({"domains": {d: dict(o) for d, o in by_domain.items()}}, indent=2) + "\n"
    return atomic_write(Path(folder) / PREPROCESSING_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_preprocessing(model: str | Path) -> dict[str, dict[str, str]]:
    """The options recorded in a model folder, per domain ({} for a model without a record)."""
    from genseg.errors import ModelNotFoundError

    path = Path(model) / PREPROCESSING_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(d): {str(k): str(v) for k, v in o.items()} for d, o in data["domains"].items()}
    except (ValueError, KeyError, AttributeError, TypeError) as exc:
        raise ModelNotFoundError(
            f"cannot read the recorded preprocessing ({type(exc).__name__}: {exc})",
            path=path,
            fix='it holds {"domains": {"DOMAIN": {"KEY": "VALUE"}}}; fix it or delete it',
        ) from None


def apply_recorded(
    recorded: Mapping[str, Mapping[str, str]], domain: str, options: Mapping[str, Any]
) -> dict[str, Any]:
    """``options`` completed by what the model recorded for ``domain``; a value given that differs
    from the record is kept, with a warning naming both."""
    chosen = dict(options)
    for key, value in recorded.get(domain, {}).items():
        if key not in chosen:
            chosen[key] = value
        elif str(chosen[key]) != str(value):
            warnings.warn(
                f"the model was trained with {domain} preprocessing {key}={value}; using {key}={chosen[key]} "
                "as asked",
                PreprocessingWarning,
                stacklevel=2,
            )
    return chosen
