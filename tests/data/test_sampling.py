"""The training sampling plan: seeded per epoch, class-balanced, absent prompts at the set rate."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from genseg.config import SamplingConfig, TrainConfig
from genseg.data.folder_dataset import PromptedSegmentationDataset
from genseg.data.sampling import draw_plan


def test_plan_is_seeded_balanced_and_has_the_absent_share():
    present = ["common"] * 40 + ["rare"]
    absent = ["rare"] * 30 + ["common"] * 2
    plan = draw_plan(present, absent, 20, True, 0.25, seed=1, epoch=0)
    assert plan == draw_plan(present, absent, 20, True, 0.25, seed=1, epoch=0)
    assert plan != draw_plan(present, absent, 20, True, 0.25, seed=1, epoch=1)
    assert sum(a for a, _ in plan) == 5
    drawn = Counter(present[i] for a, i in plan if not a)
    assert drawn == {"common": 8, "rare": 7} or drawn == {"common": 7, "rare": 8}
    assert Counter(absent[i] for a, i in plan if a)["common"] >= 2  # both absent classes come round
    # without balancing, present draws follow the pairs; without candidates, nothing is absent
    plain = draw_plan(present, [], 41, False, 0.25, seed=1, epoch=0)
    assert sorted(i for _, i in plain) == list(range(41)) and not any(a for a, _ in plain)


def test_train_config_samples_by_default():
    cfg = TrainConfig()
    assert cfg.sampling.class_balanced and cfg.sampling.absent_fraction == 0.25
    with pytest.raises(ValueError):
        SamplingConfig(absent_fraction=1.0)


def _images(root, n=6):
    """``n`` gray images: class "big" in all of them, "small" in the first only."""
    (root / "images").mkdir(parents=True)
    entries = []
    for i in range(n):
        label = np.zeros((16, 16), np.uint8)
        label[2:12, 2:12] = 1
        if i == 0:
            label[13:15, 13:15] = 2
        Image.fromarray(np.full((16, 16), 40 * i, np.uint8)).save(root / "images" / f"{i}.png")
        Image.fromarray(label).save(root / "images" / f"{i}_label.png")
        entries.append({"image": f"images/{i}.png", "label": f"images/{i}_label.png"})
    spec = {"name": "toy", "classes": {"1": "big", "2": "small", "3": "never"}, "training": entries}
    (root / "dataset.json").write_text(json.dumps(spec))
    return root


def test_2d_dataset_draws_the_rare_class_and_absent_classes(tmp_path):
    sampling = SamplingConfig(absent_fraction=0.25, epoch_size=12)
    ds = PromptedSegmentationDataset(_images(tmp_path / "a"), "training", 16, sampling=sampling)
    assert len(ds.items) == 7 and len(ds) == 12
    items = [ds[i] for i in range(len(ds))]
    absent = [it for it in items if it["absent"]]
    assert len(absent) == 3 and all(it["mask"].sum() == 0 for it in absent)
    present = Counter(it["class_name"] for it in items if not it["absent"])
    assert present["small"] >= 4 and present["big"] >= 4  # 9 present draws, in blocks of 2 classes
    assert all(it["mask"].sum() > 0 for it in items if not it["absent"])
    # the evaluation splits never sample
    assert PromptedSegmentationDataset(tmp_path / "a", "training", 16).sampling is None
