"""`genseg vocab ...`: the prompt vocabularies plugins provide (terms, synonyms, ontology codes)."""

from __future__ import annotations

from pathlib import Path

import typer

from genseg.cli.conventions import GensegCommand, GensegGroup
from genseg.cli.output import emit_json, json_option, json_to_stdout

vocab_app = typer.Typer(
    cls=GensegGroup,
    help="Prompt vocabularies of the installed domains.\n\nExample: genseg vocab show generic",
    no_args_is_help=True,
)


@vocab_app.command("list", cls=GensegCommand)
def list_vocabularies(json_out: Path | None = json_option("the vocabularies")) -> None:
    """List the vocabularies: domain, name, number of terms and providing plugin.

    Example: genseg vocab list
    """
    from genseg.plugins.registry import vocabularies

    rows = [
        {"domain": v.domain, "name": v.name, "terms": len(v.terms), "plugin": p} for p, v in vocabularies()
    ]
    emit_json(rows, json_out)
    if json_to_stdout(json_out):
        return
    for r in sorted(rows, key=lambda r: r["domain"]):
        typer.echo(f"{r['domain']:<16} {r['terms']:>4} terms  {r['name']}  (from {r['plugin']})")


@vocab_app.command("show", cls=GensegCommand)
def show(
    domain: str = typer.Argument(..., help="Domain name, e.g. generic, medical, remote-sensing."),
    json_out: Path | None = json_option("the vocabulary (terms, synonyms, codes)"),
) -> None:
    """Show every term of a domain's vocabulary with synonyms and ontology codes.

    Example: genseg vocab show medical
    """
    from genseg.plugins.registry import vocabulary

    found = vocabulary(domain)
    emit_json([{"plugin": p, **v.model_dump()} for p, v in found], json_out)
    if json_to_stdout(json_out):
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
