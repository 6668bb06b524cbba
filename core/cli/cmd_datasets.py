"""`genseg datasets list`: every dataset a plugin registered, with its licence and source."""

from __future__ import annotations

from pathlib import Path

import typer

from genseg.cli.conventions import GensegCommand, GensegGroup
from genseg.cli.output import emit_json, json_option, json_to_stdout

datasets_app = typer.Typer(
    cls=GensegGroup,
    help="Datasets registered by plugins (use their names with --dataset).\n\n"
    "Example: genseg datasets list --json -",
    no_args_is_help=True,
)


@datasets_app.command("list", cls=GensegCommand)
def list_datasets(json_out: Path | None = json_option("the dataset cards")) -> None:
    """List registered datasets: name, domain, providing plugin, licence, URL and classes.

    Pass a name to `genseg train/evaluate --dataset NAME` (or NAME=/where/the/files/are).

    Example: genseg datasets list
    """
    from genseg.plugins.registry import data_dir, datasets

    found = sorted(datasets().items())
    rows = [{"plugin": plugin, "loader": reg.loader, **reg.card.model_dump()} for _, (plugin, reg) in found]
    emit_json(rows, json_out)
    if json_to_stdout(json_out):
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "name", "domain", "plugin", "licence", "classes", "url", title=f"datasets (root: {data_dir()})"
    )
    for name, (plugin, reg) in found:
        card = reg.card
        classes = ", ".join(card.classes[:6]) + (
            f" (+{len(card.classes) - 6})" if len(card.classes) > 6 else ""
        )
        table.add_row(name, card.domain, plugin, card.licence, classes, card.url)
    Console().print(table)
