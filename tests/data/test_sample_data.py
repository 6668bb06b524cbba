"""The generated sample datasets: deterministic, honest splits, labels that mean what they say."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from genseg.data.sample_data import make_shapes_dataset
from genseg.data.schema import load_dataset_spec


def test_shapes_are_deterministic_and_hold_several_classes(tmp_path):
    a = make_shapes_dataset(tmp_path / "a", seed=3, n_train=6, n_val=1, n_test=2, size=64)
    b = make_shapes_dataset(tmp_path / "b", seed=3, n_train=6, n_val=1, n_test=2, size=64)
    spec = load_dataset_spec(a)
    assert len(spec.training) == 6 and len(spec.test) == 2
    for entry in spec.training:
        assert (a / entry.image).read_bytes() == (b / entry.image).read_bytes()
        label = np.asarray(Image.open(a / entry.label))
        objects = {int(v) for v in np.unique(label) if 1 <= v <= 9}
        textures = {int(v) for v in np.unique(label) if v >= 10}
        assert 2 <= len(objects) <= 4, objects
        assert 1 <= len(textures) <= 2
    c = make_shapes_dataset(tmp_path / "c", seed=4, n_train=6, n_val=1, n_test=2, size=64)
    assert (a / spec.training[0].image).read_bytes() != (c / spec.training[0].image).read_bytes()
    assert spec.classes["1"].name == "red circle" and "red disc" in spec.prompts_for("1")


def test_shapes_generation_is_skipped_when_up_to_date(tmp_path):
    root = make_shapes_dataset(tmp_path / "s", seed=0, n_train=2, n_val=1, n_test=1, size=32)
    stamp = (root / "dataset.json").stat().st_mtime_ns
    make_shapes_dataset(root, seed=0, n_train=2, n_val=1, n_test=1, size=32)
    assert (root / "dataset.json").stat().st_mtime_ns == stamp
    make_shapes_dataset(root, seed=1, n_train=2, n_val=1, n_test=1, size=32)
    assert (root / "dataset.json").stat().st_mtime_ns != stamp


def test_an_interrupted_generation_leaves_no_dataset_json(tmp_path, monkeypatch):
    import genseg.data.sample_data as sd

    root = make_shapes_dataset(tmp_path / "s", seed=0, n_train=2, n_val=1, n_test=1, size=32)
    calls = {"n": 0}
    real = sd.write_png_mask

    def flaky(path, mask):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(path, mask)

    monkeypatch.setattr(sd, "write_png_mask", flaky)
    with pytest.raises(KeyboardInterrupt):
        make_shapes_dataset(root, seed=1, n_train=2, n_val=1, n_test=1, size=32)
    assert not (root / "dataset.json").exists()
    assert not [p for p in root.rglob(".*") if p.is_file()]  # no temporary files left
    monkeypatch.setattr(sd, "write_png_mask", real)
    assert load_dataset_spec(make_shapes_dataset(root, seed=1, n_train=2, n_val=1, n_test=1, size=32))


def test_command_line_writes_the_shapes_dataset(tmp_path, monkeypatch, capsys):
    import genseg.data.sample_data as sd

    made = []
    monkeypatch.setattr(sd, "make_shapes_dataset", lambda root, seed: made.append(("sh", root, seed)) or root)
    sd.main(["--output", str(tmp_path), "--seed", "2"])
    assert made == [("sh", tmp_path / "shapes", 2)]
    assert str(tmp_path / "shapes") in capsys.readouterr().out
