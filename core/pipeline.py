"""`GenSegPipeline`: image + text prompt(s) → generated mask(s).

A diffusers `DiffusionPipeline`, so `save_pretrained` / `from_pretrained` round-trip the
whole model as one folder. Inference only (training lives in `genseg.training`):
- one step from pure noise at t = 1 (`num_inference_steps=1`, the default, GenMask);
- N Euler steps of the rectified-flow ODE (label diffusion, as in GS);
- an ensemble of K noise draws, returning the mean mask and a per-pixel uncertainty
  (the standard deviation across draws), as Marigold does for depth.

Two baselines run through the same call (`formulation`, `image_shortcut` in the config,
see genseg.objective.discriminative): a discriminative segmenter (one deterministic
forward; steps ignored, no noise drawn) and the flow model without the image-latent shortcut.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import DiffusionPipeline, FlowMatchEulerDiscreteScheduler
from diffusers.utils import BaseOutput

# The modules of genseg's own components must be imported for diffusers' from_pretrained to
# find the classes named in model_index.json (library "genseg.models.codec", ...).
import genseg.models.codec  # noqa: F401
import genseg.models.heads  # noqa: F401
import genseg.models.image_encoder  # noqa: F401
import genseg.models.late_fusion  # noqa: F401
import genseg.models.refiner  # noqa: F401
from genseg.config import ModelConfig
from genseg.data.bands import RGB, band_options, model_input
from genseg.data.image_processor import ImageLike, resize_image, resize_probabilities, to_image_tensor
from genseg.data.io import load_image
from genseg.errors import InputError, PromptError
from genseg.inference import DEFAULT_STEPS, DEFAULT_THRESHOLD, inference_options
from genseg.model_folder import check_local_reference, check_model_folder
from genseg.models.denoisers import image_context, predict_velocity
from genseg.models.factory import build_components
from genseg.models.image_encoder import join_image_tokens
from genseg.models.packaged import resolve_references
from genseg.models.text_encoder import TextFeatures, encode_prompts, validate_prompts
from genseg.objective.discriminative import discriminative_inputs, output_to_logits
from genseg.objective.flow import one_step_logits, velocity_from_output
from genseg.volumes import segment_volume

OUTPUT_TYPES = ("np", "pt")
"""What the pipeline returns its masks and probabilities as: numpy arrays or torch tensors."""


VOLUME_DOMAINS = ("medical",)
"""Domains where an array that can only be a volume (D×H×W) is read as one without ``volume=True``."""


@dataclass
class VolumeInput:
    """A D×H×W×C volume handed to the pipeline (from a file at ``path``, or an array)."""

    array: np.ndarray
    path: str | Path | None = None


@dataclass
class GenSegOutput(BaseOutput):
    """masks: N×P×H×W bool; probabilities: N×P×H×W in [0,1]; uncertainty: same or None."""

    masks: np.ndarray | torch.Tensor
    probabilities: np.ndarray | torch.Tensor
    uncertainty: np.ndarray | torch.Tensor | None = None


class GenSegPipeline(DiffusionPipeline):
    model_cpu_offload_seq = "text_encoder->image_encoder->denoiser->codec"
    _optional_components = ["image_encoder", "mask_head", "refiner"]

    def __init__(
        self,
        denoiser,
        codec,
        text_encoder,
        tokenizer,
        scheduler: FlowMatchEulerDiscreteScheduler,
        image_encoder=None,
        mask_head=None,
        refiner=None,
        resolution: int = 128,
        max_text_length: int = 16,
        prediction_type: str = "sample",
        formulation: str = "flow",
        image_shortcut: bool = True,
        seg_logit_scale: float = 4.0,
        bands: list[str] | None = None,
        default_inference_steps: int = DEFAULT_STEPS,
        default_threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        super().__init__()
        self.register_modules(
            denoiser=denoiser,
            codec=codec,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            scheduler=scheduler,
            image_encoder=image_encoder,
            mask_head=mask_head,
            refiner=refiner,
        )
        # the two baseline keys have defaults, so folders saved before them load as flow models
        self.register_to_config(
            resolution=resolution,
            max_text_length=max_text_length,
            prediction_type=prediction_type,
            formulation=formulation,
            image_shortcut=image_shortcut,
            seg_logit_scale=seg_logit_scale,
            # the channels the network reads (genseg.data.bands); folders saved before it read RGB
            bands=list(bands or RGB),
            # what a call that names no steps or threshold uses (genseg.inference); a folder
            # saved before them gets the one-step generator's 1 and 0.5
            default_inference_steps=default_inference_steps,
            default_threshold=default_threshold,
        )

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs: Any) -> GenSegPipeline:
        """diffusers' loading, with the components a folder stores by reference (the packaged
        MiniLM, `genseg.models.packaged`) read from the installed package; components passed
        as keyword arguments are used as given."""
        folder = Path(pretrained_model_name_or_path)
        if folder.is_dir():
            dtype = kwargs.get("torch_dtype", kwargs.get("dtype"))
            for name, part in resolve_references(folder, dtype, skip=kwargs).items():
                kwargs.setdefault(name, part)
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    @property
    def band_layout(self) -> list[str]:
        """The image channels the network reads, by name (:mod:`genseg.data.bands`)."""
        return list(getattr(self.config, "bands", None) or RGB)

    # ------------------------------------------------------------------ inputs
    def check_inputs(
        self,
        images: list[torch.Tensor],
        prompts: list[str],
        num_inference_steps: int,
        ensemble_size: int,
        threshold: float,
    ) -> None:
        if not images:
            raise InputError("no image given")
        if not prompts:
            raise PromptError("no prompt given", fix='pass at least one prompt, e.g. prompt="liver"')
        validate_prompts(prompts)
        if num_inference_steps < 1:
            raise InputError(f"num_inference_steps must be ≥ 1, got {num_inference_steps}")
        if ensemble_size < 1:
            raise InputError(f"ensemble_size must be ≥ 1, got {ensemble_size}")
        if ensemble_size > 1 and self.config.formulation == "discriminative":
            raise InputError(
                f"ensemble_size={ensemble_size} on a discriminative model: it draws no noise, so every "
                "member would be the same forward pass and the uncertainty zero",
                fix="use ensemble_size=1 with this model",
            )
        if not 0.0 <= threshold <= 1.0:
            raise InputError(f"threshold must be in [0, 1], got {threshold}")

    def encode_text(self, prompts: list[str]) -> TextFeatures:
        return encode_prompts(self.text_encoder, self.tokenizer, prompts, self.config.max_text_length)

    def execution_device(self) -> torch.device:
        """diffusers' ``_execution_device``, remembered while nothing that decides it changes.

        The property walks every submodule looking for offload hooks (~3 ms per call on a CPU,
        an eighth of a one-step call of the tiny default); the key holds each component's
        device and whether an offload hook is attached, so ``.to()`` or enabling offloading
        recomputes it."""
        parts = [m for m in self.components.values() if isinstance(m, torch.nn.Module)]
        key = tuple(
            (
                id(m),
                str(next(m.parameters(), torch.empty(0)).device),
                hasattr(m, "_hf_hook"),
                hasattr(m, "_diffusers_hook"),
            )
            for m in parts
        )
        cached = self.__dict__.get("_device_cache")
        if cached is None or cached[0] != key:
            cached = (key, self._execution_device)
            self.__dict__["_device_cache"] = cached
        return cached[1]

    def cached_text(self, prompts: list[str]) -> TextFeatures:
        """``encode_text`` kept across calls: a tiled raster or a benchmark asks for the same
        prompts thousands of times, and on a CPU encoding them costs more than a one-step
        denoiser pass. The key holds the text encoder's parameter versions (any in-place
        change of its weights: training, fusing) and the active adapters, so a stale entry
        is never returned."""
        from collections import OrderedDict

        state = self.__dict__.get("_genseg_adapters")
        adapters = None
        if state is not None:
            adapters = (tuple(state.active), tuple(state.weights), state.enabled, state.fused)
        versions = sum(p._version for p in self.text_encoder.parameters())
        key = (tuple(prompts), self.config.max_text_length, id(self.text_encoder), versions, adapters)
        cache = self.__dict__.setdefault("_text_cache", OrderedDict())
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        feats = self.encode_text(prompts)
        cache[key] = feats
        while len(cache) > 32:
            cache.popitem(last=False)
        return feats

    # ------------------------------------------------------------------ core
    def denoise(
        self,
        noise: torch.Tensor,
        z_image: torch.Tensor,
        text: TextFeatures,
        steps: int,
        show_progress: bool = False,
        image_features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Integrate the flow ODE from t = 1 to 0 with Euler steps; returns the clean latent.

        ``image_features``: a late-fusion denoiser's trunk output for these rows, computed once
        for every step (it does not depend on t)."""
        # evenly spaced from t = 1 to 0 (the scheduler's default ends at 1/1000, which makes a
        # second step nearly empty)
        self.scheduler.set_timesteps(sigmas=[1.0 - i / steps for i in range(steps)], device=noise.device)
        x = noise
        timesteps = self.scheduler.timesteps
        iterator = self.progress_bar(timesteps) if show_progress and steps > 1 else timesteps
        for t in iterator:
            t_batch = (t / self.scheduler.config.num_train_timesteps).expand(x.shape[0]).to(x.dtype)
            out = predict_velocity(self.denoiser, x, z_image, t_batch, text, image_features=image_features)
            v = velocity_from_output(out, x, t_batch, self.config.prediction_type)
            x = self.scheduler.step(v.to(x.dtype), t, x).prev_sample
        return x

    def predict_logits(
        self, z_image: torch.Tensor, text: TextFeatures, image_features: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The discriminative baseline's single forward: pixel logits B×1×res×res, no noise."""
        empty, t = discriminative_inputs(z_image, self.codec.mask_latent_channels)
        out = predict_velocity(self.denoiser, empty, z_image, t, text, image_features=image_features)
        if self.mask_head is not None:
            out = out.to(self.mask_head.dtype)
        return output_to_logits(out, self.codec.downsample, self.mask_head)

    def decode(self, latent: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        """Mask probabilities B×1×res×res of clean mask latents; with a refiner, decoded at full
        resolution from the latent's pixel logits and the (resized) images."""
        if self.mask_head is not None:
            return torch.sigmoid(self.mask_head(latent).float())
        if self.refiner is not None and image is not None:
            coarse = one_step_logits(self.codec, latent.float(), self.config.seg_logit_scale)
            refined = self.refiner(coarse.to(self.refiner.dtype), image.to(self.refiner.dtype))
            return torch.sigmoid(refined.float())
        return self.codec.decode_mask(latent).float()

    def prepare_images(
        self,
        image: Any,
        domain: str = "generic",
        options: dict | None = None,
        volume: bool | None = False,
    ) -> list:
        """Paths read through the plugins and laid out in the model's bands; a batched N×C×H×W
        tensor split into its images; everything else as given. A volume (see ``__call__``
        for the rule) comes back as the one element, a D×H×W×C :class:`VolumeInput`."""
        items = list(image) if isinstance(image, (list, tuple)) else [image]
        out: list = []
        for item in items:
            if isinstance(item, (str, Path)):
                sample = load_image(item, domain, band_options(self.band_layout, options))
                if sample.is_volume and volume is not False:
                    out.append(VolumeInput(sample.array, item))
                    continue
                if volume or sample.is_volume:
                    shape = "×".join(map(str, sample.array.shape[: 3 if sample.is_volume else 2]))
                    what = "a volume" if sample.is_volume else "a 2D image"
                    raise InputError(
                        f"the input is {what} ({shape}), but volume={volume} was passed",
                        path=item,
                        fix="leave volume out (None): a file is a volume when its reader says so",
                    )
                out.append(model_input(sample.array, sample.meta.get("bands"), self.band_layout, item))
            elif isinstance(item, (np.ndarray, torch.Tensor)) and self.is_volume_array(item, domain, volume):
                array = item.detach().cpu().numpy() if isinstance(item, torch.Tensor) else item
                out.append(VolumeInput(array[..., None] if array.ndim == 3 else array))
            elif isinstance(item, torch.Tensor) and item.ndim == 4:
                out.extend(item.unbind(0))
            else:
                out.append(item)
        volumes = [i for i in out if isinstance(i, VolumeInput)]
        if volumes and len(out) > 1:
            raise InputError(
                f"a volume was given with {len(out) - 1} other input(s) in one call",
                path=volumes[0].path,
                fix="segment each volume in a call of its own",
            )
        return out

    def is_volume_array(self, array: np.ndarray | torch.Tensor, domain: str, volume: bool | None) -> bool:
        """Whether ``array`` is a volume, by the rule of ``__call__`` (errors where it cannot tell)."""
        if volume is False:
            return False
        shape, channels = tuple(array.shape), {1, 3, 4, len(self.band_layout)}
        if isinstance(array, np.ndarray):  # numpy images are H×W or H×W×C
            image = len(shape) == 2 or (len(shape) == 3 and shape[-1] in channels)
        else:  # tensors C×H×W or N×C×H×W
            image = len(shape) == 2 or (len(shape) in (3, 4) and shape[-3] in channels)
        can_be_volume = len(shape) == 3 or (len(shape) == 4 and shape[-1] in channels)
        dims = "×".join(map(str, shape))
        if volume:
            if not can_be_volume:
                raise InputError(
                    f"volume=True, but an array of shape {dims} is not D×H×W or D×H×W×C",
                    fix="pass the volume slices first and channels last (D×H×W or D×H×W×C)",
                )
            return True
        if not can_be_volume or (image and domain not in VOLUME_DOMAINS):
            return False  # an image (a wrong shape is reported when it is read as one)
        if image:
            raise InputError(
                f"an array of shape {dims} in domain {domain!r} may be an image or a D×H×W(×C) volume",
                fix="pass volume=True to segment it slice by slice, or volume=False for one image",
            )
        if domain not in VOLUME_DOMAINS:
            raise InputError(
                f"an array of shape {dims} is not an image this model reads: its channels (last in "
                f"numpy H×W×C, first in a tensor C×H×W or N×C×H×W) must number 1, 3, 4 or the model's "
                f"{len(self.band_layout)} ({', '.join(self.band_layout)})",
                fix="give the image the model's channels, or pass volume=True to segment it as a "
                "D×H×W(×C) volume",
            )
        return True

    def segment_volume_input(
        self,
        volume: VolumeInput,
        prompts: list[str],
        num_inference_steps: int | None,
        ensemble_size: int,
        generator: torch.Generator | None,
        threshold: float | None,
        output_type: str,
        return_dict: bool,
    ) -> GenSegOutput | tuple:
        """A volume through :func:`genseg.volumes.segment_volume`, as `genseg segment` does:
        slices in batches of :class:`~genseg.inference.InferenceOptions`' ``batch_size``,
        batch ``b`` seeded with ``generator.initial_seed() + b`` (0 without a generator)."""
        inference = inference_options(
            steps=num_inference_steps,
            ensemble=ensemble_size,
            threshold=threshold,
            seed=0 if generator is None else generator.initial_seed(),
        )
        progress = not getattr(self, "_progress_bar_config", {}).get("disable", False)
        seg = segment_volume(self, volume.array, prompts, inference, progress=progress)
        parts = [
            seg.masks[None],
            seg.probabilities[None],
            None if seg.uncertainty is None else seg.uncertainty[None],
        ]
        if output_type == "pt":
            parts = [None if p is None else torch.from_numpy(p) for p in parts]
        if not return_dict:
            return tuple(parts)
        return GenSegOutput(*parts)

    @torch.no_grad()
    def __call__(
        self,
        image: ImageLike | list[ImageLike],
        prompt: str | list[str],
        num_inference_steps: int | None = None,
        ensemble_size: int = 1,
        generator: torch.Generator | None = None,
        threshold: float | None = None,
        batch_size: int = 16,
        output_type: str = "np",
        return_dict: bool = True,
        domain: str = "generic",
        options: dict | None = None,
        volume: bool | None = None,
    ) -> GenSegOutput | tuple:
        """Segment every prompt in every image, or in every slice of a volume.

        ``image``: a path (read and preprocessed by the plugin that claims it, for ``domain``
        with ``-O``-style ``options``), a PIL image, an H×W×C array, a C×H×W or N×C×H×W tensor,
        or a list of these. Returns masks of shape N×P×H×W at each input's own size (all inputs
        must share a size when several are given; pass them one by one otherwise), as numpy
        arrays (``output_type="np"``) or torch tensors (``"pt"``). ``num_inference_steps`` and
        ``threshold`` left at None are the model's defaults (``default_inference_steps``,
        ``default_threshold`` in its config). ``batch_size`` bounds the (image, prompt, draw)
        rows of one forward pass.

        **Volumes.** A volume path (NIfTI, a DICOM series folder: whatever the plugins read as
        one) or a volume array is segmented slice by slice, every slice, as `genseg segment`
        does (:func:`genseg.volumes.segment_volume`), and its masks, probabilities and
        uncertainty are shaped like the volume: 1×P×D×H×W (one volume per call). A file is a
        volume when its reader says so. An array is one when ``volume=True`` (D×H×W or
        D×H×W×C, channels last), never when ``volume=False``, and with ``volume=None`` (the
        default) when it cannot be an image (numpy H×W×C, tensor C×H×W or N×C×H×W, C being
        1, 3, 4 or the model's bands) and ``domain`` is ``"medical"``: a D×H×W CT array is a
        volume there. An array that could be either in that domain, or that is no image in
        another, is an error asking for ``volume=True`` or ``volume=False``. A volume's slice
        batches are seeded from ``generator.initial_seed()`` (0 without a generator), so the
        masks are those of `genseg segment --seed`.
        """
        if output_type not in OUTPUT_TYPES:
            raise InputError(
                f"unknown output_type {output_type!r}",
                fix=f"pass one of {', '.join(map(repr, OUTPUT_TYPES))}",
            )
        images = self.prepare_images(image, domain, options, volume)
        if images and isinstance(images[0], VolumeInput):
            prompts = [prompt] if isinstance(prompt, str) else list(prompt)
            return self.segment_volume_input(
                images[0],
                prompts,
                num_inference_steps,
                ensemble_size,
                generator,
                threshold,
                output_type,
                return_dict,
            )
        if num_inference_steps is None:
            num_inference_steps = self.config.get("default_inference_steps", DEFAULT_STEPS)
        if threshold is None:
            threshold = self.config.get("default_threshold", DEFAULT_THRESHOLD)
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        input_check = self.__dict__.get("_input_check")  # set by genseg.adapters when active
        if input_check is not None:
            input_check(images)
        tensors = [to_image_tensor(i, len(self.band_layout)) for i in images]
        self.check_inputs(tensors, prompts, num_inference_steps, ensemble_size, threshold)
        sizes = {tuple(t.shape[1:]) for t in tensors}
        if len(sizes) > 1:
            raise InputError(
                f"images of different sizes in one call: {sorted(sizes)}",
                fix="call the pipeline once per size",
            )
        height, width = sizes.pop()
        device, dtype = self.execution_device(), self.denoiser.dtype
        res = self.config.resolution
        n_img, n_prompt, k = len(tensors), len(prompts), ensemble_size

        text = self.cached_text(prompts).to(device, dtype)
        batch = (torch.stack(tensors) if len(tensors) > 1 else tensors[0][None]).to(device)
        resized = resize_image(batch, res)
        z_images = self.codec.encode_image(resized.to(self.codec.dtype)).to(dtype)
        if not self.config.image_shortcut:
            z_images = torch.zeros_like(z_images)  # the ablation: the slot is there, the image is not
        discriminative = self.config.formulation == "discriminative"
        # a late-fusion trunk sees each image once, whatever the number of prompts and steps
        trunk, img_tokens = image_context(self.denoiser, self.image_encoder, z_images, resized)

        # one row per (image, prompt, draw); noise drawn in that order so results do not
        # depend on batch_size
        rows = [(i, p) for i in range(n_img) for p in range(n_prompt) for _ in range(k)]
        latent_shape = (self.codec.mask_latent_channels, z_images.shape[2], z_images.shape[3])
        noise = (
            None
            if discriminative
            else torch.randn((len(rows), *latent_shape), generator=generator, dtype=torch.float32)
        )
        probs = torch.empty(len(rows), 1, res, res)
        for start in range(0, len(rows), batch_size):
            idx = rows[start : start + batch_size]
            ii = torch.tensor([r[0] for r in idx], device=device)
            pp = torch.tensor([r[1] for r in idx], device=device)
            feats = TextFeatures(text.tokens[pp], text.mask[pp], text.pooled[pp])
            if img_tokens is not None:
                feats = join_image_tokens(feats, img_tokens[ii])
            rows_features = trunk[ii] if trunk is not None else None
            if discriminative:
                logits = self.predict_logits(z_images[ii], feats, rows_features)
                probs[start : start + len(idx)] = torch.sigmoid(logits.float()).cpu()
                continue
            chunk_noise = noise[start : start + len(idx)].to(device, dtype)
            latent = self.denoise(
                chunk_noise,
                z_images[ii],
                feats,
                num_inference_steps,
                show_progress=n_img * n_prompt * k <= batch_size,
                image_features=rows_features,
            )
            probs[start : start + len(idx)] = self.decode(latent.to(self.codec.dtype), resized[ii]).cpu()

        probs = probs.view(n_img, n_prompt, k, res, res)
        mean = probs.mean(2)
        std = probs.std(2, unbiased=False) if k > 1 else None
        mean = resize_probabilities(mean, (height, width)).clamp_(0, 1)
        if std is not None:
            std = resize_probabilities(std, (height, width)).clamp_(min=0)
        masks = mean > threshold
        if output_type == "np":
            masks, mean = masks.numpy(), mean.numpy()
            std = std.numpy() if std is not None else None
        self.maybe_free_model_hooks()
        if not return_dict:
            return masks, mean, std
        return GenSegOutput(masks=masks, probabilities=mean, uncertainty=std)


def load_pipeline(
    ref: str | Path,
    device: str | None = None,
    adapters: list[str] | tuple[str, ...] = (),
    force: bool = False,
    fuse: bool = False,
    allow_pickle: bool = False,
) -> GenSegPipeline:
    """Open a trained model folder with one clear error when it is missing or incomplete.

    `adapters` are LoRA adapters (`NAME|DIR[:WEIGHT]`) applied together; one trained on
    other base weights is refused unless `force`. `fuse` merges them into the weights.
    Weights load from safetensors only; `allow_pickle` (a warning) admits pickle files.
    """
    from genseg.errors import ModelNotFoundError
    from genseg.models.loading import check_reference, quiet_library_output, quiet_loading_logs

    quiet_library_output()
    check_local_reference(ref, "model")
    check_reference(ref, "model")
    path = Path(ref)
    if path.exists() and not (path / "model_index.json").is_file():
        hint = (
            " (training may still be running or was interrupted)" if (path / "checkpoints").is_dir() else ""
        )
        raise ModelNotFoundError(
            f"not a genseg model folder: no model_index.json{hint}",
            path=path,
            fix="pass the --output folder of a finished `genseg train`",
        )
    if path.is_dir():
        check_model_folder(path, allow_pickle=allow_pickle)
    try:
        with quiet_loading_logs():
            pipe = GenSegPipeline.from_pretrained(
                str(path) if path.exists() else str(ref), use_safetensors=None if allow_pickle else True
            )
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as exc:  # a damaged .bin unpickles badly
        raise ModelNotFoundError(
            f"cannot load the model: {str(exc).splitlines()[0]}",
            path=ref,
            fix="check the folder was written by genseg (save_pretrained)",
        ) from exc
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    pipe.set_progress_bar_config(disable=True)
    if adapters:
        from genseg.adapters.runtime import attach_adapters

        attach_adapters(pipe, list(adapters), force=force, fuse=fuse)
    return pipe.to(device)


def build_pipeline(cfg: ModelConfig, seed: int = 0) -> GenSegPipeline:
    """A new, untrained pipeline built from `cfg` (seeded), in inference mode."""
    parts = build_components(cfg, seed)
    for part in parts.values():
        if isinstance(part, torch.nn.Module):
            part.eval()  # inference until a trainer says otherwise, as from_pretrained gives
    return GenSegPipeline(
        **parts,
        resolution=cfg.resolution,
        max_text_length=cfg.text_encoder.max_length,
        prediction_type=cfg.objective.prediction,
        formulation=cfg.objective.formulation,
        image_shortcut=cfg.objective.image_shortcut,
        seg_logit_scale=cfg.objective.seg_logit_scale,
        bands=cfg.band_layout,
    )
