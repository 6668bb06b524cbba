"""`genseg finetune`: LoRA (or a full fine-tune) of a trained model on new data, few-shot if asked."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from genseg.cli.model_output import finish_model_folder, keep_checkpoints_option, portable_option
from genseg.names import slug


class TargetChoice(str, Enum):
    attn = "attn"
    attn_ff = "attn+ff"
    all_linear = "all-linear"
    attn_embed = "attn+embed"
    all_linear_embed = "all-linear+embed"
    attn_embed_head = "attn+embed+head"


class EvalSplit(str, Enum):
    training = "training"
    validation = "validation"
    test = "test"
    none = "none"


def _adapter_name(output: Path) -> str:
    return slug(output.resolve().name, default="adapter", keep="._-")


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0


def finetune(
    model: str = typer.Option(..., "--model", "-m", help="Base model folder written by `genseg train`."),
    dataset: list[str] = typer.Option(
        ..., "--dataset", "-d", help="Dataset folder or registered name; repeat for several."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Adapter folder (a model folder with --full)."),
    shots: int | None = typer.Option(
        None, "--shots", min=1, help="Labelled images per class, drawn from the seed (default: all)."
    ),
    lora_rank: int = typer.Option(4, "--lora-rank", min=1, help="LoRA rank r."),
    lora_alpha: float | None = typer.Option(None, "--lora-alpha", help="LoRA alpha (default: the rank)."),
    targets: TargetChoice = typer.Option(
        TargetChoice.attn,
        "--targets",
        help="Layers that get LoRA; +embed adds the patch-embedding conv (a new image modality), "
        "+head trains the output layer in full.",
    ),
    text_encoder: bool = typer.Option(False, "--text-encoder", help="Also put LoRA on the text encoder."),
    full: bool = typer.Option(False, "--full", help="Full fine-tune of the denoiser instead of LoRA."),
    steps: int = typer.Option(300, help="Optimizer steps."),
    batch_size: int = typer.Option(8, "--batch-size", help="Images per micro-batch."),
    learning_rate: float | None = typer.Option(
        None, "--lr", help="AdamW learning rate (default 1e-2 for LoRA, 1e-3 with --full)."
    ),
    seed: int = typer.Option(0, help="Seed of the shot draw, the noise and the augmentation."),
    grad_accum: int = typer.Option(1, "--grad-accum", help="Gradient accumulation steps."),
    mixed_precision: str = typer.Option("auto", "--mixed-precision", help="auto, no, bf16 or fp16."),
    checkpoint_every: int = typer.Option(100, "--checkpoint-every", help="Save state every N steps."),
    name: str | None = typer.Option(None, "--name", help="Adapter name (default: the output folder's)."),
    domain: str | None = typer.Option(None, "--domain", help="Adapter domain (default: the datasets')."),
    eval_split: EvalSplit = typer.Option(
        EvalSplit.validation, "--eval-split", help="Split scored at the end and written into the card."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue from the latest checkpoint in --output."),
    portable: bool = portable_option(),
    keep_checkpoints: bool = keep_checkpoints_option(),
) -> None:
    """Fine-tune a trained model with LoRA (PEFT) on a frozen base; writes a small adapter folder.

    Example: genseg finetune -m runs/shapes -d mni152 -o runs/mni-lora --shots 10 --lora-rank 4

    Example: genseg finetune -m runs/shapes -d mni152 -o runs/mni-full --shots 10 --full
    """
    from genseg.config import FinetuneConfig, TrainConfig
    from genseg.datasets import resolve_dataset
    from genseg.errors import ConfigError
    from genseg.evaluation.runner import finetune_scores
    from genseg.training.distributed import process_state
    from genseg.training.finetune import base_model_config
    from genseg.training.trainer import train as run_training

    state = process_state()  # several launched CPU processes train as one (gloo), not side by side

    if portable and not full:
        raise ConfigError(
            "--portable applies to the model folder --full writes; an adapter folder holds no base model",
            fix="add --full, or leave out --portable (the adapter names its base model in its card)",
        )
    try:
        ft = FinetuneConfig(
            base_model=str(model),
            mode="full" if full else "lora",
            adapter_name=name or _adapter_name(output),
            lora_rank=lora_rank,
            lora_alpha=lora_alpha,
            targets=targets.value,
            text_encoder=text_encoder,
            domain=domain,
            eval_split=eval_split.value,
        )
    except ValueError as exc:
        raise ConfigError(
            str(exc).splitlines()[-1], fix="adapter names are lower-case: a-z 0-9 . _ -"
        ) from None
    paths = [resolve_dataset(d) for d in dataset]
    cfg = TrainConfig(
        model=base_model_config(model),
        datasets=[str(p) for p in paths],
        steps=steps,
        batch_size=batch_size,
        # LoRA wants about 10x the full fine-tune's rate (measured: docs/results.md, few-shot)
        learning_rate=learning_rate if learning_rate is not None else (1e-3 if full else 1e-2),
        warmup_steps=min(20, steps // 10),
        gradient_accumulation_steps=grad_accum,
        mixed_precision=mixed_precision,
        checkpoint_every=checkpoint_every,
        seed=seed,
        shots=shots,
        finetune=ft,
    )
    result = run_training(cfg, output, paths, resume=resume, score_at_end=finetune_scores)
    if not state.is_main_process:  # the main process reports (and alone wrote the output)
        return
    finish_model_folder(result.output, portable, keep_checkpoints)  # the export is complete
    if result.first_loss is None:  # resumed after the final checkpoint: only the export was left
        typer.echo(f"exported the checkpoint of step {result.steps}")
    else:
        typer.echo(
            f"fine-tuned {result.steps} steps in {result.seconds:.0f} s; loss {result.first_loss:.4f} → "
            f"{result.last_loss:.4f}"
        )
    if full:
        typer.echo(f"model in {result.output}")
    else:
        from genseg.adapters.card import WEIGHTS_FILE, read_manifest

        card = read_manifest(output)
        lora = card.lora
        size = _size(output / WEIGHTS_FILE) + _size(output / "genseg_adapter.json")
        share = lora.trainable_parameters / lora.adapted_parameters
        typer.echo(
            f"adapter {card.name!r} in {output}: {size / 1024:.0f} KB; {lora.trainable_parameters:,} "
            f"trainable parameters = {share:.2%} of the adapted {'+'.join(lora.modules)} "
            f"({lora.adapted_parameters:,})"
        )
    if result.scores and "mIoU" in result.scores:
        per_class = ", ".join(f"{k} {v:.3f}" for k, v in result.scores.get("per_class", {}).items())
        typer.echo(f"{result.scores['split']} mIoU {result.scores['mIoU']:.3f} ({per_class})")
