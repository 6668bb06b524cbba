"""The MNI152 sample dataset the medical plugin generates: honest splits, nested labels, its extra named."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from genseg.data.schema import load_dataset_spec
from genseg.extras import MissingExtraError
from genseg.plugins import registry
from genseg_medical.mni152 import make_mni152_dataset, mni152_split_check, mni_label_volume, mni_split


@pytest.fixture(scope="module")
def mni152_root(tmp_path_factory):
    """The real MNI152 slices, generated once for this module (~5 s)."""
    return make_mni152_dataset(tmp_path_factory.mktemp("mni152") / "mni152")


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


def test_without_nilearn_the_error_names_the_plugins_extra(monkeypatch):
    from genseg_medical.mni152 import _mni_volumes

    for name in [m for m in sys.modules if m == "nilearn" or m.startswith("nilearn.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "nilearn", None)  # what an environment without it answers
    with pytest.raises(MissingExtraError, match=r'MNI152.*pip install "genseg-plugin-medical\[mri-sample\]"'):
        _mni_volumes()


def test_the_medical_plugin_registers_mni152_as_dataset_and_sample(genseg_plugins):
    import genseg_medical.plugin

    genseg_plugins(genseg_medical.plugin)
    plugin, registration = registry.datasets()["mni152"]
    assert plugin == "genseg_medical.plugin" and registration.loader == "genseg_medical.datasets:load_mni152"
    samples = {sample.name: (plugin, sample) for plugin, sample in registry.sample_datasets()}
    assert samples["mni152"][1].make == "genseg_medical.mni152:make_mni152_dataset"
    assert samples["ct-organs"][1].fetches and samples["shapes"][0] == "generic"
