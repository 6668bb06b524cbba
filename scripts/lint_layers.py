"""Check genseg's import layers with import-linter (the contracts are in pyproject.toml).

genseg is installed from three folders (``core/`` is ``genseg``, ``plugins/`` is
``genseg.plugins``, ``evaluation/`` is ``genseg.evaluation``), while import-linter reads a
package from one folder. This script copies the three into a temporary folder in the shape the
wheel has, puts it first on the path and runs ``lint-imports`` there, so the contract checks
the package a user installs. The domain packages (and the plugin template) are read where they
are; a second contract lets them import genseg only through ``genseg.plugins.api``.

Example:
    python scripts/lint_layers.py            # exit 0 when every contract holds
    python scripts/lint_layers.py --graph    # also print the part-to-part import edges
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# package folder in the wheel -> folder in the repository
LAYOUT = {"genseg": "core", "genseg/plugins": "plugins", "genseg/evaluation": "evaluation"}
DOMAINS = ["domains/medical", "domains/remote_sensing", "domains/agriculture", "plugins/template"]


def assemble(into: Path) -> Path:
    """Copy the package's Python files into ``into`` in the installed layout; return it."""
    for target, source in LAYOUT.items():
        shutil.copytree(
            ROOT / source, into / target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    return into


FACADES = {"genseg", "genseg.data", "genseg.plugins"}  # package __init__s that only re-export


def unlisted_modules(env: dict[str, str]) -> list[str]:
    """Modules of genseg in no layer of the contract (a new module must be given one)."""
    code = (
        "import grimp, json, re, sys, tomllib\n"
        "cfg = tomllib.load(open(sys.argv[1], 'rb'))['tool']['importlinter']['contracts'][0]\n"
        "names = [n.strip() for layer in cfg['layers'] for n in re.split(r'[|:]', layer)]\n"
        "graph = grimp.build_graph('genseg')\n"
        "print(json.dumps(sorted(m for m in graph.modules\n"
        "    if not any(m == n or m.startswith(n + '.') for n in names))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "pyproject.toml")], env=env, capture_output=True, text=True
    )
    if out.returncode:
        raise SystemExit(out.stderr)
    return [m for m in json.loads(out.stdout) if m not in FACADES]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graph", action="store_true", help="print the import edges between parts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="genseg-layers-") as tmp:
        tree = assemble(Path(tmp))
        path = [str(tree), *(str(ROOT / d) for d in DOMAINS), os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
        if args.graph:
            subprocess.run([sys.executable, str(ROOT / "scripts" / "import_graph.py")], env=env, check=False)
        missing = unlisted_modules(env)
        if missing:
            print(f"modules in no layer of pyproject.toml's contract: {', '.join(missing)}")
            print("fix: add each to the layer it belongs to (docs/architecture.md describes them)")
            return 1
        lint = Path(sys.executable).with_name("lint-imports")
        cmd = [str(lint), str(ROOT / "pyproject.toml"), "--no-cache"]
        return subprocess.run(cmd, env=env, cwd=tmp).returncode


if __name__ == "__main__":
    raise SystemExit(main())
