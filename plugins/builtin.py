"""The built-in generic plugin: core behaviour provided through the same hooks as any plugin."""

from __future__ import annotations

from genseg.plugins.hookspecs import hookimpl


@hookimpl
def genseg_register_domains():
    return [{"name": "generic", "description": "any image with a dataset.json folder (PNG/JPEG/TIFF)"}]


@hookimpl
def genseg_register_datasets():
    return []
