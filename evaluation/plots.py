"""Figures for benchmark reports: few-shot curves, seen/unseen bars, per-class bars and
overlay grids, each written to a PNG atomically (a crash never leaves half a figure).

Figures are built as ``matplotlib.figure.Figure`` on an Agg canvas rather than through
pyplot: that renders headless, leaves the process-wide backend alone, and keeps no global
figure registry that would leak memory across a long benchmark run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_DPI = 100


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    from genseg.data.atomic import atomic_write

    return atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=_DPI))


def _colours(n: int) -> list[tuple[float, float, float]]:
    """The overlay palette (so a prompt or method looks the same in every figure), in 0–1."""
    from genseg.data.palette import OVERLAY_COLOURS

    return [tuple(c / 255.0 for c in OVERLAY_COLOURS[i % len(OVERLAY_COLOURS)]) for i in range(n)]


def _finite(v: float | None) -> bool:
    return v is not None and not math.isnan(v)


def few_shot_plot(
    curves: Mapping[str, Mapping[int, float]],
    path: str | Path,
    title: str = "few-shot transfer",
    ylabel: str = "mIoU",
) -> Path:
    """One line per method of score against shots K. K spans orders of magnitude (1, 5, 10,
    100…), so the x axis is logarithmic (symmetric-log when K = 0, zero-shot, is present),
    with exactly the measured K values as ticks."""
    from matplotlib.ticker import NullLocator

    if not curves:
        raise ValueError("no curves to plot")
    fig = _figure(6.4, 4.2)
    ax = fig.add_subplot()
    ks = sorted({int(k) for c in curves.values() for k in c})
    for colour, (method, curve) in zip(_colours(len(curves)), curves.items(), strict=True):
        pts = sorted((int(k), v) for k, v in curve.items() if _finite(v))
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", color=colour, label=method)
    if ks and ks[0] <= 0:
        ax.set_xscale("symlog", linthresh=1)
    elif ks:
        ax.set_xscale("log")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("shots per class (K)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)


def seen_unseen_plot(
    rows: Mapping[str, tuple[float, float]],
    path: str | Path,
    title: str = "seen vs unseen classes",
    ylabel: str = "mIoU",
) -> Path:
    """Grouped bars per method: seen mIoU, unseen mIoU and their harmonic mean (hIoU), since
    the gap between the first two is what open-vocabulary transfer is judged on."""
    from genseg.evaluation.metrics import harmonic_iou

    if not rows:
        raise ValueError("no rows to plot")
    methods = list(rows)
    series = {
        "seen": [rows[m][0] for m in methods],
        "unseen": [rows[m][1] for m in methods],
        "hIoU": [harmonic_iou(*rows[m]) for m in methods],
    }
    fig = _figure(max(4.8, 1.4 + 1.3 * len(methods)), 4.2)
    ax = fig.add_subplot()
    x = np.arange(len(methods))
    width = 0.8 / len(series)
    for i, (colour, (name, values)) in enumerate(zip(_colours(len(series)), series.items(), strict=True)):
        bars = ax.bar(x + (i - 1) * width, np.nan_to_num(values), width, label=name, color=colour)
        ax.bar_label(bars, labels=[f"{v:.2f}" if _finite(v) else "–" for v in values], fontsize=7, padding=1)
    ax.set_xticks(
        x, methods, rotation=20 if len(methods) > 4 else 0, ha="right" if len(methods) > 4 else "center"
    )
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.margins(y=0.12)
    ax.legend(fontsize="small")
    return _save(fig, path)


def per_class_plot(
    per_class: Mapping[str, Mapping[str, float]],
    path: str | Path,
    title: str = "per-class IoU",
    xlabel: str = "IoU",
) -> Path:
    """Horizontal bars, one group per class and one bar per method. Classes keep the order of
    the first method that scores them; horizontal so long class names stay readable, and the
    figure grows with the number of classes rather than squeezing them."""
    if not per_class:
        raise ValueError("nothing to plot")
    classes = list(dict.fromkeys(c for scores in per_class.values() for c in scores))
    n_m = len(per_class)
    height = min(0.9 + len(classes) * (0.16 * n_m + 0.08), 300.0)  # Agg tops out at 2^16 pixels
    fig = _figure(6.4, max(height, 2.5))
    ax = fig.add_subplot()
    y = np.arange(len(classes))
    bar = 0.8 / n_m
    for i, (colour, (method, scores)) in enumerate(zip(_colours(n_m), per_class.items(), strict=True)):
        values = [scores.get(c, math.nan) for c in classes]
        ax.barh(y - 0.4 + (i + 0.5) * bar, np.nan_to_num(values), bar, label=method, color=colour)
    ax.set_yticks(y, classes, fontsize="small")
    ax.invert_yaxis()  # first class on top
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(True, axis="x", alpha=0.3)
    if n_m > 1:
        ax.legend(fontsize="small")
    return _save(fig, path)


@dataclass
class OverlayCell:
    """One panel of :func:`overlay_grid`: an image, its predicted mask per prompt and,
    optionally, the true masks drawn as outlines."""

    image: np.ndarray  # H×W×3 (or H×W) uint8, or float in [0, 1]
    masks: dict[str, np.ndarray]  # prompt → bool H×W prediction
    title: str = ""
    truth: dict[str, np.ndarray] | None = None  # prompt → bool H×W


def _rgb_float(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    img = img.astype(np.float64) / 255.0 if img.dtype == np.uint8 else img.astype(np.float64)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an H×W×3 image, got shape {np.asarray(image).shape}")
    return np.clip(np.nan_to_num(img), 0.0, 1.0)


def _bool_mask(mask: np.ndarray, shape: tuple[int, int], what: str) -> np.ndarray:
    m = np.asarray(mask)
    m = m > 0.5 if np.issubdtype(m.dtype, np.floating) else m.astype(bool)
    if m.shape != shape:
        raise ValueError(f"{what} has shape {m.shape}, its image is {shape}")
    return m


def overlay_grid(
    cells: Sequence[OverlayCell], path: str | Path, columns: int = 4, alpha: float = 0.45
) -> Path:
    """A grid of images with each prompt's prediction tinted in its colour (the same prompt
    gets the same colour in every cell) and, where truth is given, the true region outlined
    in that colour with a dashed line, so misses and false alarms read at a glance. Each cell
    has its legend below the image, where it hides no pixel."""
    from matplotlib.patches import Patch

    if not cells:
        raise ValueError("no cells to draw")
    prompts = list(dict.fromkeys(p for c in cells for p in [*c.masks, *(c.truth or {})]))
    colour = dict(zip(prompts, _colours(len(prompts)), strict=True))
    cols = max(1, min(columns, len(cells)))
    rows = math.ceil(len(cells) / cols)
    aspect = max(np.asarray(c.image).shape[0] / np.asarray(c.image).shape[1] for c in cells)
    legend_h = 0.22 * max(len(set(c.masks) | set(c.truth or {})) for c in cells) + 0.3
    cell_w = 3.0
    fig = _figure(cell_w * cols, rows * (cell_w * aspect + legend_h + 0.35))
    for k, cell in enumerate(cells):
        ax = fig.add_subplot(rows, cols, k + 1)
        rgb = _rgb_float(cell.image)
        shape = rgb.shape[:2]
        for prompt, mask in cell.masks.items():
            m = _bool_mask(mask, shape, f"mask {prompt!r}")
            rgb[m] = (1.0 - alpha) * rgb[m] + alpha * np.asarray(colour[prompt])
        # nearest: no smoothing that would bleed the tint past the mask edge
        ax.imshow(rgb, interpolation="nearest")
        for prompt, mask in (cell.truth or {}).items():
            m = _bool_mask(mask, shape, f"true mask {prompt!r}")
            if m.any() and not m.all():
                ax.contour(
                    m.astype(float), levels=[0.5], colors=[colour[prompt]], linewidths=1.2, linestyles="--"
                )
        ax.set_title(cell.title, fontsize="small")
        ax.set_axis_off()
        names = list(dict.fromkeys([*cell.masks, *(cell.truth or {})]))
        if names:
            handles = [Patch(facecolor=colour[p], label=p) for p in names]
            if cell.truth:
                handles.append(
                    Patch(facecolor="none", edgecolor="grey", linestyle="--", label="truth (outline)")
                )
            ax.legend(
                handles=handles,
                loc="upper center",
                bbox_to_anchor=(0.5, -0.01),
                fontsize="x-small",
                frameon=False,
                ncols=1,
            )
    return _save(fig, path)


def _class_colours(n: int) -> list[tuple[float, float, float]]:
    """Distinct colours for ``n`` classes: the overlay palette, then tab20 beyond its ten."""
    if n <= 10:
        return _colours(n)
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    return [tuple(cmap(i % 20)[:3]) for i in range(n)]


@dataclass
class ClassOverlayRow:
    """One row of :func:`class_overlay_grid`: an image, and per column a class-index map
    (0 = no class, k = ``classes[k - 1]``) or None where that column has nothing."""

    image: np.ndarray  # H×W×3 (or H×W) uint8, or float in [0, 1]
    maps: dict[str, np.ndarray | None]  # column → H×W int
    title: str = ""


def class_overlay_grid(
    rows: Sequence[ClassOverlayRow],
    columns: Sequence[str],
    classes: Sequence[str],
    path: str | Path,
    alpha: float = 0.5,
    title: str = "",
) -> Path:
    """A grid a person reads at a glance: a row per test image; the first column the image,
    then one column per entry of ``columns`` (e.g. truth, genseg, a peer) with every class
    filled in its colour over the image, and one legend of the class colours for the figure."""
    from matplotlib.patches import Patch

    if not rows:
        raise ValueError("no rows to draw")
    colours = np.asarray(_class_colours(len(classes)) or [(0.0, 0.0, 0.0)])
    ncols = 1 + len(columns)
    aspect = max(np.asarray(r.image).shape[0] / np.asarray(r.image).shape[1] for r in rows)
    cell = 2.4
    legend_rows = math.ceil(len(classes) / max(1, min(len(classes), 2 * ncols)))
    fig = _figure(cell * ncols, len(rows) * cell * aspect + 0.5 + 0.25 * legend_rows + (0.3 if title else 0))
    for i, row in enumerate(rows):
        rgb = _rgb_float(row.image)
        for j, name in enumerate(["image", *columns]):
            ax = fig.add_subplot(len(rows), ncols, i * ncols + j + 1)
            shown = rgb.copy()
            lab = None if j == 0 else row.maps.get(name)
            if lab is not None:
                lab = np.asarray(lab)
                if lab.shape != shown.shape[:2]:
                    raise ValueError(f"map {name!r} has shape {lab.shape}, its image is {shown.shape[:2]}")
                m = lab > 0
                shown[m] = (1.0 - alpha) * shown[m] + alpha * colours[lab[m] - 1]
            ax.imshow(shown, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name if lab is not None or j == 0 else f"{name} (–)", fontsize="small")
            if j == 0 and row.title:
                ax.set_ylabel(row.title, fontsize="x-small")
    handles = [Patch(facecolor=colours[k], label=c) for k, c in enumerate(classes)]
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 2 * ncols),
                   fontsize="x-small", frameon=False)  # fmt: skip
    if title:
        fig.suptitle(title, fontsize="small")
    return _save(fig, path)
