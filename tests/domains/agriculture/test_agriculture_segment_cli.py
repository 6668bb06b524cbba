"""`genseg segment --domain agriculture` and `genseg train --dataset field-scenes`, end to end
on tiny models."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from genseg.plugins import manager
from genseg_agriculture.sample_data import write_field_tiff


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from genseg.plugins.testing import build_tiny_pipeline

    path = tmp_path_factory.mktemp("model") / "tiny"
    build_tiny_pipeline("dit").save_pretrained(path)
    return path


@pytest.fixture(autouse=True)
def only_this_plugin(genseg_plugins):
    """The built-in plugin and this one: other domains' readers and writers stay out of these tests."""
    import genseg_agriculture.plugin

    genseg_plugins(genseg_agriculture.plugin)
    yield
    manager.use_plugins(None)


def _segment(model_dir, *args: str, ok: bool = True):
    """``genseg segment -m MODEL --domain agriculture ARGS`` in process."""
    from genseg.cli.app import app

    cmd = ["segment", "--model", str(model_dir), "--domain", "agriculture", *args]
    result = CliRunner().invoke(app, cmd, catch_exceptions=not ok)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_weeds_in_an_rgb_nir_tiff(model_dir, tmp_path):
    tif, label = write_field_tiff(tmp_path / "field.tif", size=48)
    out = tmp_path / "weeds.png"
    with pytest.warns(UserWarning, match="assuming red,green,blue,nir"):
        result = _segment(model_dir, "--prompt", "weeds", "--output", str(out), str(tif))
    with Image.open(out) as im:
        mask = np.asarray(im)
    assert mask.shape == label.shape == (48, 48)
    assert set(np.unique(mask).tolist()) <= {0, 255}
    assert (tmp_path / "weeds_overlay.png").is_file() and "weeds:" in result.output


def test_declared_bands_and_an_ndvi_composite(model_dir, tmp_path):
    tif, _ = write_field_tiff(tmp_path / "field.tif", size=40)
    options = ["-O", "bands=red,green,blue,nir", "-O", "composite=rg-ndvi", "-O", "illumination=percentile"]
    _segment(model_dir, "-p", "crop rows", "-p", "weeds", *options, "-o", str(tmp_path / "out"), str(tif))
    with Image.open(tmp_path / "out" / "field_mask.png") as im:  # the built-in writers have no TIFF
        assert np.asarray(im).shape == (40, 40) and set(np.unique(np.asarray(im)).tolist()) <= {0, 1, 2}


def test_an_agriculture_vision_tile_is_read_with_its_nir(model_dir, tmp_path):
    from agriculture_fakes import make_fake_agriculture_vision

    base = make_fake_agriculture_vision(tmp_path / "av", counts=(0, 0, 1))
    [tile] = sorted((base / "test" / "images" / "rgb").iterdir())
    _segment(
        model_dir,
        "-p",
        "weed cluster",
        "-O",
        "composite=false-colour",
        "-o",
        str(tmp_path / "wc.png"),
        str(tile),
    )
    assert (tmp_path / "wc.png").is_file()


def test_ndvi_without_nir_is_one_error_naming_the_bands(model_dir, tmp_path):
    from genseg.errors import InputError

    rgb = tmp_path / "leaf.png"
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(rgb)
    result = _segment(
        model_dir, "-p", "rust", "-O", "indices=ndvi", "-o", str(tmp_path / "m.png"), str(rgb), ok=False
    )
    assert isinstance(result.exception, InputError)
    assert "the image has red, green, blue" in str(result.exception) and "nir" in str(result.exception)
    assert not (tmp_path / "m.png").exists()


@pytest.mark.slow
def test_the_issue_command_in_a_real_process(model_dir, tmp_path):
    """The exact command of the issue, as a user runs it (a subprocess: exit codes, one-line errors),
    with every installed plugin loaded: a plain TIFF is not claimed by a GeoTIFF reader."""
    from genseg.plugins.testing import run_genseg

    write_field_tiff(tmp_path / "field.tif", size=48)
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(tmp_path / "leaf.png")
    args = ["segment", "--model", str(model_dir), "--domain", "agriculture", "--prompt", "weeds"]
    done = run_genseg(*args, "--output", str(tmp_path / "weeds.png"), str(tmp_path / "field.tif"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "weeds.png").is_file()
    failed = run_genseg(
        *args, "-O", "indices=ndvi", "--output", str(tmp_path / "x.png"), str(tmp_path / "leaf.png")
    )
    assert failed.returncode == 3 and "Traceback" not in failed.stderr
    assert "ndvi needs the bands nir, red, but the image has red, green, blue" in " ".join(
        failed.stderr.split()
    )


@pytest.mark.slow
def test_train_on_the_generated_field_scenes(tmp_path, monkeypatch):
    """`genseg train --dataset field-scenes` generates, indexes and trains (a few steps of a tiny model)."""
    from genseg.cli.app import app
    from genseg.plugins.testing import TINY_MODEL
    from genseg_agriculture import sample_data

    monkeypatch.setenv("GENSEG_DATA_DIR", str(tmp_path / "data"))
    make = sample_data.make_field_scenes
    monkeypatch.setattr(
        sample_data, "make_field_scenes", lambda root: make(root, n_train=6, n_val=2, n_test=2, size=48)
    )
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"model": TINY_MODEL, "batch_size": 2, "warmup_steps": 0, "log_every": 1}))
    cmd = [
        "train",
        "--dataset",
        "field-scenes",
        "--config",
        str(config),
        "--steps",
        "2",
        "-o",
        str(tmp_path / "run"),
    ]
    result = CliRunner().invoke(app, cmd, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "trained 2 steps" in result.output
    assert (tmp_path / "data" / "field-scenes" / "train" / "semantics" / "field_00005.png").is_file()
    assert (tmp_path / "run" / "model_index.json").is_file()
