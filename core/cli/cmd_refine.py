"""`genseg refine`: what a free-form request would be segmented as, before segmenting anything."""

from __future__ import annotations

from pathlib import Path

import typer

from genseg.cli.output import emit_json, json_option, json_to_stdout


def refine(
    request: str = typer.Argument(
        ..., help='What to segment, in your own words, e.g. "the organ that stores bile".'
    ),
    domain: str = typer.Option("generic", "--domain", help="Domain whose vocabulary grounds the request."),
    top_k: int = typer.Option(1, "--top-k", min=1, help="How many terms to return, best first."),
    threshold: float | None = typer.Option(
        None,
        "--threshold",
        help="Cosine a term must reach, else the request is refused (default 0.54, set on a dev split).",
    ),
    json_out: Path | None = json_option("the validated result"),
) -> None:
    """Turn a free-form request into the vocabulary phrase(s) to segment (genseg_refine_query).

    Built in: MiniLM cosine between the request and each term's name, synonyms and description.

    A plugin may answer instead, e.g. with a VLM from a local path (docs/plugins.md).

    A request that no term matches at --threshold is refused with the closest terms, never guessed.

    Example: genseg refine "the organ that stores bile" --domain medical --top-k 3
    """
    from genseg.refine import DEFAULT_THRESHOLD
    from genseg.refine import refine as run_refine

    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    plugin, result = run_refine(request, domain, top_k=top_k, threshold=threshold)
    emit_json({"plugin": plugin, **result.model_dump()}, json_out)
    if json_to_stdout(json_out):
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "phrase", "score", "matched text", title=f"{request!r} in {domain} (by {plugin}, {result.method})"
    )
    matched = {c.term: c.matched for c in result.candidates}
    for phrase, score in zip(result.phrases, result.scores, strict=True):
        table.add_row(phrase, f"{score:.3f}", matched.get(phrase, ""))
    Console().print(table)
