"""Rich tables of scores for the terminal."""

from __future__ import annotations

from genseg.evaluation.metrics import SegmentationScores


def scores_table(scores: SegmentationScores, title: str = "scores"):
    from rich.table import Table

    table = Table(title=title)
    table.add_column("class")
    table.add_column("n", justify="right")
    table.add_column("IoU", justify="right")
    table.add_column("Dice", justify="right")
    for name, iou in scores.per_class.items():
        table.add_row(name, str(scores.counts[name]), f"{iou:.3f}", f"{scores.per_class_dice[name]:.3f}")
    table.add_section()
    table.add_row("mean", str(sum(scores.counts.values())), f"{scores.miou:.3f}", f"{scores.dice:.3f}")
    caption = f"cIoU {scores.ciou:.3f} · gIoU {scores.giou:.3f}"
    if scores.absent_fp_area is not None:
        caption += (
            f" · absent-class false-positive area {scores.absent_fp_area:.2%} "
            f"(mean over {scores.absent_pairs} prompts of absent classes)"
        )
    if scores.ci:
        caption += f" · {scores.confidence:.0%} intervals over {scores.images} {scores.unit}s: " + ", ".join(
            f"{k} [{lo:.3f}, {hi:.3f}]" for k, (lo, hi) in scores.ci.items()
        )
    table.caption = caption
    return table


def _cell(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def volume_table(scores: SegmentationScores, title: str = "per volume"):
    """Per-volume Dice, IoU, HD95 and NSD by class (None when no volume was scored); the
    caption names the protocol and gives the intervals over scans."""
    from rich.table import Table

    vol = scores.volumes
    if not vol:
        return None
    units, tol = vol["units"], vol["nsd_tolerance"]
    table = Table(title=title)
    for name in ("class", "volumes", "Dice", "IoU", f"HD95 ({units})", f"NSD@{tol:g}{units}"):
        table.add_column(name, justify="left" if name == "class" else "right")
    pc = vol["per_class"]
    for name, n in vol["counts"].items():
        hd = _cell(pc["hd95"][name], 1)
        undefined = vol["hd95_undefined"].get(name, 0)
        table.add_row(
            name,
            str(n),
            _cell(pc["dice"][name]),
            _cell(pc["iou"][name]),
            hd + (f" ({undefined} n/a)" if undefined else ""),
            _cell(pc["nsd"][name]),
        )
    table.add_section()
    mean = vol["mean"]
    table.add_row(
        "mean",
        str(vol["count"]),
        _cell(mean["dice"]),
        _cell(mean["iou"]),
        _cell(mean["hd95"], 1),
        _cell(mean["nsd"]),
    )
    ci = vol["ci"]
    intervals = " · ".join(f"{m} [{lo:.3f}, {hi:.3f}]" for m, (lo, hi) in ci.items())
    caption = vol["protocol"]
    caption += (
        f". {scores.confidence:.0%} intervals over {vol['count']} scans: {intervals}"
        if ci
        else f". No interval: {vol['count']} scan(s), at least two are needed"
    )
    table.caption = caption
    return table
