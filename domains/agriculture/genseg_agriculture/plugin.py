"""Hook implementations of the agriculture plugin (registered through the `genseg` entry point)."""

from __future__ import annotations

from genseg.plugins import hookimpl


@hookimpl
def genseg_register_domains():
    return [{"name": "agriculture", "description": "agriculture (field, drone and leaf imagery)"}]
