"""Training you can watch: validation at the requested steps, the best weights exported (or the
last), the record and card saying which, trackers optional, a time estimate."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from genseg.cli.testing import run_cli as _run_cli
from genseg.errors import ConfigError

DENOISER = "denoiser/diffusion_pytorch_model.safetensors"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from genseg.plugins.testing import make_fake_dataset

    return make_fake_dataset(tmp_path_factory.mktemp("watch") / "fake", n=4)


def _cfg(make_tiny_config, **kw):
    from genseg.config import TrainConfig

    base = dict(
        model=make_tiny_config(),
        batch_size=2,
        learning_rate=5e-3,
        warmup_steps=0,
        lr_schedule="constant",
        steps=6,
        validate_every=2,
        checkpoint_every=1000,
        log_with="none",
        log_every=1,
    )
    return TrainConfig(**{**base, **kw})


class Scripted:
    """A validation callback with set scores per step; it keeps a copy of the denoiser's
    weights at each check and whether the pipeline was in eval mode."""

    def __init__(self, scores: dict[int, float]) -> None:
        self.scores, self.weights, self.eval_mode = scores, {}, []

    def __call__(self, pipe, step: int) -> dict[str, float]:
        self.weights[step] = {k: v.detach().clone().cpu() for k, v in pipe.denoiser.state_dict().items()}
        self.eval_mode.append(not pipe.denoiser.training and not torch.is_grad_enabled())
        return {"mIoU": self.scores[step], "dice": 0.0}


def _same(exported: dict, captured: dict) -> bool:
    return exported.keys() == captured.keys() and all(torch.equal(exported[k], captured[k]) for k in exported)


def test_validation_steps():
    from genseg.training.validation import validation_due

    def due(steps, every):
        return [s for s in range(1, steps + 1) if validation_due(s, steps, every)]

    assert due(1500, 500) == [500, 1000, 1500]
    assert due(1200, 500) == [500, 1000, 1200]  # and the last step, so the last weights compete
    assert due(200, 500) == [] and due(10, None) == []  # a run shorter than N: not validated


def test_best_step_is_exported_and_recorded_and_validation_leaves_training_unchanged(
    data, tmp_path, make_tiny_config
):
    from genseg.training.trainer import train

    best = Scripted({2: 0.2, 4: 0.5, 6: 0.3})
    notes: list[str] = []
    result = train(
        _cfg(make_tiny_config), tmp_path / "best", [data], progress=False, validate=best, notify=notes.append
    )
    assert sorted(best.weights) == [2, 4, 6] and all(best.eval_mode)
    exported = load_file(tmp_path / "best" / DENOISER)
    assert _same(exported, best.weights[4]) and not _same(exported, best.weights[6])
    assert result.exported.step == 4 and result.exported.selection == "best"
    record = json.loads((tmp_path / "best" / "genseg_train.json").read_text())["exported"]
    assert (
        record["step"] == 4
        and record["score"] == 0.5
        and record["validation"] == {"2": 0.2, "4": 0.5, "6": 0.3}
    )
    card = (tmp_path / "best" / "README.md").read_text()
    assert "step 4 of 6 (the best validation mIoU, validation mIoU 0.5000)" in card
    log = [json.loads(line) for line in (tmp_path / "best" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "validation" in r] == [2, 4, 6]
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3, 4, 5, 6]
    assert any(n.startswith("~") and "for the 1 step left at the measured" in n for n in notes), notes
    assert any("step 4: validation mIoU 0.5000 (best so far)" in n for n in notes), notes

    # --export last: the last step's weights, which are those of a run that never validated
    last = Scripted({2: 0.2, 4: 0.5, 6: 0.3})
    train(
        _cfg(make_tiny_config, export_weights="last"),
        tmp_path / "last",
        [data],
        progress=False,
        validate=last,
    )
    train(_cfg(make_tiny_config), tmp_path / "plain", [data], progress=False)
    exported_last = load_file(tmp_path / "last" / DENOISER)
    assert _same(exported_last, last.weights[6]) and _same(
        exported_last, load_file(tmp_path / "plain" / DENOISER)
    )
    assert _same(best.weights[6], last.weights[6])  # the same training trajectory
    assert (
        json.loads((tmp_path / "last" / "genseg_train.json").read_text())["exported"]["selection"] == "last"
    )
    assert json.loads((tmp_path / "plain" / "genseg_train.json").read_text())["exported"] is None


def test_a_resumed_run_remembers_the_best_weights_of_before(data, tmp_path, make_tiny_config):
    from genseg.training.trainer import train

    first = Scripted({2: 0.9, 4: 0.1})
    train(
        _cfg(make_tiny_config, steps=4, checkpoint_every=2),
        tmp_path / "run",
        [data],
        progress=False,
        validate=first,
    )
    second = Scripted({6: 0.5})
    result = train(
        _cfg(make_tiny_config, steps=6, checkpoint_every=2),
        tmp_path / "run",
        [data],
        resume=True,
        progress=False,
        validate=second,
    )
    assert sorted(second.weights) == [6]
    assert result.exported.step == 2 and result.exported.validation == {2: 0.9, 4: 0.1, 6: 0.5}
    assert _same(load_file(tmp_path / "run" / DENOISER), first.weights[2])


def test_without_tensorboard_auto_still_trains_and_asking_for_it_is_one_error(
    data, tmp_path, make_tiny_config, monkeypatch
):
    import accelerate.utils

    from genseg.training.trainer import train

    monkeypatch.setattr(accelerate.utils, "is_tensorboard_available", lambda: False)
    result = train(
        _cfg(make_tiny_config, steps=2, log_with="auto"), tmp_path / "auto", [data], progress=False
    )
    assert result.last_loss is not None and not (tmp_path / "auto" / "tensorboard").exists()
    with pytest.raises(ConfigError, match="needs the tensorboard package") as err:
        train(
            _cfg(make_tiny_config, steps=2, log_with="tensorboard"), tmp_path / "tb", [data], progress=False
        )
    assert "--log-with none" in err.value.fix
    assert not (tmp_path / "tb").exists()  # refused before anything was written


def test_tensorboard_receives_loss_learning_rate_and_validation(data, tmp_path, make_tiny_config):
    pytest.importorskip("accelerate.utils").is_tensorboard_available() or pytest.skip("no tensorboard")
    from genseg.training.trainer import train

    train(
        _cfg(make_tiny_config, steps=4, log_with="tensorboard", log_every=1),
        tmp_path / "run",
        [data],
        progress=False,
        validate=Scripted({2: 0.1, 4: 0.2}),
    )
    events = list((tmp_path / "run" / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and any(e.stat().st_size > 0 for e in events)
    text = b"".join(e.read_bytes() for e in events)
    assert b"train/loss" in text and b"train/lr" in text and b"validation/mIoU" in text


def test_cli_validates_the_validation_split_and_says_which_step_it_exported(
    data, tmp_path, make_tiny_config, monkeypatch, capsys
):
    config = tmp_path / "tiny.json"
    config.write_text(_cfg(make_tiny_config, steps=2, validate_every=None, log_with="auto").model_dump_json())
    out = tmp_path / "run"
    args = ["-c", str(config), "--batch-size", "2", "--steps", "4", "--validate-every", "2"]
    code, stdout, stderr = _run_cli(
        monkeypatch, capsys, "train", "-d", str(data), "-o", str(out), *args, "--log-with", "none"
    )
    assert code == 0, stderr
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    checks = [r for r in log if "validation" in r]
    assert [r["step"] for r in checks] == [2, 4]
    # genseg's evaluation: every class of the dataset scored on the validation images
    assert {"mIoU", "dice", "IoU/thing", "IoU/stuff"} <= set(checks[0]["validation"])
    exported = json.loads((out / "genseg_train.json").read_text())["exported"]
    assert exported["score"] == max(r["validation"]["mIoU"] for r in checks)
    assert f"weights of step {exported['step']}" in stdout
    assert "step 2: validation mIoU" in stderr

    # --validate-every on data without a validation split: one error, before any training
    bare = tmp_path / "bare"
    bare.mkdir()
    for sub in ("images", "labels"):
        (bare / sub).symlink_to(data / sub)
    spec = json.loads((data / "dataset.json").read_text())
    (bare / "dataset.json").write_text(json.dumps({**spec, "validation": []}))
    code, _, stderr = _run_cli(
        monkeypatch, capsys, "train", "-d", str(bare), "-o", str(tmp_path / "b"), *args
    )
    assert code != 0 and "no dataset has a labelled validation split" in stderr
    assert not (tmp_path / "b").exists()
