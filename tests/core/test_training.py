"""Training: the loss goes down, checkpoints resume exactly, bad set-ups fail clearly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from genseg.errors import CheckpointError, ConfigError


@pytest.fixture(scope="module")
def toy_dataset(tmp_path_factory):
    """16 seeded 32×32 images, each with a bright square (class 1) and a dark disc (class 2)."""
    root = tmp_path_factory.mktemp("toy")
    (root / "images").mkdir()
    (root / "labels").mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:32, :32]
    entries = []
    for i in range(16):
        img = rng.uniform(0.3, 0.6, (32, 32, 3))
        lab = np.zeros((32, 32), np.uint8)
        y, x = rng.integers(2, 14, 2)
        img[y : y + 10, x : x + 10] = [0.95, 0.9, 0.2]
        lab[y : y + 10, x : x + 10] = 1
        cy, cx = rng.integers(20, 27, 2)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= 25
        img[disc] = [0.05, 0.1, 0.5]
        lab[disc] = 2
        Image.fromarray((img * 255).astype(np.uint8)).save(root / "images" / f"{i}.png")
        Image.fromarray(lab).save(root / "labels" / f"{i}.png")
        entries.append({"image": f"images/{i}.png", "label": f"labels/{i}.png"})
    spec = {
        "name": "toy",
        "classes": {"1": {"name": "yellow square"}, "2": {"name": "blue disc"}},
        "training": entries[:12],
        "test": entries[12:],
    }
    (root / "dataset.json").write_text(json.dumps(spec))
    return root


def _cfg(make_tiny_config, **kw):
    from genseg.config import TrainConfig

    base = dict(
        model=make_tiny_config(),
        batch_size=4,
        learning_rate=2e-3,
        warmup_steps=0,
        log_every=1,
        lr_schedule="constant",
    )
    return TrainConfig(**{**base, **kw})


def _log(out):
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_training_lowers_the_loss_and_exports_a_loadable_model(toy_dataset, tmp_path, make_tiny_config):
    from genseg.pipeline import load_pipeline
    from genseg.training.trainer import train

    result = train(
        _cfg(make_tiny_config, steps=60, checkpoint_every=30), tmp_path / "run", [toy_dataset], progress=False
    )
    losses = [r["loss"] for r in _log(tmp_path / "run")]
    assert len(losses) == 60
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10]), (losses[:10], losses[-10:])
    assert result.last_loss is not None
    pipe = load_pipeline(tmp_path / "run")
    out = pipe(np.zeros((32, 32, 3), np.float32), "yellow square")
    assert out.masks.shape == (1, 1, 32, 32)
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == [
        "step-000030",
        "step-000060",
    ]


def test_late_fusion_trains_every_prompt_of_an_image_in_one_sample(toy_dataset, tmp_path, make_tiny_config):
    """K = 2 prompts per image: each step's rows are image-major, both classes of every image
    are trained, and the loss falls; the discriminative formulation takes the same rows."""
    from genseg.training.trainer import _prompt_rows, train

    masks = torch.zeros(2, 3, 4, 4)
    masks[1, 2] = 1
    rows, prompts, index = _prompt_rows(
        {"masks": masks, "prompts": [["a0", "a1"], ["b0", "b1"], ["c0", "c1"]], "mask": masks[:, :1]}
    )
    assert prompts == ["a0", "b0", "c0", "a1", "b1", "c1"] and index.tolist() == [0, 0, 0, 1, 1, 1]
    assert rows.shape == (6, 1, 4, 4) and rows[5].all() and not rows[:5].any()
    for formulation in ("flow", "discriminative"):
        cfg = _cfg(
            lambda f=formulation: make_tiny_config({"objective": {"formulation": f}}, kind="late_fusion"),
            steps=40,
            checkpoint_every=1000,
            learning_rate=5e-3,
            sampling={"prompts_per_image": 2},
        )
        train(cfg, tmp_path / formulation, [toy_dataset], progress=False)
        losses = [r["loss"] for r in _log(tmp_path / formulation)]
        assert np.mean(losses[-8:]) < 0.8 * np.mean(losses[:8]), (formulation, losses[:8], losses[-8:])


@pytest.mark.slow
def test_resume_continues_from_the_saved_step_with_the_same_state(toy_dataset, tmp_path, make_tiny_config):
    from safetensors.torch import load_file

    from genseg.training.trainer import train

    # an uninterrupted run of 8 steps ...
    train(_cfg(make_tiny_config, steps=8, checkpoint_every=4), tmp_path / "a", [toy_dataset], progress=False)
    # ... equals a run stopped at step 4 and resumed to 8
    train(_cfg(make_tiny_config, steps=4, checkpoint_every=4), tmp_path / "b", [toy_dataset], progress=False)
    ckpt4 = tmp_path / "b" / "checkpoints" / "step-000004"
    opt_at_4 = torch.load(ckpt4 / "optimizer.bin", weights_only=True)
    seen_steps = []
    train(
        _cfg(make_tiny_config, steps=8, checkpoint_every=4),
        tmp_path / "b",
        [toy_dataset],
        resume=True,
        progress=False,
        on_step=lambda step, loss: seen_steps.append(step),
    )
    assert seen_steps == [5, 6, 7, 8]
    assert [r["step"] for r in _log(tmp_path / "b")] == list(range(1, 9))
    # the optimizer state saved at step 4 is the one the uninterrupted run had at step 4
    opt_a4 = torch.load(tmp_path / "a" / "checkpoints" / "step-000004" / "optimizer.bin", weights_only=True)
    for k, st in opt_at_4["state"].items():
        assert int(st["step"]) == 4
        assert torch.equal(st["exp_avg"], opt_a4["state"][k]["exp_avg"])
    wa = load_file(tmp_path / "a" / "denoiser" / "diffusion_pytorch_model.safetensors")
    wb = load_file(tmp_path / "b" / "denoiser" / "diffusion_pytorch_model.safetensors")
    assert wa.keys() == wb.keys()
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)
    with pytest.raises(CheckpointError, match="already reached step 8"):
        train(_cfg(make_tiny_config, steps=8), tmp_path / "b", [toy_dataset], resume=True, progress=False)


def test_existing_run_and_missing_checkpoint_are_refused(toy_dataset, tmp_path, make_tiny_config):
    from genseg.training.trainer import RUN_CONFIG, train

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / RUN_CONFIG).write_text(_cfg(make_tiny_config, steps=2).model_dump_json())
    with pytest.raises(ConfigError, match="already holds a training run"):
        train(_cfg(make_tiny_config, steps=2), tmp_path / "run", [toy_dataset], progress=False)
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        train(_cfg(make_tiny_config, steps=2), tmp_path / "run", [toy_dataset], resume=True, progress=False)
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(_cfg(make_tiny_config, steps=2), tmp_path / "fresh", [toy_dataset], resume=True, progress=False)


def test_refiner_trains_with_the_flow_and_is_exported(toy_dataset, tmp_path, make_tiny_config):
    from genseg.pipeline import load_pipeline
    from genseg.training.trainer import train

    model = make_tiny_config({"refiner": {"kind": "conv", "channels": 8}})
    train(_cfg(make_tiny_config, model=model, steps=6), tmp_path / "run", [toy_dataset], progress=False)
    pipe = load_pipeline(tmp_path / "run")
    # the zero-initialised output layer has moved: the segmentation loss reached the refiner
    assert pipe.refiner is not None and pipe.refiner.out.weight.abs().sum() > 0


def test_a_new_run_refuses_a_folder_it_did_not_write(toy_dataset, tmp_path, make_tiny_config):
    from genseg.training.trainer import train

    mine = tmp_path / "projects" / "tokenizer"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("my work")
    with pytest.raises(ConfigError, match="not empty and holds no genseg run"):
        train(_cfg(make_tiny_config, steps=1), tmp_path / "projects", [toy_dataset], progress=False)
    assert (mine / "notes.txt").read_text() == "my work"
    assert sorted(p.name for p in (tmp_path / "projects").iterdir()) == ["tokenizer"]


def test_resume_exports_a_run_killed_after_its_final_checkpoint(
    toy_dataset, tmp_path, make_tiny_config, monkeypatch
):
    from safetensors.torch import load_file

    import genseg.training.trainer as trainer
    from genseg.pipeline import load_pipeline

    cfg = _cfg(make_tiny_config, steps=2, checkpoint_every=2)
    real_export = trainer.export_pipeline

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "export_pipeline", killed)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(cfg, tmp_path / "run", [toy_dataset], progress=False)
    assert not (tmp_path / "run" / "model_index.json").exists()
    monkeypatch.setattr(trainer, "export_pipeline", real_export)
    steps = []
    result = trainer.train(
        cfg,
        tmp_path / "run",
        [toy_dataset],
        resume=True,
        progress=False,
        on_step=lambda s, _: steps.append(s),
    )
    assert steps == [] and result.steps == 2  # nothing trained again: only the export
    load_pipeline(tmp_path / "run", device="cpu")
    exported = load_file(tmp_path / "run" / "denoiser" / "diffusion_pytorch_model.safetensors")
    saved = load_file(tmp_path / "run" / "checkpoints" / "step-000002" / "model.safetensors")
    assert all(torch.equal(v, saved[f"denoiser.{k}"]) for k, v in exported.items())
    with pytest.raises(CheckpointError, match="already reached step 2"):  # exported now: nothing left
        trainer.train(cfg, tmp_path / "run", [toy_dataset], resume=True, progress=False)


@pytest.mark.parametrize(
    "damaged", ["optimizer.bin", "scheduler.bin", "model.safetensors", "random_states_0.pkl"]
)
def test_a_damaged_checkpoint_is_one_error_naming_the_file(toy_dataset, tmp_path, make_tiny_config, damaged):
    from genseg.training.trainer import train

    train(
        _cfg(make_tiny_config, steps=1, checkpoint_every=1), tmp_path / "run", [toy_dataset], progress=False
    )
    ckpt = tmp_path / "run" / "checkpoints" / "step-000001"
    (ckpt / damaged).write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match=f"{damaged} is damaged") as err:
        train(_cfg(make_tiny_config, steps=2), tmp_path / "run", [toy_dataset], resume=True, progress=False)
    assert err.value.path == str(ckpt)


def test_a_new_run_failing_before_its_first_checkpoint_leaves_no_folder(
    toy_dataset, tmp_path, make_tiny_config
):
    from genseg.training.trainer import train

    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="fewer than one batch"):
        train(_cfg(make_tiny_config, steps=1, batch_size=1000), out, [toy_dataset], progress=False)
    assert not out.exists()  # so the corrected command is not told "already holds a training run"
    train(_cfg(make_tiny_config, steps=1), out, [toy_dataset], progress=False)
    assert (out / "model_index.json").is_file()
