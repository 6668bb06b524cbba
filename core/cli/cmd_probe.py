"""`genseg probe-layers` and `genseg probe-finetune`: Seg4Diff's attention probe on an MM-DiT model.

`probe-layers` scores every block's zero-shot image-to-text attention maps on a labelled
split and names the best ("expert") block; `genseg segment --method attention-probe --layer L`
then segments with it. `probe-finetune` sharpens one block's maps with LoRA (rank 16) and
mask supervision and saves a genseg adapter folder (`adapter_model.safetensors` and the
`genseg_adapter.json` card with the base model's weight hash and the block), which
`--lora` here and `segment --probe-lora` load onto that base model only.
"""

from __future__ import annotations

from pathlib import Path

import typer

from genseg.cli.output import check_json_target, emit_json, json_option, json_to_stdout


def layers_table(scores, best: int):
    """A rich table, one row per block, the expert marked."""
    from rich.table import Table

    table = Table(title="attention probe: IoU per block (prompt = class name, map > threshold)")
    for col in ("layer", "mIoU", "gIoU", "cIoU", "Dice", ""):
        table.add_column(col, justify="right" if col not in ("", "layer") else "left")
    for s in scores:
        sc = s.scores
        mark = "★ expert" if s.layer == best else ""
        table.add_row(
            str(s.layer), f"{sc.miou:.3f}", f"{sc.giou:.3f}", f"{sc.ciou:.3f}", f"{sc.dice:.3f}", mark
        )
    return table


def _open_probe(model: str, lora: Path | None, layer: int | None = None):
    from genseg.pipeline import load_pipeline
    from genseg.probe.probe import as_probe

    return as_probe(load_pipeline(model), "attention-probe", layer, lora, path=model)


def probe_layers(
    model: str = typer.Option(..., "--model", "-m", help="MM-DiT model folder (model.denoiser.kind=mmdit)."),
    dataset: list[str] = typer.Option(
        ..., "--dataset", "-d", help="Labelled dataset folder or name; repeatable."
    ),
    split: str = typer.Option("test", help="training, validation or test."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Score only the first N images."),
    threshold: float = typer.Option(
        0.5, help="A pixel is in the mask where its normalised map exceeds this."
    ),
    seed: int = typer.Option(0, help="Seed of the noise in the mask channels."),
    lora: Path | None = typer.Option(
        None,
        "--lora",
        help="Probe adapter folder from `genseg probe-finetune` (refused on another base model).",
    ),
    json_out: Path | None = json_option("every block's scores"),
) -> None:
    """Score every block's attention-probe maps and report the best ("expert") block.

    Example: genseg probe-layers -m runs/probe/mmdit -d data/samples/shapes --limit 40 --json layers.json
    """
    from rich.console import Console

    from genseg.datasets import resolve_dataset
    from genseg.probe.layers import best_layer, score_layers

    check_json_target(json_out)
    probe = _open_probe(model, lora)
    folders = [resolve_dataset(d) for d in dataset]
    scores = score_layers(probe, folders, split=split, limit=limit, threshold=threshold, seed=seed)
    best = best_layer(scores)
    if not json_to_stdout(json_out):
        Console().print(layers_table(scores, best.layer))
        typer.echo(f"expert layer: {best.layer} (mIoU {best.scores.miou:.3f}); use --layer {best.layer}")
    if json_out is not None:
        report = {
            "model": model,
            "datasets": [str(f) for f in folders],
            "split": split,
            "limit": limit,
            "threshold": threshold,
            "lora": str(lora) if lora else None,
            "best_layer": best.layer,
            "layers": [s.as_dict() for s in scores],
        }
        emit_json(report, json_out)


def probe_finetune(
    model: str = typer.Option(..., "--model", "-m", help="MM-DiT model folder (model.denoiser.kind=mmdit)."),
    dataset: list[str] = typer.Option(
        ..., "--dataset", "-d", help="Labelled dataset folder or name; repeatable."
    ),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Adapter folder to write (weights, genseg_adapter.json card, PEFT copy)."
    ),
    layer: int = typer.Option(..., "--layer", help="Block to sharpen (see genseg probe-layers)."),
    steps: int = typer.Option(200, min=1, help="Optimizer steps."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="(image, class) pairs per step."),
    learning_rate: float = typer.Option(1e-4, "--lr", help="AdamW learning rate."),
    rank: int = typer.Option(16, min=1, help="LoRA rank (Seg4Diff: 16)."),
    split: str = typer.Option("training", help="Split to train on."),
    seed: int = typer.Option(0, help="Seed of the batches and the noise."),
) -> None:
    """Train LoRA on one block so its image-to-text attention matches the masks (BCE + Dice).

    Example: genseg probe-finetune -m runs/probe/mmdit -d data/samples/shapes --layer 3 -o runs/probe/lora
    """
    from genseg.datasets import resolve_dataset
    from genseg.probe.finetune import finetune_probe, save_probe_lora

    probe = _open_probe(model, None, layer)
    folders = [resolve_dataset(d) for d in dataset]
    result = finetune_probe(
        probe,
        folders,
        split=split,
        steps=steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        rank=rank,
        seed=seed,
    )
    save_probe_lora(probe.pipe, output, probe.layer, rank, base_model=model)
    first, last = result.losses[0], sum(result.losses[-10:]) / len(result.losses[-10:])
    typer.echo(
        f"probe LoRA on block {probe.layer}: {steps} steps in {result.seconds:.0f} s; "
        f"loss {first:.3f} → {last:.3f} (mean of the last 10); adapter in {output}"
    )
