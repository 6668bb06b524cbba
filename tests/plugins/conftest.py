"""Every plugin test starts from freshly discovered plugins."""

from __future__ import annotations

import pytest

from genseg.plugins import manager


@pytest.fixture(autouse=True)
def fresh_plugins():
    manager.use_plugins(None)
    yield
    manager.use_plugins(None)
