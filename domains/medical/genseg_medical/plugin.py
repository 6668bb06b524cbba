"""Hook implementations of the medical plugin (registered through the `genseg` entry point)."""

from __future__ import annotations

from genseg.plugins import hookimpl


@hookimpl
def genseg_register_domains():
    return [{"name": "medical", "description": "medical imaging (CT, MR, endoscopy, dermoscopy)"}]
