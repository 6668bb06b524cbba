"""Segmentation metrics accumulated over a dataset, computed by torchmetrics.

For each class (prompt target) we keep cumulative binary Jaccard and F1 (= Dice)
counters, plus per-image IoU for gIoU:
- per-class IoU: intersection over union summed over all images of that class;
- mIoU: their mean over classes; dice: mean per-class Dice;
- cIoU (a.k.a. oIoU): cumulative intersection over cumulative union over all pairs;
- gIoU: mean of per-(image, prompt) IoU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class SegmentationScores:
    per_class: dict[str, float]
    per_class_dice: dict[str, float]
    counts: dict[str, int]
    miou: float
    dice: float
    ciou: float
    giou: float

    def as_dict(self) -> dict:
        return {
            "mIoU": self.miou,
            "dice": self.dice,
            "cIoU": self.ciou,
            "gIoU": self.giou,
            "per_class": self.per_class,
            "per_class_dice": self.per_class_dice,
            "counts": self.counts,
        }


@dataclass
class SegmentationMeter:
    """Feed (prediction, target, class name) pairs; read `compute()` at the end."""

    _iou: dict = field(default_factory=dict)
    _dice: dict = field(default_factory=dict)
    _counts: dict = field(default_factory=dict)
    _per_image: list = field(default_factory=list)
    _inter: float = 0.0
    _union: float = 0.0

    def update(self, pred: torch.Tensor | object, target: torch.Tensor | object, class_name: str) -> float:
        """Add one binary prediction/target pair; returns its IoU."""
        from torchmetrics.classification import BinaryF1Score, BinaryJaccardIndex
        from torchmetrics.functional.classification import binary_jaccard_index

        p = torch.as_tensor(pred).bool().flatten().long()
        t = torch.as_tensor(target).bool().flatten().long()
        if p.shape != t.shape:
            raise ValueError(f"prediction and target differ in size: {tuple(p.shape)} vs {tuple(t.shape)}")
        if class_name not in self._iou:
            self._iou[class_name] = BinaryJaccardIndex(zero_division=1.0)
            self._dice[class_name] = BinaryF1Score(zero_division=1.0)
            self._counts[class_name] = 0
        self._iou[class_name].update(p, t)
        self._dice[class_name].update(p, t)
        self._counts[class_name] += 1
        inter = float((p & t).sum())
        union = float((p | t).sum())
        self._inter += inter
        self._union += union
        iou = float(binary_jaccard_index(p, t, zero_division=1.0))
        self._per_image.append(iou)
        return iou

    def compute(self) -> SegmentationScores:
        per_class = {k: float(m.compute()) for k, m in sorted(self._iou.items())}
        per_dice = {k: float(m.compute()) for k, m in sorted(self._dice.items())}
        n = max(len(per_class), 1)
        return SegmentationScores(
            per_class=per_class,
            per_class_dice=per_dice,
            counts=dict(sorted(self._counts.items())),
            miou=sum(per_class.values()) / n,
            dice=sum(per_dice.values()) / n,
            ciou=self._inter / self._union if self._union else 1.0,
            giou=sum(self._per_image) / max(len(self._per_image), 1),
        )
