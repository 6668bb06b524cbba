"""scripts/learning_curve.py: a curve split into one process per (budget, dataset) gives the
rows of each, the largest budget first; --datasets keeps some of a protocol's datasets."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from genseg.plugins.testing import make_fake_dataset

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "learning_curve.py"
TINY = ["steps=2", "batch_size=2", "resolution=32", "test_limit=2", "bootstrap=20", "overlays=0"]


def _script():
    spec = importlib.util.spec_from_file_location("learning_curve", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up while being built
    spec.loader.exec_module(module)
    return module


def _protocol(tmp_path: Path) -> tuple[Path, str, str]:
    a = str(make_fake_dataset(tmp_path / "fake-a", n=3, classes=("thing", "stuff")))
    b = str(make_fake_dataset(tmp_path / "fake-b", n=3, classes=("blob", "stuff")))
    path = tmp_path / "both.yaml"
    spec = {"name": "both", "kind": "in-domain", "methods": ["genseg", "discriminative"],
            "train": {"datasets": [a, b], "per_dataset": True}, "test": {"datasets": [a, b]}}  # fmt: skip
    path.write_text(yaml.safe_dump(spec))
    return path, a, b


def test_units_are_one_per_budget_and_dataset_largest_first(tmp_path):
    from genseg.errors import ConfigError
    from genseg.evaluation.protocol import load_protocol

    curve = _script()
    protocol, a, b = _protocol(tmp_path)
    units = curve.plan_units(str(protocol), [2, 4], tmp_path / "out", "quick", ["genseg"])
    assert [(u.steps, u.datasets) for u in units] == [(4, (a,)), (4, (b,)), (2, (a,)), (2, (b,))]
    part, _ = load_protocol(units[0].protocol_file)  # each part is a protocol the benchmark reads
    assert part.train.datasets == [a] and part.test.datasets == [a] and not part.train.per_dataset
    assert part.methods == ["genseg"]
    assert len({u.folder for u in units}) == 4

    kept = curve.plan_units(str(protocol), [2], tmp_path / "kept", "quick", None, datasets=[b])
    assert [u.datasets for u in kept] == [(b,)]
    with pytest.raises(ConfigError, match="does not test"):
        curve.plan_units(str(protocol), [2], tmp_path / "bad", "quick", None, datasets=["nowhere"])


@pytest.mark.slow
def test_a_split_curve_runs_each_unit_in_its_own_process(tmp_path):
    protocol, a, b = _protocol(tmp_path)
    out = tmp_path / "curve"
    command = [sys.executable, str(SCRIPT), "--protocol", str(protocol), "--steps", "1,2", "--jobs", "2"]
    command += ["--methods", "genseg", "--output", str(out), *(f"--set={kv}" for kv in TINY)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = json.loads((out / "learning_curve.json").read_text())
    assert sorted((r["steps"], r["dataset"], r["method"]) for r in rows) == sorted(
        (n, d, "genseg") for n in (1, 2) for d in ("fake-a", "fake-b")
    )
    for r in rows:
        assert 0.0 <= r["mIoU"] <= 1.0 and r["train_cpu_s"] > 0
        assert r["dataset_folder"] == {"fake-a": a, "fake-b": b}[r["dataset"]]
    assert "| genseg |" in (out / "learning_curve.md").read_text()
    logs = sorted(out.glob("units/*/log.txt"))
    assert len(logs) == 4

    bad = subprocess.run([*command[: -len(TINY)], "--set", "steps"], capture_output=True, text=True)
    assert bad.returncode != 0 and "KEY=VALUE" in bad.stderr


def test_the_curve_table_flags_an_interval_from_few_scans_as_the_report_does():
    row = {"dataset": "ct", "steps": 800, "method": "genseg", "mIoU": 0.307, "mIoU_ci": [0.157, 0.307],
           "absent_fp_area": 0.005, "train_cpu_s": 1520.0, "ci_units": 2, "ci_unit": "volume"}  # fmt: skip
    table = _script().markdown([row, {**row, "dataset": "tiles", "ci_units": 24, "ci_unit": "image"}])
    assert "| ct | 800 | genseg | 0.307 [0.157, 0.307] (2 scans: too few for a 95 % interval) |" in table
    assert "| tiles | 800 | genseg | 0.307 [0.157, 0.307] |" in table
