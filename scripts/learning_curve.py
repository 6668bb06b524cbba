r"""Learning curves: the benchmark run at several training budgets, genseg beside its peers.

Each budget is one ordinary ``genseg benchmark`` run (same protocol, methods, data, split and
scoring) with only the number of training steps changed, so every number in the table is
one a user can reproduce with ``genseg benchmark --protocol ... --steps N``. The table gives
mIoU with its bootstrap interval, the absent-class false-positive area (semantic prompting)
and the CPU seconds each model took to train, per dataset.

With ``--jobs N`` every (budget, dataset) pair is a process of its own, N at a time with one
thread each, the largest budget first; ``--datasets`` keeps some of the protocol's datasets.
Each pair's folder under ``OUTPUT/units`` holds its benchmark run and log, and ``--reuse``
reads the pairs already finished.

Example:
    python scripts/learning_curve.py --protocol real-data --steps 200,400,800 \
        --output runs/learning-curve
    python scripts/learning_curve.py --protocol generated-data --steps 200,400,800,1600 \
        --jobs 2 --datasets shapes,mni152 --output runs/curve-generated
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from genseg.data.atomic import atomic_write
from genseg.errors import ConfigError, GenSegError
from genseg.evaluation.benchmark import plan_benchmark, run_benchmark
from genseg.evaluation.benchmark_report import interval_text
from genseg.evaluation.protocol import load_protocol


def _fmt(value, spec: str = ".3f") -> str:
    return "–" if value is None else format(value, spec)


def curve_rows(
    protocol: str,
    steps: list[int],
    output: Path,
    budget: str,
    methods: list[str] | None,
    reuse: bool = False,
    overrides: dict | None = None,
):
    """Run the benchmark once per budget; return one row per (steps, dataset, method)."""
    rows = []
    for n in steps:
        t0 = time.perf_counter()
        folder = output / f"steps-{n}"
        settings = {**(overrides or {}), "steps": n}
        plan = plan_benchmark([protocol], folder, budget, methods, budget_overrides=settings)
        folders = {plan.specs[k].name: str(v) for k, v in plan.datasets.items()}  # for class shares
        if reuse and (folder / "results.json").is_file():  # a budget already run: read, do not retrain
            found = json.loads((folder / "results.json").read_text())["rows"]
            print(f"steps {n}: read {folder / 'results.json'}", flush=True)
        else:
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
                    "dataset_folder": folders.get(r["key"]),
                    "method": r["method"],
                    "mIoU": r["mIoU"],
                    "mIoU_ci": ci,
                    "ci_units": r.get("ci_units") or 0,
                    "ci_unit": r.get("ci_unit"),
                    "absent_fp_area": r["absent_fp_area"],
                    "train_cpu_s": r.get("train_cpu_s"),
                    "prompting": r["prompting"],
                    "per_class": r.get("per_class") or {},
                }
            )
    return rows


@dataclass(frozen=True)
class Unit:
    """One (budget, protocol part) of a split curve: a process of its own."""

    steps: int
    protocol: str  # the part's name, e.g. real-data-ct-organs
    datasets: tuple[str, ...]
    protocol_file: Path
    folder: Path


def plan_units(
    protocol: str,
    steps: list[int],
    output: Path,
    budget: str,
    methods: list[str] | None,
    datasets: list[str] | None = None,
    overrides: dict | None = None,
) -> list[Unit]:
    """Split the curve into processes: the benchmark's own plan (which checks the protocol and
    prepares the data once, here) gives one protocol per dataset for a per-dataset protocol, or
    the protocol whole; each part is written as a protocol file and paired with every budget,
    the largest first so that the longest runs do not end the curve alone."""
    folder = output / "units"
    folder.mkdir(parents=True, exist_ok=True)
    whole, _ = load_protocol(protocol)
    if datasets:
        whole = _keep_datasets(whole, datasets, protocol)
    plan = plan_benchmark(
        [_write_protocol(whole, folder)], output / "plan", budget, methods, budget_overrides=overrides
    )
    units = []
    for part, _ in plan.protocols:
        # a dataset given as a folder puts its path in the part's name: keep a valid name
        name = re.sub(r"[^a-z0-9-]+", "-", f"{whole.name}-{Path(part.test.datasets[0]).name}".lower())
        part = part.model_copy(update={"name": name.strip("-")}) if part.name != whole.name else part
        path = _write_protocol(part, folder)
        for n in steps:
            unit_folder = folder / f"{part.name}-steps-{n}"
            units.append(Unit(n, part.name, tuple(part.test.datasets), path, unit_folder))
    return sorted(units, key=lambda u: -u.steps)


def _keep_datasets(protocol, datasets: list[str], ref: str):
    """``protocol`` tested on ``datasets`` only (and, one model per dataset, trained on them)."""
    unknown = sorted(set(datasets) - set(protocol.test.datasets))
    if unknown:
        raise ConfigError(
            f"--datasets names {unknown}, which protocol {ref!r} does not test",
            fix=f"use some of {', '.join(protocol.test.datasets)}",
        )
    test = protocol.test.model_copy(update={"datasets": [d for d in protocol.test.datasets if d in datasets]})
    train = protocol.train
    if train.per_dataset:
        train = train.model_copy(update={"datasets": [d for d in train.datasets if d in datasets]})
    return protocol.model_copy(update={"train": train, "test": test})


def _write_protocol(protocol, folder: Path) -> Path:
    """The protocol as a YAML file the benchmark reads back (written whole, then renamed)."""
    import yaml

    path = folder / f"{protocol.name}.yaml"
    text = yaml.safe_dump(protocol.model_dump(mode="json"), sort_keys=False)
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path


def run_units(
    units: list[Unit], jobs: int, budget: str, methods: list[str] | None, reuse: bool, sets: list[str]
) -> list[dict]:
    """Run each unit as ``learning_curve.py`` on its part and budget, ``jobs`` at a time with one
    thread each; return every unit's rows. A failed unit is named with its log after the
    others have finished, and the script then exits non-zero."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    pending, running, failed = list(units), [], []
    while pending or running:
        while pending and len(running) < jobs:
            u = pending.pop(0)
            u.folder.mkdir(parents=True, exist_ok=True)
            shared = u.folder.parent.parent / "plan" / "data"  # prepared once by plan_units
            if not (u.folder / "data").exists():
                (u.folder / "data").symlink_to(shared.resolve(), target_is_directory=True)
            command = [sys.executable, __file__, "--protocol", str(u.protocol_file), "--steps", str(u.steps)]
            command += ["--budget", budget, "--output", str(u.folder), *(f"--set={kv}" for kv in sets)]
            command += (["--methods", ",".join(methods)] if methods else []) + (["--reuse"] if reuse else [])
            log = open(u.folder / "log.txt", "w", encoding="utf-8")  # noqa: SIM115 (closed when it ends)
            running.append((u, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env), log))
            print(f"{u.protocol} at {u.steps} steps: started (log {u.folder / 'log.txt'})", flush=True)
        time.sleep(2)
        for item in [r for r in running if r[1].poll() is not None]:
            u, proc, log = item
            log.close()
            running.remove(item)
            if proc.returncode:
                failed.append(u)
            print(f"{u.protocol} at {u.steps} steps: exit {proc.returncode}", flush=True)
    if failed:
        names = ", ".join(f"{u.protocol} at {u.steps} steps ({u.folder / 'log.txt'})" for u in failed)
        sys.exit(f"learning_curve.py: these runs failed: {names}")
    return [row for u in units for row in json.loads((u.folder / "learning_curve.json").read_text())]


def markdown(rows: list[dict]) -> str:
    lines = [
        "| dataset | steps | method | mIoU [95 % CI] | absent FP area | train CPU s |",
        "|---|---:|---|---|---:|---:|",
    ]
    for r in sorted(rows, key=lambda r: (r["dataset"], r["steps"], r["method"])):
        interval = interval_text(r["mIoU_ci"], r.get("ci_units") or 0, r.get("ci_unit"))
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
        folder = next((r.get("dataset_folder") for r in rows if r["dataset"] == dataset), None)
        shares = class_shares(folder or dataset)
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


def _overrides(pairs: list[str]) -> dict:
    """``--set key=value`` pairs as budget overrides (values read as YAML: 2, 0.5, true)."""
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            sys.exit(f"learning_curve.py: --set {pair!r} is not KEY=VALUE (e.g. --set seed=1)")
        out[key.strip()] = yaml.safe_load(value)
    return out


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
    parser.add_argument(
        "--jobs", type=int, default=1, help="processes at once, one per (budget, dataset), one thread each"
    )
    parser.add_argument("--datasets", default=None, help="comma-separated: some of the protocol's datasets")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="change a budget setting (seed=1)"
    )
    parser.add_argument("--dry-run", action="store_true", help="list the runs and stop")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",") if s.strip()]
    methods = args.methods.split(",") if args.methods else None
    datasets = args.datasets.split(",") if args.datasets else None
    overrides = _overrides(args.set)
    try:
        rows = _run(args, steps, methods, datasets, overrides)
    except GenSegError as exc:  # a bad protocol, dataset or setting: one line, exit 3 as the CLI does
        print(f"learning_curve.py: {exc.one_line()}", file=sys.stderr)
        sys.exit(3)
    if rows is None:
        return
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "learning_curve.json").write_text(json.dumps(rows, indent=1))
    table = markdown(rows) + "\n\n" + collapsed_table(rows)
    (args.output / "learning_curve.md").write_text(table + "\n")
    print(table)


def _run(args, steps: list[int], methods, datasets, overrides) -> list[dict] | None:
    """The rows of the curve: in this process, or one process per (budget, dataset)."""
    if args.jobs > 1 or datasets:
        units = plan_units(args.protocol, steps, args.output, args.budget, methods, datasets, overrides)
        for u in units:
            print(f"{u.protocol} ({', '.join(u.datasets)}) at {u.steps} steps -> {u.folder}")
        if args.dry_run:
            return None
        return run_units(units, max(1, args.jobs), args.budget, methods, args.reuse, args.set)
    return curve_rows(args.protocol, steps, args.output, args.budget, methods, args.reuse, overrides)


if __name__ == "__main__":
    main()
