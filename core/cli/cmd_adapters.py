"""`genseg adapters list`: fine-tuned adapters that plugins ship or point to."""

from __future__ import annotations

import json

import typer

adapters_app = typer.Typer(
    help="Adapters (LoRA) registered by plugins.\n\nExample: genseg adapters list --json",
    no_args_is_help=True,
)


@adapters_app.command("list")
def list_adapters(as_json: bool = typer.Option(False, "--json", help="Print JSON for machines.")) -> None:
    """List adapters with their domain, base model, location and expected preprocessing.

    Example: genseg adapters list
    """
    from genseg.plugins.registry import adapters

    found = adapters()
    if as_json:
        typer.echo(json.dumps([{"plugin": p, **a.model_dump()} for p, a in found], indent=2))
        return
    if not found:
        typer.echo("no adapters registered (domain plugins add them; see docs/plugins.md)")
    for plugin, a in found:
        typer.echo(f"{a.name:<24} {a.domain:<16} {a.location}  (base {a.base_model or '?'}, from {plugin})")
