"""The `README.md` of an adapter folder: its card (`genseg_adapter.json`) told to a reader.

Everything in it comes from the card, so the README and the card never disagree, and an
adapter folder written before READMEs existed gets the same one from its card alone.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from genseg.adapters.card import CARD_FILE, AdapterManifest
from genseg.adapters.peft_export import PEFT_DIR
from genseg.model_card import WHAT, card_metadata, prompt_options, render_card, table, usage


def _shape(manifest: AdapterManifest) -> list[tuple[str, str]]:
    """Rows on the LoRA: rank, targets, layers per component, trained copies, size."""
    lora = manifest.lora
    layers = ", ".join(f"{len(m)} of the {c}" for c, m in lora.modules.items())
    rows = [
        ("LoRA", f"rank {lora.rank}, alpha {lora.alpha:g}, targets `{lora.targets}` ({layers} layers)"),
        (
            "trainable parameters",
            f"{lora.trainable_parameters:,} "
            f"({100 * lora.trainable_parameters / lora.adapted_parameters:.1f} % of the adapted components)",
        ),
    ]
    trained = ", ".join(f"{c} `{name}`" for c, names in lora.trained.items() for name in names)
    if trained:
        rows.append(("trained in full", trained))
    if manifest.probe is not None:
        rows.append(("attention probe", f"block {manifest.probe.layer} (image-to-text maps, BCE + Dice)"))
    return rows


def _training(manifest: AdapterManifest) -> str:
    """How it was trained: schedule, input contract, LoRA shape, then the datasets."""
    t, inp, base = manifest.training, manifest.input, manifest.base
    rows = [
        ("base model", f"`{base.name}` ({base.denoiser or 'denoiser'})"),
        ("base weights sha256", f"`{base.weights_sha256}`"),
        ("steps / batch / learning rate", f"{t.steps} / {t.batch_size} / {t.learning_rate:g}"),
        ("shots", f"{t.shots} labelled images per class" if t.shots else "all labelled images"),
        ("resolution", f"{inp.resolution} px"),
        ("input", f"domain `{inp.domain}`, {inp.channels or '?'} channels"),
    ]
    if inp.bands:
        rows.append(("bands", ", ".join(inp.bands)))
    if inp.options:
        rows.append(("reader options", ", ".join(f"{k}={v}" for k, v in inp.options.items())))
    rows += [*_shape(manifest), ("seed / seconds", f"{t.seed} / {t.seconds:g}")]
    datasets = table(
        ["dataset", "domain", "images", "classes (image-class pairs)"],
        [
            (d.name, d.domain, d.images, ", ".join(f"{c} ({n})" for c, n in d.pairs_per_class.items()))
            for d in t.datasets
        ],
    )
    return "\n\n".join(["## Training", table(["", ""], rows), datasets])


def _maybe(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _scores(scores: dict) -> str:
    """The end-of-training scores, or why there are none."""
    if not scores:
        return ""
    split = scores.get("split", "?")
    if "error" in scores:
        return f"## Scores\n\nNo scores on the {split} split when training ended: {scores['error']}"
    head = [
        f"On the {split} split when training ended"
        + (f" ({scores['images']} images)" if "images" in scores else "")
        + ":"
    ]
    metrics = [k for k in ("mIoU", "dice", "cIoU", "gIoU") if isinstance(scores.get(k), int | float)]
    overall = [(k, f"{scores[k]:.4f}") for k in metrics]
    parts = ["## Scores", *head, table(["metric", "value"], overall)]
    per_class, per_dice = scores.get("per_class") or {}, scores.get("per_class_dice") or {}
    if per_class:
        rows = [(c, f"{iou:.4f}", _maybe(per_dice.get(c))) for c, iou in per_class.items()]
        parts.append(table(["class", "IoU", "Dice"], rows))
    return "\n\n".join(parts)


def _peft_note(manifest: AdapterManifest, folder: str) -> str:
    """How to load it with PEFT alone, one folder per adapted component."""
    lines = ["With PEFT, one adapted component at a time (a `PeftModel` wraps one model):", "", "```python"]
    lines += ["from peft import PeftModel", "from genseg.pipeline import load_pipeline", ""]
    lines.append(f"pipe = load_pipeline({manifest.base.name!r})")
    for component in manifest.lora.modules:
        path = f"{folder}/{PEFT_DIR}/{component}"
        lines.append(f"{component} = PeftModel.from_pretrained(pipe.{component}, {path!r})")
    return "\n".join([*lines, "```"])


def _probe_usage(manifest: AdapterManifest, adapter: str) -> str:
    """How to segment with a probe adapter: through the attention probe, not the generator."""
    model = manifest.base.name
    options = f"-m {shlex.quote(model)} --method attention-probe --probe-lora {shlex.quote(adapter)}"
    listed = ", ".join(repr(p) for p in manifest.prompts[:2]) or "'PROMPT'"
    return "\n".join(
        [
            "## How to use",
            "",
            "```bash",
            f"genseg segment {options} {prompt_options(manifest.prompts)} -o out/ image.png",
            "```",
            "",
            "```python",
            "from genseg.pipeline import load_pipeline",
            "from genseg.probe.probe import as_probe",
            "",
            f"probe = as_probe(load_pipeline({model!r}), 'attention-probe', None, {adapter!r})",
            f'out = probe("image.png", [{listed}])',
            "```",
        ]
    )


def adapter_readme(manifest: AdapterManifest, folder: str | Path) -> str:
    """The model card of the adapter in `folder` (its name is how the card refers to it)."""
    name = Path(folder).name or manifest.name
    domain = manifest.domain
    meta = card_metadata(
        [d.name for d in manifest.training.datasets],
        tags=["lora", "peft", "adapter", domain, *(["attention-probe"] if manifest.probe else [])],
        base_model=manifest.base.name,
    )
    what = (
        f", for {WHAT}"
        if manifest.probe is None
        else f" for its attention probe: it sharpens the image-to-text attention maps of block "
        f"{manifest.probe.layer} (the generator's output is not trained)"
    )
    intro = (
        f"# {manifest.name}\n\nA LoRA adapter of the genseg model `{manifest.base.name}`{what}, "
        f"fine-tuned for the `{domain}` domain"
        + (f" on the prompts {', '.join(repr(p) for p in manifest.prompts)}" if manifest.prompts else "")
        + "."
        + (f"\n\n{manifest.description}" if manifest.description else "")
        + f"\n\n`{CARD_FILE}` holds the same facts for genseg, which checks them when it loads the adapter."
    )
    body = [
        intro,
        _training(manifest),
        _scores(manifest.scores),
        usage(manifest.base.name, manifest.prompts, adapter=name)
        if manifest.probe is None
        else _probe_usage(manifest, name),
        _peft_note(manifest, name),
    ]
    return render_card(meta, "\n\n".join(part for part in body if part))
