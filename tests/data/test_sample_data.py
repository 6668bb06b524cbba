"""The generated sample datasets: deterministic, honest splits, labels that mean what they say."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from genseg.data.sample_data import make_shapes_dataset, mni152_split_check, mni_label_volume, mni_split
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


def test_mni_split_keeps_a_gap_between_held_out_and_training_slices():
    zs = list(range(30, 130))
    split = mni_split(zs, gap=3)
    held = [z for z, s in split.items() if s != "training"]
    train = [z for z, s in split.items() if s == "training"]
    assert sum(1 for s in split.values() if s == "test") == 24
    assert sum(1 for s in split.values() if s == "validation") == 8
    assert min(abs(t - h) for t in train for h in held) > 3


def test_mni_labels_respect_the_tissue_hierarchy():
    rng = np.random.default_rng(0)
    brain = rng.random((6, 6, 6)) > 0.3
    gm, wm = rng.random((6, 6, 6)), rng.random((6, 6, 6))
    label = mni_label_volume(brain, gm, wm)
    assert set(np.unique(label[~brain])) == {0}
    assert (label[brain] >= 1).all()
    assert ((label == 2) <= (gm >= 0.5)).all() and ((label == 3) <= (wm >= 0.5)).all()


@pytest.mark.slow
def test_real_mni152_dataset(mni152_root):
    spec = load_dataset_spec(mni152_root)
    assert mni152_split_check(spec)
    assert spec.classes["1"].values == [1, 2, 3]
    entry = spec.test[0]
    image = np.asarray(Image.open(mni152_root / entry.image))
    label = np.asarray(Image.open(mni152_root / entry.label))
    assert image.shape == label.shape == (240, 240)
    brain = np.isin(label, [1, 2, 3])
    assert brain.mean() > 0.15 and (label == 2).any() and (label == 3).any()
    assert image[brain].mean() > 3 * image[~brain].mean()  # a real T1: brain bright, background dark


@pytest.mark.slow
def test_real_mni152_is_deterministic_and_labels_nest(mni152_root, tmp_path):
    from genseg.data.sample_data import make_mni152_dataset

    again = make_mni152_dataset(tmp_path / "mni152")
    spec = load_dataset_spec(mni152_root)
    assert load_dataset_spec(again) == spec
    for entry in spec.training + spec.validation + spec.test:
        for rel in (entry.image, entry.label):
            assert (again / rel).read_bytes() == (mni152_root / rel).read_bytes(), rel
    label = np.stack([np.asarray(Image.open(mni152_root / e.label)) for e in spec.test])
    brain = np.isin(label, spec.class_values("1"))
    assert set(np.unique(label)) == {0, 1, 2, 3}
    assert not (np.isin(label, [2, 3]) & ~brain).any()  # brain ⊇ grey ∪ white
    z = {split: [int(e.image[-7:-4]) for e in getattr(spec, split)] for split in ("training", "test")}
    assert min(abs(a - b) for a in z["training"] for b in z["test"]) >= 3


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


def test_command_line_writes_both_datasets(tmp_path, monkeypatch, capsys):
    import genseg.data.sample_data as sd

    made = []
    monkeypatch.setattr(
        sd, "make_mni152_dataset", lambda root, seed: made.append(("mni", root, seed)) or root
    )
    monkeypatch.setattr(sd, "make_shapes_dataset", lambda root, seed: made.append(("sh", root, seed)) or root)
    sd.main(["--output", str(tmp_path), "--seed", "2"])
    assert made == [("mni", tmp_path / "mni152", 2), ("sh", tmp_path / "shapes", 2)]
    assert str(tmp_path / "shapes") in capsys.readouterr().out
