"""Start-up cost of the plugin commands: wall time of each command in a fresh process.

Prints median and maximum over N runs; every plugin installed in this environment is
discovered and imported, as a user would see it.

Example: .venv/bin/python scripts/benchmark_plugins.py --runs 10
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

COMMANDS = (
    ("plugins", "list"),
    ("plugins", "list", "--json", "-"),
    ("plugins", "validate", "generic"),
    ("datasets", "list"),
    ("vocab", "show", "generic"),
    ("--help",),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    exe = shutil.which("genseg", path=os.path.dirname(sys.executable)) or "genseg"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1", "COLUMNS": "120"}
    print(f"{'command':<34} {'median s':>9} {'max s':>7}   ({args.runs} runs, {os.cpu_count()} CPUs)")
    for cmd in COMMANDS:
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            result = subprocess.run([exe, *cmd], capture_output=True, text=True, env=env)
            times.append(time.perf_counter() - t0)
            if result.returncode != 0:
                sys.exit(f"genseg {' '.join(cmd)} failed: {result.stderr.strip()}")
        print(f"genseg {' '.join(cmd):<27} {statistics.median(times):>9.3f} {max(times):>7.3f}")


if __name__ == "__main__":
    main()
