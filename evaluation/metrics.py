"""Segmentation metrics accumulated over a dataset.

The meter keeps one record per scored (image, class) pair: its intersection, union and
prediction / target sizes, counted by torchmetrics (``binary_stat_scores``, whose
``ignore_index`` also keeps ignored pixels out). Every score is a reduction of those
records, so the point estimates, the bootstrap resamples over images and a report re-read
from JSON all go through the same code and cannot drift apart.

Definitions
-----------
- per-class IoU: cumulative intersection / cumulative union over every image of that class.
- mIoU: the mean of per-class IoU over the classes that occur in the targets or the
  predictions (a class with an empty cumulative union has no IoU and is left out of the
  mean; one predicted where it never occurs scores 0 and counts).
- Dice: the mean over classes of per-class cumulative Dice, 2·I / (|pred| + |target|).
- cIoU (a.k.a. oIoU, the referring-segmentation metric): cumulative intersection over
  cumulative union pooled over all pairs of all classes, so large objects weigh more.
- gIoU: the mean of per-(image, prompt) IoU, so every pair weighs the same.
- Empty masks: a pair whose prediction and target are both empty has IoU 1 and Dice 1
  (torchmetrics' ``zero_division=1``): the model rightly said "nothing here". An empty
  target with a non-empty prediction gives 0. A class whose cumulative union is 0 is listed
  with IoU 1 but left out of mIoU and Dice.
- Ignored pixels: ``valid=False`` pixels (ignore labels, nodata) are neither hits nor misses
  in any score. A pair with no valid pixel at all is not scored: there is nothing to score,
  and counting it as a perfect empty match would inflate gIoU.
- Absent-class false positives: for pairs whose target is empty (a class prompted on an
  image without it, as semantic prompting does), the share of the valid pixels predicted
  positive, averaged over those pairs (``absent_fp_area``). Such a false positive also enters
  the class's cumulative union, so it lowers per-class IoU and mIoU.
- hIoU: the harmonic mean of seen-class and unseen-class mIoU (open-vocabulary transfer).
- Confidence intervals: percentile bootstrap over images (all pairs of an image move
  together), through ``scipy.stats.bootstrap``.
- Volumes (:class:`VolumeMeter`): one number per scan and class, then per class the mean over
  scans and the mean over classes, the medical convention. Dice and IoU through MONAI's
  ``compute_dice`` / ``compute_iou`` (both empty 1, one empty 0); HD95 through
  ``compute_hausdorff_distance(percentile=95)`` and normalised surface Dice (NSD) through
  ``compute_surface_dice`` at a tolerance of ``SURFACE_TOLERANCE_MM``, both in millimetres
  from the voxel spacing (voxels where a scan records none). HD95 has no value when one of the
  two masks is empty: such pairs are left out of its mean and counted (``hd95_undefined``);
  NSD is 1 when both are empty and 0 when one is. A scan's slices are one bootstrap unit
  (slices of one scan are not independent): the pixel scores resample scans, and so do the
  intervals of the volume means.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch

# Target value marking pixels outside ``valid``; torchmetrics drops it via ``ignore_index``.
_IGNORE = -1
# Scores that get a bootstrap confidence interval, under their ``as_dict`` names.
CI_KEYS = ("mIoU", "cIoU", "gIoU", "dice")
_SPLIT_CI_KEYS = ("seen_mIoU", "unseen_mIoU", "hIoU")
# Upper bound on resample × image cells held at once while bootstrapping (memory, not speed).
_BOOTSTRAP_CELLS = 4_000_000
SURFACE_TOLERANCE_MM = 2.0
"""Default NSD tolerance: a boundary voxel within this distance of the other surface counts."""
VOLUME_METRICS = ("dice", "iou", "hd95", "nsd")


def harmonic_iou(seen: float, unseen: float) -> float:
    """Harmonic mean of seen and unseen mIoU, the usual zero-shot summary: unlike the
    arithmetic mean it stays low unless *both* are good. 0 when either is 0; NaN when
    either is NaN (a split with no class has no mIoU)."""
    if math.isnan(seen) or math.isnan(unseen):
        return math.nan
    if seen <= 0 or unseen <= 0:
        return 0.0
    return 2.0 * seen * unseen / (seen + unseen)


class SeenUnseen(NamedTuple):
    """mIoU over the seen classes, over the unseen ones, and their harmonic mean."""

    seen_miou: float
    unseen_miou: float
    hiou: float


def seen_unseen_scores(scores: SegmentationScores | Mapping[str, float], seen: Iterable[str]) -> SeenUnseen:
    """Split per-class IoU into seen (trained on) and unseen classes and summarise both.

    ``scores`` is a :class:`SegmentationScores` or its ``per_class`` mapping. Classes in
    ``seen`` that were not scored are ignored; a side with no scored class has mIoU NaN and
    then hIoU is NaN too, rather than a made-up 0.
    """
    per_class = scores.per_class if isinstance(scores, SegmentationScores) else scores
    seen_set = set(seen)
    s = [v for k, v in per_class.items() if k in seen_set]
    u = [v for k, v in per_class.items() if k not in seen_set]
    s_m = float(np.mean(s)) if s else math.nan
    u_m = float(np.mean(u)) if u else math.nan
    return SeenUnseen(s_m, u_m, harmonic_iou(s_m, u_m))


@dataclass(frozen=True)
class PairCounts:
    """The pixel counts of one scored (image, class) pair, enough to recompute every score."""

    image_id: Hashable | None
    class_name: str
    intersection: int
    union: int
    pred_sum: int
    target_sum: int
    pixels: int = 0  # valid pixels of the pair: the denominator of the false-positive area

    @property
    def iou(self) -> float:
        return self.intersection / self.union if self.union else 1.0

    @property
    def dice(self) -> float:
        denom = self.pred_sum + self.target_sum
        return 2.0 * self.intersection / denom if denom else 1.0


@dataclass
class SegmentationScores:
    per_class: dict[str, float]
    per_class_dice: dict[str, float]
    counts: dict[str, int]
    miou: float
    dice: float
    ciou: float
    giou: float
    images: int = 0  # distinct images (or volumes) scored: the bootstrap's unit
    # as_dict name → (low, high) at `confidence`; empty when not bootstrapped
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    bootstrap: int = 0  # resamples behind `ci`
    seed: int | None = None
    confidence: float = 0.95
    # set when compute(seen=...) was given the classes seen in training
    seen_classes: list[str] | None = None
    seen_miou: float | None = None
    unseen_miou: float | None = None
    hiou: float | None = None
    # volumes fed through update_volume: class → volume id → MONAI Dice, and its mean per class
    per_volume_dice: dict[str, dict[str, float]] = field(default_factory=dict)
    volume_dice: dict[str, float] = field(default_factory=dict)
    # prompts of classes absent from the image (semantic prompting): how many, and the mean share
    # of the image's valid pixels predicted positive there (None when no class was absent)
    absent_pairs: int = 0
    absent_fp_area: float | None = None
    # what the bootstrap resampled: "image", "volume" (slices of a scan together) or both
    unit: str = "image"
    # volumes: :meth:`VolumeScores.as_dict` (per-volume Dice, IoU, HD95, NSD and the protocol)
    volumes: dict[str, Any] = field(default_factory=dict)

    def seen_unseen(self, seen: Iterable[str]) -> SeenUnseen:
        """Seen mIoU, unseen mIoU and hIoU for a given set of seen class names."""
        return seen_unseen_scores(self, seen)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (plain floats, lists, string keys); :meth:`from_dict` reverses it."""
        return {
            "mIoU": float(self.miou),
            "dice": float(self.dice),
            "cIoU": float(self.ciou),
            "gIoU": float(self.giou),
            "per_class": {k: float(v) for k, v in self.per_class.items()},
            "per_class_dice": {k: float(v) for k, v in self.per_class_dice.items()},
            "counts": {k: int(v) for k, v in self.counts.items()},
            "images": int(self.images),
            "ci": {k: [float(lo), float(hi)] for k, (lo, hi) in self.ci.items()},
            "bootstrap": {
                "resamples": int(self.bootstrap),
                "seed": self.seed,
                "confidence": float(self.confidence),
                "unit": self.unit,
            },
            "seen_classes": self.seen_classes,
            "seen_mIoU": self.seen_miou,
            "unseen_mIoU": self.unseen_miou,
            "hIoU": self.hiou,
            "per_volume_dice": {
                c: {str(v): float(d) for v, d in vols.items()} for c, vols in self.per_volume_dice.items()
            },
            "volume_dice": {k: float(v) for k, v in self.volume_dice.items()},
            "absent_pairs": int(self.absent_pairs),
            "absent_fp_area": None if self.absent_fp_area is None else float(self.absent_fp_area),
            "volumes": self.volumes,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SegmentationScores:
        """Rebuild scores from :meth:`as_dict` output (e.g. a report read back from JSON);
        keys missing from older reports take their defaults."""
        boot = d.get("bootstrap") or {}
        return cls(
            per_class=dict(d["per_class"]),
            per_class_dice=dict(d.get("per_class_dice", {})),
            counts={k: int(v) for k, v in d.get("counts", {}).items()},
            miou=float(d["mIoU"]),
            dice=float(d.get("dice", math.nan)),
            ciou=float(d.get("cIoU", math.nan)),
            giou=float(d.get("gIoU", math.nan)),
            images=int(d.get("images", 0)),
            ci={k: (float(lo), float(hi)) for k, (lo, hi) in (d.get("ci") or {}).items()},
            bootstrap=int(boot.get("resamples", 0)),
            seed=boot.get("seed"),
            confidence=float(boot.get("confidence", 0.95)),
            seen_classes=d.get("seen_classes"),
            seen_miou=d.get("seen_mIoU"),
            unseen_miou=d.get("unseen_mIoU"),
            hiou=d.get("hIoU"),
            per_volume_dice={c: dict(v) for c, v in (d.get("per_volume_dice") or {}).items()},
            volume_dice=dict(d.get("volume_dice") or {}),
            absent_pairs=int(d.get("absent_pairs", 0)),
            absent_fp_area=d.get("absent_fp_area"),
            unit=str(boot.get("unit", "image")),
            volumes=dict(d.get("volumes") or {}),
        )


def _as_tensor(x: torch.Tensor | np.ndarray | Any) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))


def pair_counts(
    pred: torch.Tensor | np.ndarray,
    target: torch.Tensor | np.ndarray,
    valid: torch.Tensor | np.ndarray | None = None,
) -> tuple[int, int, int, int] | None:
    """(intersection, union, |pred|, |target|) over the valid pixels, or None when no pixel
    is valid. Any non-zero value counts as foreground."""
    counts = _pair_counts(pred, target, valid)
    return None if counts is None else counts[:4]


def _pair_counts(
    pred: torch.Tensor | np.ndarray,
    target: torch.Tensor | np.ndarray,
    valid: torch.Tensor | np.ndarray | None = None,
) -> tuple[int, int, int, int, int] | None:
    """:func:`pair_counts` and the number of valid pixels."""
    from torchmetrics.functional.classification import binary_stat_scores

    p = _as_tensor(pred).bool().flatten()
    t = _as_tensor(target).bool().flatten()
    if p.shape != t.shape:
        raise ValueError(f"prediction and target differ in size: {tuple(p.shape)} vs {tuple(t.shape)}")
    t = t.long()
    if valid is not None:
        v = _as_tensor(valid).bool().flatten()
        if v.shape != t.shape:
            raise ValueError(
                f"the valid mask and the target differ in size: {tuple(v.shape)} vs {tuple(t.shape)}"
            )
        t = t.masked_fill(~v, _IGNORE)
    tp, fp, tn, fn, _ = (
        int(x) for x in binary_stat_scores(p.long(), t, ignore_index=_IGNORE, validate_args=False).tolist()
    )
    if tp + fp + tn + fn == 0:
        return None
    return tp, tp + fp + fn, tp + fp, tp + fn, tp + fp + tn + fn


@dataclass
class _Tables:
    """Records summed per (image, class): the rows are the bootstrap's resampling unit."""

    classes: list[str]
    inter: np.ndarray  # images × classes
    union: np.ndarray
    sizes: np.ndarray  # |pred| + |target|
    pairs: np.ndarray  # pairs scored
    iou_sum: np.ndarray  # images: sum of per-pair IoU, for gIoU
    seen: np.ndarray | None  # classes: bool, when a seen/unseen split was asked for

    @property
    def n_images(self) -> int:
        return self.inter.shape[0]


def _reduce(t: _Tables, w: np.ndarray) -> dict[str, np.ndarray]:
    """Every score for each row of image weights ``w`` (resamples × images; all ones for the
    point estimate). Ratios of summed counts are written out here rather than taken from
    torchmetrics because its reductions from counts are private, and its stateful metrics
    would have to re-read every pixel for each of the thousand resamples; the tests check
    these against torchmetrics' BinaryJaccardIndex / BinaryF1Score."""
    inter, union, sizes = w @ t.inter, w @ t.union, w @ t.sizes
    # a class enters the means where it occurs or is predicted in the (resampled) images: one
    # with an empty union everywhere (absent from the split, never predicted) has no IoU to
    # average, and counting it as 1 would lift every method, a model that predicts nothing too
    present = ((w @ t.pairs) > 0) & (union > 0)
    present_dice = ((w @ t.pairs) > 0) & (sizes > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 1.0)
        dice = np.where(sizes > 0, 2.0 * inter / sizes, 1.0)
        total_union = union.sum(-1)
        out = {
            "per_class": iou,
            "per_class_dice": dice,
            "mIoU": np.where(present, iou, 0.0).sum(-1) / present.sum(-1),
            "dice": np.where(present_dice, dice, 0.0).sum(-1) / present_dice.sum(-1),
            "cIoU": np.where(total_union > 0, inter.sum(-1) / np.maximum(total_union, 1), 1.0),
            "gIoU": (w @ t.iou_sum) / (w @ t.pairs.sum(-1)),
        }
        if t.seen is not None:
            s_p, u_p = present & t.seen, present & ~t.seen
            s = np.where(s_p, iou, 0.0).sum(-1) / s_p.sum(-1)  # NaN where no seen class
            u = np.where(u_p, iou, 0.0).sum(-1) / u_p.sum(-1)
            h = np.where(
                (s > 0) & (u > 0), 2 * s * u / (s + u), np.where(np.isnan(s) | np.isnan(u), np.nan, 0.0)
            )
            out.update({"seen_mIoU": s, "unseen_mIoU": u, "hIoU": h})
    return out


def _bootstrap_ci(
    t: _Tables, keys: tuple[str, ...], resamples: int, seed: int, confidence: float
) -> dict[str, tuple[float, float]]:
    """Percentile intervals from resampling images with replacement.

    Not torchmetrics' BootStrapper: it resamples inside each ``update`` call, i.e. pixels of
    one image, which understates the spread between images that a benchmark cares about.
    Percentile rather than scipy's default BCa: BCa's jackknife fails on the degenerate
    distributions small test sets give (e.g. every image perfect). Intervals that come out
    NaN (a resample with no unseen class) are left out.
    """
    return _resample_ci(t.n_images, lambda w: _reduce(t, w), keys, resamples, seed, confidence)


def _resample_ci(
    n: int,
    reduce: Callable[[np.ndarray], Mapping[str, np.ndarray]],
    keys: tuple[str, ...],
    resamples: int,
    seed: int,
    confidence: float,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap over ``n`` units: ``reduce`` maps unit weights (resamples × n, how
    often each unit was drawn) to one score per resample for each of ``keys``."""
    from scipy.stats import bootstrap

    keys = tuple(keys)

    def statistic(idx: np.ndarray, axis: int = -1) -> np.ndarray:
        idx = np.moveaxis(np.asarray(idx, dtype=np.intp), axis, -1)
        flat = idx.reshape(-1, n)
        rows = flat.shape[0]
        # how often each unit was drawn in each resample
        w = np.bincount((flat + n * np.arange(rows)[:, None]).ravel(), minlength=rows * n).reshape(rows, n)
        r = reduce(w.astype(np.float64))
        return np.stack([r[k] for k in keys]).reshape(len(keys), *idx.shape[:-1])

    res = bootstrap(
        (np.arange(n),),
        statistic,
        n_resamples=resamples,
        vectorized=True,
        batch=max(1, _BOOTSTRAP_CELLS // n),
        method="percentile",
        confidence_level=confidence,
        rng=np.random.default_rng(seed),
    )
    lo, hi = np.atleast_1d(res.confidence_interval.low), np.atleast_1d(res.confidence_interval.high)
    return {
        k: (float(a), float(b))
        for k, a, b in zip(keys, lo, hi, strict=True)
        if np.isfinite(a) and np.isfinite(b)
    }


def _nan_to_none(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


@dataclass
class VolumeScores:
    """Per-volume scores: ``per_volume[metric][class][volume]``, their per-class means (NaN
    values left out), the mean over classes, and intervals over volumes."""

    per_volume: dict[str, dict[str, dict[str, float]]]
    per_class: dict[str, dict[str, float]]
    counts: dict[str, int]  # class → volumes scored
    mean: dict[str, float]  # metric → mean over classes of per_class
    volumes: int = 0
    hd95_undefined: dict[str, int] = field(default_factory=dict)  # class → pairs with one empty mask
    tolerance: float = SURFACE_TOLERANCE_MM
    units: str = "mm"  # of HD95 and the tolerance: "mm", "voxel", or "mm+voxel" when scans differ
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    bootstrap: int = 0

    @property
    def protocol(self) -> str:
        """The definition, in one line, for reports."""
        return (
            f"per volume (one number per scan and class; per class the mean over scans, then the mean "
            f"over classes): Dice and IoU (MONAI; both masks empty 1, one empty 0), HD95 (MONAI "
            f"compute_hausdorff_distance, percentile 95, {self.units}; left out where one mask is "
            f"empty), NSD (MONAI compute_surface_dice, tolerance {self.tolerance:g} {self.units}; both "
            f"empty 1, one empty 0); intervals: percentile bootstrap over scans"
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, NaN written as null."""
        return {
            "protocol": self.protocol,
            "count": int(self.volumes),
            "units": self.units,
            "nsd_tolerance": float(self.tolerance),
            "mean": {m: _nan_to_none(v) for m, v in self.mean.items()},
            "ci": {m: [float(lo), float(hi)] for m, (lo, hi) in self.ci.items()},
            "bootstrap": {"resamples": int(self.bootstrap), "unit": "volume"},
            "per_class": {m: {c: _nan_to_none(v) for c, v in pc.items()} for m, pc in self.per_class.items()},
            "counts": {c: int(n) for c, n in self.counts.items()},
            "hd95_undefined": {c: int(n) for c, n in self.hd95_undefined.items()},
            "per_volume": {
                m: {c: {v: _nan_to_none(x) for v, x in vols.items()} for c, vols in pv.items()}
                for m, pv in self.per_volume.items()
            },
        }


class VolumeMeter:
    """Per-volume Dice, IoU, HD95 and NSD of 3D masks, by MONAI; the medical convention (one
    number per scan, then their mean), unlike the pooled per-class scores of
    :class:`SegmentationMeter`. ``tolerance`` is NSD's, in the units of the spacing (mm)."""

    def __init__(self, tolerance: float = SURFACE_TOLERANCE_MM) -> None:
        if not tolerance > 0:
            raise ValueError(f"the surface tolerance must be positive, got {tolerance}")
        self.tolerance = float(tolerance)
        self._scores: dict[str, dict[str, dict[str, float]]] = {}  # class → volume → metric → value
        self._units: set[str] = set()

    def update(
        self,
        pred_volume: torch.Tensor | np.ndarray,
        target_volume: torch.Tensor | np.ndarray,
        class_name: str,
        volume_id: Hashable,
        valid: torch.Tensor | np.ndarray | None = None,
        spacing: tuple[float, ...] | None = None,
    ) -> float:
        """Score one binary volume (any spatial shape, e.g. D×H×W); returns its Dice.

        ``spacing`` (one length per axis, in mm) puts HD95 and the NSD tolerance in
        millimetres; without it they are in voxels. Voxels outside ``valid`` are cleared in
        both masks, which drops them exactly: none of the four counts true negatives. A volume
        with no valid voxel is not scored (returns NaN).
        """
        try:
            from monai.metrics import compute_dice, compute_iou
        except ImportError as exc:  # MONAI comes with the medical plugin, not the core
            from genseg.errors import ConfigError

            raise ConfigError(
                "per-volume scores come from MONAI, which is not installed",
                fix="pip install 'monai>=1.3' (the medical plugin already depends on it)",
            ) from exc

        p = _as_tensor(pred_volume).bool()
        t = _as_tensor(target_volume).bool()
        if p.shape != t.shape:
            raise ValueError(
                f"prediction and target volumes differ in shape: {tuple(p.shape)} vs {tuple(t.shape)}"
            )
        if spacing is not None and len(spacing) != p.ndim:
            raise ValueError(f"spacing {tuple(spacing)} does not match a volume of shape {tuple(p.shape)}")
        if valid is not None:
            v = _as_tensor(valid).bool()
            if v.shape != t.shape:
                raise ValueError(
                    f"the valid mask and the target differ in shape: {tuple(v.shape)} vs {tuple(t.shape)}"
                )
            if not v.any():  # nothing to score, as in SegmentationMeter.update
                return math.nan
            p, t = p & v, t & v
        key = str(volume_id)
        vols = self._scores.setdefault(class_name, {})
        if key in vols:
            raise ValueError(f"volume {key!r} was already scored for class {class_name!r}")
        # MONAI wants batch × channel × spatial
        pf, tf = p[None, None].float(), t[None, None].float()
        scores = {
            "dice": float(compute_dice(pf, tf, include_background=True, ignore_empty=False).flatten()[0]),
            "iou": float(compute_iou(pf, tf, include_background=True, ignore_empty=False).flatten()[0]),
            **self._surface(pf, tf, spacing),
        }
        self._units.add("voxel" if spacing is None else "mm")
        vols[key] = scores
        return scores["dice"]

    def _surface(
        self, p: torch.Tensor, t: torch.Tensor, spacing: tuple[float, ...] | None
    ) -> dict[str, float]:
        """HD95 and NSD; an empty mask is answered here (MONAI would warn and give NaN)."""
        p_any, t_any = bool(p.any()), bool(t.any())
        if not (p_any and t_any):
            return {"hd95": math.nan, "nsd": 1.0 if p_any == t_any else 0.0}
        import warnings

        from monai.metrics import compute_hausdorff_distance, compute_surface_dice

        space = None if spacing is None else [float(x) for x in spacing]
        with warnings.catch_warnings():  # MONAI's note on a changed default of get_mask_edges
            warnings.filterwarnings("ignore", message=".*always_return_as_numpy.*")
            hd = compute_hausdorff_distance(p, t, include_background=True, percentile=95, spacing=space)
            nsd = compute_surface_dice(
                p, t, class_thresholds=[self.tolerance], include_background=True, spacing=space
            )
        return {"hd95": float(hd.flatten()[0]), "nsd": float(nsd.flatten()[0])}

    @property
    def volume_ids(self) -> set[str]:
        return {v for vols in self._scores.values() for v in vols}

    def compute(self, bootstrap: int = 0, seed: int = 0, confidence: float = 0.95) -> VolumeScores:
        """Per-class means and the mean over classes; with ``bootstrap`` > 0 and two scans or
        more, percentile intervals of the means from resampling scans."""
        classes = sorted(self._scores)
        volumes = sorted(self.volume_ids)
        # metric → volumes × classes, NaN where not scored (or HD95 undefined)
        table = {m: np.full((len(volumes), len(classes)), np.nan) for m in VOLUME_METRICS}
        row = {v: i for i, v in enumerate(volumes)}
        for j, c in enumerate(classes):
            for v, scores in self._scores[c].items():
                for m in VOLUME_METRICS:
                    table[m][row[v], j] = scores[m]

        def reduce(w: np.ndarray) -> dict[str, np.ndarray]:
            out = {}
            for m, x in table.items():
                known = ~np.isnan(x)
                with np.errstate(divide="ignore", invalid="ignore"):
                    per_class = (w @ np.where(known, x, 0.0)) / (w @ known)  # resamples × classes
                    defined = ~np.isnan(per_class)
                    out[m] = np.where(defined, per_class, 0.0).sum(-1) / defined.sum(-1)
            return out

        point = reduce(np.ones((1, len(volumes))))
        ci = {}
        if bootstrap > 0 and len(volumes) >= 2:
            ci = _resample_ci(len(volumes), reduce, VOLUME_METRICS, bootstrap, seed, confidence)
        per_volume = {
            m: {c: {v: scores[m] for v, scores in self._scores[c].items()} for c in classes}
            for m in VOLUME_METRICS
        }
        per_class = {}
        for m, x in table.items():
            known = ~np.isnan(x)
            with np.errstate(divide="ignore", invalid="ignore"):
                means = np.where(known, x, 0.0).sum(0) / known.sum(0)  # NaN for a class with none
            per_class[m] = {c: float(v) for c, v in zip(classes, means, strict=True)}
        return VolumeScores(
            per_volume=per_volume,
            per_class=per_class,
            counts={c: len(self._scores[c]) for c in classes},
            mean={m: float(point[m][0]) for m in VOLUME_METRICS},
            volumes=len(volumes),
            hd95_undefined={
                c: sum(math.isnan(s["hd95"]) and s["nsd"] == 0.0 for s in self._scores[c].values())
                for c in classes
            },
            tolerance=self.tolerance,
            units="+".join(sorted(self._units)) or "mm",
            ci=ci,
            bootstrap=bootstrap if ci else 0,
        )


class SegmentationMeter:
    """Feed (prediction, target, class name) pairs; read :meth:`compute` at the end."""

    def __init__(self, surface_tolerance: float = SURFACE_TOLERANCE_MM) -> None:
        self._records: list[PairCounts] = []
        self._groups: list[int] = []  # image index of each record
        self._image_index: dict[Hashable, int] = {}
        self._n_images = 0
        self._volumes = VolumeMeter(surface_tolerance)
        self._volume_groups: set[int] = set()  # the images that are scans

    @property
    def records(self) -> tuple[PairCounts, ...]:
        """Every scored pair, in the order fed."""
        return tuple(self._records)

    def _add(self, counts: tuple[int, ...], class_name: str, image_id: Hashable | None) -> PairCounts:
        if image_id is None:  # unnamed: its own image
            group = self._n_images
            self._n_images += 1
        else:
            group = self._image_index.get(image_id)
            if group is None:
                group = self._image_index[image_id] = self._n_images
                self._n_images += 1
        rec = PairCounts(image_id, class_name, *counts)
        self._records.append(rec)
        self._groups.append(group)
        return rec

    def update(
        self,
        pred: torch.Tensor | np.ndarray,
        target: torch.Tensor | np.ndarray,
        class_name: str,
        valid: torch.Tensor | np.ndarray | None = None,
        image_id: Hashable | None = None,
    ) -> float:
        """Add one binary prediction/target pair; returns its IoU (NaN if no pixel is valid,
        and then the pair is not scored).

        ``valid`` (same size) marks the pixels that count. ``image_id`` groups the prompts of
        one image so the bootstrap resamples images, not pairs; without it each call is its
        own image.
        """
        counts = _pair_counts(pred, target, valid)
        if counts is None:
            return math.nan
        return self._add(counts, class_name, image_id).iou

    def update_volume(
        self,
        pred_volume: torch.Tensor | np.ndarray,
        target_volume: torch.Tensor | np.ndarray,
        class_name: str,
        volume_id: Hashable,
        valid: torch.Tensor | np.ndarray | None = None,
        spacing: tuple[float, ...] | None = None,
        slices: bool = False,
    ) -> float:
        """Add one 3D pair; returns its per-volume Dice (MONAI), and records its IoU, HD95 and
        NSD (:class:`VolumeMeter`; ``spacing`` in mm per axis).

        The volume is one bootstrap unit of every pixel score (slices of a scan are not
        independent). Its voxels enter them pooled as one pair, or with ``slices`` as one pair
        per slice along the first axis (a gIoU term each, as 2D scoring of the slices gives), so
        do not feed its slices through :meth:`update` as well.
        """
        dice = self._volumes.update(pred_volume, target_volume, class_name, volume_id, valid, spacing)
        if not slices:
            parts = [(pred_volume, target_volume, valid)]
        else:
            parts = [
                (pred_volume[z], target_volume[z], None if valid is None else valid[z])
                for z in range(len(target_volume))
            ]
        for pred, target, part_valid in parts:
            counts = _pair_counts(pred, target, part_valid)
            if counts is not None:
                self._add(counts, class_name, volume_id)
                self._volume_groups.add(self._groups[-1])
        return dice

    def _tables(self, seen: Iterable[str] | None) -> _Tables:
        classes = sorted({r.class_name for r in self._records})
        col = {c: i for i, c in enumerate(classes)}
        shape = (self._n_images, len(classes))
        inter, union, sizes, pairs = (np.zeros(shape) for _ in range(4))
        iou_sum = np.zeros(self._n_images)
        for r, g in zip(self._records, self._groups, strict=True):
            j = col[r.class_name]
            inter[g, j] += r.intersection
            union[g, j] += r.union
            sizes[g, j] += r.pred_sum + r.target_sum
            pairs[g, j] += 1
            iou_sum[g] += r.iou
        seen_set = None if seen is None else set(seen)
        seen_mask = None if seen_set is None else np.array([c in seen_set for c in classes], dtype=bool)
        return _Tables(classes, inter, union, sizes, pairs, iou_sum, seen_mask)

    def compute(
        self, bootstrap: int = 0, seed: int = 0, confidence: float = 0.95, seen: Iterable[str] | None = None
    ) -> SegmentationScores:
        """All scores; with ``bootstrap`` > 0 also confidence intervals over images.

        ``bootstrap`` defaults to 0 (no intervals) so the many quick evaluations during
        training stay cheap; benchmarks pass ~1000 (well under a second for thousands of
        images). The same ``seed`` gives the same intervals. Fewer than two images give no
        interval. ``seen`` (class names seen in training) adds seen / unseen mIoU and hIoU,
        with intervals for those too.
        """
        seen = None if seen is None else list(seen)
        if not self._records:
            return SegmentationScores(
                {}, {}, {}, math.nan, math.nan, math.nan, math.nan, seed=seed, confidence=confidence
            )
        t = self._tables(seen)
        r = _reduce(t, np.ones((1, t.n_images)))
        keys = CI_KEYS + (_SPLIT_CI_KEYS if seen is not None else ())
        ci = _bootstrap_ci(t, keys, bootstrap, seed, confidence) if bootstrap > 0 and t.n_images >= 2 else {}
        counts = {c: int(n) for c, n in zip(t.classes, t.pairs.sum(0), strict=True)}
        vol = self._volumes.compute(bootstrap, seed, confidence)
        scans = len(self._volume_groups)
        unit = "image" if not scans else "volume" if scans == t.n_images else "image+volume"
        absent = [r.pred_sum / r.pixels for r in self._records if r.target_sum == 0 and r.pixels]

        def opt(k: str) -> float | None:
            return float(r[k][0]) if k in r else None

        return SegmentationScores(
            per_class={c: float(v) for c, v in zip(t.classes, r["per_class"][0], strict=True)},
            per_class_dice={c: float(v) for c, v in zip(t.classes, r["per_class_dice"][0], strict=True)},
            counts=counts,
            miou=float(r["mIoU"][0]),
            dice=float(r["dice"][0]),
            ciou=float(r["cIoU"][0]),
            giou=float(r["gIoU"][0]),
            images=t.n_images,
            ci=ci,
            bootstrap=bootstrap if ci else 0,
            seed=seed,
            confidence=confidence,
            seen_classes=None if seen is None else sorted(c for c in t.classes if c in set(seen)),
            seen_miou=opt("seen_mIoU"),
            unseen_miou=opt("unseen_mIoU"),
            hiou=opt("hIoU"),
            per_volume_dice=vol.per_volume.get("dice", {}),
            volume_dice=vol.per_class.get("dice", {}),
            absent_pairs=len(absent),
            absent_fp_area=float(np.mean(absent)) if absent else None,
            unit=unit,
            volumes=vol.as_dict() if vol.volumes else {},
        )
