"""Hook specifications every genseg plugin implements a subset of.

All hooks are called with keyword arguments. The contract is versioned by
`GENSEG_HOOKSPEC_VERSION` (semver): a plugin declares the range it supports.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "genseg"
GENSEG_HOOKSPEC_VERSION = "0.1.0"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def genseg_register_domains() -> list[dict[str, Any]]:
    """Domains this plugin serves: dicts with `name` and `description`."""


@hookspec
def genseg_register_datasets() -> list[dict[str, Any]]:
    """Datasets: dicts with `name` and `path` (a folder holding a dataset.json)."""
