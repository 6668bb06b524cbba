"""How genseg compares class names and turns text into file names, in one place.

Class names are matched in many parts of genseg: the dataset's excluded classes, caption
writing, the vocabulary's synonyms, the peers' training lists and the open-vocabulary
benchmark's leak check. The leak check is sound only while every part keys a name the same
way, so they all call :func:`normalise`. Names that become parts of file or folder names (a
prompt's mask file, a vector layer, a dataset folder) go through :func:`slug`.
"""

from __future__ import annotations

import re


def normalise(name: str) -> str:
    """The key a class name is compared by: lower case, runs of white space made one space,
    no space at either end (``"  Liver  Tumour"`` and ``"liver tumour"`` are one class)."""
    return " ".join(str(name).lower().split())


def slug(text: str, *, default: str = "prompt", sep: str = "-", keep: str = "") -> str:
    """``text`` as a safe file-name part: lower case, every run of characters outside
    ``[a-z0-9]`` and ``keep`` made one ``sep``, ``sep`` and ``keep`` trimmed from both ends;
    ``default`` when nothing is left (``"Liver tumour!"`` → ``liver-tumour``)."""
    outside = f"[^a-z0-9{re.escape(keep)}]+"
    return re.sub(outside, sep, str(text).lower()).strip(sep + keep) or default
