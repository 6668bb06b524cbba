"""Hook implementations of the agriculture plugin (registered through the `genseg` entry point).

Light at import: package data is read and heavy libraries imported only when a hook runs.
"""

from __future__ import annotations

from genseg.plugins import hookimpl

GENSEG_HOOKSPEC = ">=1.0,<2"


@hookimpl
def genseg_register_domains():
    return [{"name": "agriculture", "description": "agriculture (field, drone and leaf imagery)"}]


@hookimpl
def genseg_register_vocabularies():
    from genseg.plugins.schemas import Vocabulary, load_package_json

    return [load_package_json("genseg_agriculture", "data/vocabulary.json", Vocabulary)]
