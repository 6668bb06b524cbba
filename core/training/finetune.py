"""What `genseg train`'s loop needs to fine-tune instead of training from scratch.

- `prepare_pipeline`: load the base model, hash its weights, freeze it and inject LoRA, plus
  trainable copies of the layers the targets train in full (or, with `mode="full"`, leave
  the denoiser trainable for a full fine-tune);
- `save_only_trainable`: accelerate checkpoint hooks so a LoRA run's checkpoints hold
  only the adapter (and its optimizer state), not another copy of the base;
- `export_finetune`: write the adapter folder (weights + card, with the end-of-training scores
  a caller's scorer computed: the command passes `genseg.evaluation.runner.finetune_scores`)
  or, for a full fine-tune, a model folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from genseg.config import ModelConfig, TrainConfig
from genseg.errors import CheckpointError
from genseg.training.checkpoints import RUN_CONFIG, export_pipeline
from genseg.training.model_card import model_readme
from genseg.version import __version__

TEXT_ENCODER = "text_encoder"
# (pipeline, config, dataset folders) -> the scores an adapter's card records
ScoreAtEnd = Callable[[Any, TrainConfig, list[Path]], dict[str, Any]]


def _denoiser_kind(denoiser) -> str:
    name = type(denoiser).__name__
    if name == "LateFusionDenoiser":
        return "late_fusion"
    return "unet" if name.startswith("UNet") else "mmdit" if name.startswith("SD3") else "dit"


def base_model_config(base: str | Path) -> ModelConfig:
    """The base's recorded model config when genseg trained it, else one read off the loaded pipeline.

    Either way the base must be a finished model folder (a clear error otherwise), checked
    before the training loop writes anything.
    """
    from genseg.pipeline import load_pipeline

    record = Path(base) / RUN_CONFIG
    if record.is_file() and (Path(base) / "model_index.json").is_file():
        return TrainConfig.model_validate_json(record.read_text()).model
    pipe = load_pipeline(base, device="cpu")
    cfg = pipe.config
    return ModelConfig.model_validate(
        {
            "resolution": cfg.resolution,
            "text_encoder": {"kind": "tiny", "max_length": cfg.max_text_length},
            "codec": {"kind": "space_to_depth", "factor": pipe.codec.downsample}
            if type(pipe.codec).__name__ == "SpaceToDepthCodec"
            else {"kind": "tiny_autoencoder_kl"},
            "denoiser": {"kind": _denoiser_kind(pipe.denoiser)},
            "objective": {
                "prediction": cfg.prediction_type,
                "formulation": cfg.get("formulation", "flow"),
                "image_shortcut": cfg.get("image_shortcut", True),
                "loss": "linear_bce"
                if pipe.mask_head is not None and cfg.get("formulation", "flow") == "flow"
                else "latent_mse",
            },
        }
    )


def adapter_modules(pipe, cfg: TrainConfig) -> dict[str, torch.nn.Module]:
    """The components a LoRA fine-tune adapts."""
    out = {"denoiser": pipe.denoiser}
    if cfg.finetune is not None and cfg.finetune.text_encoder:
        out[TEXT_ENCODER] = pipe.text_encoder
    return out


def prepare_pipeline(cfg: TrainConfig):
    """The base pipeline, on CPU, ready for the training loop (base hash kept on it)."""
    from genseg.adapters.runtime import base_hash, inject_lora
    from genseg.adapters.targets import target_modules, trained_modules
    from genseg.pipeline import load_pipeline

    ft = cfg.finetune
    pipe = load_pipeline(ft.base_model, device="cpu")
    base_hash(pipe)  # of the untouched base
    for part in pipe.components.values():
        if isinstance(part, torch.nn.Module):
            part.requires_grad_(False)
    if ft.mode == "full":
        pipe.denoiser.requires_grad_(True)
        if pipe.mask_head is not None:
            pipe.mask_head.requires_grad_(True)
        return pipe
    alpha = ft.lora_alpha or float(ft.lora_rank)
    for component, module in adapter_modules(pipe, cfg).items():
        names = target_modules(module, ft.targets, component)
        full = trained_modules(module, ft.targets) if component == "denoiser" else []
        inject_lora(module, ft.adapter_name, ft.lora_rank, alpha, names, full)
    return pipe


def parameter_counts(pipe, cfg: TrainConfig) -> tuple[int, int, int]:
    """(trainable, base parameters of the adapted components, base parameters of the pipeline)."""
    modules = [m for m in pipe.components.values() if isinstance(m, torch.nn.Module)]
    trainable = sum(p.numel() for m in modules for p in m.parameters() if p.requires_grad)

    def base(ms) -> int:
        return sum(p.numel() for m in ms for n, p in m.named_parameters() if not is_adapter_tensor(n))

    return trainable, base(adapter_modules(pipe, cfg).values()), base(modules)


def save_only_trainable(accelerator, model: torch.nn.Module) -> None:
    """Checkpoints of `model` keep only its trainable tensors (the adapter), and load them back."""
    from accelerate.utils import SAFE_WEIGHTS_NAME
    from safetensors.torch import load_file

    target = accelerator.unwrap_model(model)
    keep = {name for name, p in target.named_parameters() if p.requires_grad}

    def save_hook(models, weights, output_dir):
        for i, m in enumerate(models):
            if accelerator.unwrap_model(m) is target and i < len(weights):
                weights[i] = {k: v for k, v in weights[i].items() if k.removeprefix("module.") in keep}

    def load_hook(models, input_dir):
        for m in list(models):
            if accelerator.unwrap_model(m) is not target:
                continue
            models.remove(m)
            path = Path(input_dir) / SAFE_WEIGHTS_NAME
            state = {k.removeprefix("module."): v for k, v in load_file(str(path)).items()}
            if set(state) != keep:
                odd = sorted(set(state) ^ keep)
                raise CheckpointError(
                    f"the checkpoint's adapter tensors do not match this run "
                    f"({len(odd)} differ, e.g. {odd[0]})",
                    path=path,
                    fix="resume with the same base model, --lora-rank and --targets",
                )
            try:
                target.load_state_dict(state, strict=False)
            except RuntimeError as exc:  # same names, other shapes (another --lora-rank)
                raise CheckpointError(
                    f"the checkpoint's adapter tensors do not match this run: {str(exc).splitlines()[-1]}",
                    path=path,
                    fix="resume with the same base model, --lora-rank and --targets",
                ) from None

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)


def _input_contract(dataset, domain: str, resolution: int):
    """What the training images looked like after the reader and the domain's preprocessing."""
    from genseg.adapters.card import InputContract
    from genseg.data.io import load_image
    from genseg.data.schema import resolve_path

    entry, _, ds = dataset.items[0]
    sample = load_image(resolve_path(dataset.folders[ds], entry.image), dataset.specs[ds].domain)
    return InputContract.from_sample(sample, domain, resolution)


def _vocabulary_id(domain: str) -> str:
    from genseg.errors import GenSegError
    from genseg.plugins.registry import vocabulary

    try:
        plugin, vocab = vocabulary(domain)[0]
    except GenSegError:
        return ""
    return f"{plugin}:{vocab.name}"


def adapter_domain(dataset, requested: str | None) -> str:
    """The adapter's domain: as asked, else the one domain its datasets share."""
    from genseg.errors import ConfigError

    if requested:
        return requested
    domains = sorted({spec.domain for spec in dataset.specs})
    if len(domains) > 1:
        raise ConfigError(
            f"the datasets are of several domains ({', '.join(domains)})",
            fix="name the adapter's domain with --domain",
        )
    return domains[0]


def export_finetune(
    pipe, cfg: TrainConfig, output: Path, dataset, seconds: float, score_at_end: ScoreAtEnd | None = None
) -> dict[str, Any]:
    """Score (when the caller gives a scorer), then write the adapter (or, for `mode="full"`,
    the model); returns the scores, which the adapter's card records."""
    from genseg.adapters.card import AdapterManifest, BaseModelRef, DatasetUse, LoraSpec, TrainingCard
    from genseg.adapters.runtime import base_hash
    from genseg.adapters.shots import images_used, pairs_per_class
    from genseg.adapters.store import save_adapter

    ft = cfg.finetune
    scores = score_at_end(pipe, cfg, list(dataset.folders)) if score_at_end is not None else {}
    pipe.to("cpu")
    if ft.mode == "full":
        base = Path(ft.base_model).name or ft.base_model
        export_pipeline(pipe, output, readme=model_readme(pipe, cfg, dataset, output, base_model=base))
        return scores
    trainable, adapted, _ = parameter_counts(pipe, cfg)
    domain = adapter_domain(dataset, ft.domain)
    pairs, images = pairs_per_class(dataset), images_used(dataset)
    uses = [
        DatasetUse(
            name=spec.name,
            path=str(folder),
            domain=spec.domain,
            images=images.get(spec.name, 0),
            pairs_per_class=pairs.get(spec.name, {}),
        )
        for folder, spec in zip(dataset.folders, dataset.specs, strict=True)
    ]
    modules = adapter_modules(pipe, cfg)
    manifest = AdapterManifest(
        name=ft.adapter_name,
        description=ft.description,
        genseg_version=__version__,
        domain=domain,
        vocabulary=_vocabulary_id(domain),
        prompts=dataset.class_names(),
        base=BaseModelRef(
            name=Path(ft.base_model).name or ft.base_model,
            weights_sha256=base_hash(pipe),
            denoiser=type(pipe.denoiser).__name__,
        ),
        input=_input_contract(dataset, domain, cfg.model.resolution),
        lora=LoraSpec(
            rank=ft.lora_rank,
            alpha=ft.lora_alpha or float(ft.lora_rank),
            targets=ft.targets,
            modules={c: lora_targets(m) for c, m in modules.items()},
            trained={c: names for c, m in modules.items() if (names := trained_targets(m))},
            trainable_parameters=trainable,
            adapted_parameters=adapted,
        ),
        training=TrainingCard(
            datasets=uses,
            shots=cfg.shots,
            steps=cfg.steps,
            batch_size=cfg.batch_size,
            learning_rate=cfg.learning_rate,
            seed=cfg.seed,
            seconds=round(seconds, 1),
        ),
        scores=scores,
    )
    save_adapter(output, modules, ft.adapter_name, manifest)
    return scores


def lora_targets(module: torch.nn.Module) -> list[str]:
    """The names of the layers LoRA wraps in `module` (as they were before wrapping)."""
    return [n for n, m in module.named_modules() if hasattr(m, "base_layer") and "lora_" not in n]


def trained_targets(module: torch.nn.Module) -> list[str]:
    """The names of the layers of `module` an adapter replaces by a trained copy (`modules_to_save`)."""
    from peft.utils.other import ModulesToSaveWrapper

    return [n for n, m in module.named_modules() if isinstance(m, ModulesToSaveWrapper)]


def is_adapter_tensor(name: str) -> bool:
    """Whether a parameter name is an adapter's (a LoRA factor or a trained copy), not the base's."""
    parts = name.split(".")
    return "modules_to_save" in parts or any(p.startswith("lora_") for p in parts)
