"""Scoring a predictions folder: no model needed, the same numbers every time.

A volume's slices are scored as pairs of one unit, the scan (slices of a scan are not
independent, so the bootstrap resamples scans), and a scan whose every slice has a record
also gets per-volume Dice, IoU, HD95 and normalised surface Dice in mm, as ``genseg
evaluate`` does. Each group says which prompting its records used (semantic: every class
prompted on every image, absent ones included; referring: present classes only).

Scores are grouped three ways, each per tag (seen / unseen / paraphrase / test): per
dataset, per domain (classes of all the domain's datasets together) and over everything.
Domain plugins' metrics (``genseg_register_metrics``) are computed per domain beside
genseg's own. A prediction missing from disk is an error that lists what is missing,
unless the caller asks for missing masks to be scored as empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genseg.errors import InputError
from genseg.evaluation.metrics import SURFACE_TOLERANCE_MM, SegmentationMeter, SegmentationScores
from genseg.evaluation.predictions import PredictionIndex, PredictionRecord, read_index, read_mask_png


@dataclass
class ScoredGroup:
    level: str  # "dataset", "domain" or "all"
    key: str  # the dataset or domain name; "all"
    tag: str
    scores: SegmentationScores
    plugin_metrics: dict[str, float] = field(default_factory=dict)
    prompting: str = "referring"  # semantic, referring, or both joined by "+" (datasets differ)

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "key": self.key,
            "tag": self.tag,
            "prompting": self.prompting,
            **self.scores.as_dict(),
            "plugin_metrics": self.plugin_metrics,
        }


@dataclass
class ScoredPredictions:
    folder: Path
    index: PredictionIndex
    groups: list[ScoredGroup]
    missing: list[PredictionRecord]

    def get(self, level: str, key: str, tag: str) -> ScoredGroup | None:
        for g in self.groups:
            if (g.level, g.key, g.tag) == (level, key, tag):
                return g
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "protocol": self.index.protocol,
            "method": self.index.method,
            "model": self.index.model,
            "adapters": self.index.adapters,
            "steps": self.index.steps,
            "missing": [f"{r.image} · {r.prompt}" for r in self.missing],
            "groups": [g.as_dict() for g in self.groups],
        }


def missing_error(folder: Path, missing: list[PredictionRecord], total: int) -> InputError:
    shown = "; ".join(f"{Path(r.image).name} · {r.prompt!r}" for r in missing[:8])
    more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
    return InputError(
        f"{len(missing)} of {total} predictions are missing: {shown}{more}",
        path=folder,
        fix="re-run the predictions, or pass --missing-as-empty to score them as empty masks",
    )


def _plugin_metric_factories(domain: str) -> list[tuple[str, Any]]:
    from genseg.plugins import registry
    from genseg.plugins.schemas import resolve_target

    return [
        (f"{plugin}:{spec.name}", resolve_target(spec.factory)) for plugin, spec in registry.metrics(domain)
    ]


_Slices = dict[int, tuple[np.ndarray, np.ndarray, np.ndarray | None]]


def score_predictions(
    folder: str | Path,
    missing_as_empty: bool = False,
    bootstrap: int = 0,
    seed: int = 0,
    plugin_metrics: bool = True,
    surface_tolerance: float = SURFACE_TOLERANCE_MM,
) -> ScoredPredictions:
    """Score every record of ``folder``'s index against its label (ignored / nodata pixels
    excluded); ``surface_tolerance`` is the NSD tolerance of volumes, in mm."""
    import torch

    from genseg.data.io import load_label

    folder = Path(folder)
    index = read_index(folder)
    missing = [r for r in index.records if not (folder / r.file).is_file()]
    if missing and not missing_as_empty:
        raise missing_error(folder, missing, len(index.records))
    missing_files = {r.file for r in missing}

    meters: dict[tuple[str, str, str], SegmentationMeter] = {}
    promptings: dict[tuple[str, str, str], set[str]] = {}
    extra: dict[tuple[str, str], dict[str, Any]] = {}
    labels: dict[str, Any] = {}
    # the slices of the scan being read, per record of its (class, tag): scored when it ends
    scan: dict[tuple[str, ...], tuple[PredictionRecord, _Slices]] = {}

    def level_meters(rec: PredictionRecord) -> list[SegmentationMeter]:
        out = []
        for level, key in (("dataset", rec.dataset), ("domain", rec.domain), ("all", "all")):
            out.append(meters.setdefault((level, key, rec.tag), SegmentationMeter(surface_tolerance)))
            promptings.setdefault((level, key, rec.tag), set()).add(rec.prompting)
        return out

    def score_pair(rec: PredictionRecord, pred, truth, valid, image_id: str) -> None:
        """One (prediction, truth) pair of an image or slice into every level's meter."""
        for meter in level_meters(rec):
            meter.update(
                torch.from_numpy(pred),
                torch.from_numpy(truth),
                rec.class_name,
                valid=None if valid is None else torch.from_numpy(valid),
                image_id=image_id,
            )

    def score_scan() -> None:
        for rec, slices in scan.values():
            sample = labels[rec.label]
            depth, volume_id = sample.array.shape[0], f"{rec.dataset}/{rec.image_id}"
            if len(slices) == depth:  # the whole scan: per-volume scores too
                pred = np.stack([slices[z][0] for z in range(depth)])
                truth = np.stack([slices[z][1] for z in range(depth)])
                valid = None
                if any(slices[z][2] is not None for z in range(depth)):
                    valid = np.stack(
                        [np.ones_like(t) if v is None else v for _, t, v in (slices[z] for z in range(depth))]
                    )
                spacing = sample.meta.get("spacing")
                for meter in level_meters(rec):
                    meter.update_volume(
                        torch.from_numpy(pred),
                        torch.from_numpy(truth),
                        rec.class_name,
                        volume_id,
                        valid=None if valid is None else torch.from_numpy(valid),
                        spacing=None if spacing is None else tuple(spacing),
                        slices=True,
                    )
                continue
            for _, (pred, truth, valid) in sorted(slices.items()):  # part of a scan: slice pairs only
                score_pair(rec, pred, truth, valid, volume_id)
        scan.clear()

    for rec in index.records:
        if rec.label not in labels:
            score_scan()
            labels = {rec.label: load_label(rec.label)}  # records of one image are consecutive
        label = labels[rec.label].array if rec.slice is None else labels[rec.label].array[rec.slice]
        truth = np.isin(label, rec.values)
        if rec.file in missing_files:
            pred = np.zeros_like(truth)
        else:
            pred = read_mask_png(folder / rec.file)
            if pred.shape != truth.shape:
                raise InputError(
                    f"prediction is {pred.shape} but the label is {truth.shape}",
                    path=folder / rec.file,
                    fix="predictions must be made at the label's size",
                )
        valid = None
        if rec.valid:
            valid = read_mask_png(folder / rec.valid)
        elif rec.ignore:
            valid = ~np.isin(label, rec.ignore)
        if rec.slice is not None:
            key = (rec.dataset, rec.domain, rec.image_id, rec.label, rec.class_name, rec.tag, rec.prompting)
            scan.setdefault(key, (rec, {}))[1][rec.slice] = (pred, truth, valid)
        else:
            score_pair(rec, pred, truth, valid, f"{rec.dataset}/{rec.image_id}")
        if plugin_metrics:
            slot = extra.setdefault((rec.domain, rec.tag), {})
            if not slot:
                slot.update({name: make() for name, make in _plugin_metric_factories(rec.domain)})
            p, t = (pred[valid], truth[valid]) if valid is not None else (pred.ravel(), truth.ravel())
            for metric in slot.values():
                metric.update(torch.from_numpy(p).long(), torch.from_numpy(t).long())
    score_scan()

    groups = []
    for (level, key, tag), meter in sorted(meters.items()):
        computed = {}
        if level == "domain" and (key, tag) in extra:
            computed = {name: float(m.compute()) for name, m in extra[(key, tag)].items()}
        scores = meter.compute(bootstrap=bootstrap, seed=seed)
        mode = "+".join(sorted(promptings[(level, key, tag)]))
        groups.append(ScoredGroup(level, key, tag, scores, computed, mode))
    return ScoredPredictions(folder, index, groups, missing)
