"""`genseg vocab ...`: the prompt vocabularies plugins provide (terms, synonyms, ontology codes)."""

from __future__ import annotations

import json

import typer

vocab_app = typer.Typer(
    help="Prompt vocabularies of the installed domains.\n\nExample: genseg vocab show generic",
    no_args_is_help=True,
)


@vocab_app.command("list")
def list_vocabularies(as_json: bool = typer.Option(False, "--json", help="Print JSON for machines.")) -> None:
    """List the vocabularies: domain, name, number of terms and providing plugin.

    Example: genseg vocab list
    """
    from genseg.plugins.registry import vocabularies

    rows = [
        {"domain": v.domain, "name": v.name, "terms": len(v.terms), "plugin": p} for p, v in vocabularies()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in sorted(rows, key=lambda r: r["domain"]):
        typer.echo(f"{r['domain']:<16} {r['terms']:>4} terms  {r['name']}  (from {r['plugin']})")


@vocab_app.command("show")
def show(
    domain: str = typer.Argument(..., help="Domain name, e.g. generic, medical, remote-sensing."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for machines."),
) -> None:
    """Show every term of a domain's vocabulary with synonyms and ontology codes.

    Example: genseg vocab show medical
    """
    from genseg.plugins.registry import vocabulary

    found = vocabulary(domain)
    if as_json:
        typer.echo(json.dumps([{"plugin": p, **v.model_dump()} for p, v in found], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    for plugin, vocab in found:
        table = Table("term", "synonyms", "codes", title=f"{vocab.name} ({domain}, from {plugin})")
        for term in vocab.terms:
            codes = ", ".join(f"{k} {v}" for k, v in term.codes.items())
            table.add_row(term.name, ", ".join(term.synonyms), codes)
        Console().print(table)
        typer.echo(f"prompt templates: {' | '.join(vocab.templates)}")
