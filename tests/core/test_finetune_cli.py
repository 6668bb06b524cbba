"""`genseg finetune`, `--adapter` on segment and evaluate, and `genseg adapters list`, end to end."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image


def cli(*args: str) -> tuple[int, str, str]:
    """Run `genseg ARGS` in process; returns (exit code, stdout, stderr)."""
    from genseg.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    argv, sys.argv = sys.argv, ["genseg", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


def _folder_bytes(folder) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    """A tiny base model, a dataset, an image, and an adapter fine-tuned by the CLI (--shots 10 of 4)."""
    from genseg.adapters.shots import ShotsWarning
    from genseg.plugins.testing import build_tiny_pipeline, make_fake_dataset, make_fake_image

    root = tmp_path_factory.mktemp("finetune_cli")
    build_tiny_pipeline("dit", seed=0).save_pretrained(root / "base")
    make_fake_dataset(root / "data", n=4)
    make_fake_image(root / "img.png", size=(40, 48), seed=3)
    args = ["finetune", "-m", str(root / "base"), "-d", str(root / "data"), "-o", str(root / "My LoRA")]
    args += ["--shots", "10", "--steps", "4", "--batch-size", "2", "--lr", "0.01", "--seed", "1"]
    with pytest.warns(ShotsWarning) as caught:
        result = cli(*args)
    root.joinpath("finetune.out").write_text(json.dumps([*result, [str(w.message) for w in caught]]))
    return root


def _finetune_run(space):
    return json.loads(space.joinpath("finetune.out").read_text())


def test_finetune_writes_a_small_adapter_with_a_valid_card(space):
    from genseg.adapters import read_manifest, weights_hash
    from genseg.pipeline import load_pipeline

    code, out, err, warned = _finetune_run(space)
    assert code == 0, err
    assert sorted(warned) == [
        f"data: class {c!r} has 4 labelled training images, fewer than --shots 10; using 4"
        for c in ("stuff", "thing")
    ]
    assert "fine-tuned 4 steps" in out and "adapter 'my-lora'" in out and "validation mIoU" in out
    adapter = space / "My LoRA"
    card = read_manifest(adapter)
    assert card.name == "my-lora" and card.base.name == "base"
    assert card.base.weights_sha256 == weights_hash(load_pipeline(space / "base", device="cpu"))
    assert card.training.shots == 10 and card.training.datasets[0].pairs_per_class == {"stuff": 4, "thing": 4}
    assert card.input.channels == 3 and card.input.resolution == 32 and card.input.domain == "generic"
    assert card.vocabulary == "generic:generic objects and surfaces"
    assert card.scores["split"] == "validation" and 0.0 <= card.scores["mIoU"] <= 1.0
    assert card.lora.rank == 4 and card.lora.targets == "attn"
    assert card.lora.trainable_parameters / card.lora.adapted_parameters < 0.1
    shipped = (adapter / "adapter_model.safetensors").stat().st_size + (
        adapter / "genseg_adapter.json"
    ).stat().st_size
    assert shipped < 0.05 * _folder_bytes(space / "base")
    from safetensors import safe_open

    with safe_open(str(adapter / "adapter_model.safetensors"), "pt") as f:
        assert all(k.startswith("denoiser.") and ".lora_" in k for k in f.keys())
    code, _, err = cli("finetune", "-m", str(space / "base"), "-d", str(space / "data"), "-o", str(adapter))
    assert code == 3 and "already holds a training run" in err


def test_segment_and_evaluate_apply_adapters(space):
    adapter = space / "My LoRA"
    code, out, err = cli(
        "segment", "-m", str(space / "base"), "-p", "thing", "-o", str(space / "seg"), str(space / "img.png"),
        "--adapter", f"{adapter}:0.7",
    )  # fmt: skip
    assert code == 0, err
    assert (space / "seg" / "img_mask.png").is_file() and (space / "seg" / "img_overlay.png").is_file()
    code, out, err = cli(
        "evaluate", "-m", str(space / "base"), "-d", str(space / "data"), "--adapter", str(adapter),
        "--json", str(space / "scores.json"),
    )  # fmt: skip
    assert code == 0, err
    scores = json.loads((space / "scores.json").read_text())
    assert scores["adapters"] == [str(adapter)] and 0.0 <= scores["mIoU"] <= 1.0


def test_an_adapter_for_other_weights_is_a_one_line_error_unless_forced(space, tmp_path):
    from genseg.plugins.testing import build_tiny_pipeline

    build_tiny_pipeline("dit", seed=5).save_pretrained(tmp_path / "other")
    args = ["segment", "-m", str(tmp_path / "other"), "-p", "thing", "-o", str(tmp_path / "out")]
    args += [str(space / "img.png"), "--adapter", str(space / "My LoRA")]
    code, out, err = cli(*args)
    assert code == 3 and "Traceback" not in err
    line = err[err.index("error: ") :].strip()
    assert "\n" not in line  # one line
    assert "genseg_adapter.json: adapter 'my-lora' was trained on base model" in line
    assert "pass --force" in line and not (tmp_path / "out").exists()
    with pytest.warns(UserWarning, match="applied anyway"):
        code, out, err = cli(*args, "--force")
    assert code == 0, err


def test_an_adapter_folder_without_its_card_is_a_one_line_error(space, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(space / "My LoRA" / "adapter_model.safetensors", broken)
    code, _, err = cli(
        "evaluate", "-m", str(space / "base"), "-d", str(space / "data"), "--adapter", str(broken)
    )
    assert code == 3 and "Traceback" not in err
    line = err[err.index("error: ") :].strip()
    assert "\n" not in line and f"{broken / 'genseg_adapter.json'}: not an adapter folder" in line
    code, _, err = cli("evaluate", "-m", str(space / "base"), "-d", str(space / "data"), "--adapter", "nope")
    assert code == 3 and "no adapter folder or registered adapter named 'nope'" in err


@pytest.fixture
def adapter_plugin(space, tmp_path, monkeypatch, genseg_plugins):
    """A plugin package that ships the fine-tuned adapter as package data under two names."""
    package = tmp_path / "site" / "genseg_demo_adapters"
    shutil.copytree(
        space / "My LoRA",
        package / "adapters" / "tiny",
        ignore=shutil.ignore_patterns("checkpoints", "*.jsonl", "genseg_train.json"),
    )
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(
        textwrap.dedent(
            """
            from genseg import hookimpl

            @hookimpl
            def genseg_register_adapters():
                return [
                    {"name": "demo-lora", "domain": "generic", "location": "adapters/tiny",
                     "base_model": "base", "prompts": ["thing"]},
                    {"name": "demo-lora-pkg", "domain": "generic",
                     "location": "genseg_demo_adapters/adapters/tiny"},
                    {"name": "demo-missing", "domain": "generic", "location": "adapters/none"},
                ]
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    import importlib

    plugin = importlib.import_module("genseg_demo_adapters.plugin")
    genseg_plugins(plugin)
    return package


def test_plugins_ship_adapters_as_package_data(space, adapter_plugin, tmp_path):
    from genseg.adapters import read_manifest

    code, out, err = cli("adapters", "list", "--json", "-")
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)}
    tiny = adapter_plugin / "adapters" / "tiny"
    assert rows["demo-lora"]["path"] == str(tiny) and rows["demo-lora"]["status"] == "ok"
    assert rows["demo-lora-pkg"]["path"] == str(tiny) and rows["demo-lora-pkg"]["status"] == "ok"
    assert rows["demo-lora"]["card"]["base"]["weights_sha256"] == read_manifest(tiny).base.weights_sha256
    assert rows["demo-lora"]["plugin"] == "genseg_demo_adapters.plugin"
    assert "adapter folder does not exist" in rows["demo-missing"]["status"]
    code, out, _ = cli("adapters", "list")
    assert code == 0 and "demo-lora" in out and "adapter folder does not exist" in out

    def segment(*adapters: str, prompt: str = "thing") -> tuple[int, str, str]:
        args = ["segment", "-m", str(space / "base"), "-p", prompt, "-o", str(tmp_path / "m.png")]
        return cli(*args, str(space / "img.png"), *[a for name in adapters for a in ("--adapter", name)])

    code, out, err = segment("demo-lora:0.5", "demo-lora-pkg:0.5")
    assert code == 3 and "already loaded" in err  # one folder under two registered names: one card name
    code, out, err = segment("demo-lora")
    assert code == 0, err
    assert (tmp_path / "m.png").is_file()
    code, _, err = segment("demo-missing")
    assert code == 3 and "points to a folder that does not exist" in err


def test_full_finetune_writes_a_model_folder_and_leaves_the_base(space, tmp_path):
    from genseg.pipeline import load_pipeline

    before = {p: p.read_bytes() for p in (space / "base").rglob("*") if p.is_file()}
    code, out, err = cli(
        "finetune", "-m", str(space / "base"), "-d", str(space / "data"), "-o", str(tmp_path / "full"),
        "--full", "--steps", "3", "--batch-size", "2", "--eval-split", "none",
    )  # fmt: skip
    assert code == 0, err
    assert f"model in {tmp_path / 'full'}" in out
    assert {p: p.read_bytes() for p in (space / "base").rglob("*") if p.is_file()} == before
    tuned = load_pipeline(tmp_path / "full", device="cpu")
    base = load_pipeline(space / "base", device="cpu")
    changed = [
        k
        for k, v in tuned.denoiser.state_dict().items()
        if not np.array_equal(v.numpy(), base.denoiser.state_dict()[k].numpy())
    ]
    assert changed and not (tmp_path / "full" / "genseg_adapter.json").exists()
    image = np.asarray(Image.open(space / "img.png"))
    assert tuned(image, "thing").masks.shape == (1, 1, 40, 48)
