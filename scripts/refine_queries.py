"""Measure query refinement on hand-written free-form requests (scripts/data/refine_requests.json).

Each request goes through ``genseg_refine_query`` exactly as ``genseg refine`` sends it (the
installed plugins answer; today the built-in MiniLM grounding). A row is right when the chosen
term is the intended one and scores at least the threshold, or, for a request meant to be
refused (intended ``null``), when the best score stays below it.

    python scripts/refine_queries.py                      # test split: table + accuracy per domain
    python scripts/refine_queries.py --markdown           # the same as a Markdown table
    python scripts/refine_queries.py --calibrate          # choose the threshold on the dev split
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = Path(__file__).resolve().parent / "data" / "refine_requests.json"


@dataclass(frozen=True)
class Row:
    domain: str
    request: str
    expected: str | None
    chosen: str
    score: float
    threshold: float

    @property
    def accepted(self) -> bool:
        return self.score >= self.threshold

    @property
    def right(self) -> bool:
        if self.expected is None:
            return not self.accepted
        return self.accepted and self.chosen == self.expected


def best_term(request: str, domain: str) -> tuple[str, float]:
    """The top term and its score, threshold aside (the hook with threshold -1 never refuses)."""
    from genseg.refine import refine

    _, result = refine(request, domain, top_k=1, threshold=-1.0)
    return result.phrases[0], result.scores[0]


def evaluate(split: dict[str, list], threshold: float) -> list[Row]:
    rows = []
    for domain, pairs in split.items():
        for request, expected in pairs:
            chosen, score = best_term(request, domain)
            rows.append(Row(domain, request, expected, chosen, score, threshold))
    return rows


def calibrate(rows: list[Row]) -> tuple[float, float]:
    """The threshold (0.00-1.00, step 0.01) that decides most dev rows rightly; among equally
    good thresholds, the middle of the widest run, so the choice does not sit on an edge."""
    grid = [i / 100 for i in range(101)]
    acc = [sum(Row(**{**r.__dict__, "threshold": t}).right for r in rows) / len(rows) for t in grid]
    top = max(acc)
    runs, start = [], None
    for i, a in enumerate([*acc, -1.0]):
        if a == top and start is None:
            start = i
        elif a != top and start is not None:
            runs.append((start, i - 1))
            start = None
    lo, hi = max(runs, key=lambda r: r[1] - r[0])
    return round((grid[lo] + grid[hi]) / 2, 2), top


def summary(rows: list[Row]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for domain in dict.fromkeys(r.domain for r in rows):
        mine = [r for r in rows if r.domain == domain]
        out[domain] = {
            "n": len(mine),
            "right": sum(r.right for r in mine),
            "accuracy": round(sum(r.right for r in mine) / len(mine), 3),
            "refused": sum(not r.accepted for r in mine),
            "answered_wrongly": sum(r.accepted and r.chosen != r.expected for r in mine),
            "answerable": sum(r.expected is not None for r in mine),
            "top1": sum(r.chosen == r.expected for r in mine),
        }
    return out


def print_rich(rows: list[Row], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("domain", "request", "intended", "chosen", "score", "right", title=title)
    for r in rows:
        chosen = r.chosen if r.accepted else f"refused (best: {r.chosen})"
        table.add_row(
            r.domain,
            r.request,
            r.expected or "(refuse)",
            chosen,
            f"{r.score:.3f}",
            "yes" if r.right else "NO",
        )
    Console(width=160).print(table)


def print_markdown(rows: list[Row]) -> None:
    print("| domain | request | intended | chosen | score | right |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        chosen = r.chosen if r.accepted else f"refused (best: {r.chosen})"
        print(
            f"| {r.domain} | {r.request} | {r.expected or '(refuse)'} | {chosen} | {r.score:.3f} | "
            f"{'yes' if r.right else '**no**'} |"
        )


def main() -> None:
    from genseg.refine import DEFAULT_THRESHOLD

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--split", default="test", choices=["dev", "test", "unanswerable"])
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--calibrate", action="store_true", help="choose the threshold on the dev split")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--json", action="store_true", help="print rows and summary as JSON")
    args = parser.parse_args()

    data = json.loads(DATA.read_text(encoding="utf-8"))
    split = "dev" if args.calibrate else args.split
    start = time.perf_counter()
    rows = evaluate(data[split], args.threshold)
    seconds = time.perf_counter() - start
    if args.calibrate:
        threshold, accuracy = calibrate(rows)
        print(
            f"dev split: {len(rows)} requests; best threshold {threshold:.2f} decides {accuracy:.1%} rightly"
        )
        rows = [Row(**{**r.__dict__, "threshold": threshold}) for r in rows]
    if args.json:
        print(json.dumps({"rows": [r.__dict__ | {"right": r.right} for r in rows], "summary": summary(rows)}))
        return
    if args.markdown:
        print_markdown(rows)
    else:
        print_rich(rows, f"query refinement, {split} split, threshold {rows[0].threshold:.2f}")
    total = sum(r.right for r in rows)
    for domain, s in summary(rows).items():
        top1 = (
            f"; best term intended, threshold aside: {s['top1']}/{s['answerable']}" if s["answerable"] else ""
        )
        print(
            f"{domain:<16} {s['right']:>3}/{s['n']:<3} right ({s['accuracy']:.1%}), {s['refused']} refused, "
            f"{s['answered_wrongly']} answered wrongly{top1}"
        )
    print(f"{'all':<16} {total:>3}/{len(rows):<3} right ({total / len(rows):.1%}); {seconds:.1f} s")


if __name__ == "__main__":
    main()
