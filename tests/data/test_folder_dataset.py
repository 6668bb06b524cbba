"""The prompted dataset: one item per (image, class present), right tensors, seeded prompts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from genseg.data.folder_dataset import PromptedSegmentationDataset
from genseg.errors import DatasetError, InputError

CLASSES = {
    "1": {"name": "cat", "synonyms": ["kitty", "feline", "house cat"]},
    "2": {"name": "dog", "synonyms": ["puppy"]},
    "3": {"name": "animal", "values": [1, 2]},
    "4": {"name": "bird"},
}


def _make(root, name="toy", sizes=((20, 24), (16, 16), (20, 24)), label_size=None):
    """Three images: gray with cat+dog, RGB with only a dog, gray without any class."""
    rng = np.random.default_rng(1)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    entries = []
    for i, (h, w) in enumerate(sizes):
        image = rng.integers(0, 256, (h, w) if i != 1 else (h, w, 3), dtype=np.uint8)
        label = np.zeros(label_size or (h, w), np.uint8)
        if i == 0:
            label[2:8, 2:8], label[10:14, 10:20] = 1, 2
        elif i == 1:
            label[4:12, 4:12] = 2
        Image.fromarray(image).save(root / "images" / f"{i}.png")
        Image.fromarray(label).save(root / "labels" / f"{i}.png")
        entries.append({"image": f"images/{i}.png", "label": f"labels/{i}.png"})
    spec = {"name": name, "classes": CLASSES, "training": entries, "test": entries[:2]}
    (root / "dataset.json").write_text(json.dumps(spec))
    return root


def test_items_are_image_class_pairs_and_tensors_are_right(tmp_path):
    ds = PromptedSegmentationDataset([_make(tmp_path / "a")], split="test", resolution=16)
    pairs = [(e.image, k) for e, k, _ in ds.items]
    assert pairs == [("images/0.png", "1"), ("images/0.png", "2"), ("images/0.png", "3")] + [
        ("images/1.png", "2"),
        ("images/1.png", "3"),
    ]
    assert ds.class_names() == ["cat", "dog", "animal"]
    item = ds[2]
    assert item["image"].shape == (3, 16, 16) and item["image"].dtype == torch.float32
    assert item["mask"].shape == (1, 16, 16) and item["mask"].dtype == torch.float32
    assert set(item["mask"].unique().tolist()) == {0.0, 1.0}
    assert 0.0 <= item["image"].min() and item["image"].max() <= 1.0
    gray = ds[0]["image"]
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])  # grayscale replicated
    assert item["prompt"] == item["class_name"] == "animal"  # evaluation uses the canonical name
    assert item["dataset"] == "toy" and item["image_path"].endswith("0.png")
    # the union class covers both of its parts
    assert torch.equal(ds[2]["mask"], torch.maximum(ds[0]["mask"], ds[1]["mask"]))


def test_eval_resize_keeps_the_mask_exact_at_native_size(tmp_path):
    ds = PromptedSegmentationDataset(
        _make(tmp_path / "a", sizes=((16, 16),) * 3), split="test", resolution=16
    )
    mask = ds[0]["mask"][0].numpy()
    expected = np.zeros((16, 16), np.float32)
    expected[2:8, 2:8] = 1
    np.testing.assert_array_equal(mask, expected)


def test_training_prompts_are_seeded_per_item_and_epoch(tmp_path):
    root = _make(tmp_path / "a")
    ds = PromptedSegmentationDataset([root], split="train", resolution=16, seed=3)
    again = PromptedSegmentationDataset([root], split="training", resolution=16, seed=3)
    epochs = []
    for epoch in range(6):
        ds.set_epoch(epoch)
        again.set_epoch(epoch)
        a, b = ds[0], again[0]
        assert a["prompt"] == b["prompt"] and torch.equal(a["image"], b["image"])
        epochs.append(a["prompt"])
    assert set(epochs) <= {"cat", "kitty", "feline", "house cat"} and len(set(epochs)) > 1
    assert all(ds[i]["class_name"] in ("cat", "dog", "animal") for i in range(len(ds)))


def test_several_folders_and_a_dataloader(tmp_path):
    ds = PromptedSegmentationDataset(
        [_make(tmp_path / "a", name="one"), _make(tmp_path / "b", name="two")], split="test", resolution=8
    )
    assert len(ds) == 10 and {ds[0]["dataset"], ds[9]["dataset"]} == {"one", "two"}
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["image"].shape == (4, 3, 8, 8) and batch["mask"].shape == (4, 1, 8, 8)
    assert len(batch["prompt"]) == 4


def test_size_mismatch_names_both_files(tmp_path):
    root = _make(tmp_path / "a", label_size=(10, 10))
    with pytest.raises(InputError, match="20×24") as err:
        PromptedSegmentationDataset([root], split="test", resolution=16)
    assert str(root / "images" / "0.png") in str(err.value)
    assert str(root / "labels" / "0.png") in str(err.value)


def test_unlabelled_entries_and_empty_splits_are_reported(tmp_path):
    root = _make(tmp_path / "a")
    spec = json.loads((root / "dataset.json").read_text())
    spec["validation"] = [{"image": "images/0.png"}]
    (root / "dataset.json").write_text(json.dumps(spec))
    with pytest.raises(DatasetError, match="has no label") as err:
        PromptedSegmentationDataset([root], split="val", resolution=16)
    assert str(root / "dataset.json") in str(err.value)
    spec["validation"] = [{"image": "images/2.png", "label": "labels/2.png"}]  # no class present
    (root / "dataset.json").write_text(json.dumps(spec))
    with pytest.raises(DatasetError, match="no \\(image, class\\) pairs"):
        PromptedSegmentationDataset([root], split="validation", resolution=16)


def test_missing_dataset_json_names_the_file(tmp_path):
    with pytest.raises(DatasetError, match="dataset.json is missing") as err:
        PromptedSegmentationDataset([tmp_path], split="test", resolution=16)
    assert str(tmp_path / "dataset.json") in str(err.value)


def test_mni152_items_respect_the_class_hierarchy(mni152_root):
    ds = PromptedSegmentationDataset([mni152_root], split="test", resolution=240)
    masks: dict[str, dict[str, torch.Tensor]] = {}
    for i, (entry, _key, _ds) in enumerate(ds.items[:12]):
        item = ds[i]
        masks.setdefault(entry.image, {})[item["class_name"]] = item["mask"].bool()
    for by_class in masks.values():
        brain = by_class["brain"]
        for tissue in ("grey matter", "white matter"):
            if tissue in by_class:
                assert not (by_class[tissue] & ~brain).any()


def test_k_prompts_per_image_carry_their_own_masks_and_the_first_is_the_drawn_one(tmp_path):
    root = _make(tmp_path / "a")
    label = np.array(Image.open(root / "labels" / "0.png"))
    one = PromptedSegmentationDataset([root], split="test", resolution=24, transform=None)
    many = PromptedSegmentationDataset([root], split="test", resolution=24, prompts_per_image=4)
    names = {"cat": [1], "dog": [2], "animal": [1, 2], "bird": [4]}
    for index in range(len(one)):
        a, b = one[index], many[index]
        assert b["masks"].shape == (4, 24, 24) and len(b["prompts"]) == 4
        assert torch.equal(b["masks"][:1], a["mask"]) and b["prompts"][0] == a["prompt"]
        # every class of the vocabulary comes once (labels are complete: absent ones too)
        assert sorted(b["prompts"]) == sorted(names)
        if b["image_path"].endswith("0.png"):
            for prompt, mask in zip(b["prompts"], b["masks"], strict=True):
                expected = np.isin(label, names[prompt])  # the image is already 20×24 → 24×24
                assert bool(mask.any()) == bool(expected.any())
    # fewer classes than K: the others repeat, so every item keeps K rows for collation
    wide = PromptedSegmentationDataset([root], split="test", resolution=24, prompts_per_image=7)
    assert len(wide[0]["prompts"]) == 7 and set(wide[0]["prompts"]) == set(names)


def test_k_prompts_on_incomplete_labels_name_only_classes_present(tmp_path):
    root = _make(tmp_path / "a")
    spec = json.loads((root / "dataset.json").read_text())
    spec["labels_complete"] = False
    (root / "dataset.json").write_text(json.dumps(spec))
    ds = PromptedSegmentationDataset([root], split="test", resolution=16, prompts_per_image=3)
    for index in range(len(ds)):
        item = ds[index]
        assert "bird" not in item["prompts"]
        assert all(bool(m.any()) for m in item["masks"])  # a prompt for an unlabelled class would lie
