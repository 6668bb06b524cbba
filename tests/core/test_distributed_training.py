"""`genseg train` under two CPU processes (gloo, launched by accelerate/torchrun) is one run:
the same weights as one process with the same global batch, one writer, and resumable."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

LOSS_TOLERANCE = 1e-4
"""Relative, per step. Both logs hold the global batch's loss (the trainer averages it across
ranks; one process averages its two accumulated micro-batches), so they agree up to rounding.
The weights are compared to 1e-5."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch_two(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    genseg = Path(sys.executable).with_name("genseg")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    cmd += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    cmd += ["--main_process_port", str(_free_port()), str(genseg), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(run / "denoiser" / "diffusion_pytorch_model.safetensors")


def _files(run: Path) -> set[str]:
    return {str(p.relative_to(run)) for p in run.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_two_processes_train_like_one_with_gradient_accumulation_write_once_and_resume(tmp_path):
    from typer.testing import CliRunner

    from genseg.cli.app import app
    from genseg.plugins.testing import TINY_MODEL, make_fake_dataset

    data = make_fake_dataset(tmp_path / "data", n=12)  # 24 (image, class) pairs: one epoch of 6 steps
    # the discriminative formulation draws no noise, so both runs see identical inputs
    model = {**TINY_MODEL, "objective": {"formulation": "discriminative", "seg_loss": "none"}}
    config = tmp_path / "train.json"
    config.write_text(
        json.dumps(
            {
                "model": model,
                "learning_rate": 2e-3,
                "warmup_steps": 0,
                "lr_schedule": "constant",
                "log_every": 1,
            }
        )
    )
    # checkpoints kept (a finished export removes them otherwise): the run is resumed, and the
    # files of both runs are compared checkpoints included
    common = ["train", "-d", str(data), "-c", str(config), "--batch-size", "2", "--checkpoint-every", "3"]
    common.append("--keep-checkpoints")
    one, two = tmp_path / "one", tmp_path / "two"
    # one thread, as each launched process has (OMP_NUM_THREADS=1): a different thread count sums
    # the convolutions in another order, and the weights would differ by more than rounding
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = CliRunner().invoke(app, [*common, "-o", str(one), "--steps", "6", "--grad-accum", "2"])
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    # two processes of 2 images = the global batch of 4; stopped at step 3, resumed to 6
    first = _launch_two(*common, "-o", str(two), "--steps", "3")
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = _launch_two(*common, "-o", str(two), "--steps", "6", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for run in (first, resumed):  # one process reports
        assert run.stdout.count("trained ") == 1, run.stdout
    log1, log2 = _log(one), _log(two)
    assert [r["step"] for r in log2] == list(range(1, 7))  # one writer: each step logged once
    assert [r["lr"] for r in log2] == [r["lr"] for r in log1]
    for a, b in zip(log1, log2, strict=True):
        assert abs(a["loss"] - b["loss"]) <= LOSS_TOLERANCE * a["loss"], (log1, log2)
    w1, w2 = _weights(one), _weights(two)
    assert w1.keys() == w2.keys()
    assert all(torch.allclose(w1[k], w2[k], atol=1e-5, rtol=0) for k in w1)
    # the same files; rank 1 adds only its own random state to each checkpoint
    extra = {f"checkpoints/step-00000{s}/random_states_1.pkl" for s in (3, 6)}
    assert _files(two) == _files(one) | extra


@pytest.mark.slow
def test_two_processes_finetune_a_lora_adapter_that_one_process_writes(tmp_path):
    from typer.testing import CliRunner

    from genseg.cli.app import app
    from genseg.plugins.testing import TINY_MODEL, make_fake_dataset

    data = make_fake_dataset(tmp_path / "data", n=12)
    config = tmp_path / "train.json"
    config.write_text(json.dumps({"model": TINY_MODEL, "log_every": 1}))
    base = tmp_path / "base"
    result = CliRunner().invoke(
        app,
        ["train", "-d", str(data), "-o", str(base), "-c", str(config), "--steps", "2", "--batch-size", "2"],
    )
    assert result.exit_code == 0, result.output
    lora = tmp_path / "lora"
    args = ["finetune", "-m", str(base), "-d", str(data), "-o", str(lora), "--batch-size", "2"]
    run = _launch_two(*args, "--steps", "4", "--checkpoint-every", "2")
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("fine-tuned ") == 1, run.stdout  # one process reports
    steps = [r["step"] for r in _log(lora)]
    assert steps == sorted(set(steps)) and steps[-1] == 4  # one writer: each logged step once
    card = json.loads((lora / "genseg_adapter.json").read_text())
    assert (lora / card["weights"]).is_file()
