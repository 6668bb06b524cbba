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
    table.caption = caption
    return table
