"""Validated configuration for models and training.

Every component is chosen by name here; factories in `genseg.models.factory` turn a
config into modules. Configs load from YAML or JSON files and are saved next to every
trained model, so a run can be reproduced from its folder alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from genseg.errors import ConfigError

MAX_RESOLUTION = 4096  # the largest square training resolution accepted
MAX_BANDS = 32  # image bands a model may read (model.bands)
DEFAULT_PROMPTS_PER_IMAGE = 32  # late fusion: prompts per image in a training sample (docs/results.md)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextEncoderConfig(_Strict):
    """Which text encoder turns prompts into tokens for cross-attention and a pooled vector."""

    kind: Literal["minilm", "pretrained", "tiny"] = "minilm"
    path: str | None = Field(None, description="local folder or hub id, for kind=pretrained")
    max_length: int = Field(16, ge=4, le=512)
    tiny_hidden_size: int = Field(32, ge=1, le=4096)

    @model_validator(mode="after")
    def _needs_path(self) -> TextEncoderConfig:
        if self.kind == "pretrained" and not self.path:
            raise ValueError("text_encoder.kind=pretrained needs text_encoder.path")
        return self


class CodecConfig(_Strict):
    """How images and masks become latents: a fixed space-to-depth map or a VAE."""

    kind: Literal["space_to_depth", "autoencoder_kl", "tiny_autoencoder_kl"] = "space_to_depth"
    factor: int = Field(
        4,
        description="space-to-depth block size (latent = resolution / factor); 4 by default: at 8 a latent "
        "cell is an 8x8-pixel block and small organs fall between cells (docs/results.md)",
    )
    path: str | None = Field(None, description="AutoencoderKL folder (the SD VAE), for kind=autoencoder_kl")
    mask_as_image: bool = Field(
        False,
        description="space_to_depth only: encode a mask as a black/white 3-channel image, so its latent has "
        "the image latent's channel count (needed by joint_generation; a VAE codec always does this)",
    )

    @model_validator(mode="after")
    def _check(self) -> CodecConfig:
        if self.kind == "autoencoder_kl" and not self.path:
            raise ValueError("codec.kind=autoencoder_kl needs codec.path (a folder with the VAE)")
        if self.factor not in (1, 2, 4, 8, 16):
            raise ValueError("codec.factor must be one of 1, 2, 4, 8, 16")
        return self


class DenoiserConfig(_Strict):
    """The network that predicts the velocity of the mask latent."""

    kind: Literal["late_fusion", "unet", "dit", "mmdit"] = Field(
        "late_fusion",
        description="late_fusion (the default: a U-Net trunk on the image latent run once per image and a "
        "text-written readout per prompt, so a step trains every class of an image; docs/results.md), "
        "unet (DiGSeg: text in every block), dit (GenMask) or mmdit (SD3-style joint attention)",
    )
    path: str | None = Field(None, description="pretrained SD U-Net, PixArt DiT or SD3 MM-DiT folder")
    # tiny U-Net (DiGSeg); the bounds keep a mistyped config from asking for terabytes
    block_out_channels: list[Annotated[int, Field(ge=1, le=4096)]] = Field(
        [32, 64, 128], min_length=1, max_length=8
    )
    layers_per_block: int = Field(1, ge=1, le=16)
    cross_attention_dim: int = Field(128, ge=1, le=8192)
    attention_head_dim: int = Field(8, ge=1, le=1024)
    cross_attention_levels: list[bool] | None = Field(
        None,
        description="per level, whether it has cross-attention; default all but the full-resolution level "
        "(self-attention there doubles the CPU step time). Text reaches every level anyway through the "
        "pooled vector added to the time embedding that conditions every ResNet block.",
    )
    # late fusion (genseg.models.late_fusion): the trunk takes block_out_channels and layers_per_block
    feature_channels: int = Field(
        64, ge=1, le=4096, description="late_fusion: trunk features per latent cell"
    )
    hyper_hidden: int = Field(
        256, ge=1, le=16384, description="late_fusion: hidden width of the network that writes the readout"
    )
    readout_image: Literal["auto"] | bool = Field(
        "auto",
        description="late_fusion: the readout also reads the image latent of its cell (every band of "
        "every pixel under it), a per-pixel path beside the trunk's context. auto (the default): on "
        "when the model reads bands beyond the three colour slots (a multispectral scene, whose "
        "pixels' spectra name their class), off for RGB and grey (docs/results.md)",
    )
    # tiny DiT (GenMask)
    num_layers: int = Field(6, ge=1, le=256)
    num_attention_heads: int = Field(4, ge=1, le=256)
    dit_head_dim: int = Field(32, ge=1, le=1024)
    patch_size: int = Field(2, ge=1, le=16)
    # the tiny MM-DiT (SD3 joint attention, Seg4Diff) takes the four DiT fields above

    @model_validator(mode="after")
    def _levels(self) -> DenoiserConfig:
        if self.cross_attention_levels is not None and len(self.cross_attention_levels) != len(
            self.block_out_channels
        ):
            raise ValueError("cross_attention_levels needs one entry per block_out_channels level")
        if self.kind == "late_fusion" and self.path:
            raise ValueError(
                "denoiser.path cannot be used with denoiser.kind=late_fusion: pretrained folders are SD "
                "U-Nets, PixArt DiTs or SD3 MM-DiTs (set kind to unet, dit or mmdit to load one)"
            )
        return self


class ImageEncoderConfig(_Strict):
    """An optional frozen pretrained image encoder (genseg.models.image_encoder): its features
    join the text tokens (U-Net, DiT, MM-DiT) or, as a map on the latent grid, the late-fusion
    trunk's input."""

    kind: Literal["auto", "none", "efficientnet_lite0"] = Field(
        "auto",
        description="auto (the default): efficientnet_lite0 for the late-fusion denoiser, whose trunk "
        "otherwise learns colour and no shape in a few hundred steps (docs/results.md), none for the "
        "others",
    )
    num_tokens_side: int = Field(7, ge=1, le=32, description="tokens per side (U-Net, DiT, MM-DiT)")
    channels: int = Field(
        64, ge=1, le=1024, description="late fusion: channels the encoder's map adds to the trunk's input"
    )
    input_size: int = Field(
        0,
        ge=0,
        le=2048,
        multiple_of=32,
        description="late fusion: the side, in pixels, the encoder reads the image at (0, the default: "
        "twice the model's resolution, so a 128-pixel model's stride-8 map is read at 256 pixels; chosen "
        "on the shapes validation split, docs/results.md)",
    )


class ObjectiveConfig(_Strict):
    """Rectified-flow training: which timesteps are drawn and which loss is used."""

    timesteps: Literal["heavy_tail", "logit_normal", "uniform"] = "heavy_tail"
    heavy_tail_a: float = Field(0.05, gt=0)
    logit_mean: float = 0.0
    logit_std: float = Field(1.0, gt=0)
    loss: Literal["latent_mse", "pixel_bce", "linear_bce"] = "latent_mse"
    prediction: Literal["sample", "velocity"] = Field(
        "sample",
        description="what the network outputs: the clean latent x0 (turned into v = (x_t - x0) / t, so the "
        "loss is still the rectified-flow velocity MSE) or v directly. x0-prediction suits high-dimensional "
        "latents such as space-to-depth patches (Li & He 2025, 'Back to Basics: Let Denoising Generative "
        "Models Denoise'): the network need not carry the noise through.",
    )
    formulation: Literal["flow", "discriminative"] = Field(
        "flow",
        description="flow: generate the mask latent by rectified flow (GenMask). discriminative: a baseline "
        "with the same denoiser and text features run once, deterministically (mask-latent slot zero, "
        "t = 1), its output laid out as pixel logits and trained with BCE + Dice; timesteps and prediction "
        "are then unused, and loss=linear_bce only selects the linear head as the latent-to-logit map.",
    )
    seg_loss: Literal["auto", "none", "bce_dice"] = Field(
        "auto",
        description="a segmentation loss on the one-step estimate beside the flow loss: the clean latent "
        "x0 the network implies at the drawn t, laid out as pixel logits (seg_logit_scale·x0, the same "
        "sign rule inference thresholds), scored with pixel BCE + soft Dice. Latent MSE alone rewards "
        "'empty' for small or uncertain foregrounds (see docs/results.md). auto: bce_dice for the flow "
        "formulation; the discriminative formulation already trains with BCE + Dice.",
    )
    seg_loss_weight: float = Field(
        8.0,
        gt=0,
        description="weight of seg_loss against the flow loss; 8 was chosen on the joint CT + Landsat "
        "validation splits among 1, 4 and 8 (docs/results.md): at 1 the flow loss's latent MSE, which "
        "rewards 'empty' on small organs, held the generated mask below its discriminative formulation",
    )
    dice: Literal["batch", "per_prompt"] = Field(
        "per_prompt",
        description="the Dice term of BCE + Dice (both formulations): the mean Dice of the prompts whose "
        "class is in the image (every class weighs the same; the default: with one Dice over the batch, "
        "large classes and other domains' prompts drown small organs, which then collapse to empty masks, "
        "docs/results.md), or one Dice over the batch",
    )
    seg_logit_scale: float = Field(
        4.0, gt=0, description="pixel logit = scale × x0 estimate (x0 in [-1, 1]: ±1 maps to ±scale)"
    )
    image_shortcut: bool = Field(
        True,
        description="feed the clean image latent next to the mask latent (GenMask's low-level shortcut). "
        "False zeroes that slot in training and inference (same architecture and parameter count): the "
        "ablation. Without image_encoder the model then sees no image at all.",
    )

    @model_validator(mode="after")
    def _formulation(self) -> ObjectiveConfig:
        if self.formulation == "discriminative" and self.seg_loss == "bce_dice":
            raise ValueError(
                "objective.seg_loss=bce_dice cannot train with objective.formulation=discriminative: the "
                "discriminative formulation has no one-step estimate and already trains with BCE + Dice "
                "(leave seg_loss at auto)"
            )
        if self.formulation == "discriminative" and self.loss == "pixel_bce":
            raise ValueError(
                "objective.loss=pixel_bce decodes a generated latent; a discriminative model outputs logits "
                "(use the default loss, or linear_bce for a linear latent-to-logit head)"
            )
        return self

    @property
    def uses_seg_loss(self) -> bool:
        """Whether the flow formulation adds the segmentation loss on its one-step estimate."""
        return self.formulation == "flow" and self.seg_loss in ("auto", "bce_dice")


class RefinerConfig(_Strict):
    """The learned full-resolution mask decoder (genseg.models.refiner) after the flow's latent."""

    kind: Literal["none", "conv"] = Field(
        "none",
        description="conv: decode the generated mask latent at full resolution with the image's help "
        "(trained by objective.seg_loss); none: the codec's fixed decoder",
    )
    channels: int = Field(16, ge=4, le=256, description="width of the refiner at full resolution")


class ModelConfig(_Strict):
    """Everything needed to build a fresh pipeline."""

    resolution: int = Field(128, ge=16)
    bands: Literal["auto"] | list[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]] = Field(
        "auto",
        description="the image channels the network reads, by band name: red, green, blue (the three "
        "colour slots: RGB, grey repeated, or a domain's composite), then further bands a domain keeps "
        "(e.g. nir, swir16, swir22 of a Landsat scene); a band an image lacks reads 0. auto (the "
        "default): the colour slots plus every further band the training data has, resolved when "
        "training starts and saved with the model (docs/how-it-works.md, 'Bands')",
    )
    text_encoder: TextEncoderConfig = TextEncoderConfig()
    codec: CodecConfig = CodecConfig()
    denoiser: DenoiserConfig = DenoiserConfig()
    image_encoder: ImageEncoderConfig = ImageEncoderConfig()
    objective: ObjectiveConfig = ObjectiveConfig()
    refiner: RefinerConfig = RefinerConfig()

    @property
    def band_layout(self) -> list[str]:
        """The bands the network reads; ``auto`` not yet resolved against data builds an RGB model."""
        return ["red", "green", "blue"] if self.bands == "auto" else list(self.bands)

    @property
    def image_encoder_kind(self) -> str:
        """``image_encoder.kind`` resolved: ``auto`` is efficientnet_lite0 for late fusion."""
        kind = self.image_encoder.kind
        if kind == "auto":
            return "efficientnet_lite0" if self.denoiser.kind == "late_fusion" else "none"
        return kind

    @property
    def image_encoder_input_size(self) -> int:
        """The side the late-fusion encoder reads images at: ``input_size``, or twice the resolution."""
        return self.image_encoder.input_size or -(-2 * self.resolution // 32) * 32

    @property
    def readout_reads_image(self) -> bool:
        """``denoiser.readout_image`` resolved: ``auto`` is on when the network reads more than the
        three colour slots."""
        choice = self.denoiser.readout_image
        return len(self.band_layout) > 3 if choice == "auto" else bool(choice)

    @property
    def reads_extra_bands(self) -> bool:
        """Whether ``auto`` may add bands: only a space-to-depth codec that does not encode masks
        as images (joint generation) takes more than three."""
        return self.codec.kind == "space_to_depth" and not self.codec.mask_as_image

    @model_validator(mode="after")
    def _divisible(self) -> ModelConfig:
        if self.refiner.kind != "none" and not self.objective.uses_seg_loss:
            raise ValueError(
                f"refiner.kind={self.refiner.kind} cannot train with objective.formulation="
                f"{self.objective.formulation} and objective.seg_loss={self.objective.seg_loss}: the "
                "refiner learns from the segmentation loss on the flow's one-step estimate (use "
                "refiner.kind=none, or the flow formulation with seg_loss auto or bce_dice)"
            )
        if self.refiner.kind != "none" and self.objective.loss == "linear_bce":
            raise ValueError(
                "refiner.kind=conv cannot train with objective.loss=linear_bce: both decode the mask "
                "latent (choose one)"
            )
        if self.image_encoder.input_size and self.denoiser.kind != "late_fusion":
            raise ValueError(
                f"image_encoder.input_size cannot be used with denoiser.kind={self.denoiser.kind}: only the "
                "late-fusion trunk reads the encoder's map (its tokens are read at 224 px); drop input_size"
            )
        if self.bands != "auto":
            if self.bands[:3] != ["red", "green", "blue"] or len(set(self.bands)) != len(self.bands):
                raise ValueError(
                    f"model.bands {self.bands} must start with red, green, blue (the colour slots) and "
                    "name each further band once, e.g. [red, green, blue, nir]"
                )
            if len(self.bands) > MAX_BANDS:
                raise ValueError(f"model.bands names {len(self.bands)} bands, more than {MAX_BANDS}")
            if len(self.bands) > 3 and not self.reads_extra_bands:
                which = (
                    "codec.mask_as_image=true: a mask encoded as an image has the image's three channels"
                    if self.codec.kind == "space_to_depth"
                    else f"codec.kind={self.codec.kind}: a VAE encodes three channels"
                )
                raise ValueError(
                    f"model.bands with {len(self.bands)} bands cannot train with {which} (use "
                    "model.bands [red, green, blue], or a space_to_depth codec)"
                )
        if self.codec.kind == "space_to_depth" and self.resolution % self.codec.factor:
            raise ValueError(
                f"resolution {self.resolution} is not divisible by codec.factor {self.codec.factor}"
            )
        return self


class JointGenerationConfig(_Strict):
    """GenMask's joint training: the denoiser also learns text-to-image generation.

    Generation samples (the training images, captioned with the classes in their labels) join
    every step next to the mask samples; see genseg.generation.joint and docs/methods.md.
    """

    ratio: float = Field(
        1.0, gt=0, le=8, description="generation samples per mask sample (1.0 = GenMask's 1:1 mix)"
    )
    text_dropout: float = Field(
        0.1, ge=0, le=1, description="share of generation captions replaced by the empty prompt (for CFG)"
    )
    logit_mean: float = Field(0.0, description="SD3 logit-normal timesteps for generation samples: mean")
    logit_std: float = Field(1.0, gt=0, description="SD3 logit-normal timesteps for generation samples: std")


# = genseg.adapters.targets.TARGET_CHOICES (spelled out: the config must not import torch)
LoraTargets = Literal["attn", "attn+ff", "all-linear", "attn+embed", "all-linear+embed", "attn+embed+head"]


class FinetuneConfig(_Strict):
    """Fine-tuning a trained model (`genseg finetune`): LoRA on a frozen base, or a full fine-tune."""

    base_model: str = Field(min_length=1, description="model folder written by `genseg train`")
    mode: Literal["lora", "full"] = "lora"
    adapter_name: str = Field("adapter", pattern=r"^[a-z0-9][a-z0-9._-]*$")
    description: str = ""
    lora_rank: int = Field(4, ge=1)
    lora_alpha: float | None = Field(None, gt=0, description="LoRA scale numerator; default = rank")
    targets: LoraTargets = "attn"
    text_encoder: bool = Field(False, description="also put LoRA on the text encoder")
    domain: str | None = Field(None, description="the adapter's domain; default that of its datasets")
    eval_split: Literal["training", "validation", "test", "none"] = Field(
        "validation", description="split scored at the end of training and written into the card"
    )


class SamplingConfig(_Strict):
    """Which (image or slice, prompt) pairs a training epoch draws (genseg.data.sampling).

    Without it every (image, class present) pair is drawn once per epoch, so small organs are
    seen in proportion to their slices and no prompt ever names an absent class.
    """

    class_balanced: bool = Field(
        True,
        description="each item first picks a class uniformly among the training classes, then an image "
        "or slice where it is present (every class is drawn about equally often)",
    )
    absent_fraction: float = Field(
        0.25,
        ge=0,
        lt=1,
        description="share of items whose prompt names a class absent from the image or slice (all-zero "
        "mask), so the model learns to answer 'absent'; only from datasets whose labels are complete",
    )
    epoch_size: int | None = Field(
        None, ge=1, description="items per epoch; default the number of (image or slice, class present) pairs"
    )
    volume_cache: int = Field(
        2, ge=1, description="decoded and preprocessed volumes kept in memory per data-loading process"
    )
    crop: Literal["auto", "resize", "random"] = Field(
        "auto",
        description="how a training image larger than the model's resolution R becomes an R×R item: "
        "random (an R×R window at a random place, at the image's own pixel size; a present prompt's "
        "window holds some of its class), resize (the whole image resized, as for small images), or "
        "auto (the default): random windows for the images genseg segment tiles in their domain "
        "(larger than R where the domain tiles, above 4×R elsewhere), so training and inference see "
        "the same scale. Volume slices are always whole (genseg.data.crops)",
    )
    prompts_per_image: int | None = Field(
        None,
        ge=1,
        le=256,
        description="prompts trained per image or slice in one sample: the drawn one plus others of its "
        "dataset's classes (present ones, and absent ones where labels are complete). With "
        "denoiser.kind=late_fusion the image pass is shared, so K prompts cost little more than one. "
        f"None: {DEFAULT_PROMPTS_PER_IMAGE} for late_fusion, 1 for the other denoisers",
    )

    def prompts_for(self, denoiser_kind: str) -> int:
        """K for a model with this denoiser (the auto rule of ``prompts_per_image``)."""
        if self.prompts_per_image is not None:
            return self.prompts_per_image
        return DEFAULT_PROMPTS_PER_IMAGE if denoiser_kind == "late_fusion" else 1


class ExportedWeights(_Strict):
    """Which weights a run exported, written into the run's record (``genseg_train.json``)
    when it validated during training; not an input (a new export replaces it)."""

    step: int = Field(ge=1, description="the training step whose weights the model folder holds")
    selection: Literal["best", "last"] = Field(description="best validation mIoU, or the last step")
    metric: str = "mIoU"
    score: float | None = Field(None, description="the validation score of that step; None if not validated")
    validation: dict[int, float | None] = Field({}, description="every check: step -> validation score")


class TrainConfig(_Strict):
    """A training run: the model to build plus the optimisation schedule."""

    model: ModelConfig = ModelConfig()
    datasets: list[str] = []
    steps: int = Field(1500, ge=1)
    batch_size: int = Field(8, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = 1e-2
    warmup_steps: int = Field(50, ge=0)
    lr_schedule: Literal["constant", "cosine"] = "cosine"
    gradient_accumulation_steps: int = Field(1, ge=1)
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = "auto"
    checkpoint_every: int = Field(500, ge=1)
    keep_checkpoints: int = Field(2, ge=1)
    log_every: int = Field(10, ge=1)
    seed: int = 0
    num_workers: int = Field(0, ge=0, le=256)
    max_grad_norm: float = 1.0
    gradient_checkpointing: bool = Field(
        False, description="recompute the denoiser's block activations in the backward pass to save memory"
    )
    optimizer: Literal["adamw", "adamw8bit"] = Field(
        "adamw", description="adamw8bit keeps AdamW's moments in 8 bits (needs: pip install bitsandbytes)"
    )
    shots: int | None = Field(
        None, ge=1, description="labelled images per class, drawn from the seed; None uses all"
    )
    exclude_classes: list[str] = Field(
        [],
        description="class names left out of training (their pixels are background for the other "
        "prompts), so an open-vocabulary benchmark can test them as unseen",
    )
    finetune: FinetuneConfig | None = None
    joint_generation: JointGenerationConfig | None = Field(
        None, description="also train text-to-image generation (GenMask); None: segmentation only"
    )
    sampling: SamplingConfig = Field(
        SamplingConfig(), description="class-balanced and absent-class sampling of training items"
    )
    validate_every: int | None = Field(
        500,
        ge=1,
        description="score the validation split every N steps and at the last step (runs shorter "
        "than N steps are not validated); None: never. Only where the caller passes a scorer "
        "(genseg train does)",
    )
    export_weights: Literal["best", "last"] = Field(
        "best", description="export the weights of the best validation mIoU, or those of the last step"
    )
    log_with: Literal["auto", "tensorboard", "none"] = Field(
        "auto",
        description="accelerate tracker for loss, learning rate and validation scores; auto: "
        "TensorBoard when installed (train_log.jsonl is written in every case)",
    )
    exported: ExportedWeights | None = Field(
        None, description="written at export when the run validated: which step's weights it exported"
    )

    @model_validator(mode="after")
    def _trainable_size(self) -> TrainConfig:
        """An upper bound on the resolution (ModelConfig only has the lower one): a typo such
        as 100000 would otherwise fail deep in an allocation."""
        if self.model.resolution > MAX_RESOLUTION:
            raise ValueError(
                f"model.resolution {self.model.resolution} is above {MAX_RESOLUTION} pixels; "
                "tile large images at inference instead (genseg segment --tile-size)"
            )
        return self


def _read_mapping(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError("config file not found", path=path, fix="pass an existing .yaml or .json file")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # yaml and json raise different types
        raise ConfigError(
            f"cannot parse config ({exc.__class__.__name__}: {exc})",
            path=path,
            fix="check the YAML/JSON syntax",
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError("config must be a mapping at the top level", path=path)
    return data


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"invalid value at {where}: {first['msg']}{more}"


def load_train_config(
    path: Path | None, overrides: dict[str, Any] | None = None, flags: dict[str, str] | None = None
) -> TrainConfig:
    """Read a training config file (if any) and apply command-line overrides on top.

    ``flags`` names the command-line option of each override (``{"steps": "--steps"}``), so a bad
    value given on the command line is blamed on that option, not on the config file."""
    data = _read_mapping(Path(path)) if path else {}
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"])
        if where in (overrides or {}):
            flag = (flags or {}).get(where, where)
            raise ConfigError(
                f"invalid {flag} {overrides[where]!r}: {exc.errors()[0]['msg']}",
                fix=f"pass another {flag} (see --help)",
            ) from exc
        raise ConfigError(
            _validation_message(exc), path=path, fix="see docs/cli.md for the config fields"
        ) from exc


def model_config_from_dict(data: dict[str, Any], source: str | Path | None = None) -> ModelConfig:
    try:
        return ModelConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_validation_message(exc), path=source) from exc
