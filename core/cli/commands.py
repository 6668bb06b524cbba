"""Registers every command on the app (each lives in its own small module), then the
commands plugins add through ``genseg_register_commands``."""

from __future__ import annotations

import typer

from genseg.cli.conventions import GensegCommand


def register(app: typer.Typer) -> None:
    from genseg.cli import (
        cmd_adapters,
        cmd_bench,
        cmd_benchmark,
        cmd_datasets,
        cmd_env,
        cmd_evaluate,
        cmd_finetune,
        cmd_generate,
        cmd_plugins,
        cmd_probe,
        cmd_push,
        cmd_refine,
        cmd_sample_data,
        cmd_segment,
        cmd_train,
        cmd_vocab,
    )

    app.command("env", cls=GensegCommand)(cmd_env.env)
    app.command("train", cls=cmd_train.TrainCommand)(cmd_train.train)
    app.command("finetune", cls=GensegCommand)(cmd_finetune.finetune)
    app.command("segment", cls=GensegCommand)(cmd_segment.segment)
    app.command("bench", cls=GensegCommand)(cmd_bench.bench)
    app.command("refine", cls=GensegCommand)(cmd_refine.refine)
    app.command("generate", cls=GensegCommand)(cmd_generate.generate)
    app.command("evaluate", cls=GensegCommand)(cmd_evaluate.evaluate)
    app.command("benchmark", cls=GensegCommand)(cmd_benchmark.benchmark)
    app.command("sample-data", cls=GensegCommand)(cmd_sample_data.sample_data)
    app.command("probe-layers", cls=GensegCommand)(cmd_probe.probe_layers)
    app.command("probe-finetune", cls=GensegCommand)(cmd_probe.probe_finetune)
    app.command("push", cls=GensegCommand)(cmd_push.push)
    app.add_typer(cmd_plugins.plugins_app, name="plugins")
    app.add_typer(cmd_datasets.datasets_app, name="datasets")
    app.add_typer(cmd_vocab.vocab_app, name="vocab")
    app.add_typer(cmd_adapters.adapters_app, name="adapters")

    from genseg.plugins.registry import register_commands

    register_commands(app)
