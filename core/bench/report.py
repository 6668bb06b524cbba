"""The rich table printed at the end of `genseg bench`: one row per timed case."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def _fmt(value: Any, spec: str = ".3g") -> str:
    return "—" if value is None else format(value, spec)


def _memory(row: dict[str, Any]) -> str:
    """CPU figures sampled in-process are lower bounds; say so with ≥."""
    value = row.get("peak_memory_mb")
    if value is None:
        return "—"
    return ("≥" if "lower bound" in row.get("memory_method", "") else "") + format(value, ".0f")


def rows(record: dict[str, Any]) -> Iterator[tuple[str, ...]]:
    """(suite, case, median s, throughput, peak memory MB, TFLOP/s, MFU) per case."""
    suites = record["suites"]
    if "train" in suites:
        t = suites["train"]
        groups = {
            "genseg": t["genseg"],
            **{f"{k}": v for k, v in t.get("real_size", {}).items() if isinstance(v, dict)},
        }
        for model, variants in groups.items():
            for name, r in variants.items():
                if "median_s" in r:
                    yield (
                        "train",
                        f"{model} {name}",
                        _fmt(r["median_s"]),
                        f"{r['samples_per_s']:.3g} samples/s",
                        _memory(r),
                        _fmt(r.get("achieved_tflops")),
                        _fmt(r.get("mfu"), ".1%"),
                    )
    if "infer" in suites:
        i = suites["infer"]
        for steps, r in i["genseg_steps"].items():
            yield (
                "infer",
                f"genseg {steps}-step",
                _fmt(r["median_s"]),
                f"{r['items_per_s']:.3g} pairs/s",
                _memory(r),
                _fmt(r.get("achieved_tflops")),
                _fmt(r.get("mfu"), ".1%"),
            )
        for name, r in {**i["peers"], **i["real_size"]}.items():
            if "median_s" in r:
                yield (
                    "infer",
                    name,
                    _fmt(r["median_s"]),
                    f"{r['items_per_s']:.3g} /s",
                    _memory(r),
                    _fmt(r.get("achieved_tflops")),
                    _fmt(r.get("mfu"), ".1%"),
                )
    if "raster" in suites:
        for name, r in suites["raster"]["cases"].items():
            yield (
                "raster",
                name,
                _fmt(r["median_s"]),
                f"{r['megapixels_per_s']:.3g} MP/s",
                _fmt(r["process_peak_rss_mb"], ".0f") + " RSS",
                "—",
                "—",
            )
    if "volume" in suites:
        for batch, r in suites["volume"]["batches"].items():
            yield (
                "volume",
                f"batch {batch}",
                _fmt(r["median_s"]),
                f"{r['slices_per_s']:.3g} slices/s",
                _memory(r),
                "—",
                "—",
            )


def headline(record: dict[str, Any]) -> list[str]:
    """The figures the performance issue asks about, in words."""
    out = []
    infer = record["suites"].get("infer", {})
    if "speedup_1_vs_50" in infer:
        out.append(f"one-step vs 50-step: {infer['speedup_1_vs_50']:.1f}× faster")
    if "miou" in infer:
        out.append("mIoU by steps: " + ", ".join(f"{k}: {v:.3f}" for k, v in infer["miou"].items()))
    raster = record["suites"].get("raster")
    if raster:
        out.append(
            f"tiler throughput genseg/MONAI: {raster['throughput_ratio_genseg_vs_monai']:.2f}×, "
            f"peak RSS genseg/MONAI: {raster['peak_rss_ratio_genseg_vs_monai']:.2f}×"
        )
    for name, r in infer.get("real_size", {}).items():
        out.append(
            f"{name}: {r['parameters'] / 1e9:.3f} B parameters, "
            f"{r['flops_per_forward'] / 1e12:.2f} TFLOP per forward"
        )
    return out


def print_report(record: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"genseg bench on {record['config']['device']}", show_lines=False)
    for col, just in (
        ("suite", "left"),
        ("case", "left"),
        ("median s", "right"),
        ("throughput", "right"),
        ("peak MB", "right"),
        ("TFLOP/s", "right"),
        ("MFU", "right"),
    ):
        table.add_column(col, justify=just)
    for r in rows(record):
        table.add_row(*r)
    console = Console()
    console.print(table)
    for line in headline(record):
        console.print(f"  {line}")
