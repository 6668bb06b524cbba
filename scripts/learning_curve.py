"""Learning curves: the benchmark run at several training budgets, genseg beside its peers.

Each budget is one ordinary ``genseg benchmark`` run (same protocol, methods, data, split and
scoring) with only the number of training steps changed, so every number in the table is
one a user can reproduce with ``genseg benchmark --protocol ... --steps N``. The table gives
mIoU with its bootstrap interval, the absent-class false-positive area (semantic prompting)
and the CPU seconds each model took to train, per dataset.

Example:
    python scripts/learning_curve.py --protocol real-data --steps 200,400,800 \
        --output runs/learning-curve
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from genseg.evaluation.benchmark import plan_benchmark, run_benchmark


def _fmt(value, spec: str = ".3f") -> str:
    return "–" if value is None else format(value, spec)


def curve_rows(
    protocol: str, steps: list[int], output: Path, budget: str, methods: list[str] | None, reuse: bool = False
):
    """Run the benchmark once per budget; return one row per (steps, dataset, method)."""
    rows = []
    for n in steps:
        t0 = time.perf_counter()
        folder = output / f"steps-{n}"
        if reuse and (folder / "results.json").is_file():  # a budget already run: read, do not retrain
            found = json.loads((folder / "results.json").read_text())["rows"]
            print(f"steps {n}: read {folder / 'results.json'}", flush=True)
        else:
            plan = plan_benchmark([protocol], folder, budget, methods, budget_overrides={"steps": n})
            found = run_benchmark(plan, progress=False).rows
            print(f"steps {n}: {time.perf_counter() - t0:.0f} s wall", flush=True)
        for r in found:
            if r["level"] != "dataset":  # one row per dataset (the report also has domain and "all")
                continue
            ci = r["ci"].get("mIoU") if r["ci"] else None
            rows.append(
                {
                    "steps": n,
                    "dataset": r["key"],
                    "method": r["method"],
                    "mIoU": r["mIoU"],
                    "mIoU_ci": ci,
                    "absent_fp_area": r["absent_fp_area"],
                    "train_cpu_s": r.get("train_cpu_s"),
                    "prompting": r["prompting"],
                    "per_class": r.get("per_class") or {},
                }
            )
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| dataset | steps | method | mIoU [95 % CI] | absent FP area | train CPU s |",
        "|---|---:|---|---|---:|---:|",
    ]
    for r in sorted(rows, key=lambda r: (r["dataset"], r["steps"], r["method"])):
        ci = r["mIoU_ci"]
        interval = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        lines.append(
            f"| {r['dataset']} | {r['steps']} | {r['method']} | {_fmt(r['mIoU'])}{interval} | "
            f"{_fmt(r['absent_fp_area'])} | {_fmt(r['train_cpu_s'], '.0f')} |"
        )
    return "\n".join(lines)


def class_shares(dataset: str, resolution: int = 128) -> dict[str, float]:
    """Each class's share of the test pixels (at the model's resolution, as scored)."""
    from genseg.data.folder_dataset import PromptedSegmentationDataset
    from genseg.datasets import resolve_dataset

    data = PromptedSegmentationDataset([resolve_dataset(dataset)], split="test", resolution=resolution)
    units = {(e.image, getattr(e, "slice", -1)) for e, _, _ in data.items}
    area: dict[str, float] = {}
    for i in range(len(data.items)):
        item = data[i]
        area[item["class_name"]] = area.get(item["class_name"], 0.0) + float(item["mask"].sum())
    total = len(units) * resolution * resolution
    return {name: a / total for name, a in area.items()}


def collapsed_table(rows: list[dict], min_share: float = 0.01) -> str:
    """Classes covering at least ``min_share`` of a dataset's test pixels: IoU per (steps, method),
    an IoU under 0.01 marked as collapsed."""
    lines = ["| dataset | class | test pixels | steps | " + " | ".join(_methods(rows)) + " |"]
    lines.append("|---|---|---:|---:|" + "---:|" * len(_methods(rows)))
    for dataset in sorted({r["dataset"] for r in rows}):
        shares = class_shares(dataset)
        for name, share in sorted(shares.items(), key=lambda kv: -kv[1]):
            if share < min_share:
                continue
            for n in sorted({r["steps"] for r in rows}):
                cells = []
                for m in _methods(rows):
                    found = [r for r in rows if (r["dataset"], r["steps"], r["method"]) == (dataset, n, m)]
                    iou = found[0]["per_class"].get(name) if found else None
                    mark = "" if iou is None or iou >= 0.01 else " (collapsed)"
                    cells.append("–" if iou is None else f"{iou:.3f}{mark}")
                lines.append(f"| {dataset} | {name} | {share:.1%} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _methods(rows: list[dict]) -> list[str]:
    return sorted({r["method"] for r in rows})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--protocol", default="real-data", help="built-in protocol name or YAML file")
    parser.add_argument("--steps", default="200,400,800", help="comma-separated training budgets")
    parser.add_argument("--budget", default="quick", help="budget the other settings come from")
    parser.add_argument("--methods", default=None, help="comma-separated methods (default: the protocol's)")
    parser.add_argument("--output", type=Path, default=Path("runs/learning-curve"))
    parser.add_argument(
        "--reuse", action="store_true", help="read budgets whose results.json exists instead of rerunning"
    )
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",") if s.strip()]
    methods = args.methods.split(",") if args.methods else None
    rows = curve_rows(args.protocol, steps, args.output, args.budget, methods, args.reuse)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "learning_curve.json").write_text(json.dumps(rows, indent=1))
    table = markdown(rows) + "\n\n" + collapsed_table(rows)
    (args.output / "learning_curve.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
