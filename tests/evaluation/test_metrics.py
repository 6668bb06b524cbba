import pytest
import torch

from genseg.evaluation.metrics import SegmentationMeter


def test_scores_match_hand_computed_values():
    meter = SegmentationMeter()
    a_pred = torch.tensor([[1, 1, 0, 0]])
    a_true = torch.tensor([[1, 0, 0, 0]])  # IoU 1/2, Dice 2/3
    b_pred = torch.tensor([[1, 1, 1, 1]])
    b_true = torch.tensor([[1, 1, 1, 0]])  # IoU 3/4, Dice 6/7
    assert meter.update(a_pred, a_true, "a") == pytest.approx(0.5)
    meter.update(b_pred, b_true, "b")
    meter.update(b_true, b_true, "b")  # a perfect one: class b totals 6 / 7
    s = meter.compute()
    assert s.per_class == pytest.approx({"a": 0.5, "b": 6 / 7})
    assert s.miou == pytest.approx((0.5 + 6 / 7) / 2)
    assert s.per_class_dice["a"] == pytest.approx(2 / 3)
    assert s.ciou == pytest.approx((1 + 3 + 3) / (2 + 4 + 3))
    assert s.giou == pytest.approx((0.5 + 0.75 + 1.0) / 3)
    assert s.counts == {"a": 1, "b": 2}
    d = s.as_dict()
    assert set(d) >= {"mIoU", "dice", "per_class"}


def test_size_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in size"):
        SegmentationMeter().update(torch.ones(3), torch.ones(4), "x")
