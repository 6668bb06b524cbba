"""`genseg adapters list`: fine-tuned adapters that plugins ship or point to."""

from __future__ import annotations

from pathlib import Path

import typer

from genseg.cli.conventions import GensegCommand, GensegGroup
from genseg.cli.output import emit_json, json_option, json_to_stdout

adapters_app = typer.Typer(
    cls=GensegGroup,
    help="Adapters (LoRA) registered by plugins.\n\nExample: genseg adapters list --json -",
    no_args_is_help=True,
)


def _describe(plugin: str, card) -> dict:
    """A registered adapter with where its folder resolved to and what its own card says."""
    from genseg.adapters.card import read_manifest
    from genseg.adapters.store import registered_location
    from genseg.errors import GenSegError

    row = {"plugin": plugin, **card.model_dump(), "path": None, "status": "ok", "card": None}
    try:
        folder = registered_location(plugin, card.location)
        row["path"] = str(folder)
        manifest = read_manifest(folder)
    except GenSegError as exc:
        row["status"] = exc.one_line()
        return row
    row["card"] = {
        "base": manifest.base.model_dump(),
        "input": manifest.input.model_dump(),
        "rank": manifest.lora.rank,
        "targets": manifest.lora.targets,
        "trainable_parameters": manifest.lora.trainable_parameters,
        "scores": {k: manifest.scores[k] for k in ("split", "mIoU", "dice") if k in manifest.scores},
        # an attention-probe adapter serves `segment --method attention-probe` only: say so
        "probe": manifest.probe.model_dump() if manifest.probe is not None else None,
    }
    return row


@adapters_app.command("list", cls=GensegCommand)
def list_adapters(json_out: Path | None = json_option("the adapters and their cards")) -> None:
    """List adapters with their domain, base model, location and expected preprocessing.

    Each registered location is resolved (package data, absolute path) and its
    genseg_adapter.json read, so a broken or missing adapter shows its error.

    Example: genseg adapters list --json -
    """
    from genseg.plugins.registry import adapters

    rows = [_describe(p, a) for p, a in adapters()]
    emit_json(rows, json_out)
    if json_to_stdout(json_out):
        return
    if not rows:
        typer.echo("no adapters registered (domain plugins add them; see docs/plugins.md)")
    for r in rows:
        typer.echo(_line(r))


def _line(r: dict) -> str:
    """One adapter as a line of the listing: name, domain, folder, kind, base model, plugin."""
    base = r["base_model"] or (r["card"]["base"]["name"] if r["card"] else "?")
    state = "" if r["status"] == "ok" else f"  [{r['status']}]"
    probe = r["card"] and r["card"]["probe"]
    kind = f"attention probe, block {probe['layer']}, " if probe else ""
    return (
        f"{r['name']:<24} {r['domain']:<16} {r['path'] or r['location']}  "
        f"({kind}base {base}, from {r['plugin']}){state}"
    )
