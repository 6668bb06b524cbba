"""Child-process entry for one raster case: ``python -m genseg.bench.isolate CASE CONFIG_JSON``.

A fresh process starts with no memory high-water mark, so its ``ru_maxrss`` at the end is
the case's own peak. Prints the case's row as one JSON line.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> None:
    from genseg.bench.config import BenchConfig
    from genseg.bench.suite_raster import CASES, run_case

    case, config = argv
    if case not in CASES:
        raise SystemExit(f"unknown case {case!r}; one of {CASES}")
    cfg = BenchConfig.model_validate_json(config)
    print(json.dumps(run_case(cfg, case)))


if __name__ == "__main__":
    main(sys.argv[1:])
