"""Registers every command on the app; each lives in its own small module."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from genseg.cli import cmd_env, cmd_evaluate, cmd_plugins, cmd_sample_data, cmd_segment, cmd_train

    app.command("env")(cmd_env.env)
    app.command("train")(cmd_train.train)
    app.command("segment")(cmd_segment.segment)
    app.command("evaluate")(cmd_evaluate.evaluate)
    app.command("sample-data")(cmd_sample_data.sample_data)
    app.add_typer(cmd_plugins.plugins_app, name="plugins")
