"""Shared fixtures of the remote-sensing tests: one tiny saved model and the segment command."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from genseg.plugins.testing import build_tiny_pipeline

    path = tmp_path_factory.mktemp("model") / "tiny"
    build_tiny_pipeline("dit").save_pretrained(path)
    return path


@pytest.fixture
def rs_segment():
    """``rs_segment(model_dir, *args)``: `genseg segment --domain remote-sensing` in process; a
    genseg error ends the run with its exit code and is kept as ``exception``."""

    def run(model_dir, *args: str):
        from genseg.cli.app import app

        cmd = ["segment", "-m", str(model_dir), "--domain", "remote-sensing", *args]
        return CliRunner().invoke(app, cmd)

    return run
