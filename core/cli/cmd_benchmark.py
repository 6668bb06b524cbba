"""`genseg benchmark`: the open-vocabulary, cross-domain benchmark with baselines side by side."""

from __future__ import annotations

from pathlib import Path

import typer

from genseg.cli.output import is_quiet


def benchmark(
    protocol: list[str] = typer.Option(
        [], "--protocol", help="Protocol name or YAML file; repeat. Default: every built-in protocol."
    ),
    quick: bool = typer.Option(
        False,
        "--quick",
        help="The quick budget (`make demo`, the real-data protocol: about 8 min on 2 CPU cores, "
        "data cached).",
    ),
    budget: str = typer.Option("full", "--budget", help="Budget from budgets.yaml (--quick means 'quick')."),
    method: list[str] = typer.Option([], "--method", help="Run only these methods; repeat."),
    output: Path = typer.Option(Path("runs/benchmark"), "--output", "-o", help="Folder for everything."),
    steps: int | None = typer.Option(None, "--steps", min=1, help="Override the budget's training steps."),
    lora_steps: int | None = typer.Option(None, "--lora-steps", min=1, help="Override the LoRA steps."),
    test_limit: int | None = typer.Option(
        None, "--test-limit", min=1, help="At most this many test images per dataset."
    ),
    list_protocols: bool = typer.Option(False, "--list", help="List the built-in protocols and exit."),
) -> None:
    """Train genseg and its baselines on every installed domain's sample data, predict to disk,
    score, and write report.md, results.json/.csv, plots/ and overlays/ under --output.

    A finished model, adapter or predictions folder in --output is reused, so an interrupted
    run resumes; change the budget and what depends on it is redone.

    Example: genseg benchmark --quick --output runs/benchmark

    Example: genseg benchmark --protocol open-vocabulary --method genseg --method discriminative
    """
    from rich.console import Console

    from genseg.evaluation.benchmark import plan_benchmark, run_benchmark
    from genseg.evaluation.benchmark_report import rich_summary
    from genseg.evaluation.protocol import builtin_protocols, load_protocol

    console = Console()
    if list_protocols:
        for name in builtin_protocols():
            p, path = load_protocol(name)
            console.print(f"[bold]{name}[/] ({p.kind}) · {path}\n  {p.description.strip()}")
        return
    overrides = {
        k: v
        for k, v in {"steps": steps, "lora_steps": lora_steps, "test_limit": test_limit}.items()
        if v is not None
    }
    plan = plan_benchmark(
        list(protocol),
        output,
        budget="quick" if quick else budget,
        methods=list(method) or None,
        budget_overrides=overrides,
    )
    quiet = is_quiet()  # no bars and no per-step lines; the summary table is the result
    result = run_benchmark(plan, progress=not quiet, console=None if quiet else Console(stderr=True))
    console.print(rich_summary(plan, result.rows))
    console.print(f"report: {result.report}  ({result.timings['total'] / 60:.1f} min)")
