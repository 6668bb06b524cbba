"""What `genseg train` leaves in a model folder: the checkpoints go once the export is complete
(an interrupted run keeps them and resumes), --keep-checkpoints keeps them, and --portable
writes the packaged tokenizer as a copy instead of a reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genseg.cli.testing import run_cli
from genseg.models.packaged import REFERENCE_FILE
from genseg.pipeline import load_pipeline
from genseg.training.checkpoints import CHECKPOINT_DIR, list_checkpoints


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from genseg.plugins.testing import make_fake_dataset

    return make_fake_dataset(tmp_path_factory.mktemp("data") / "fake", n=4)


@pytest.fixture
def config(tmp_path, make_tiny_config):
    """A tiny DiT run: a checkpoint every 2 steps, no validation, no TensorBoard."""
    from genseg.config import TrainConfig

    cfg = TrainConfig(
        model=make_tiny_config(kind="dit"),
        batch_size=2,
        warmup_steps=0,
        lr_schedule="constant",
        steps=4,
        checkpoint_every=2,
        validate_every=None,
        log_with="none",
    )
    path = tmp_path / "tiny.json"
    path.write_text(cfg.model_dump_json())
    return path


def _train(monkeypatch, capsys, data, out, config, *args):
    return run_cli(monkeypatch, capsys, "train", "-d", str(data), "-o", str(out), "-c", str(config), *args)


def _probabilities(folder):
    pipe = load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    image = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    result = pipe(image, ["thing"], num_inference_steps=2, generator=torch.Generator().manual_seed(0))
    return result.probabilities


def test_the_checkpoints_go_once_the_model_is_exported(data, config, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    code, stdout, stderr = _train(monkeypatch, capsys, data, out, config)
    assert code == 0, stderr
    assert not (out / CHECKPOINT_DIR).exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # nothing half-removed left
    assert f"removed {out / CHECKPOINT_DIR}" in stderr and "model in" in stdout
    assert (out / "tokenizer" / REFERENCE_FILE).is_file()  # the packaged tokenizer, by reference
    assert np.isfinite(_probabilities(out)).all()

    # continuing the finished run needs its checkpoints: one error that says how to keep them
    code, _, stderr = _train(monkeypatch, capsys, data, out, config, "--resume", "--steps", "6")
    assert code == 3 and "checkpoints were removed when it was exported" in stderr
    assert "--keep-checkpoints" in stderr


def test_keep_checkpoints_lets_a_finished_run_continue_and_portable_copies(
    data, config, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "run"
    code, _, stderr = _train(monkeypatch, capsys, data, out, config, "--keep-checkpoints", "--portable")
    assert code == 0, stderr
    assert [step for step, _ in list_checkpoints(out)] == [2, 4]
    assert not list(out.rglob(REFERENCE_FILE))
    assert (out / "tokenizer" / "tokenizer.json").is_file() and "--portable" in stderr
    code, stdout, stderr = _train(monkeypatch, capsys, data, out, config, "--resume", "--steps", "6")
    assert code == 0, stderr
    assert "trained 6 steps" in stdout
    assert not (out / CHECKPOINT_DIR).exists()  # this time without --keep-checkpoints
    assert (out / "tokenizer" / REFERENCE_FILE).is_file()  # and without --portable


def test_an_interrupted_run_keeps_its_checkpoints_and_resumes(data, config, tmp_path, monkeypatch, capsys):
    from genseg.training import trainer

    out = tmp_path / "run"
    export = trainer.export_pipeline

    def killed(*args, **kwargs):  # the process dies after the last checkpoint, during the export
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "export_pipeline", killed)
    code, _, _ = _train(monkeypatch, capsys, data, out, config)
    assert code == 130  # interrupted
    assert [step for step, _ in list_checkpoints(out)] == [2, 4]
    assert not (out / "model_index.json").exists()

    monkeypatch.setattr(trainer, "export_pipeline", export)
    code, stdout, stderr = _train(monkeypatch, capsys, data, out, config, "--resume", "--steps", "4")
    assert code == 0, stderr
    assert "exported the checkpoint of step 4" in stdout
    assert (out / "model_index.json").is_file() and not (out / CHECKPOINT_DIR).exists()
    assert np.isfinite(_probabilities(out)).all()


def test_portable_is_refused_for_an_adapter_folder(data, tmp_path, monkeypatch, capsys):
    code, _, stderr = run_cli(
        monkeypatch, capsys, "finetune", "-m", str(tmp_path / "base"), "-d", str(data),
        "-o", str(tmp_path / "lora"), "--portable",
    )  # fmt: skip
    assert code == 3 and "--portable applies to the model folder --full writes" in stderr
    assert not (tmp_path / "lora").exists()
