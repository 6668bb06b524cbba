"""Sharpen the probe's block with LoRA and mask supervision (Seg4Diff's fine-tuning).

LoRA (rank 16, PEFT) wraps the chosen block's joint attention: the image stream's q/k/v/out
(`to_q`, `to_k`, `to_v`, `to_out.0`) and the text stream's q/k/v (`add_q_proj`, `add_k_proj`,
`add_v_proj`; the text keys are half of what the image-to-text map is made of). The rest of
the model is frozen. The loss compares the probe's normalised map (per-map min-max, exactly
what inference thresholds) with the mask: BCE + Dice. The generator's own output is not
supervised, so this adapter serves the probe only.

The adapter is injected, saved and loaded like any genseg adapter (`genseg.adapters`): its
folder holds `adapter_model.safetensors`, the `genseg_adapter.json` card (base model and the
hash of its weights, LoRA shape, training data, and `probe.layer`, the block it sharpens),
the PEFT copy and a README; loading it onto another base model is refused.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from genseg.adapters.card import (
    CARD_FILE,
    AdapterManifest,
    BaseModelRef,
    DatasetUse,
    InputContract,
    LoraSpec,
    ProbeSpec,
    TrainingCard,
    read_manifest,
)
from genseg.adapters.runtime import (
    adapter_state,
    base_hash,
    fuse_adapters,
    inject_lora,
    load_adapter,
    unfuse_adapters,
)
from genseg.adapters.store import save_adapter
from genseg.errors import AdapterError
from genseg.probe.checks import check_layer
from genseg.version import __version__

ADAPTER_NAME = "probe"  # the LoRA's name on the denoiser while it trains
TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj")
# what `finetune_probe` leaves on the pipeline for `save_probe_lora` to write into the card
_RECORD = "_genseg_probe_finetune"


@dataclass
class ProbeFinetuneResult:
    layer: int
    steps: int
    seconds: float
    losses: list[float] = field(default_factory=list)
    rank: int = 16
    alpha: float = 16.0
    training: TrainingCard | None = None  # the data and schedule, as the adapter card records them
    input: InputContract | None = None
    prompts: list[str] = field(default_factory=list)


def target_names(denoiser, layer: int) -> list[str]:
    """Full module names of the LoRA targets in block `layer` that this model has."""
    prefix = f"transformer_blocks.{layer}.attn."
    names = {name for name, _ in denoiser.named_modules()}
    return [prefix + t for t in TARGETS if prefix + t in names]


def add_probe_lora(denoiser, layer: int, rank: int = 16, alpha: float | None = None) -> list[str]:
    """Inject an untrained probe LoRA on block `layer`, with the LoraConfig every adapter uses."""
    targets = target_names(denoiser, layer)
    inject_lora(denoiser, ADAPTER_NAME, rank, float(alpha or rank), targets)
    return targets


@dataclass
class _TrainingData:
    images: list[torch.Tensor]
    masks: list[torch.Tensor]
    names: list[str]
    uses: list[DatasetUse]
    input: InputContract | None


def _training_pairs(folders: Sequence[Path], split: str, resolution: int) -> _TrainingData:
    """Every (image, class present) of the split, resized to the model's resolution, and what
    the adapter card says about them (datasets, pairs per class, the input contract)."""
    import numpy as np

    from genseg.data.image_processor import ImageProcessor
    from genseg.data.io import load_image, load_label
    from genseg.data.schema import load_dataset_spec
    from genseg.evaluation.runner import split_items

    processor = ImageProcessor(resolution)
    data = _TrainingData([], [], [], [], None)
    for folder in map(Path, folders):
        items = split_items(folder, split)
        pairs: dict[str, int] = {}
        used = 0
        for item in items:
            sample, label = load_image(item.image, item.domain), load_label(item.label).array
            image = sample.array
            if data.input is None:
                data.input = InputContract.from_sample(sample, item.domain, resolution)
            planes = (
                [(image[z], label[z]) for z in range(image.shape[0])] if image.ndim == 4 else [(image, label)]
            )
            before = len(data.images)
            for plane, lab in planes:
                tensor = processor.preprocess(plane)[0]
                for name, values in item.classes:
                    truth = torch.from_numpy(np.isin(lab, values).astype(np.float32))
                    if not truth.any():
                        continue
                    data.images.append(tensor)
                    data.masks.append(processor.preprocess_mask(truth))
                    data.names.append(name)
                    pairs[name] = pairs.get(name, 0) + 1
            used += len(data.images) > before
        spec = load_dataset_spec(folder)
        domain = items[0].domain if items else spec.domain
        data.uses.append(
            DatasetUse(name=spec.name, path=str(folder), domain=domain, images=used, pairs_per_class=pairs)
        )
    return data


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
    """Train LoRA on `probe.layer` in place (the probe's pipeline keeps the adapter, and what
    `save_probe_lora` writes into the card)."""
    from rich.progress import track

    from genseg.models.text_encoder import PromptCache
    from genseg.probe.maps import minmax, token_weights, upsample

    pipe, layer = probe.pipe, probe.layer
    res = pipe.config.resolution
    data = _training_pairs(folders, split, res)
    images, masks, names = data.images, data.masks, data.names
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
    result = ProbeFinetuneResult(layer=layer, steps=steps, seconds=0.0, rank=rank, alpha=float(rank))
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
    result.training = TrainingCard(
        datasets=data.uses,
        steps=steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        seconds=round(result.seconds, 1),
    )
    result.input = data.input
    result.prompts = sorted(set(names))
    pipe.__dict__[_RECORD] = result
    return result


def _adapter_name(layer: int) -> str:
    return f"probe-block{layer}"


def save_probe_lora(
    pipe,
    folder: str | Path,
    layer: int | None = None,
    rank: int | None = None,
    base_model: str | None = None,
) -> Path:
    """Write the probe adapter `finetune_probe` trained on `pipe` as a genseg adapter folder
    (weights, PEFT copy, README, then the card with the base hash). `layer` and `rank`, when
    given, must be those it was trained with."""
    result: ProbeFinetuneResult | None = pipe.__dict__.get(_RECORD)
    if result is None or result.training is None or result.input is None:
        raise AdapterError(
            "this pipeline holds no fine-tuned probe adapter to save",
            path=Path(folder),
            fix="run finetune_probe first",
        )
    for what, given, trained in (("block", layer, result.layer), ("rank", rank, result.rank)):
        if given is not None and given != trained:
            raise AdapterError(
                f"the probe adapter was trained with {what} {trained}, not {given}", path=Path(folder)
            )
    denoiser = pipe.denoiser
    targets = target_names(denoiser, result.layer)
    name = base_model or getattr(pipe, "name_or_path", None) or "unnamed"
    manifest = AdapterManifest(
        name=_adapter_name(result.layer),
        description=f"Attention-probe LoRA on block {result.layer} (genseg probe-finetune).",
        genseg_version=__version__,
        domain=result.input.domain,
        prompts=result.prompts,
        base=BaseModelRef(
            name=Path(name).name or name, weights_sha256=base_hash(pipe), denoiser=type(denoiser).__name__
        ),
        input=result.input,
        lora=LoraSpec(
            rank=result.rank,
            alpha=result.alpha,
            targets="attn",
            modules={"denoiser": targets},
            trainable_parameters=sum(p.numel() for n, p in denoiser.named_parameters() if "lora_" in n),
            adapted_parameters=sum(p.numel() for n, p in denoiser.named_parameters() if "lora_" not in n),
        ),
        training=result.training,
        probe=ProbeSpec(layer=result.layer),
    )
    return save_adapter(folder, {"denoiser": denoiser}, ADAPTER_NAME, manifest)


def load_probe_lora(pipe, folder: str | Path) -> int:
    """Load a probe adapter folder onto the pipeline like any adapter (card, base hash and
    layers checked) and activate it; returns the block it was trained for."""
    folder = Path(folder)
    if not (folder / CARD_FILE).is_file() and (folder / "probe_lora.json").is_file():
        raise AdapterError(
            "a probe adapter in the format of earlier genseg versions, without the base model's hash",
            path=folder / "probe_lora.json",
            fix="fine-tune it again with genseg probe-finetune",
        )
    manifest = read_manifest(folder)
    if manifest.probe is None:
        raise AdapterError(
            f"adapter {manifest.name!r} was not trained for the attention probe",
            path=folder / CARD_FILE,
            fix="pass the --output folder of genseg probe-finetune, or load this one with --adapter",
        )
    fused = adapter_state(pipe).fused
    if fused:  # adapters given with --adapter are fused; add the probe's beside them
        unfuse_adapters(pipe)
    load_adapter(pipe, folder)  # refused on another base model, naming the card
    if fused:
        fuse_adapters(pipe)
    pipe.denoiser.eval()
    return check_layer(pipe.denoiser, manifest.probe.layer)
