"""The benchmark's report: a Markdown summary, JSON and CSV, plots, overlay grids, provenance.

Rows of the summary are methods; columns are (protocol, domain) cells, so genseg and its
baselines read side by side. Everything is rebuilt from the scored rows, which are in turn
rebuilt from predictions on disk: the report never needs the models.
"""

from __future__ import annotations

import csv
import io
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

from genseg.data.atomic import atomic_write


def _git(*args: str) -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def provenance(plan) -> dict[str, Any]:
    """What a reader needs to reproduce the numbers: code, libraries, machine, config, seeds."""
    from importlib import metadata

    import torch

    versions = {}
    for dist in (
        "genseg",
        "genseg-plugin-medical",
        "genseg-plugin-remote-sensing",
        "genseg-plugin-agriculture",
        "torch",
        "diffusers",
        "transformers",
        "peft",
        "accelerate",
        "torchmetrics",
        "monai",
        "numpy",
    ):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "versions": versions,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": __import__("os").cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
        "budget": {"name": plan.budget_name, **plan.budget.model_dump()},
        "seeds": {"training": plan.budget.seed, "noise": plan.budget.seed, "shots": plan.budget.seed},
        "methods": {k: v.model_dump() for k, v in plan.methods.items()},
        "protocols": {p.name: {"file": str(path), **p.model_dump()} for p, path in plan.protocols},
        "datasets": {k: str(v) for k, v in plan.datasets.items()},
        "skipped": plan.skipped,
    }


def _find(rows, protocol, method, level, key, tag, shots=None):
    for r in rows:
        if (r["protocol"], r["method"], r["level"], r["key"], r["tag"], r["shots"]) == (
            protocol,
            method,
            level,
            key,
            tag,
            shots,
        ):
            return r
    return None


def summary(plan, rows) -> tuple[list[str], dict[str, dict[str, float | None]]]:
    """Columns and, per method, the mIoU of each column (None where the method did not run)."""
    from genseg.evaluation.metrics import harmonic_iou

    columns: list[tuple[str, Any]] = []
    for p, _ in plan.protocols:
        domains = list(dict.fromkeys(plan.specs[n].domain for n in p.test.datasets))
        if p.kind in ("in-domain", "cross-domain"):
            label = "in-domain" if p.kind == "in-domain" else "zero-shot"
            for d in domains:
                columns.append((f"{label} · {d}", (p.name, "domain", d, "test", None)))
        elif p.kind == "open-vocabulary":
            for tag in ("seen", "unseen"):
                columns.append((f"open-vocab · {tag}", (p.name, "all", "all", tag, None)))
            columns.append(("open-vocab · hIoU", (p.name, "hIoU")))
            columns.append(("open-vocab · paraphrase", (p.name, "all", "all", "paraphrase", None)))
        elif p.kind == "few-shot":
            for k in p.shots:
                columns.append((f"few-shot K={k}", (p.name, "all", "all", "test", k)))
    methods = list(dict.fromkeys(m for p, _ in plan.protocols for m in p.methods))
    table: dict[str, dict[str, float | None]] = {}
    for m in methods:
        table[m] = {}
        for name, sel in columns:
            if sel[1] == "hIoU":
                seen = _find(rows, sel[0], m, "all", "all", "seen")
                unseen = _find(rows, sel[0], m, "all", "all", "unseen")
                table[m][name] = harmonic_iou(seen["mIoU"], unseen["mIoU"]) if seen and unseen else None
            else:
                r = _find(rows, sel[0], m, sel[1], sel[2], sel[3], sel[4])
                table[m][name] = r["mIoU"] if r else None
    return [c for c, _ in columns], table


def markdown_table(columns: list[str], table: dict[str, dict[str, float | None]]) -> str:
    def fmt(v):
        return "–" if v is None else f"{v:.3f}"

    lines = ["| method | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for method, cells in table.items():
        lines.append(f"| {method} | " + " | ".join(fmt(cells[c]) for c in columns) + " |")
    return "\n".join(lines)


def _ci(r, key="mIoU") -> str:
    ci = (r.get("ci") or {}).get(key)
    return f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""


def detail_tables(plan, rows) -> str:
    out = []
    for p, _ in plan.protocols:
        out.append(f"### {p.name} ({p.kind})\n\n{p.description.strip()}\n")
        out.append("| method | K | scope | tag | pairs | mIoU [95 % CI] | Dice | cIoU | gIoU |")
        out.append("|---|---:|---|---|---:|---|---:|---:|---:|")
        for r in rows:
            if r["protocol"] != p.name or r["level"] == "dataset" and len(p.test.datasets) == 1:
                continue
            if r["level"] == "domain" and len({plan.specs[n].domain for n in p.test.datasets}) == 1:
                continue  # the same as "all"
            scope = "all" if r["level"] == "all" else f"{r['level']}: {r['key']}"
            k = "" if r["shots"] is None else str(r["shots"])
            out.append(
                f"| {r['method']} | {k} | {scope} | {r['tag']} | {r['pairs']} | {r['mIoU']:.3f}{_ci(r)} | "
                f"{r['dice']:.3f} | {r['cIoU']:.3f} | {r['gIoU']:.3f} |"
            )
        out.append("")
    return "\n".join(out)


def _plots(plan, rows, folder: Path) -> list[Path]:
    from genseg.evaluation import plots

    written = []
    for p, _ in plan.protocols:
        if p.kind == "few-shot":
            curves: dict[str, dict[int, float]] = {}
            for m in p.methods:
                curve = {}
                zero = next(
                    (
                        r
                        for r in rows
                        if r["kind"] == "cross-domain"
                        and r["method"] == m
                        and r["level"] == "all"
                        and r["tag"] == "test"
                        and plan_test(plan, r["protocol"]) == p.test.datasets
                    ),
                    None,
                )
                if zero:
                    curve[0] = zero["mIoU"]
                for k in p.shots:
                    r = _find(rows, p.name, m, "all", "all", "test", k)
                    if r:
                        curve[k] = r["mIoU"]
                if curve:
                    curves[m] = curve
            if curves:
                path = folder / f"{p.name}.png"
                written.append(plots.few_shot_plot(curves, path, title=f"{p.name}: mIoU vs K"))
        elif p.kind == "open-vocabulary":
            pairs = {}
            for m in p.methods:
                seen = _find(rows, p.name, m, "all", "all", "seen")
                unseen = _find(rows, p.name, m, "all", "all", "unseen")
                if seen and unseen:
                    pairs[m] = (seen["mIoU"], unseen["mIoU"])
            if pairs:
                path = folder / f"{p.name}.png"
                written.append(plots.seen_unseen_plot(pairs, path, title="seen vs unseen classes"))
        elif p.kind == "in-domain":
            per_class = {
                m: r["per_class"] for m in p.methods if (r := _find(rows, p.name, m, "all", "all", "test"))
            }
            if per_class:
                path = folder / f"{p.name}_per_class.png"
                written.append(plots.per_class_plot(per_class, path, title="in-domain IoU per class"))
    return written


def plan_test(plan, protocol_name: str) -> list[str]:
    for p, _ in plan.protocols:
        if p.name == protocol_name:
            return p.test.datasets
    return []


def overlay_grids(plan, rows, folder: Path) -> list[Path]:
    """Per protocol: a few test images (rows) × methods (columns), read back from the predictions."""
    import numpy as np

    from genseg.data.io import load_image, load_label
    from genseg.evaluation.plots import OverlayCell, overlay_grid
    from genseg.evaluation.predictions import read_index, read_mask_png

    written = []
    n = plan.budget.overlays
    if n == 0:
        return written
    for p, _ in plan.protocols:
        folders = {}
        for r in rows:
            if r["protocol"] == p.name and r["level"] == "all":
                shots = r["shots"]
                if shots is None or shots == max(p.shots or [0]):
                    folders.setdefault(r["method"], Path(r["predictions"]))
        if not folders:
            continue
        indexes = {m: read_index(f) for m, f in folders.items()}
        first = next(iter(indexes.values()))
        chosen: list[tuple[str, str]] = []
        for ds in (plan.specs[n].name for n in p.test.datasets):
            ids = list(dict.fromkeys(r.image_id for r in first.records if r.dataset == ds))
            chosen += [(ds, i) for i in ids[:n]]
        cells = []
        for ds, iid in chosen:
            for m, index in indexes.items():
                recs = [r for r in index.records if r.dataset == ds and r.image_id == iid][:4]
                if not recs:
                    continue
                image = load_image(recs[0].image, recs[0].domain).array
                label = load_label(recs[0].label).array
                masks = {
                    r.prompt: read_mask_png(folders[m] / r.file)
                    for r in recs
                    if (folders[m] / r.file).is_file()
                }
                truth = {r.prompt: np.isin(label, r.values) for r in recs}
                cells.append(
                    OverlayCell(image=image[..., :3], masks=masks, truth=truth, title=f"{m} · {iid}")
                )
        if cells:
            written.append(overlay_grid(cells, folder / f"{p.name}.png", columns=len(indexes)))
    return written


CSV_FIELDS = [
    "protocol", "kind", "method", "shots", "level", "key", "tag", "pairs",
    "mIoU", "mIoU_lo", "mIoU_hi", "dice", "cIoU", "gIoU",
]  # fmt: skip


def csv_text(rows) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        lo, hi = (r.get("ci") or {}).get("mIoU", (None, None))
        writer.writerow({**r, "mIoU_lo": lo, "mIoU_hi": hi})
    return buf.getvalue()


def write_report(result) -> Path:
    plan, rows, out = result.plan, result.rows, result.output
    prov = provenance(plan)
    columns, table = summary(plan, rows)
    plots = _plots(plan, rows, out / "plots")
    overlays = overlay_grids(plan, rows, out / "overlays")
    payload = {
        "summary": {"columns": columns, "rows": table},
        "rows": rows,
        "timings_s": result.timings,
        "provenance": prov,
    }
    atomic_write(out / "results.json", lambda tmp: tmp.write_text(json.dumps(payload, indent=1, default=str)))
    atomic_write(out / "results.csv", lambda tmp: tmp.write_text(csv_text(rows)))
    total = result.timings.get("total", 0.0)
    md = [
        "# genseg benchmark",
        "",
        f"Budget `{plan.budget_name}` ({plan.budget.steps} training steps of batch "
        f"{plan.budget.batch_size} at {plan.budget.resolution} px; LoRA {plan.budget.lora_steps} steps, "
        f"rank {plan.budget.lora_rank}); wall time {total / 60:.1f} min on "
        f"{prov['machine']['cpu_count']} CPU cores"
        + (f" and {prov['machine']['cuda']}" if prov["machine"]["cuda"] else "")
        + f"; commit `{prov['git_commit'][:12]}`{' (uncommitted changes)' if prov['git_dirty'] else ''}.",
        "",
        "mIoU per method (rows) and protocol · domain (columns); one-step inference unless the method says "
        "otherwise. Every prediction is on disk under `predictions/` and can be re-scored with "
        "`genseg evaluate --predictions DIR`.",
        "",
        markdown_table(columns, table),
        "",
        "Methods: " + "; ".join(f"**{k}**: {v.description}" for k, v in plan.methods.items()) + ".",
        "",
    ]
    if plan.skipped:
        md += ["Skipped: " + "; ".join(plan.skipped), ""]
    md += ["## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in plots] + [""]
    md += ["## Overlays", ""] + [f"![{p.stem}](overlays/{p.name})" for p in overlays] + [""]
    md += ["## Details", "", detail_tables(plan, rows), "## Timings", ""]
    md += [f"- {k}: {v:.0f} s" for k, v in result.timings.items()]
    md += ["", "## Provenance", "", "```json", json.dumps(prov["versions"], indent=1), "```", ""]
    path = out / "report.md"
    atomic_write(path, lambda tmp: tmp.write_text("\n".join(md)))
    return path


def rich_summary(plan, rows, title: str = "genseg benchmark · mIoU"):
    """The summary turned on its side for a terminal: one row per (protocol, domain), a column per method."""
    from rich.table import Table

    columns, table = summary(plan, rows)
    t = Table(title=title)
    t.add_column("protocol · domain")
    for method in table:
        t.add_column(method, justify="right")
    for c in columns:
        t.add_row(c, *("–" if cells[c] is None else f"{cells[c]:.3f}" for cells in table.values()))
    return t
