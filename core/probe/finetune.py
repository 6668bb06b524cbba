"""Sharpen the probe's block with LoRA and mask supervision (Seg4Diff's fine-tuning).

LoRA (rank 16, PEFT) wraps the chosen block's joint attention: the image stream's q/k/v/out
(`to_q`, `to_k`, `to_v`, `to_out.0`) and the text stream's q/k/v (`add_q_proj`, `add_k_proj`,
`add_v_proj`; the text keys are half of what the image-to-text map is made of). The rest of
the model is frozen. The loss compares the probe's normalised map (per-map min-max, exactly
what inference thresholds) with the mask: BCE + Dice. The generator's own output is not
supervised, so this adapter serves the probe only; it is saved apart from the model as
`probe_lora.safetensors` + `probe_lora.json`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from genseg.errors import AdapterError
from genseg.file_modes import apply_umask

WEIGHTS = "probe_lora.safetensors"
CARD = "probe_lora.json"
ADAPTER_NAME = "probe"
TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj")


@dataclass
class ProbeFinetuneResult:
    layer: int
    steps: int
    seconds: float
    losses: list[float] = field(default_factory=list)


def target_names(denoiser, layer: int) -> list[str]:
    """Full module names of the LoRA targets in block `layer` that this model has."""
    prefix = f"transformer_blocks.{layer}.attn."
    names = {name for name, _ in denoiser.named_modules()}
    return [prefix + t for t in TARGETS if prefix + t in names]


def add_probe_lora(denoiser, layer: int, rank: int = 16, alpha: float | None = None) -> list[str]:
    from peft import LoraConfig, inject_adapter_in_model

    targets = target_names(denoiser, layer)
    config = LoraConfig(r=rank, lora_alpha=alpha or rank, target_modules=targets, lora_dropout=0.0)
    inject_adapter_in_model(config, denoiser, adapter_name=ADAPTER_NAME)
    return targets


def _training_pairs(folders: Sequence[Path], split: str, resolution: int):
    """Every (image, class present) of the split, resized to the model's resolution."""
    import numpy as np

    from genseg.data.image_processor import ImageProcessor
    from genseg.data.io import load_image, load_label
    from genseg.evaluation.runner import split_items

    processor = ImageProcessor(resolution)
    images, masks, names = [], [], []
    for item in (it for f in folders for it in split_items(Path(f), split)):
        image, label = load_image(item.image, item.domain).array, load_label(item.label).array
        planes = (
            [(image[z], label[z]) for z in range(image.shape[0])] if image.ndim == 4 else [(image, label)]
        )
        for plane, lab in planes:
            tensor = processor.preprocess(plane)[0]
            for name, values in item.classes:
                truth = torch.from_numpy(np.isin(lab, values).astype(np.float32))
                if not truth.any():
                    continue
                images.append(tensor)
                masks.append(processor.preprocess_mask(truth))
                names.append(name)
    return images, masks, names


def dice_loss(prob: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Soft Dice per map (MONAI, smoothing 1), mean over the batch; ``prob`` is already in [0, 1]."""
    from monai.losses import DiceLoss

    return DiceLoss(smooth_nr=1.0, smooth_dr=1.0)(prob.unsqueeze(1), target.unsqueeze(1))


def finetune_probe(
    probe,
    folders: Sequence[Path],
    split: str = "training",
    steps: int = 200,
    batch_size: int = 8,
    learning_rate: float = 1e-4,
    rank: int = 16,
    seed: int = 0,
    progress: bool = True,
) -> ProbeFinetuneResult:
    """Train LoRA on `probe.layer` in place (the probe's pipeline keeps the adapter)."""
    from rich.progress import track

    from genseg.models.text_encoder import PromptCache
    from genseg.probe.maps import minmax, token_weights, upsample

    pipe, layer = probe.pipe, probe.layer
    res = pipe.config.resolution
    images, masks, names = _training_pairs(folders, split, res)
    if not images:
        raise AdapterError(f"no labelled pair in the {split} split to fine-tune on", path=folders[0])
    denoiser = pipe.denoiser
    denoiser.requires_grad_(False)
    add_probe_lora(denoiser, layer, rank)
    params = [p for n, p in denoiser.named_parameters() if "lora_" in n]
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=learning_rate)
    cache = PromptCache(pipe.text_encoder, pipe.tokenizer, pipe.config.max_text_length)
    device, dtype = pipe._execution_device, denoiser.dtype
    gen = torch.Generator().manual_seed(seed)
    result = ProbeFinetuneResult(layer=layer, steps=steps, seconds=0.0)
    start = time.time()
    denoiser.train()
    for _ in track(range(steps), description=f"probe LoRA on block {layer}", disable=not progress):
        pick = torch.randint(len(images), (batch_size,), generator=gen).tolist()
        prompts = [names[i] for i in pick]
        z_images, img_tokens = probe.encode_images([images[i] for i in pick])
        text = cache(prompts).to(device, dtype)
        weights = token_weights(pipe.tokenizer, prompts, pipe.config.max_text_length, probe.special_tokens)
        noise = torch.randn((batch_size, pipe.codec.mask_latent_channels, *z_images.shape[2:]), generator=gen)
        raw = probe.pair_maps(
            z_images, text, weights, noise.to(device, dtype), [layer], img_tokens, keep_grad=True
        )[layer]
        prob = minmax(upsample(raw, (res, res))).clamp(1e-6, 1 - 1e-6)
        target = torch.stack([masks[i] for i in pick]).to(device)
        loss = F.binary_cross_entropy(prob, target) + dice_loss(prob, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        result.losses.append(float(loss.detach()))
    denoiser.eval()
    denoiser.requires_grad_(False)
    result.seconds = time.time() - start
    return result


def save_probe_lora(pipe, folder: str | Path, layer: int, rank: int, base_model: str | None = None) -> Path:
    """Write the adapter's tensors (safetensors) and then its card, each atomically."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    from genseg.data.atomic import atomic_write

    folder = Path(folder)
    state = get_peft_model_state_dict(pipe.denoiser, adapter_name=ADAPTER_NAME)
    state = {k: v.detach().cpu().contiguous() for k, v in state.items()}

    def write_weights(tmp: Path) -> None:
        save_file(state, str(tmp))
        apply_umask(tmp)  # safetensors writes 0600 whatever the umask

    atomic_write(folder / WEIGHTS, write_weights)
    card = {"layer": layer, "rank": rank, "targets": list(TARGETS), "base_model": base_model}
    atomic_write(folder / CARD, lambda tmp: tmp.write_text(json.dumps(card, indent=2)))
    return folder


def load_probe_lora(pipe, folder: str | Path) -> int:
    """Put a saved probe adapter on the pipeline's denoiser; returns the block it was trained for."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    from genseg.probe.checks import check_layer

    folder = Path(folder)
    if not (folder / CARD).is_file() or not (folder / WEIGHTS).is_file():
        raise AdapterError(
            f"not a probe adapter folder (needs {CARD} and {WEIGHTS})",
            path=folder,
            fix="pass the --output folder of genseg probe-finetune",
        )
    card = json.loads((folder / CARD).read_text())
    layer = check_layer(pipe.denoiser, int(card["layer"]))
    add_probe_lora(pipe.denoiser, layer, int(card["rank"]))
    result = set_peft_model_state_dict(
        pipe.denoiser, load_file(str(folder / WEIGHTS)), adapter_name=ADAPTER_NAME
    )
    unexpected = getattr(result, "unexpected_keys", None)
    if unexpected:
        raise AdapterError(
            f"{len(unexpected)} adapter tensors match no layer of this model (e.g. {unexpected[0]})",
            path=folder / WEIGHTS,
            fix="use the model the adapter was trained on",
        )
    pipe.denoiser.eval()
    return layer
