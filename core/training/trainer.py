"""The training loop: rectified flow on the mask latent, driven by accelerate.

accelerate chooses CPU or CUDA, handles mixed precision (bf16/fp16 on GPU only),
gradient accumulation, DDP/FSDP when launched with `accelerate launch`, and saves and
restores the full training state for `--resume`. The same loop fine-tunes a trained model
(`cfg.finetune`, `genseg finetune`): LoRA on the frozen base, with checkpoints that hold
only the adapter, or a full fine-tune; `genseg.training.finetune` supplies those parts.

A run can be watched: a caller's `validate` callback scores the validation split every
`cfg.validate_every` steps and the best weights are exported (`genseg.training.validation`),
loss, learning rate and validation scores go to `train_log.jsonl` and to an accelerate
tracker (TensorBoard when installed), and the progress bar and a first estimate say how long
the run will take.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genseg.config import ExportedWeights, TrainConfig
from genseg.data.atomic import check_writable
from genseg.data.bands import RGB, resolve_auto_layout
from genseg.errors import CheckpointError, ConfigError, GenSegError
from genseg.training.checkpoints import (
    CHECKPOINT_DIR,
    RUN_CONFIG,
    export_pipeline,
    latest_checkpoint,
    save_checkpoint,
)
from genseg.training.distributed import process_state
from genseg.training.finetune import ScoreAtEnd, export_finetune, prepare_pipeline, save_only_trainable
from genseg.training.model_card import model_readme
from genseg.training.validation import METRIC, BestWeights, Validate, inference_mode, validation_due

LOSS_LOG = "train_log.jsonl"
TRACKER_DIR = "tensorboard"  # TensorBoard's event files, under the run folder
ESTIMATE_AFTER = 4  # steps timed (after the first, which warms up) before the time estimate


@dataclass
class TrainResult:
    output: Path
    steps: int
    first_loss: float | None
    last_loss: float | None
    seconds: float
    pipeline: Any = None  # the trained pipeline (on CPU), for callers that go on using it
    scores: dict[str, Any] | None = None  # end-of-training evaluation of a fine-tune
    exported: ExportedWeights | None = None  # which step's weights were exported, when the run validated


def _mixed_precision(requested: str) -> str:
    if requested != "auto":
        if requested != "no" and not torch.cuda.is_available():
            return "no"  # CPU autocast to half precision is slower and less accurate here
        return requested
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


def _prepare_output(
    cfg: TrainConfig, output: Path, resume: bool, writer: bool = True
) -> tuple[TrainConfig, int, Path | None]:
    """Returns the config of record, the step to start from and the checkpoint to load.

    Only the `writer` (the main process) checks for an existing run and writes the record;
    the other processes read what it decided.
    """
    record = output / RUN_CONFIG
    if not writer:
        return (
            TrainConfig.model_validate_json(record.read_text()).model_copy(update={"steps": cfg.steps}),
            *(latest_checkpoint(output) if resume else (0, None)),
        )
    if resume:
        if not record.is_file():
            raise CheckpointError(
                "nothing to resume: no training record", path=record, fix="train without --resume first"
            )
        saved = TrainConfig.model_validate_json(record.read_text())
        asked = cfg.model
        if asked.bands == "auto":  # auto was resolved when the run started; compare what it became
            asked = asked.model_copy(update={"bands": saved.model.bands})
        if saved.model != asked and cfg.model != TrainConfig().model:
            raise ConfigError(
                "the model config differs from the run being resumed",
                path=record,
                fix="resume with the same --config, or start a new --output folder",
            )
        cfg = saved.model_copy(update={"steps": cfg.steps})
        step, ckpt = latest_checkpoint(output)
        if step == cfg.steps and not _exported(output):
            return cfg, step, ckpt  # killed between the final checkpoint and the export: export it
        if step >= cfg.steps:
            raise CheckpointError(
                f"the run already reached step {step}",
                path=ckpt,
                fix=f"pass --steps larger than {step} to continue",
            )
        return cfg, step, ckpt
    if (output / "model_index.json").exists() or record.exists() or (output / "genseg_adapter.json").exists():
        raise ConfigError(
            "output folder already holds a training run",
            path=output,
            fix="pass --resume to continue it, or choose another --output",
        )
    _refuse_foreign_folder(output)
    check_writable(record)  # a read-only --output fails here, before any training
    output.mkdir(parents=True, exist_ok=True)
    tmp = record.with_suffix(".tmp")
    tmp.write_text(cfg.model_dump_json(indent=2))
    tmp.replace(record)
    return cfg, 0, None


def _load_checkpoint(accelerator, ckpt: Path) -> None:
    """``accelerator.load_state`` with one error naming the damaged file (weights, optimizer,
    scheduler or LoRA state) instead of torch's or safetensors' traceback."""
    try:
        with _random_states_watch(f"random_states_{accelerator.process_index}.pkl") as skipped:
            accelerator.load_state(str(ckpt))
        if skipped:  # accelerate only logs this; the resumed run would not be the same run
            raise CheckpointError(
                f"cannot resume from this checkpoint: {skipped[0]} is damaged (the random-number "
                "state, without which the resumed run would differ from an uninterrupted one)",
                path=ckpt,
                fix="delete this checkpoint folder to resume from an earlier one, or train again "
                "without --resume",
            )
    except GenSegError:
        raise  # already one line (e.g. LoRA tensors of another shape)
    except Exception as exc:  # torch.load, safetensors and pickle raise unrelated types
        bad = _damaged_file(ckpt)
        what = f"{bad.name} is damaged" if bad else f"{exc.__class__.__name__}: {str(exc).strip()[:160]}"
        raise CheckpointError(
            f"cannot resume from this checkpoint: {what}",
            path=ckpt,
            fix="delete this checkpoint folder to resume from an earlier one, or train again "
            "without --resume",
        ) from exc


@contextmanager
def _random_states_watch(name: str) -> Iterator[list[str]]:
    """accelerate swallows a random-state file that does not load and logs "Could not load
    random states" at info level; listen for it, so a resume is refused instead."""
    import logging

    seen: list[str] = []

    class _Listen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "Could not load random states" in record.getMessage():
                seen.append(name)

    log = logging.getLogger("accelerate.checkpointing")
    handler, level, propagate = _Listen(logging.INFO), log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False  # genseg reports it; the root logger need not print accelerate's info lines
    try:
        yield seen
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        log.propagate = propagate


def _damaged_file(ckpt: Path) -> Path | None:
    """The first state file of ``ckpt`` that does not load (only asked once loading failed)."""
    from safetensors import safe_open

    for path in sorted(ckpt.iterdir()):
        try:
            if path.suffix == ".safetensors":
                with safe_open(str(path), framework="pt") as f:
                    for key in f.keys():
                        f.get_tensor(key)
            elif path.suffix == ".bin":
                torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            return path
    return None


def _exported(output: Path) -> bool:
    """Whether the run's export finished (a model folder, or an adapter folder's card)."""
    return (output / "model_index.json").is_file() or (output / "genseg_adapter.json").is_file()


def _refuse_foreign_folder(output: Path) -> None:
    """A new run starts only in an empty or new folder: the export replaces folders named
    like pipeline components (tokenizer/, scheduler/, ...), and genseg must never delete
    files it did not write."""
    if output.is_dir() and next(output.iterdir(), None) is not None:
        raise ConfigError(
            "output folder is not empty and holds no genseg run; the export would replace folders in it",
            path=output,
            fix="choose a new or empty --output folder",
        )
    if output.exists() and not output.is_dir():
        raise ConfigError("output is a file, not a folder", path=output, fix="choose a folder for --output")


class EpochShuffle(torch.utils.data.Sampler):
    """A fresh permutation per epoch, derived from (seed, epoch) alone.

    Resuming at any step therefore sees exactly the batches an uninterrupted run would.
    """

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.size, generator=g).tolist())

    def __len__(self) -> int:
        return self.size


def _loader(dataset, cfg: TrainConfig) -> tuple[torch.utils.data.DataLoader, EpochShuffle]:
    sampler = EpochShuffle(len(dataset), cfg.seed)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        sampler=sampler,
        drop_last=True,
        num_workers=cfg.num_workers,
        persistent_workers=cfg.num_workers > 0,
    )
    return loader, sampler


def resolve_bands(cfg: TrainConfig, dataset_paths: list[Path]) -> TrainConfig:
    """``model.bands: auto`` → the colour slots plus the further bands the training data has
    (:func:`genseg.data.bands.resolve_auto_layout`); RGB where the model cannot read more."""
    model = cfg.model
    layout = resolve_auto_layout(dataset_paths) if model.reads_extra_bands else list(RGB)
    return cfg.model_copy(update={"model": model.model_copy(update={"bands": layout})})


def _step_generator(seed: int, step: int) -> torch.Generator:
    """Timesteps of step N depend on (seed, N) only, so a resumed run draws the same ones."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def train(
    cfg: TrainConfig,
    output: Path,
    dataset_paths: list[Path],
    resume: bool = False,
    progress: bool = True,
    on_step: Callable[[int, float], None] | None = None,
    score_at_end: ScoreAtEnd | None = None,
    validate: Validate | None = None,
    notify: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train a pipeline on the given dataset folders and export it to `output`.

    A fine-tune's adapter card records the scores `score_at_end` computes on the trained
    pipeline (`genseg finetune` passes `genseg.evaluation.runner.finetune_scores`); the
    trainer itself scores nothing. Likewise `validate(pipeline, step)` scores the validation
    split during training (`genseg train` passes one; see `genseg.training.validation`): every
    `cfg.validate_every` steps, and the weights of its best mIoU are exported unless
    `cfg.export_weights` is "last". `notify` receives one-line notes (the time estimate, each
    check's score); without it they go to the progress bar's console when `progress` is on.

    A new run that fails before its first checkpoint removes the output folder it created,
    so the same command can simply be run again (see :func:`_run_training`).
    """
    output = Path(output)
    created = not resume and not output.exists()
    try:
        return _run_training(
            cfg, output, dataset_paths, resume, progress, on_step, score_at_end, validate, notify
        )
    except BaseException:
        if created and not (output / CHECKPOINT_DIR).exists():
            shutil.rmtree(output, ignore_errors=True)  # only genseg's record and log were in it
        raise


def _run_training(
    cfg: TrainConfig,
    output: Path,
    dataset_paths: list[Path],
    resume: bool = False,
    progress: bool = True,
    on_step: Callable[[int, float], None] | None = None,
    score_at_end: ScoreAtEnd | None = None,
    validate: Validate | None = None,
    notify: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train a pipeline on the given dataset folders and export it to `output`.

    With `cfg.finetune` the pipeline is the base model named there: LoRA layers train on
    the frozen base and `output` becomes an adapter folder, or (mode "full") the denoiser
    trains and `output` a model folder. `cfg.shots` keeps K labelled images per class.
    """
    from accelerate import Accelerator
    from accelerate.utils import GradientAccumulationPlugin, set_seed
    from diffusers.optimization import get_scheduler

    from genseg.data.folder_dataset import PromptedSegmentationDataset
    from genseg.data.transforms import build_transform
    from genseg.models.text_encoder import PromptCache
    from genseg.objective import FlowBatch, flow_loss, interpolate, sampler_from_config
    from genseg.pipeline import build_pipeline
    from genseg.training.memory_saving import build_optimizer, enable_gradient_checkpointing

    def make_dataset(c: TrainConfig):
        res = c.model.resolution
        data = PromptedSegmentationDataset(
            dataset_paths,
            split="training",
            resolution=res,
            transform=build_transform(res, train=True),
            seed=c.seed,
            exclude_classes=c.exclude_classes,
            sampling=c.sampling,
            prompts_per_image=c.sampling.prompts_for(c.model.denoiser.kind),
            bands=c.model.band_layout,
        )
        if c.shots is not None:
            from genseg.adapters.shots import select_shots

            select_shots(data, c.shots, c.seed, min_items=c.batch_size)
        return data

    output = Path(output)
    if cfg.joint_generation is not None:  # GenMask joint generation: refuse what cannot train jointly
        from genseg.generation.joint import check_joint_config

        check_joint_config(cfg)
    if not resume and cfg.model.bands == "auto":  # saved resolved, so a resume reads the same bands
        cfg = resolve_bands(cfg, dataset_paths)
    tracker_for(cfg.log_with)  # an uninstalled tracker that was asked for fails before any writing
    # a fresh run checks its data before writing anything into the output folder
    dataset = None if resume else make_dataset(cfg)
    state = process_state()  # on CPU where asked or no GPU is there (torchrun on a CPU machine)
    if state.is_main_process:
        cfg, start_step, ckpt = _prepare_output(cfg, output, resume)
    state.wait_for_everyone()
    if not state.is_main_process:
        cfg, start_step, ckpt = _prepare_output(cfg, output, resume, writer=False)
    mcfg = cfg.model
    set_seed(cfg.seed)
    log_with = tracker_for(cfg.log_with)
    accelerator = Accelerator(
        log_with=log_with,
        project_dir=str(output) if log_with else None,
        mixed_precision=_mixed_precision(cfg.mixed_precision),
        # steps count micro-batches, not epochs: with sync_with_dataloader the end of an epoch
        # forced an optimizer step mid-window and shifted every later accumulation window
        gradient_accumulation_plugin=GradientAccumulationPlugin(
            num_steps=cfg.gradient_accumulation_steps, sync_with_dataloader=False
        ),
    )
    device = accelerator.device

    dataset = dataset if dataset is not None else make_dataset(cfg)
    if len(dataset) < cfg.batch_size:
        raise ConfigError(
            f"the training split has {len(dataset)} (image, class) pairs, fewer than one batch "
            f"of {cfg.batch_size}",
            fix="add training images or lower --batch-size",
        )
    if cfg.finetune is None:
        pipe = build_pipeline(mcfg, seed=cfg.seed)
    else:
        pipe = prepare_pipeline(cfg)
    train_text = cfg.finetune is not None and cfg.finetune.mode == "lora" and cfg.finetune.text_encoder
    trainable = FlowModel(
        pipe.denoiser,
        pipe.image_encoder,
        pipe.mask_head,
        mcfg.objective.prediction,
        text_encoder=pipe.text_encoder if train_text else None,
        tokenizer=pipe.tokenizer,
        max_length=mcfg.text_encoder.max_length,
        formulation=mcfg.objective.formulation,
        downsample=pipe.codec.downsample,
        refiner=pipe.refiner,
        codec=pipe.codec,
        seg_logit_scale=mcfg.objective.seg_logit_scale,
    )
    if cfg.gradient_checkpointing:
        enable_gradient_checkpointing(pipe.denoiser)
    params = [p for p in trainable.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, cfg.optimizer, cfg.learning_rate, cfg.weight_decay)
    lr_scheduler = get_scheduler(
        cfg.lr_schedule if cfg.lr_schedule == "cosine" else "constant_with_warmup",
        optimizer,
        num_warmup_steps=cfg.warmup_steps * state.num_processes,
        # a prepared scheduler steps once per process at each optimizer step
        num_training_steps=cfg.steps * state.num_processes,
    )
    loader, sampler = _loader(dataset, cfg)
    trainable, optimizer, loader, lr_scheduler = accelerator.prepare(
        trainable, optimizer, loader, lr_scheduler
    )
    pipe.codec.to(device)
    pipe.text_encoder.to(device)
    if cfg.finetune is not None and cfg.finetune.mode == "lora":
        save_only_trainable(accelerator, trainable)  # checkpoints hold the adapter, not the base
    if ckpt is not None:
        _load_checkpoint(accelerator, ckpt)
    prompts = PromptCache(pipe.text_encoder, pipe.tokenizer, mcfg.text_encoder.max_length)
    sample_t = sampler_from_config(mcfg.objective)
    joint = None
    if cfg.joint_generation is not None:  # GenMask: text-to-image samples join each step
        from genseg.generation.joint import JointGeneration

        log_dir = output if accelerator.is_main_process else None
        joint = JointGeneration(
            cfg, dataset_paths, pipe.codec, pipe.text_encoder, pipe.tokenizer, device, log_dir
        )

    def batches():
        epoch = start_step * cfg.gradient_accumulation_steps // max(len(loader), 1)
        skip = start_step * cfg.gradient_accumulation_steps % max(len(loader), 1)
        while True:
            dataset.set_epoch(epoch)
            sampler.set_epoch(epoch)
            source = accelerator.skip_first_batches(loader, skip) if skip else loader
            if hasattr(source, "iteration"):
                source.iteration = epoch  # accelerate's loader sets the sampler's epoch from this counter
            skip = 0
            yield from source
            epoch += 1

    def loss_for(batch, t_gen: torch.Generator) -> torch.Tensor:
        image = batch["image"].to(device)
        masks, prompt_list, image_index = _prompt_rows(batch)
        mask = masks.to(device)
        image_index = image_index.to(device)
        with torch.no_grad():
            z_img = pipe.codec.encode_image(image)
            x0 = pipe.codec.encode_mask(mask)
            text = prompt_list if train_text else prompts(prompt_list).to(device)
        if not mcfg.objective.image_shortcut:
            z_img = torch.zeros_like(z_img)  # the no-shortcut ablation, as the pipeline does at inference
        valid = batch["valid"].to(device)[image_index] if "valid" in batch else None  # nodata / ignored
        if mcfg.objective.formulation == "discriminative":
            from genseg.objective.discriminative import discriminative_inputs, discriminative_loss

            empty, t_fixed = discriminative_inputs(x0, x0.shape[1])
            _, logits = trainable(empty, z_img, t_fixed, text, image, image_index)
            return discriminative_loss(logits, mask, valid, mcfg.objective.dice)
        t = sample_t(x0.shape[0], t_gen, device)
        noise = torch.randn(x0.shape, generator=t_gen, dtype=x0.dtype).to(device)
        x_t = interpolate(x0, noise, t)
        v, head_logits = trainable(x_t, z_img, t, text, image, image_index)
        flow = FlowBatch(x0, noise, t, x_t, v, mask, valid)
        loss = flow_loss(mcfg.objective.loss, flow, pipe.codec, head_logits)
        if mcfg.objective.uses_seg_loss:  # BCE + Dice on the one-step estimate (docs/results.md)
            from genseg.objective.discriminative import discriminative_loss
            from genseg.objective.flow import one_step_logits, predicted_clean

            logits = (
                head_logits
                if head_logits is not None
                else one_step_logits(pipe.codec, predicted_clean(x_t, v, t), mcfg.objective.seg_logit_scale)
            )
            loss = loss + mcfg.objective.seg_loss_weight * discriminative_loss(
                logits, mask, valid, mcfg.objective.dice
            )
        if joint is not None:  # GenMask joint generation (genseg.generation.joint): mixed-batch loss
            loss = joint.mix(loss, x0.shape[0], lambda *a: trainable(*a, None)[0], t_gen)
        return loss

    log_path = output / LOSS_LOG
    first_loss = last_loss = None
    window: list[float] = []
    t0 = time.perf_counter()
    it = batches()
    trainable.train()
    main = accelerator.is_main_process
    bar = _progress(progress and main)
    note = _notes(notify if main else None, bar if progress and main else None)
    validating = validate is not None and cfg.validate_every is not None and cfg.steps >= cfg.validate_every
    if validating and accelerator.distributed_type.value == "FSDP":
        note("validation is off under FSDP (the weights are sharded across processes)")
        validating = False
    best = BestWeights(output) if validating and main else None
    clock = _StepClock(start_step, cfg.steps)
    if main and log_with:
        accelerator.init_trackers(TRACKER_DIR, config=_tracker_config(cfg))
    try:
        with bar, log_path.open("a") if main else open(os.devnull, "w") as log:
            description = "training"
            task = bar.add_task(description, total=cfg.steps, completed=start_step)
            for step in range(start_step, cfg.steps):
                step_loss = 0.0
                t_gen = _step_generator(cfg.seed + 7919 * state.process_index, step)
                for _ in range(cfg.gradient_accumulation_steps):
                    with accelerator.accumulate(trainable):
                        loss = loss_for(next(it), t_gen)
                        accelerator.backward(loss)
                        if accelerator.sync_gradients and cfg.max_grad_norm > 0:
                            accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
                        optimizer.step()
                        lr_scheduler.step()
                        optimizer.zero_grad(set_to_none=True)
                    # the global batch's loss under DDP (every process's mean), not rank 0's alone
                    global_loss = accelerator.reduce(loss.detach().float(), "mean").item()
                    step_loss += global_loss / cfg.gradient_accumulation_steps
                window.append(step_loss)
                first_loss = step_loss if first_loss is None else first_loss
                last_loss = step_loss
                done = step + 1
                estimate = clock.tick(done)
                if estimate:
                    note(estimate + (f"; validation every {cfg.validate_every} steps" if validating else ""))
                if on_step:
                    on_step(done, step_loss)
                if main and (done % cfg.log_every == 0 or done == cfg.steps):
                    mean = sum(window) / len(window)
                    window.clear()
                    lr = lr_scheduler.get_last_lr()[0]
                    elapsed = round(time.perf_counter() - t0, 2)
                    _log_line(log, {"step": done, "loss": round(mean, 6), "lr": lr, "elapsed_s": elapsed})
                    accelerator.log({"train/loss": mean, "train/lr": lr}, step=done)
                    description = f"training  loss {mean:.4f}"
                    bar.update(task, completed=done, description=description)
                if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                    save_checkpoint(accelerator, output, done, {"loss": step_loss}, cfg.keep_checkpoints)
                if validating and validation_due(done, cfg.steps, cfg.validate_every):
                    accelerator.wait_for_everyone()
                    if main:  # the other processes wait: a check is one forward pass per prompt
                        bar.update(task, completed=done, description="validating")
                        inner = accelerator.unwrap_model(trainable)
                        _validate(validate, pipe, accelerator, inner, best, done, log, note)
                        bar.update(task, description=description)
                    accelerator.wait_for_everyone()
                bar.update(task, completed=done)
        accelerator.wait_for_everyone()
        seconds = time.perf_counter() - t0
        scores = exported = None
        if main:
            if best is not None and best.history:
                exported = _select_weights(cfg, best, accelerator.unwrap_model(trainable), note)
                cfg = cfg.model_copy(update={"exported": exported})
                _write_record(output, cfg)  # before the export: the record says what the model folder holds
            if cfg.finetune is None:
                readme = model_readme(pipe, cfg, dataset, output)
                export_pipeline(pipe.to("cpu"), output, preprocessing=dataset.preprocessing, readme=readme)
            else:
                scores = export_finetune(pipe, cfg, output, dataset, seconds, score_at_end)
    finally:
        if main and log_with:
            accelerator.end_training()
    elapsed = time.perf_counter() - t0  # with the export, as before
    return TrainResult(output, cfg.steps, first_loss, last_loss, elapsed, pipe.to("cpu"), scores, exported)


def tracker_for(log_with: str) -> str | None:
    """The accelerate tracker a run logs to: TensorBoard when asked for or (``auto``) when
    installed; None for ``none``, or for ``auto`` without it. Asked for but not installed is
    one error, raised before the run writes anything."""
    if log_with == "none":
        return None
    from accelerate.utils import is_tensorboard_available

    if is_tensorboard_available():
        return "tensorboard"
    if log_with == "tensorboard":
        raise ConfigError(
            "TensorBoard logging needs the tensorboard package, which is not installed",
            fix="pip install tensorboard, or pass --log-with none (train_log.jsonl is written either way)",
        )
    return None


def _tracker_config(cfg: TrainConfig) -> dict[str, str | int | float | bool]:
    """The run's settings as TensorBoard's hyperparameter table takes them (scalars and text)."""
    values = {
        "backbone": cfg.model.denoiser.kind,
        "resolution": cfg.model.resolution,
        "steps": cfg.steps,
        "batch_size": cfg.batch_size,
        "learning_rate": cfg.learning_rate,
        "lr_schedule": cfg.lr_schedule,
        "timesteps": cfg.model.objective.timesteps,
        "loss": cfg.model.objective.loss,
        "seed": cfg.seed,
        "validate_every": cfg.validate_every or 0,
        "datasets": ", ".join(Path(d).name for d in cfg.datasets),
    }
    return {k: v if isinstance(v, int | float | bool) else str(v) for k, v in values.items()}


def _log_line(log, record: dict[str, Any]) -> None:
    log.write(json.dumps(record) + "\n")
    log.flush()


def _notes(notify: Callable[[str], None] | None, bar) -> Callable[[str], None]:
    """Where one-line notes go: the caller's `notify`, else above the progress bar, else nowhere."""
    if notify is not None:
        return notify
    if bar is not None:
        return lambda message: bar.console.print(message, highlight=False)
    return lambda message: None


def _validate(validate: Validate, pipe, accelerator, module, best: BestWeights, step: int, log, note) -> None:
    """One check: score the pipeline, log the scores, keep the weights if they are the best."""
    t = time.perf_counter()
    with inference_mode(pipe):
        scores = {k: float(v) for k, v in validate(pipe, step).items()}
    seconds = time.perf_counter() - t
    is_best = best.offer(module, step, scores)
    _log_line(log, {"step": step, "validation": scores, "validation_s": round(seconds, 2)})
    accelerator.log({f"validation/{k}": v for k, v in scores.items()}, step=step)
    score = scores.get(METRIC)
    shown = "n/a" if score is None else f"{score:.4f}"
    mark = " (best so far)" if is_best else ""
    if not is_best and best.step is not None:
        mark = f" (best {best.score:.4f} at step {best.step})"
    note(f"step {step}: validation {METRIC} {shown}{mark} in {_duration(seconds)}")


def _select_weights(cfg: TrainConfig, best: BestWeights, module, note) -> ExportedWeights:
    """Put the best validated weights back into ``module`` (unless the last are asked for, or
    the last are the best) and say which step the export holds."""
    step, selection = cfg.steps, "last"
    if cfg.export_weights == "best" and best.step is not None:
        selection = "best"
        if best.step != cfg.steps:
            best.restore(module)
            step = best.step
    history = dict(sorted(best.history.items()))
    score = history.get(step)
    shown = "" if score is None else f" (validation {METRIC} {score:.4f})"
    note(f"exporting the weights of step {step}{shown}: {selection}")
    return ExportedWeights(step=step, selection=selection, metric=METRIC, score=score, validation=history)


def _write_record(output: Path, cfg: TrainConfig) -> None:
    record = output / RUN_CONFIG
    tmp = record.with_suffix(".tmp")
    tmp.write_text(cfg.model_dump_json(indent=2))
    tmp.replace(record)


class _StepClock:
    """Times the first steps of a run (the first one, which warms up, left out) and gives
    one estimate of the time left: "~12 min for 1500 steps at 0.48 s/step"."""

    def __init__(self, start: int, steps: int) -> None:
        self.start, self.steps, self.t1 = start, steps, None

    def tick(self, done: int) -> str | None:
        if done == self.start + 1:
            self.t1 = time.perf_counter()
        elif self.t1 is not None and done == self.start + 1 + ESTIMATE_AFTER and done < self.steps:
            per_step = (time.perf_counter() - self.t1) / ESTIMATE_AFTER
            left = self.steps - done
            took, plural = _duration(per_step * left), "s" * (left != 1)
            return f"~{took} for the {left} step{plural} left at the measured {per_step:.2f} s/step"
        return None


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class FlowModel(torch.nn.Module):
    """The trainable parts behind one forward, so DDP sees every parameter used.

    With a `text_encoder` (LoRA on it), `text` is the list of prompts, encoded here with
    gradients; otherwise it is the features of the frozen encoder.
    """

    def __init__(
        self,
        denoiser,
        image_encoder=None,
        mask_head=None,
        prediction: str = "sample",
        text_encoder=None,
        tokenizer=None,
        max_length: int = 16,
        formulation: str = "flow",
        downsample: int = 1,
        refiner=None,
        codec=None,
        seg_logit_scale: float = 4.0,
    ) -> None:
        super().__init__()
        # the refiner decodes the one-step estimate with the image; the codec is frozen and
        # held outside the module's parameters (a plain attribute, not a submodule)
        self.refiner, self.seg_logit_scale = refiner, seg_logit_scale
        self.__dict__["codec"] = codec
        self.denoiser, self.image_encoder, self.mask_head = denoiser, image_encoder, mask_head
        self.text_encoder, self.tokenizer, self.max_length = text_encoder, tokenizer, max_length
        self.prediction = prediction
        # discriminative: forward returns (raw output, pixel logits) instead of (velocity, head logits)
        self.formulation, self.downsample = formulation, downsample

    def forward(self, x_t, z_image, t, text, image, image_index=None):
        """``z_image`` and ``image`` have one row per image; row i of ``x_t`` (a prompt) is image
        ``image_index[i]`` (default: row i)."""
        from genseg.models.denoisers import image_context, predict_velocity
        from genseg.models.image_encoder import join_image_tokens
        from genseg.objective.flow import predicted_clean, velocity_from_output

        if self.text_encoder is not None and isinstance(text, list):
            import inspect

            from genseg.models.text_encoder import encode_prompts

            encode = inspect.unwrap(encode_prompts)  # the same encoding, without its no_grad
            text = encode(self.text_encoder, self.tokenizer, text, self.max_length).to(x_t.device, x_t.dtype)
        trunk, tokens = image_context(self.denoiser, self.image_encoder, z_image, image)
        if tokens is not None:
            text = join_image_tokens(text, tokens if image_index is None else tokens[image_index])
        out = predict_velocity(self.denoiser, x_t, z_image, t, text, image_index, trunk)
        if self.formulation == "discriminative":
            from genseg.objective.discriminative import output_to_logits

            return out, output_to_logits(out, self.downsample, self.mask_head)
        v = velocity_from_output(out, x_t, t, self.prediction)
        logits = self.mask_head(predicted_clean(x_t, v, t)) if self.mask_head is not None else None
        if self.refiner is not None and image is not None:
            from genseg.objective.flow import one_step_logits

            coarse = one_step_logits(self.codec, predicted_clean(x_t, v, t), self.seg_logit_scale)
            logits = self.refiner(coarse, image if image_index is None else image[image_index])
        return v, logits


def _prompt_rows(batch: dict[str, Any]) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """A batch's (image, prompt) rows: masks P×1×H×W, the P prompts and each row's image.

    A batch of N images with K prompts each (``masks`` N×K×H×W, ``prompts`` as the default
    collate gives them: K lists of N) becomes P = N·K rows, image-major."""
    if "masks" not in batch:
        n = batch["mask"].shape[0]
        return batch["mask"], list(batch["prompt"]), torch.arange(n)
    masks = batch["masks"]
    n, k = masks.shape[:2]
    prompts = [batch["prompts"][j][i] for i in range(n) for j in range(k)]
    return masks.reshape(n * k, 1, *masks.shape[2:]), prompts, torch.arange(n).repeat_interleave(k)


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
    )
