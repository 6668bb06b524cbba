"""`genseg train`: train a pipeline on one or more dataset folders."""

from __future__ import annotations

import functools
from enum import Enum
from pathlib import Path

import typer

from genseg.cli.conventions import GensegCommand
from genseg.cli.model_output import finish_model_folder, keep_checkpoints_option, portable_option
from genseg.cli.options import Backbone, Loss, Timesteps
from genseg.cli.output import info

CONFIG_FIELDS = {  # option name: its TrainConfig field, whose default --help shows
    "backbone": "model.denoiser.kind",
    "steps": "steps",
    "batch_size": "batch_size",
    "resolution": "model.resolution",
    "learning_rate": "learning_rate",
    "timesteps": "model.objective.timesteps",
    "heavy_tail_a": "model.objective.heavy_tail_a",
    "loss": "model.objective.loss",
    "seed": "seed",
    "grad_accum": "gradient_accumulation_steps",
    "mixed_precision": "mixed_precision",
    "checkpoint_every": "checkpoint_every",
    "validate_every": "validate_every",
    "export": "export_weights",
    "log_with": "log_with",
}


class ExportChoice(str, Enum):
    best = "best"
    last = "last"


class LogWith(str, Enum):
    auto = "auto"
    tensorboard = "tensorboard"
    none = "none"


@functools.cache
def config_default(dotted: str) -> str:
    """A TrainConfig field's default, e.g. ``model.resolution`` → ``128``."""
    from genseg.config import TrainConfig

    value = TrainConfig()
    for part in dotted.split("."):
        value = getattr(value, part)
    return str(value)


class TrainCommand(GensegCommand):
    """`genseg train`: its flags default to None (a flag left out keeps the --config file's
    value), so --help shows the config's defaults, read when the help is drawn rather than at
    start-up (the config module costs every command a fifth of a second)."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            if param.name in CONFIG_FIELDS and isinstance(param.show_default, bool):
                param.show_default = config_default(CONFIG_FIELDS[param.name])
        return params


def train(
    dataset: list[str] = typer.Option(
        ...,
        "--dataset",
        "-d",
        help="Dataset folder (with dataset.json) or registered name; repeat for several.",
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Run folder; becomes a pipeline folder."),
    backbone: Backbone | None = typer.Option(
        None,
        help="late_fusion (default: image trunk once per image, text-written readout per prompt), "
        "unet (DiGSeg), dit (GenMask) or mmdit (SD3-style).",
    ),
    steps: int | None = typer.Option(None, help="Optimizer steps."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Images per step."),
    resolution: int | None = typer.Option(None, help="Square training resolution in pixels."),
    learning_rate: float | None = typer.Option(None, "--lr", help="AdamW learning rate."),
    timesteps: Timesteps | None = typer.Option(None, help="Timestep sampler."),
    heavy_tail_a: float | None = typer.Option(None, "--heavy-tail-a", help="Scale a of heavy_tail(a)."),
    loss: Loss | None = typer.Option(None, help="Training loss."),
    seed: int | None = typer.Option(None, help="Random seed."),
    grad_accum: int | None = typer.Option(None, "--grad-accum", help="Gradient accumulation steps."),
    mixed_precision: str | None = typer.Option(None, "--mixed-precision", help="auto, no, bf16 or fp16."),
    checkpoint_every: int | None = typer.Option(None, "--checkpoint-every", help="Save state every N steps."),
    validate_every: int | None = typer.Option(
        None,
        "--validate-every",
        min=0,
        help="Score the datasets' validation split every N steps and at the end (every class on "
        "every image, as genseg evaluate does); 0: never. Runs shorter than N steps are not validated.",
    ),
    export: ExportChoice | None = typer.Option(
        None, "--export", help="Export the weights of the best validation mIoU, or of the last step."
    ),
    log_with: LogWith | None = typer.Option(
        None,
        "--log-with",
        help="Also log loss, learning rate and validation scores to TensorBoard (in OUTPUT/tensorboard; "
        "needs pip install tensorboard); auto: when installed. train_log.jsonl is written in every case.",
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="YAML/JSON TrainConfig; flags override it."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue from the latest checkpoint in --output."),
    portable: bool = portable_option(),
    keep_checkpoints: bool = keep_checkpoints_option(),
) -> None:
    """Train the generative segmenter (rectified flow on the mask latent).

    The defaults shown are the training config's; with --config the file's values replace
    them, and flags replace both. The default 1500 steps take about 20 minutes on one CPU core
    (0.72 s per step of batch 8 at 128 px, measured); the validation every 500 steps adds about
    3 s of CPU per check on the quick start's data, and the best check's weights are exported.

    Example: genseg train -d data/samples/shapes -d data/samples/mni152 --output runs/demo --steps 1500
    """
    from genseg.config import load_train_config
    from genseg.datasets import resolve_dataset
    from genseg.training.distributed import process_state
    from genseg.training.trainer import train as run_training

    state = process_state()  # several launched CPU processes train as one (gloo), not side by side

    given = {  # config field: (its flag, the value given or None)
        "model.denoiser.kind": ("--backbone", backbone.value if backbone else None),
        "steps": ("--steps", steps),
        "batch_size": ("--batch-size", batch_size),
        "model.resolution": ("--resolution", resolution),
        "learning_rate": ("--lr", learning_rate),
        "model.objective.timesteps": ("--timesteps", timesteps.value if timesteps else None),
        "model.objective.heavy_tail_a": ("--heavy-tail-a", heavy_tail_a),
        "model.objective.loss": ("--loss", loss.value if loss else None),
        "seed": ("--seed", seed),
        "gradient_accumulation_steps": ("--grad-accum", grad_accum),
        "mixed_precision": ("--mixed-precision", mixed_precision),
        "checkpoint_every": ("--checkpoint-every", checkpoint_every),
        "export_weights": ("--export", export.value if export else None),
        "log_with": ("--log-with", log_with.value if log_with else None),
    }
    overrides = {k: v for k, (_, v) in given.items() if v is not None}
    if validate_every is not None:  # 0 turns validation off
        overrides["validate_every"] = validate_every or None
    flags = {k: flag for k, (flag, _) in given.items()}
    cfg = load_train_config(config, overrides, flags)
    paths = [resolve_dataset(d) for d in dataset]
    cfg = cfg.model_copy(update={"datasets": [str(p) for p in paths]})
    validate = validation_scorer(cfg, paths, explicit=bool(validate_every)) if state.is_main_process else None
    result = run_training(cfg, output, paths, resume=resume, validate=validate, notify=info)
    if not state.is_main_process:  # the main process reports (and alone wrote the output)
        return
    finish_model_folder(result.output, portable, keep_checkpoints)  # the export is complete
    if result.first_loss is None:  # resumed after the final checkpoint: only the export was left
        typer.echo(f"exported the checkpoint of step {result.steps}; model in {result.output}")
        return
    chosen, picked = "", result.exported
    if picked is not None and picked.selection == "best":
        chosen = f"; weights of step {picked.step} (best validation mIoU {picked.score:.4f})"
    typer.echo(
        f"trained {result.steps} steps in {result.seconds:.0f} s; loss {result.first_loss:.4f} → "
        f"{result.last_loss:.4f}{chosen}; model in {result.output}"
    )


def validation_scorer(cfg, paths: list[Path], explicit: bool):
    """The trainer's validation callback: genseg's evaluation (semantic prompting: every class
    on every validation image or slice, absent ones included) on the datasets that have a
    labelled validation split; None when the run is not to validate. The training layer may not
    import the evaluation layer, so the command builds this and hands it down."""
    from genseg.data.schema import load_dataset_spec
    from genseg.errors import ConfigError

    if cfg.validate_every is None:
        return None
    if cfg.steps < cfg.validate_every:  # a quick try: the trainer would not validate it
        if explicit:
            info(f"no validation: the run ({cfg.steps} steps) is shorter than {cfg.validate_every} steps")
        return None
    usable = [p for p in paths if any(e.label is not None for e in load_dataset_spec(p).validation or [])]
    reason = None
    if cfg.exclude_classes:
        reason = "it would prompt the classes the config excludes from training"
    elif not usable:
        reason = "no dataset has a labelled validation split"
    if reason:
        if explicit:
            raise ConfigError(
                f"cannot validate during training: {reason}",
                fix="add a validation split to a dataset.json, or leave out --validate-every",
            )
        info(f"no validation during training ({reason}); the last step's weights are exported")
        return None
    from genseg.evaluation.runner import evaluate_pipeline, split_items

    for folder in usable:  # reads every validation label now: a broken one fails before training
        split_items(folder, "validation", "semantic")

    def validate(pipe, step: int) -> dict[str, float]:
        scores = evaluate_pipeline(pipe, usable, split="validation", seed=cfg.seed, progress=False)
        return {
            "mIoU": scores.miou,
            "dice": scores.dice,
            **{f"IoU/{c}": v for c, v in scores.per_class.items()},
        }

    return validate
