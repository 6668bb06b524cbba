"""`genseg plugins ...`: what is installed and whether it loaded."""

from __future__ import annotations

import json

import typer

plugins_app = typer.Typer(
    help="Inspect installed plugins.\n\nExample: genseg plugins list --json", no_args_is_help=True
)


@plugins_app.command("list")
def list_plugins(as_json: bool = typer.Option(False, "--json", help="Print JSON for machines.")) -> None:
    """List plugins with their distribution, version, hooks and load status.

    Example: genseg plugins list
    """
    from genseg.plugins.manager import load_plugins

    records = load_plugins().records
    if as_json:
        typer.echo(json.dumps([r.__dict__ for r in records], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "distribution", "version", "status", "hooks")
    for r in records:
        status = r.status if r.error is None else f"[red]failed[/] {r.error}"
        table.add_row(r.name, r.distribution or "", r.version or "", status, ", ".join(r.hooks))
    Console().print(table)
