"""Flips in training follow each domain's declaration (laterality-safe augmentation)."""

from __future__ import annotations

import numpy as np
import pytest

from genseg.data.schema import DatasetEntry, DatasetSpec, write_dataset_spec
from genseg.data.transforms import allowed_flips, build_transform, domain_flips, lateral_names
from genseg.plugins.schemas import DomainInfo

R = 32
DRAWS = 48


def _corner() -> tuple[np.ndarray, np.ndarray]:
    """An image and mask lit in the top-left quarter only: a mirror moves it to another corner."""
    image = np.zeros((R, R, 3), np.float32)
    image[: R // 2, : R // 2] = 1.0
    return image, (image[..., 0] > 0).astype(np.uint8)


def _mirrored(mask: np.ndarray) -> bool:
    """Whether the lit quarter ended right of the middle or below it (the jitter moves it ±10 %)."""
    ys, xs = np.nonzero(np.asarray(mask).squeeze())
    return bool(xs.mean() > R / 2 or ys.mean() > R / 2)


def _flipped_draws(domain: str, class_names: tuple[str, ...] = ()) -> int:
    transform = build_transform(R, train=True).for_domain(domain, class_names)
    image, mask = _corner()
    flipped = 0
    for seed in range(DRAWS):
        transform.set_random_seed(seed)
        flipped += _mirrored(transform(image=image, mask=mask)["mask"])
    return flipped


def test_undeclared_flips_are_none():
    assert DomainInfo(name="x").flips == []
    assert DomainInfo(name="x", flips=["vertical", "horizontal"]).flips == ["vertical", "horizontal"]
    with pytest.raises(ValueError):
        DomainInfo(name="x", flips=["diagonal"])


def test_each_domain_declares_its_flips():
    assert domain_flips("medical") == ()
    assert domain_flips("remote-sensing") == ("horizontal", "vertical")
    assert domain_flips("agriculture") == ("horizontal", "vertical")
    assert domain_flips("generic") == ("horizontal",)


def test_a_medical_item_is_never_flipped_a_remote_sensing_one_can_be():
    assert _flipped_draws("medical") == 0
    # each flip has p=0.5: three draws in four leave the top-left corner
    assert _flipped_draws("remote-sensing") > DRAWS // 2
    assert DRAWS // 4 < _flipped_draws("generic") < 3 * DRAWS // 4


def test_a_dataset_naming_sides_is_not_mirrored_left_right():
    assert lateral_names(["left kidney", "Right ventricle", "leftover", "liver"]) == [
        "left kidney",
        "Right ventricle",
    ]
    assert allowed_flips("generic", ["liver"]) == ("horizontal",)
    assert allowed_flips("generic", ["left hand", "right hand"]) == ()
    assert allowed_flips("remote-sensing", ["left bank"]) == ("vertical",)
    assert _flipped_draws("generic", ("left hand",)) == 0


def test_the_two_flips_are_drawn_independently():
    transform = build_transform(R, train=True).for_domain("remote-sensing")
    image, mask = _corner()
    corners = set()
    for seed in range(DRAWS):
        transform.set_random_seed(seed)
        ys, xs = np.nonzero(transform(image=image, mask=mask)["mask"])
        corners.add((bool(ys.mean() > R / 2), bool(xs.mean() > R / 2)))
    assert corners == {(False, False), (False, True), (True, False), (True, True)}


def test_without_a_domain_the_training_transform_flips_nothing():
    names = lambda t: [type(s).__name__ for s in t.augment.transforms]  # noqa: E731
    plain = build_transform(R, train=True)
    assert not {"HorizontalFlip", "VerticalFlip"} & set(names(plain))
    assert {"HorizontalFlip", "VerticalFlip"} <= set(names(plain.for_domain("remote-sensing")))
    assert "HorizontalFlip" not in names(build_transform(R, train=True, flip_p=0).for_domain("generic"))
    evaluation = build_transform(R, train=False)
    assert evaluation.for_domain("remote-sensing") is evaluation


def test_a_vocabulary_naming_sides_warns_when_its_domain_mirrors(monkeypatch):
    from genseg.data import transforms
    from genseg.plugins import registry
    from genseg.plugins.schemas import Term, Vocabulary

    vocab = Vocabulary(domain="generic", name="hands", terms=[Term(name="left hand"), Term(name="cup")])
    monkeypatch.setattr(registry, "vocabulary", lambda domain: [("test", vocab)])
    domain_flips.cache_clear()
    try:
        with pytest.warns(UserWarning, match="left hand"):
            assert transforms.domain_flips("generic") == ("horizontal",)
    finally:
        domain_flips.cache_clear()


@pytest.mark.parametrize("domain", ["medical", "generic"])
def test_training_items_follow_their_dataset_domain(tmp_path, domain):
    from genseg.data.folder_dataset import PromptedSegmentationDataset
    from genseg.data.readers import write_image_png, write_png_mask

    image, mask = _corner()
    entries = []
    for i in range(4):
        write_image_png(tmp_path / "images" / f"{i}.png", image)
        write_png_mask(tmp_path / "labels" / f"{i}.png", mask)
        entries.append(DatasetEntry(image=f"images/{i}.png", label=f"labels/{i}.png"))
    spec = DatasetSpec(name="half", domain=domain, classes={"1": {"name": "lit"}}, training=entries)
    write_dataset_spec(tmp_path, spec)
    data = PromptedSegmentationDataset([tmp_path], "training", resolution=R)
    flipped = 0
    for epoch in range(DRAWS // 4):
        data.set_epoch(epoch)
        flipped += sum(_mirrored(data[i]["mask"]) for i in range(len(data)))
    assert (flipped == 0) if domain == "medical" else (flipped > DRAWS // 8)
