"""The CLI end to end, in process (main() with argv), plus start-up time in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from genseg.cli.testing import run_cli


@pytest.fixture
def model_dir(tmp_path, make_tiny_config):
    from genseg.pipeline import build_pipeline

    build_pipeline(make_tiny_config(), seed=0).save_pretrained(tmp_path / "model")
    return tmp_path / "model"


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "img.png"
    Image.fromarray((np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)).save(path)
    return path


HEAVY = ("torch", "diffusers", "transformers", "rasterio", "monai", "albumentations", "matplotlib", "sklearn")
_LOADED_BY_HELP = f"""
import sys
from genseg.cli.app import app
try:
    app(["--help"])
except SystemExit:
    pass
print("loaded:" + ",".join(m for m in {HEAVY!r} if m in sys.modules))
"""


def test_help_stays_fast_and_every_command_has_an_example():
    # what makes --help slow is a heavy library imported at start-up; a wall-clock limit would
    # measure the load of the machine instead
    loaded = subprocess.run([sys.executable, "-c", _LOADED_BY_HELP], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    heavy = loaded.stdout.strip().splitlines()[-1].removeprefix("loaded:")
    assert heavy == "", f"genseg --help imports {heavy}"
    out = subprocess.run([sys.executable, "-m", "genseg.cli.app", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "segment" in out.stdout
    commands = [["env"], ["train"], ["segment"], ["evaluate"], ["sample-data"], ["plugins", "list"]]
    commands += [["plugins", "validate"], ["datasets", "list"], ["vocab", "show"], ["vocab", "list"]]
    for cmd in [*commands, ["adapters", "list"]]:
        res = subprocess.run(
            [sys.executable, "-m", "genseg.cli.app", *cmd, "--help"], capture_output=True, text=True
        )
        assert res.returncode == 0, res.stderr
        assert "Example" in res.stdout, cmd


def test_segment_writes_mask_and_overlay(monkeypatch, capsys, model_dir, image_file, tmp_path):
    out_dir = tmp_path / "out"
    code, out, err = run_cli(
        monkeypatch,
        capsys,
        "segment",
        "--model",
        str(model_dir),
        "--prompt",
        "red circle",
        "--prompt",
        "grass",
        "--output",
        str(out_dir),
        str(image_file),
    )
    assert code == 0, err
    with Image.open(out_dir / "img_mask.png") as im:  # a palette PNG: viewers show colours
        assert im.mode == "P"
        mask = np.asarray(im)
    assert mask.shape == (40, 50) and set(np.unique(mask)) <= {0, 1, 2}
    overlay = Image.open(out_dir / "img_overlay.png")
    scale = overlay.size[0] // 50  # a small image is enlarged to be seen
    assert scale > 1 and overlay.size[1] > 40 * scale  # legend strip under the image
    assert "img_mask.png" in out


def test_segment_single_file_output_with_ensemble(monkeypatch, capsys, model_dir, image_file, tmp_path):
    target = tmp_path / "brain.png"
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "segment",
        "-m",
        str(model_dir),
        "-p",
        "brain",
        "--ensemble",
        "3",
        "--output",
        str(target),
        str(image_file),
    )
    assert code == 0, err
    assert set(np.unique(np.asarray(Image.open(target)))) <= {0, 255}
    assert (tmp_path / "brain_overlay.png").is_file() and (tmp_path / "brain_uncertainty.png").is_file()


def _assert_one_line_error(code, err, *needles):
    assert code == 3
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    joined = " ".join(lines)
    assert "Traceback" not in err
    for needle in needles:
        assert needle in joined, (needle, err)


def test_an_unreadable_image_fails_cleanly_and_leaves_no_partial_output(
    monkeypatch, capsys, model_dir, image_file, tmp_path
):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png at all")
    out_dir = tmp_path / "out"
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "segment",
        "-m",
        str(model_dir),
        "-p",
        "x",
        "-o",
        str(out_dir),
        str(image_file),
        str(bad),
    )
    _assert_one_line_error(code, err, "broken.png")
    # inputs are segmented one at a time: the good one is complete, the broken one left nothing
    written = sorted(p.name for p in out_dir.iterdir())
    assert written and all(name.startswith(image_file.stem) for name in written)
    assert not any(".tmp" in name or name.startswith(".") for name in written)


def test_missing_model_empty_prompt_and_offline_hub_id(monkeypatch, capsys, model_dir, image_file, tmp_path):
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "segment",
        "-m",
        str(tmp_path / "nope"),
        "-p",
        "x",
        "-o",
        str(tmp_path / "o.png"),
        str(image_file),
    )
    _assert_one_line_error(code, err, "nope", "does not exist")
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "segment",
        "-m",
        str(model_dir),
        "-p",
        " ",
        "-o",
        str(tmp_path / "o.png"),
        str(image_file),
    )
    _assert_one_line_error(code, err, "empty prompt")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "segment",
        "-m",
        "someorg/somemodel",
        "-p",
        "x",
        "-o",
        str(tmp_path / "o.png"),
        str(image_file),
    )
    _assert_one_line_error(code, err, "someorg/somemodel", "offline")
    assert not (tmp_path / "o.png").exists()
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "segment",
        "-m",
        str(tmp_path),
        "-p",
        "x",
        "-o",
        str(tmp_path / "o.png"),
        str(image_file),
    )
    _assert_one_line_error(code, err, "model_index.json")


def test_env_json_lists_plugins(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "env", "--json", "-")
    assert code == 0
    info = json.loads(out)
    assert info["libraries"]["torch"].startswith("2.")
    assert {"generic", "medical"} <= {p["name"] for p in info["plugins"]}


def test_train_on_a_label_of_the_wrong_size_fails_before_writing(monkeypatch, capsys, tmp_path):
    root = tmp_path / "bad"
    (root / "images").mkdir(parents=True)
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(root / "images" / "a.png")
    Image.fromarray(np.ones((16, 20), np.uint8)).save(root / "images" / "a_label.png")
    spec = {
        "name": "bad",
        "classes": {"1": {"name": "thing"}},
        "training": [{"image": "images/a.png", "label": "images/a_label.png"}],
    }
    (root / "dataset.json").write_text(json.dumps(spec))
    out = tmp_path / "run"
    code, _, err = run_cli(
        monkeypatch, capsys, "train", "--dataset", str(root), "--output", str(out), "--steps", "1"
    )
    _assert_one_line_error(code, err, "a.png", "a_label.png")
    assert not out.exists()  # nothing written, so the same command works once the data is fixed


def test_evaluate_json_pointing_at_a_folder_fails_before_evaluating(monkeypatch, capsys, model_dir, tmp_path):
    import genseg.evaluation.runner as runner
    from genseg.plugins.testing import make_fake_dataset

    data = make_fake_dataset(tmp_path / "data", n=2)
    monkeypatch.setattr(runner, "evaluate_pipeline", lambda *a, **k: pytest.fail("evaluated anyway"))
    code, _, err = run_cli(
        monkeypatch, capsys, "evaluate", "-m", str(model_dir), "-d", str(data), "--json", str(tmp_path)
    )
    _assert_one_line_error(code, err, "the output is a folder, not a file")


@pytest.mark.parametrize("command", ["train", "sample-data"])
def test_a_read_only_output_folder_is_one_line_before_any_work(monkeypatch, capsys, tmp_path, command):
    import genseg.data.atomic as atomic
    from genseg.plugins.testing import make_fake_dataset

    data = make_fake_dataset(tmp_path / "data", n=2)
    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(atomic.os, "access", lambda path, mode: False)  # what a read-only folder answers
    args = ["train", "-d", str(data), "--steps", "1"] if command == "train" else ["sample-data", "--offline"]
    code, _, err = run_cli(monkeypatch, capsys, *args, "--output", str(tmp_path / "ro" / "out"))
    _assert_one_line_error(code, err, "cannot write the output", "read-only")
    assert list((tmp_path / "ro").iterdir()) == []


def test_an_os_error_no_check_caught_is_still_one_line(monkeypatch, capsys, tmp_path):
    import genseg.cli.app as app_module

    def refuse():
        raise PermissionError(13, "Permission denied", str(tmp_path / "x"))

    monkeypatch.setattr(app_module, "app", refuse)  # as a command failing deep in a library would
    code, _, err = run_cli(monkeypatch, capsys, "env")
    _assert_one_line_error(code, err, "Permission denied", str(tmp_path / "x"))


def test_an_error_quoting_brackets_prints_them_as_written(monkeypatch, capsys):
    import genseg.cli.app as app_module
    from genseg.errors import InputError

    def refuse():
        raise InputError("no decoder", path="scan.dcm", fix="pip install the plugin's [jpeg] extra")

    monkeypatch.setattr(app_module, "app", refuse)
    code, _, err = run_cli(monkeypatch, capsys, "env")
    _assert_one_line_error(code, err, "the plugin's [jpeg] extra")


def test_warnings_print_as_one_line_and_debug_keeps_where_they_came_from(monkeypatch, capsys):
    import warnings

    from genseg.cli import app as cli

    def command():
        warnings.warn("a.tif: band 4 is not used", stacklevel=1)
        warnings.warn("old option", FutureWarning, stacklevel=1)

    def show(message, category, filename, lineno, file=None, line=None):  # Python's default, not pytest's
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    python_format = warnings.formatwarning
    monkeypatch.setattr(warnings, "formatwarning", python_format)  # restored afterwards
    monkeypatch.setattr(cli, "app", command)
    monkeypatch.setattr(sys, "argv", ["genseg", "segment"])
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        cli.main()
    err = capsys.readouterr().err
    assert err.splitlines() == ["warning: a.tif: band 4 is not used", "warning (FutureWarning): old option"]

    assert warnings.formatwarning is python_format  # main() leaves Python's format as it found it
    monkeypatch.setattr(sys, "argv", ["genseg", "--debug", "segment"])
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        cli.main()
    assert "test_cli.py" in capsys.readouterr().err  # Python's format: file and line


def test_library_loading_bars_and_notes_are_off_under_the_cli_unless_asked_for():
    code = (  # transformers follows the hub switch itself; diffusers once a model is loaded
        "import genseg.cli.app\n"
        "from genseg.models.loading import quiet_library_output\n"
        "from transformers.utils import logging\n"
        "from diffusers.utils import logging as diffusers_logging\n"
        "quiet_library_output()\n"
        "print(logging.is_progress_bar_enabled(), diffusers_logging.is_progress_bar_enabled(),"
        " diffusers_logging.get_verbosity() > diffusers_logging.WARNING)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    shown = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**env, "HF_HUB_DISABLE_PROGRESS_BARS": "0"},
    )
    assert (quiet.stdout.strip(), shown.stdout.strip()) == ("False False True", "True True False")


def test_version_prints_the_package_version_and_exits_zero():
    from genseg.version import __version__

    out = subprocess.run(
        [sys.executable, "-m", "genseg.cli.app", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.strip() == f"genseg {__version__}"
