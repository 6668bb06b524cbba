"""A saved model folder is checked before anything in it is loaded: pickle weights, missing
components and settings out of range are one error naming the file, never a quiet load."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from genseg.errors import ModelNotFoundError
from genseg.model_folder import UnsafeWeightsWarning, check_model_folder
from genseg.pipeline import load_pipeline


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    from genseg.plugins.testing import build_tiny_pipeline

    folder = tmp_path_factory.mktemp("model") / "tiny"
    build_tiny_pipeline("dit").save_pretrained(folder)
    return folder


@pytest.fixture
def model(saved, tmp_path):
    """A fresh copy of the saved model, to damage."""
    return shutil.copytree(saved, tmp_path / "model")


def _to_pickle(folder, component):
    """Replace a component's safetensors weights by the same tensors saved with torch.save."""
    import torch
    from safetensors.torch import load_file

    (safe,) = (folder / component).glob("*.safetensors")
    torch.save(load_file(str(safe)), safe.with_suffix(".bin"))
    safe.unlink()


def run_cli(monkeypatch, capsys, *args):
    from genseg.cli.app import main

    monkeypatch.setattr(sys, "argv", ["genseg", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.mark.parametrize("component", ["denoiser", "text_encoder"])
def test_pickle_weights_are_refused_with_the_fix(model, component):
    _to_pickle(model, component)
    with pytest.raises(ModelNotFoundError) as err:
        load_pipeline(model, device="cpu")
    message = err.value.one_line()
    assert f"{component}/" in message and "pickle" in message
    assert "safetensors" in err.value.fix and "--allow-pickle" in err.value.fix


def test_allow_pickle_loads_them_with_a_warning(model):
    _to_pickle(model, "denoiser")
    with pytest.warns(UnsafeWeightsWarning, match="denoiser/diffusion_pytorch_model.bin"):
        pipe = load_pipeline(model, device="cpu", allow_pickle=True)
    assert pipe.denoiser is not None


def test_segment_refuses_pickle_weights_in_one_line(model, tmp_path, monkeypatch, capsys):
    from genseg.plugins.testing import make_fake_image

    _to_pickle(model, "denoiser")
    image = make_fake_image(tmp_path / "a.png")
    code, out, err = run_cli(
        monkeypatch,
        capsys,
        "segment",
        "-m",
        str(model),
        "-p",
        "thing",
        "-o",
        str(tmp_path / "m.png"),
        str(image),
    )
    assert code == 3 and "pickle" in err and "Traceback" not in err
    assert not (tmp_path / "m.png").exists()


def test_a_model_without_its_tokenizer_is_refused(model):
    shutil.rmtree(model / "tokenizer")
    with pytest.raises(ModelNotFoundError) as err:
        load_pipeline(model, device="cpu")
    assert err.value.path == str(model / "tokenizer")
    assert "tokenizer/ is missing" in err.value.message


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("prediction_type", "epsilon", "invalid prediction_type"),
        ("formulation", "magic", "invalid formulation"),
        ("resolution", 10**7, "invalid resolution"),
        ("resolution", -8, "invalid resolution"),
        ("max_text_length", 0, "invalid max_text_length"),
    ],
)
def test_invalid_settings_in_model_index_are_refused(model, key, value, words):
    index = json.loads((model / "model_index.json").read_text())
    index[key] = value
    (model / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ModelNotFoundError, match=words) as err:
        load_pipeline(model, device="cpu")
    assert err.value.path == str(model / "model_index.json")


@pytest.mark.parametrize("key, value", [("num_layers", 100000000), ("num_layers", -1), ("patch_size", 0)])
def test_component_sizes_out_of_range_are_refused_before_building(model, key, value):
    path = model / "denoiser" / "config.json"
    config = json.loads(path.read_text())
    config[key] = value
    path.write_text(json.dumps(config))
    with pytest.raises(ModelNotFoundError, match=f"{key} = {value} is out of range") as err:
        load_pipeline(model, device="cpu")
    assert err.value.path == str(path)


def test_a_model_folder_is_checked_without_loading_it(saved):
    check_model_folder(saved)  # the saved tiny model passes every check


def test_a_missing_local_folder_is_not_called_an_offline_hub_id(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelNotFoundError) as err:
        load_pipeline("runs/missing", device="cpu")
    assert "folder does not exist" in err.value.message and "hub" not in err.value.message
    with pytest.raises(ModelNotFoundError, match="no model folder of this name exists here.*offline"):
        load_pipeline("org/name", device="cpu")  # could be either: both are said


def test_a_damaged_pickle_under_allow_pickle_is_one_warning_and_one_error_line(model, tmp_path):
    import os
    import subprocess

    from genseg.plugins.testing import make_fake_image

    (model / "denoiser" / "diffusion_pytorch_model.safetensors").unlink()
    (model / "denoiser" / "diffusion_pytorch_model.bin").write_bytes(b"garbage")
    image = make_fake_image(tmp_path / "a.png")
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    cli = "import sys; from genseg.cli.app import main; sys.argv[0] = 'genseg'; main()"
    command = [sys.executable, "-c", cli, "segment", "-m", str(model), "--allow-pickle"]
    done = subprocess.run(
        [*command, "-p", "thing", "-o", str(tmp_path / "m.png"), str(image)],
        capture_output=True,
        text=True,
        env=env,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 3, done.stderr
    assert len(lines) == 2, done.stderr  # no "An error occurred while trying to fetch", no fallback note
    assert lines[0].startswith("warning (UnsafeWeightsWarning)") and lines[1].startswith("error: ")
    assert not (tmp_path / "m.png").exists()
