"""The `README.md` of a model folder `genseg train` (or a full `genseg finetune`) exports.

It says what the model is and how it was trained from the run's own facts: the validated
config (steps, batch, learning rate, objective), the exported pipeline's config (resolution,
formulation, the band layout the network reads), the datasets with the classes training
prompted and, when the run validated, which step's weights were exported and the validation
scores that chose them, so the card matches the weights next to it.
"""

from __future__ import annotations

from pathlib import Path

from genseg.config import TrainConfig
from genseg.model_card import WHAT, card_metadata, render_card, table, usage


def trained_classes(dataset) -> dict[str, list[str]]:
    """Per dataset name, the classes training prompted (first-seen order)."""
    out: dict[str, dict[str, None]] = {spec.name: {} for spec in dataset.specs}
    for _entry, key, ds in dataset.items:
        spec = dataset.specs[ds]
        out[spec.name].setdefault(spec.classes[key].name, None)
    return {name: list(classes) for name, classes in out.items()}


def _model_rows(pipe, cfg: TrainConfig) -> list[tuple[str, str]]:
    """The network: denoiser, text encoder, codec, what it predicts and reads."""
    pc, model = pipe.config, cfg.model
    rows = [
        ("denoiser", f"{type(pipe.denoiser).__name__} (`{model.denoiser.kind}`)"),
        ("text encoder", f"`{model.text_encoder.kind}`, {pc.max_text_length} tokens"),
        ("codec", f"`{model.codec.kind}`"),
        ("formulation", f"`{pc.get('formulation', 'flow')}`, predicting the `{pc.prediction_type}`"),
        ("resolution", f"{pc.resolution} px"),
    ]
    bands = pc.get("bands")
    if bands:
        rows.append(("bands (input channels, in order)", ", ".join(bands)))
    return rows


def _training_rows(cfg: TrainConfig) -> list[tuple[str, str]]:
    """The schedule and the objective."""
    obj = cfg.model.objective
    batch = f"{cfg.batch_size}" + (
        f" × {cfg.gradient_accumulation_steps} accumulated" if cfg.gradient_accumulation_steps > 1 else ""
    )
    rows = [
        ("steps / batch / learning rate", f"{cfg.steps} / {batch} / {cfg.learning_rate:g}"),
        ("timesteps / loss", f"`{obj.timesteps}` / `{obj.loss}`"),
        ("seed", str(cfg.seed)),
    ]
    if cfg.exported is not None:
        rows += _validation_rows(cfg)
    return rows


def _validation_rows(cfg: TrainConfig) -> list[tuple[str, str]]:
    """Which step's weights the folder holds and the validation checks that chose them."""
    e = cfg.exported
    score = "" if e.score is None else f", validation {e.metric} {e.score:.4f}"
    why = "the best validation " + e.metric if e.selection == "best" else "the last step"
    checks = ", ".join(f"{step}: {'n/a' if v is None else f'{v:.4f}'}" for step, v in e.validation.items())
    return [
        ("exported weights", f"step {e.step} of {cfg.steps} ({why}{score})"),
        (f"validation {e.metric} by step", checks or "none"),
    ]


def _datasets(dataset) -> str:
    """The datasets: domain, the classes training prompted, licenses where a dataset.json names one."""
    classes = trained_classes(dataset)
    rows = [[spec.name, spec.domain, ", ".join(classes.get(spec.name, []))] for spec in dataset.specs]
    header = ["dataset", "domain", "classes"]
    if any(spec.license for spec in dataset.specs):
        header.append("dataset license")
        rows = [[*row, spec.license] for row, spec in zip(rows, dataset.specs, strict=True)]
    return table(header, rows)


def model_readme(pipe, cfg: TrainConfig, dataset, folder: str | Path, base_model: str | None = None) -> str:
    """The model card of the model exported to `folder` (`base_model`: what a full fine-tune started from)."""
    name = Path(folder).name
    domains = sorted({spec.domain for spec in dataset.specs})
    prompts = [c for names in trained_classes(dataset).values() for c in names]
    kind = f"A full fine-tune of the genseg model `{base_model}`" if base_model else "A genseg model"
    intro = f"# {name}\n\n{kind} for {WHAT}, trained on {', '.join(f'`{d}`' for d in domains)} data."
    body = [
        intro,
        "## Model",
        table(["", ""], _model_rows(pipe, cfg)),
        "## Training",
        table(["", ""], _training_rows(cfg)),
        _datasets(dataset),
        usage(name, prompts),
    ]
    meta = card_metadata([spec.name for spec in dataset.specs], tags=domains, base_model=base_model)
    return render_card(meta, "\n\n".join(body))
