"""Folder mode of `segment_files` and `genseg segment`: streamed inputs, resume, failures, tiling."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from genseg.errors import InputError, OutputError
from genseg.plugins.testing import build_tiny_pipeline, make_fake_image
from genseg.segment import FailedFile, SegmentedFile, segment_files


@pytest.fixture(scope="module")
def pipe():
    return build_tiny_pipeline("dit")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, pipe):
    path = tmp_path_factory.mktemp("model") / "tiny"
    pipe.save_pretrained(path)
    return path


def _photos(folder, n=3):
    return [make_fake_image(folder / f"p{i}.png", seed=i) for i in range(n)]


def _state(folder):
    """Each file's name and modification time: what a refused run must leave as it was."""
    return {p.name: p.stat().st_mtime_ns for p in sorted(folder.iterdir())}


def test_inputs_are_read_one_at_a_time_each_written_before_the_next_is_read(pipe, tmp_path, monkeypatch):
    import genseg.data.io as io

    _photos(tmp_path / "in")
    events = []
    real = io.load_image
    monkeypatch.setattr(
        io, "load_image", lambda src, *a, **k: events.append(("read", src.name)) or real(src, *a, **k)
    )
    done = lambda d: events.append(("done", d.input.name, all(p.is_file() for p in d.outputs)))  # noqa: E731
    segment_files(pipe, [tmp_path / "in"], ["thing"], tmp_path / "out", progress=False, on_done=done)
    assert events == [
        ("read", "p0.png"),
        ("done", "p0.png", True),
        ("read", "p1.png"),
        ("done", "p1.png", True),
        ("read", "p2.png"),
        ("done", "p2.png", True),
    ]


def test_existing_outputs_are_refused_before_writing_or_skipped_or_replaced(pipe, tmp_path):
    _photos(tmp_path / "in")
    out = tmp_path / "out"
    first = segment_files(pipe, [tmp_path / "in"], ["thing"], out, progress=False)
    assert [r.input.name for r in first] == ["p0.png", "p1.png", "p2.png"]
    (out / "p1_overlay.png").unlink()  # p1 interrupted between its mask and its overlay
    before = _state(out)
    with pytest.raises(OutputError, match="3 of 3 inputs have outputs here already") as err:
        segment_files(pipe, [tmp_path / "in"], ["thing"], out, progress=False, existing="error")
    assert "--resume" in err.value.fix and "--overwrite" in err.value.fix
    assert _state(out) == before
    resumed = segment_files(pipe, [tmp_path / "in"], ["thing"], out, progress=False, existing="resume")
    assert [r.input.name for r in resumed] == ["p1.png"]
    assert [p.name for p in resumed.skipped] == ["p0.png", "p2.png"]
    after = _state(out)
    assert after["p0_mask.png"] == before["p0_mask.png"] and "p1_overlay.png" in after
    replaced = segment_files(pipe, [tmp_path / "in"], ["thing"], out, progress=False, existing="overwrite")
    assert len(replaced) == 3 and replaced.skipped == [] and _state(out)["p0_mask.png"] > after["p0_mask.png"]


def test_a_named_output_file_is_replaced_without_resume_or_overwrite(pipe, tmp_path):
    image = make_fake_image(tmp_path / "a.png")
    out = tmp_path / "m.png"
    out.write_bytes(b"an earlier mask")
    (result,) = segment_files(pipe, [image], ["thing"], out, progress=False, existing="error")
    assert result.outputs[0] == out and out.read_bytes().startswith(b"\x89PNG")


def test_one_failing_input_is_recorded_and_the_others_are_written(pipe, tmp_path):
    _photos(tmp_path / "in")
    (tmp_path / "in" / "p1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"cut short")
    seen = []
    results = segment_files(
        pipe, [tmp_path / "in"], ["thing"], tmp_path / "out", progress=False, on_done=seen.append
    )
    assert [r.input.name for r in results] == ["p0.png", "p2.png"]
    (failed,) = results.failed
    assert failed.input.name == "p1.png" and str(failed.input) in failed.reason
    assert [type(d) for d in seen] == [SegmentedFile, FailedFile, SegmentedFile]
    assert not (tmp_path / "out" / "p1_mask.png").exists()
    with pytest.raises(InputError) as err:  # --fail-fast: the first failure stops the run
        segment_files(pipe, [tmp_path / "in"], ["thing"], tmp_path / "out2", progress=False, fail_fast=True)
    assert err.value.path == str(tmp_path / "in" / "p1.png")
    assert sorted(p.name for p in (tmp_path / "out2").iterdir()) == ["p0_mask.png", "p0_overlay.png"]
    with pytest.raises(InputError):  # a single input's failure is the error itself
        segment_files(pipe, [tmp_path / "in" / "p1.png"], ["thing"], tmp_path / "out3", progress=False)


@pytest.mark.parametrize(
    "size, tile_size, tiled",
    [
        ((128, 100), None, False),  # 4 × the tiny model's 32 px: shrunk whole, as in training
        ((129, 60), None, True),  # beyond: tiles at 32 px
        ((40, 40), 16, True),  # --tile-size forces tiles
        ((300, 200), 0, False),  # --tile-size 0 never tiles
    ],
)
def test_photos_are_tiled_when_much_larger_than_the_model(
    pipe, tmp_path, monkeypatch, size, tile_size, tiled
):
    import genseg.segment as segment

    tiles = []
    real = segment._segment_tiles
    monkeypatch.setattr(segment, "_segment_tiles", lambda *a, **k: tiles.append(a[6]) or real(*a, **k))
    image = make_fake_image(tmp_path / "photo.png", size=size)
    (result,) = segment_files(pipe, [image], ["thing"], tmp_path / "out", progress=False, tile_size=tile_size)
    assert all(p.is_file() for p in result.outputs)
    assert tiles == ([tile_size or pipe.config.resolution] if tiled else [])


def test_the_tiling_policy_of_each_kind_of_domain():
    from genseg.segment_tiled import WHOLE_UP_TO, TilePolicy, tiling_for

    assert tiling_for("generic", None, 128) == TilePolicy(128, WHOLE_UP_TO * 128, stream=False)
    assert tiling_for("generic", 256, 128) == TilePolicy(256, 256, stream=True)
    assert not tiling_for("generic", 0, 128).tiles(10_000, 10_000)
    photo = tiling_for("generic", None, 128)
    assert photo.tiles(3000, 4000) and not photo.tiles(384, 512)


def _cli(model_dir, *args):
    from genseg.cli.app import app

    return CliRunner().invoke(app, ["segment", "-m", str(model_dir), "-p", "thing", *args])


def test_cli_folder_run_prints_a_summary_and_exits_non_zero_when_an_input_failed(model_dir, tmp_path):
    _photos(tmp_path / "in", 2)
    (tmp_path / "in" / "bad.png").write_bytes(b"not a picture")
    out = tmp_path / "out"
    result = _cli(model_dir, "-o", str(out), str(tmp_path / "in"))
    assert result.exit_code == InputError.exit_code, result.output
    assert "3 inputs: 2 written, 1 failed" in result.output
    assert f"{tmp_path / 'in' / 'bad.png'}:" in result.output.splitlines()[-1]
    (tmp_path / "in" / "bad.png").unlink()
    again = _cli(model_dir, "-o", str(out), str(tmp_path / "in"))
    assert isinstance(again.exception, OutputError) and "--resume" in str(again.exception)
    resumed = _cli(model_dir, "-o", str(out), "--resume", str(tmp_path / "in"))
    assert resumed.exit_code == 0 and "2 inputs: 0 written, 2 skipped (outputs complete)" in resumed.output
    both = _cli(model_dir, "-o", str(out), "--resume", "--overwrite", str(tmp_path / "in"))
    assert both.exit_code == 2 and "--resume / --overwrite" in both.output
