"""`genseg evaluate`: IoU and Dice of a model on a dataset split."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def evaluate(
    model: str = typer.Option(..., "--model", "-m", help="Model folder written by `genseg train`."),
    dataset: list[str] = typer.Option(..., "--dataset", "-d", help="Dataset folder or registered name."),
    split: str = typer.Option("test", help="training, validation or test."),
    steps: int = typer.Option(1, help="Euler steps at inference."),
    ensemble: int = typer.Option(1, help="Noise draws averaged per prediction."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the scores as JSON here."),
    seed: int = typer.Option(0, help="Noise seed."),
    adapter: list[str] = typer.Option(
        [], "--adapter", help="LoRA adapter NAME or folder, optionally :WEIGHT; repeat to mix them."
    ),
    force: bool = typer.Option(False, "--force", help="Apply adapters trained on other base weights."),
) -> None:
    """Score every (image, class) pair of a split, prompting with the class name.

    Example: genseg evaluate --model runs/demo --dataset data/samples/mni152 --json scores.json
    """
    from genseg.data.atomic import atomic_write
    from genseg.datasets import resolve_dataset
    from genseg.evaluation.runner import evaluate_pipeline
    from genseg.pipeline import load_pipeline

    folders = [resolve_dataset(d) for d in dataset]
    pipe = load_pipeline(model, adapters=adapter, force=force, fuse=True)
    if adapter:
        from genseg.adapters.contract import check_dataset_domains

        check_dataset_domains(pipe, folders)
    scores = evaluate_pipeline(pipe, folders, split=split, steps=steps, ensemble=ensemble, seed=seed)
    result = {
        "model": str(model),
        "datasets": [str(f) for f in folders],
        "split": split,
        "steps": steps,
        "ensemble": ensemble,
        "adapters": list(adapter),
        **scores.as_dict(),
    }
    if json_out:
        atomic_write(json_out, lambda tmp: tmp.write_text(json.dumps(result, indent=2)))
    from rich.console import Console

    from genseg.evaluation.report import scores_table

    Console().print(scores_table(scores, title=f"{Path(str(model)).name} on {split} ({steps} step)"))
