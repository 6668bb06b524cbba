"""`genseg datasets list`: every dataset a plugin registered, with its licence and source."""

from __future__ import annotations

import json

import typer

datasets_app = typer.Typer(
    help="Datasets registered by plugins (use their names with --dataset).\n\n"
    "Example: genseg datasets list --json",
    no_args_is_help=True,
)


@datasets_app.command("list")
def list_datasets(as_json: bool = typer.Option(False, "--json", help="Print JSON for machines.")) -> None:
    """List registered datasets: name, domain, providing plugin, licence, URL and classes.

    Pass a name to `genseg train/evaluate --dataset NAME` (or NAME=/where/the/files/are).

    Example: genseg datasets list
    """
    from genseg.plugins.registry import data_dir, datasets

    found = sorted(datasets().items())
    if as_json:
        rows = [
            {"plugin": plugin, "loader": reg.loader, **reg.card.model_dump()} for _, (plugin, reg) in found
        ]
        typer.echo(json.dumps(rows, indent=2))
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
