import json
import math

import numpy as np
import pytest
import torch

from genseg.evaluation.metrics import (
    SURFACE_TOLERANCE_MM,
    SegmentationMeter,
    SegmentationScores,
    VolumeMeter,
    harmonic_iou,
    seen_unseen_scores,
)


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
    assert s.per_class_dice == pytest.approx({"a": 2 / 3, "b": 12 / 13})  # b: 2·6 / (7 + 6)
    assert s.dice == pytest.approx((2 / 3 + 12 / 13) / 2)
    assert s.ciou == pytest.approx((1 + 3 + 3) / (2 + 4 + 3))
    assert s.giou == pytest.approx((0.5 + 0.75 + 1.0) / 3)
    assert s.counts == {"a": 1, "b": 2}
    assert s.images == 3  # no image ids: every pair is its own image
    assert s.ci == {}  # no bootstrap by default
    d = s.as_dict()
    assert set(d) >= {"mIoU", "dice", "cIoU", "gIoU", "per_class", "ci", "images"}


def test_pooled_scores_agree_with_torchmetrics():
    """The count reductions must give what torchmetrics gives on the pooled pixels."""
    from torchmetrics.classification import BinaryF1Score, BinaryJaccardIndex

    rng = np.random.default_rng(1)
    meter = SegmentationMeter()
    iou, f1 = BinaryJaccardIndex(ignore_index=-1), BinaryF1Score(ignore_index=-1)
    for i in range(6):
        p, t, v = (torch.from_numpy(rng.random((8, 9)) < q) for q in (0.4, 0.3, 0.8))
        meter.update(p, t, "c", valid=v, image_id=i)
        tt = t.long().masked_fill(~v, -1)
        iou.update(p.long(), tt)
        f1.update(p.long(), tt)
    s = meter.compute()
    assert s.per_class["c"] == pytest.approx(float(iou.compute()))
    assert s.per_class_dice["c"] == pytest.approx(float(f1.compute()))


def test_empty_masks():
    meter = SegmentationMeter()
    empty = np.zeros((2, 2), bool)
    some = np.array([[1, 0], [0, 0]], bool)
    assert meter.update(empty, empty, "x") == 1.0  # nothing there, nothing predicted: right
    assert meter.update(some, empty, "x") == 0.0  # predicted where there is nothing
    assert meter.update(empty, empty, "y") == 1.0
    s = meter.compute()
    assert s.per_class == {"x": 0.0, "y": 1.0}  # x pools 0 / 1; y's union is 0 → 1
    assert s.per_class_dice == {"x": 0.0, "y": 1.0}
    assert s.giou == pytest.approx(2 / 3)
    assert s.ciou == pytest.approx(0.0)  # 0 / 1 pooled over all pairs


def test_valid_mask_keeps_ignored_pixels_out():
    pred = np.array([[1, 1, 0, 0]], bool)
    true = np.array([[1, 0, 0, 1]], bool)
    valid = np.array([[1, 1, 1, 0]], bool)  # the missed pixel is nodata
    meter = SegmentationMeter()
    assert meter.update(pred, true, "a", valid=valid) == pytest.approx(1 / 2)  # without valid: 1/3
    s = meter.compute()
    assert s.per_class_dice["a"] == pytest.approx(2 / 3)
    rec = meter.records[0]
    assert (rec.intersection, rec.union, rec.pred_sum, rec.target_sum) == (1, 2, 2, 1)
    # a pair with no valid pixel is not scored at all
    assert math.isnan(meter.update(pred, true, "a", valid=np.zeros_like(valid)))
    assert meter.compute().counts == {"a": 1}
    with pytest.raises(ValueError, match="valid mask"):
        meter.update(pred, true, "a", valid=np.ones(3, bool))


def test_size_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in size"):
        SegmentationMeter().update(torch.ones(3), torch.ones(4), "x")


def test_image_ids_group_pairs():
    meter = SegmentationMeter()
    one = np.ones(4, bool)
    meter.update(one, one, "a", image_id="im1")
    meter.update(one, one, "b", image_id="im1")
    meter.update(one, one, "a", image_id="im2")
    s = meter.compute()
    assert s.images == 2 and s.counts == {"a": 2, "b": 1}


def test_harmonic_iou_by_hand():
    assert harmonic_iou(0.6, 0.3) == pytest.approx(2 * 0.6 * 0.3 / 0.9)  # 0.4
    assert harmonic_iou(0.5, 0.5) == pytest.approx(0.5)
    assert harmonic_iou(0.7, 0.0) == 0.0
    assert harmonic_iou(0.0, 0.0) == 0.0
    assert math.isnan(harmonic_iou(math.nan, 0.3))


def test_seen_unseen_split():
    scores = SegmentationScores(
        per_class={"cat": 0.8, "dog": 0.6, "zebra": 0.2, "okapi": 0.4},
        per_class_dice={},
        counts={},
        miou=0.5,
        dice=0.0,
        ciou=0.0,
        giou=0.0,
    )
    seen, unseen, h = seen_unseen_scores(scores, {"cat", "dog", "horse"})  # horse: not scored, ignored
    assert (seen, unseen) == pytest.approx((0.7, 0.3))
    assert h == pytest.approx(2 * 0.7 * 0.3 / 1.0)  # 0.42
    assert scores.seen_unseen(["cat", "dog"]).hiou == pytest.approx(0.42)
    only_seen = seen_unseen_scores(scores.per_class, scores.per_class)
    assert math.isnan(only_seen.unseen_miou) and math.isnan(only_seen.hiou)


def test_compute_with_seen_classes():
    meter = SegmentationMeter()
    meter.update(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0]), "cat", image_id=0)  # 1/2
    meter.update(np.array([1, 1, 1, 1]), np.array([1, 0, 0, 0]), "zebra", image_id=1)  # 1/4
    s = meter.compute(seen={"cat"})
    assert s.seen_classes == ["cat"]
    assert (s.seen_miou, s.unseen_miou) == pytest.approx((0.5, 0.25))
    assert s.hiou == pytest.approx(harmonic_iou(0.5, 0.25))


def _noisy_meter(n: int = 30) -> SegmentationMeter:
    rng = np.random.default_rng(0)
    meter = SegmentationMeter()
    for i in range(n):
        true = rng.random((6, 6)) < 0.5
        pred = true ^ (rng.random((6, 6)) < rng.uniform(0.05, 0.5))
        meter.update(pred, true, "a", image_id=i)
        meter.update(~pred, ~true, "b", image_id=i)
    return meter


def test_bootstrap_intervals_contain_the_estimate_and_repeat():
    meter = _noisy_meter()
    s = meter.compute(bootstrap=300, seed=0, seen={"a"})
    assert set(s.ci) == {"mIoU", "cIoU", "gIoU", "dice", "seen_mIoU", "unseen_mIoU", "hIoU"}
    point = {"mIoU": s.miou, "cIoU": s.ciou, "gIoU": s.giou, "dice": s.dice, "hIoU": s.hiou}
    for k, v in point.items():
        lo, hi = s.ci[k]
        assert lo <= v <= hi and hi - lo > 0, k
    assert s.bootstrap == 300 and s.seed == 0
    assert meter.compute(bootstrap=300, seed=0, seen={"a"}).ci == s.ci  # same seed, same intervals
    assert meter.compute(bootstrap=300, seed=1).ci != s.ci
    # fewer than two images: no interval rather than a meaningless one
    single = SegmentationMeter()
    single.update(np.ones(3), np.ones(3), "a")
    assert single.compute(bootstrap=100).ci == {}


def test_bootstrap_resamples_images_not_pairs():
    """Two classes of one image move together: a perfect image and a failed one give
    per-resample mIoU of 0, 1/2 or 1 only, so the interval spans (0, 1)."""
    meter = SegmentationMeter()
    one, zero = np.ones(4, bool), np.zeros(4, bool)
    for name in ("a", "b"):
        meter.update(one, one, name, image_id="good")
        meter.update(zero, one, name, image_id="bad")
    s = meter.compute(bootstrap=200, seed=0)
    assert s.miou == pytest.approx(0.5)
    assert s.ci["mIoU"] == pytest.approx((0.0, 1.0))


def test_as_dict_round_trips_through_json():
    meter = _noisy_meter(10)
    vol = np.zeros((2, 3, 3), bool)
    vol[0, :2, :2] = True
    meter.update_volume(vol, vol, "organ", volume_id="case1")
    s = meter.compute(bootstrap=50, seed=3, seen=["a"])
    back = SegmentationScores.from_dict(json.loads(json.dumps(s.as_dict())))
    assert back == s
    assert back.ci["mIoU"] == s.ci["mIoU"] and isinstance(back.ci["mIoU"], tuple)
    # reports written before these fields existed still load
    old = SegmentationScores.from_dict({"mIoU": 0.5, "per_class": {"a": 0.5}})
    assert old.ci == {} and old.images == 0


def test_per_volume_dice_by_hand():
    pred = np.zeros((2, 2, 2), bool)
    true = np.zeros((2, 2, 2), bool)
    true[0] = True  # 4 voxels
    pred[0, 0] = True  # 2 of them
    pred[1, 0, 0] = True  # and 1 outside: Dice 2·2 / (3 + 4) = 4/7
    meter = VolumeMeter()
    assert meter.update(pred, true, "liver", "v1") == pytest.approx(4 / 7)
    assert meter.update(true, true, "liver", "v2") == pytest.approx(1.0)
    assert meter.update(np.zeros_like(true), np.zeros_like(true), "tumour", "v1") == 1.0  # both empty
    assert meter.update(pred, np.zeros_like(true), "tumour", "v2") == 0.0  # false alarm
    s = meter.compute()
    assert s.per_volume["dice"] == {
        "liver": {"v1": pytest.approx(4 / 7), "v2": 1.0},
        "tumour": {"v1": 1.0, "v2": 0.0},
    }
    # IoU: 2 / (3 + 4 - 2) = 2/5 on v1
    assert s.per_volume["iou"] == {
        "liver": {"v1": pytest.approx(2 / 5), "v2": 1.0},
        "tumour": {"v1": 1.0, "v2": 0.0},
    }
    assert s.per_class["dice"] == pytest.approx({"liver": (4 / 7 + 1) / 2, "tumour": 0.5})
    assert s.counts == {"liver": 2, "tumour": 2}
    assert s.mean["dice"] == pytest.approx(((4 / 7 + 1) / 2 + 0.5) / 2)
    assert s.volumes == 2 and s.units == "voxel"
    with pytest.raises(ValueError, match="already scored"):
        meter.update(pred, true, "liver", "v1")


def test_volume_in_the_segmentation_meter():
    pred = np.zeros((2, 2, 2), bool)
    true = np.zeros((2, 2, 2), bool)
    true[0] = True
    pred[0, 0] = True
    pred[1, 0, 0] = True
    valid = np.ones_like(true)
    valid[1] = False  # the false alarm is outside the scan: Dice 2·2 / (2 + 4) = 2/3
    meter = SegmentationMeter()
    assert meter.update_volume(pred, true, "liver", "v1", valid=valid) == pytest.approx(2 / 3)
    s = meter.compute()
    assert s.unit == "volume" and s.volumes["count"] == 1
    assert s.per_volume_dice == {"liver": {"v1": pytest.approx(2 / 3)}}
    assert s.volume_dice == pytest.approx({"liver": 2 / 3})
    assert s.per_class == pytest.approx({"liver": 0.5})  # voxels pooled: 2 / 4
    assert s.images == 1
    # a scan with no valid voxel is not scored by either part
    assert math.isnan(meter.update_volume(pred, true, "liver", "v2", valid=np.zeros_like(valid)))
    assert meter.compute().per_volume_dice == {"liver": {"v1": pytest.approx(2 / 3)}}
    assert meter.compute().images == 1


def _box(shift: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """A 4×5×5 block in a 10×16×16 volume, moved by ``shift`` voxels."""
    vol = np.zeros((10, 16, 16), bool)
    d, h, w = shift
    vol[3 + d : 7 + d, 5 + h : 10 + h, 5 + w : 10 + w] = True
    return vol


def test_hd95_and_nsd_in_millimetres_from_the_spacing():
    spacing = (3.0, 1.0, 1.0)  # slices 3 mm apart, 1 mm pixels
    meter = VolumeMeter(tolerance=2.0)
    meter.update(_box((0, 1, 0)), _box(), "organ", "row", spacing=spacing)  # one pixel: 1 mm
    meter.update(_box((1, 0, 0)), _box(), "organ", "slice", spacing=spacing)  # one slice: 3 mm
    meter.update(_box((1, 0, 0)), _box(), "organ", "voxels")  # no spacing: one voxel
    s = meter.compute()
    hd, nsd = s.per_volume["hd95"]["organ"], s.per_volume["nsd"]["organ"]
    assert hd == pytest.approx({"row": 1.0, "slice": 3.0, "voxels": 1.0})
    assert nsd["row"] == pytest.approx(1.0)  # every boundary voxel within 2 mm of the other
    assert 0.0 < nsd["slice"] < 1.0  # the moved caps are 3 mm away, beyond the tolerance
    assert nsd["voxels"] == pytest.approx(1.0)
    assert s.units == "mm+voxel"
    wide = VolumeMeter(tolerance=3.5)
    wide.update(_box((1, 0, 0)), _box(), "organ", "slice", spacing=spacing)
    assert wide.compute().per_volume["nsd"]["organ"]["slice"] == pytest.approx(1.0)


def test_an_empty_mask_has_no_hd95_and_a_defined_nsd():
    empty = np.zeros((10, 16, 16), bool)
    meter = VolumeMeter()
    meter.update(empty, _box(), "organ", "missed")
    meter.update(_box(), empty, "organ", "false alarm")
    meter.update(empty, empty, "organ", "nothing")
    meter.update(_box(), _box(), "organ", "exact")
    s = meter.compute()
    assert s.per_volume["nsd"]["organ"] == {"missed": 0.0, "false alarm": 0.0, "nothing": 1.0, "exact": 1.0}
    hd = s.per_volume["hd95"]["organ"]
    assert hd["exact"] == 0.0 and all(math.isnan(hd[v]) for v in ("missed", "false alarm", "nothing"))
    assert s.per_class["hd95"] == {"organ": 0.0}  # the mean over the scans where it is defined
    assert s.hd95_undefined == {"organ": 2}  # one mask empty: both empty is no miss
    d = s.as_dict()
    assert d["per_volume"]["hd95"]["organ"]["missed"] is None and SURFACE_TOLERANCE_MM == 2.0
    json.dumps(d, allow_nan=False)  # strict JSON: NaN is written as null
    with pytest.raises(ValueError, match="tolerance"):
        VolumeMeter(tolerance=0)
    with pytest.raises(ValueError, match="spacing"):
        meter.update(_box(), _box(), "organ", "flat", spacing=(1.0, 1.0))


def test_slices_of_a_scan_are_pairs_of_one_bootstrap_unit():
    rng = np.random.default_rng(0)
    scans = []
    for v in range(4):
        truth = _box((v % 2, 0, 0))
        scans.append((truth ^ (rng.random(truth.shape) < 0.05), truth))
    by_slice, pooled = SegmentationMeter(), SegmentationMeter()
    for v, (pred, truth) in enumerate(scans):
        by_slice.update_volume(pred, truth, "organ", f"scan{v}", spacing=(3.0, 1.0, 1.0), slices=True)
        pooled.update_volume(pred, truth, "organ", f"scan{v}", spacing=(3.0, 1.0, 1.0))
    s = by_slice.compute(bootstrap=200, seed=1)
    assert s.images == 4 and s.unit == "volume"  # 4 scans resampled, not 40 slices
    assert s.counts == {"organ": 40}  # one pair per slice: gIoU is the mean over slices
    p = pooled.compute()
    assert p.counts == {"organ": 4} and p.per_class == pytest.approx(s.per_class)  # same voxels
    assert p.volumes["mean"] == pytest.approx(s.volumes["mean"])
    vol = s.volumes
    assert vol["count"] == 4 and vol["bootstrap"] == {"resamples": 200, "unit": "volume"}
    for m in ("dice", "iou", "hd95", "nsd"):
        lo, hi = vol["ci"][m]
        assert lo <= vol["mean"][m] <= hi
    assert s.as_dict()["bootstrap"]["unit"] == "volume"


def test_one_scan_gets_no_interval_and_mixed_units_are_named():
    meter = SegmentationMeter()
    meter.update_volume(_box(), _box(), "organ", "scan", slices=True)
    meter.update(np.ones((4, 4)), np.ones((4, 4)), "organ", image_id="photo")
    s = meter.compute(bootstrap=50)
    assert s.unit == "image+volume" and s.images == 2
    assert s.volumes["count"] == 1 and s.volumes["ci"] == {}
