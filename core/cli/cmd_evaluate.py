"""`genseg evaluate`: IoU and Dice of a model on a dataset split, or of predictions on disk."""

from __future__ import annotations

from pathlib import Path

import typer

from genseg.cli.options import allow_pickle_option
from genseg.cli.output import check_json_target, emit_json, json_option, json_to_stdout

NSD_TOLERANCE_MM = 2.0  # genseg.evaluation.metrics.SURFACE_TOLERANCE_MM, without importing torch here


def evaluate(
    model: str | None = typer.Option(None, "--model", "-m", help="Model folder written by `genseg train`."),
    dataset: list[str] = typer.Option([], "--dataset", "-d", help="Dataset folder or registered name."),
    predictions: Path | None = typer.Option(
        None, "--predictions", help="Score a predictions folder (written by `genseg benchmark`); no model."
    ),
    missing_as_empty: bool = typer.Option(
        False, "--missing-as-empty", help="With --predictions: score missing masks as empty."
    ),
    bootstrap: int = typer.Option(
        0,
        "--bootstrap",
        min=0,
        help="Bootstrap resamples for 95 % intervals (over images; over scans for volumes).",
    ),
    nsd_tolerance: float = typer.Option(
        NSD_TOLERANCE_MM,
        "--nsd-tolerance",
        min=0.01,
        help="Volumes: the normalised surface Dice tolerance in mm (voxels where a scan records no spacing).",
    ),
    split: str = typer.Option("test", help="training, validation or test."),
    prompting: str = typer.Option(
        "semantic",
        "--prompting",
        help="semantic: every class of the dataset on every image, absent ones included (a mask "
        "there is a false positive); referring: only the classes present in each image. Datasets "
        'whose dataset.json says "labels_complete": false are always scored referring.',
    ),
    steps: int | None = typer.Option(
        None, help="Euler steps at inference. Default: the model's (default_inference_steps, 1)."
    ),
    ensemble: int = typer.Option(1, help="Noise draws averaged per prediction."),
    tile_size: int | None = typer.Option(
        None,
        "--tile-size",
        help="As for segment: predict every image larger than this many pixels tile by tile (0: "
        "never; each image is shrunk whole to the model's resolution). Default: the images segment "
        "tiles (larger than the model's resolution in domains that tile, more than 4× larger in the "
        "others), so their scores are those of the masks segment writes.",
    ),
    json_out: Path | None = json_option("the scores"),
    seed: int = typer.Option(0, help="Noise seed (and bootstrap seed)."),
    adapter: list[str] = typer.Option(
        [], "--adapter", help="LoRA adapter NAME or folder, optionally :WEIGHT; repeat to mix them."
    ),
    force: bool = typer.Option(False, "--force", help="Apply adapters trained on other base weights."),
    allow_pickle: bool = allow_pickle_option(),
) -> None:
    """Score a split, prompting every image with every class name of its dataset (semantic;
    --prompting referring: the classes present only); or re-score saved predictions without
    the model (the same numbers every time). Volumes also get per-volume Dice, IoU, HD95 and
    normalised surface Dice (MONAI, in mm), with scans as the bootstrap unit.

    Example: genseg evaluate --model runs/demo --dataset data/samples/mni152 --json scores.json

    Example: genseg evaluate --predictions runs/benchmark/predictions/in-domain/genseg
    """
    from rich.console import Console
    from rich.markup import escape

    from genseg.errors import InputError
    from genseg.evaluation.report import scores_table, volume_table

    # the tables are the result (on stdout, unless --json - puts the JSON there instead);
    # notes about how it was scored go to stderr
    console = Console(quiet=json_to_stdout(json_out))
    notes = Console(stderr=True)
    check_json_target(json_out)  # a folder or read-only path fails now, not after evaluating
    if predictions is not None:
        if model or dataset:
            raise InputError(
                "--predictions scores saved masks; it takes no --model or --dataset",
                fix="drop --model/--dataset, or drop --predictions to predict with the model",
            )
        from genseg.evaluation.scoring import score_predictions

        scored = score_predictions(
            predictions,
            missing_as_empty=missing_as_empty,
            bootstrap=bootstrap,
            seed=seed,
            surface_tolerance=nsd_tolerance,
        )
        if scored.missing:
            notes.print(f"[yellow]{len(scored.missing)} missing predictions scored as empty masks[/]")
        emit_json(scored.as_dict(), json_out)
        for g in scored.groups:
            if g.level != "dataset":
                title = (
                    f"{scored.index.method or predictions.name} · {g.level} {g.key} · {g.tag} · "
                    f"{g.prompting} prompting"
                )
                console.print(scores_table(g.scores, title=title))
                if (table := volume_table(g.scores, title=f"{title} · per volume")) is not None:
                    console.print(table)
        return
    if not model or not dataset:
        raise InputError(
            "pass --model and --dataset (or --predictions DIR to score saved masks)",
            fix="e.g. genseg evaluate --model runs/demo --dataset mni152",
        )
    from genseg.data.schema import load_dataset_spec
    from genseg.datasets import resolve_dataset
    from genseg.evaluation.runner import check_prompting, dataset_prompting, evaluate_pipeline
    from genseg.inference import build_inference_options
    from genseg.pipeline import load_pipeline

    check_prompting(prompting)
    inference = build_inference_options(steps=steps, ensemble=ensemble, seed=seed, tile_size=tile_size)
    folders = [resolve_dataset(d) for d in dataset]
    modes = {str(f): dataset_prompting(load_dataset_spec(f), prompting) for f in folders}
    pipe = load_pipeline(model, adapters=adapter, force=force, fuse=True, allow_pickle=allow_pickle)
    if adapter:
        from genseg.adapters.contract import check_dataset_domains

        check_dataset_domains(pipe, folders)
    inference = inference.for_model(pipe)
    scores = evaluate_pipeline(
        pipe,
        folders,
        split,
        inference,
        prompting=prompting,
        bootstrap=bootstrap,
        surface_tolerance=nsd_tolerance,
    )
    used = "+".join(sorted(set(modes.values())))
    result = {
        "model": str(model),
        "datasets": [str(f) for f in folders],
        "split": split,
        "prompting": used,
        "prompting_per_dataset": modes,
        "steps": inference.steps,
        "ensemble": ensemble,
        "tile_size": tile_size,
        "adapters": list(adapter),
        **scores.as_dict(),
    }
    emit_json(result, json_out)
    for folder, mode in modes.items():
        if mode != prompting:
            note = f"{escape(str(folder))}: labels declared incomplete, scored with referring prompting"
            notes.print(f"[yellow]{note}[/]")
    title = f"{Path(str(model)).name} on {split} ({inference.steps} step) · {used} prompting"
    console.print(scores_table(scores, title=title))
    if (table := volume_table(scores, title=f"{title} · per volume")) is not None:
        console.print(table)
