"""Hook implementations of the remote-sensing plugin (registered through the `genseg` entry point)."""

from __future__ import annotations

from genseg.plugins import hookimpl


@hookimpl
def genseg_register_domains():
    return [{"name": "remote-sensing", "description": "remote sensing (GeoTIFF scenes, multispectral bands)"}]
