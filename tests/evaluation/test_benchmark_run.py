"""`genseg benchmark` end to end on tiny generated datasets and a tiny budget."""

from __future__ import annotations

import csv
import json
import sys

import pytest
import yaml

from genseg.plugins.testing import make_fake_dataset

BUDGET = {
    "steps": 2,
    "batch_size": 2,
    "lora_steps": 1,
    "resolution": 32,
    "test_limit": 2,
    "bootstrap": 50,
    "overlays": 1,
}


def _protocols(tmp_path):
    a = str(make_fake_dataset(tmp_path / "fake-a", n=3, classes=("thing", "stuff")))
    b = str(make_fake_dataset(tmp_path / "fake-b", n=3, classes=("blob", "stuff")))
    common = {"methods": ["genseg", "discriminative"]}
    specs = {
        "in": {"kind": "in-domain", "train": {"datasets": [a], "exclude_classes": ["stuff"]},
               "test": {"datasets": [a]}},
        "ov": {"kind": "open-vocabulary", "train": {"datasets": [a], "exclude_classes": ["stuff"]},
               "test": {"datasets": [a]}, "unseen": ["stuff"], "paraphrases": {"thing": ["object"]}},
        "cd": {"kind": "cross-domain", "train": {"datasets": [a]}, "test": {"datasets": [b]}},
        "fs": {"kind": "few-shot", "train": {"datasets": [a]}, "test": {"datasets": [b]}, "shots": [1]},
    }  # fmt: skip
    paths = []
    for name, spec in specs.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"name": name, **common, **spec}))
        paths.append(path)
    return paths


@pytest.mark.slow
def test_benchmark_trains_predicts_scores_and_reports(tmp_path):
    from genseg.evaluation.benchmark import plan_benchmark, run_benchmark

    out = tmp_path / "bench"
    plan = plan_benchmark(_protocols(tmp_path), out, budget="quick", budget_overrides=BUDGET)
    result = run_benchmark(plan, progress=False)

    # two trainings per method (fake-a with and without "stuff"), shared between protocols
    assert len(list((out / "models").iterdir())) == 4
    assert sum(k.startswith("train ") for k in result.timings) == 4
    assert len(list((out / "adapters").iterdir())) == 2

    report = (out / "report.md").read_text()
    assert "| method |" in report and "| genseg |" in report and "| discriminative |" in report
    assert "open-vocab · hIoU" in report and "few-shot K=1" in report
    assert "| *prompting* | semantic |" in report  # every column says how it was prompted
    data = json.loads((out / "results.json").read_text())
    assert data["provenance"]["budget"]["steps"] == 2
    # each row says how many images its interval resampled; a handful is flagged in the report
    assert all(r["ci_units"] >= 1 and r["ci_unit"] == "image" for r in data["rows"])
    few = [r for r in data["rows"] if r["ci"] and r["ci_units"] < 10]
    assert few and "images: too few for a 95 % interval" in report
    assert set(data["provenance"]["versions"]) >= {"torch", "diffusers", "genseg"}
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert {r["protocol"] for r in rows} == {"in", "ov", "cd", "fs"}
    tags = {r["tag"] for r in rows if r["protocol"] == "ov"}
    assert tags == {"seen", "unseen", "paraphrase"}
    for r in rows:
        assert 0.0 <= float(r["mIoU"]) <= 1.0
        assert r["prompting"] == "semantic"
    pngs = sorted(p.name for p in (out / "plots").glob("*.png")) + sorted(
        p.name for p in (out / "overlays").glob("*.png")
    )
    assert {"fs.png", "ov.png", "in_per_class.png"} <= set(pngs) and "cd.png" in pngs
    for p in [*(out / "plots").glob("*.png"), *(out / "overlays").glob("*.png")]:
        assert p.stat().st_size > 2000

    # a second run reuses every model, adapter and prediction and gives the same numbers
    again = run_benchmark(plan_benchmark(_protocols(tmp_path), out, budget="quick", budget_overrides=BUDGET),
                          progress=False)  # fmt: skip
    assert not any(k.startswith(("train ", "lora ")) for k in again.timings)
    assert [r["mIoU"] for r in again.rows] == [r["mIoU"] for r in result.rows]


def test_benchmark_help_has_an_example(monkeypatch, capsys):
    from genseg.cli.app import main

    monkeypatch.setattr(sys, "argv", ["genseg", "benchmark", "--help"])
    with pytest.raises(SystemExit):
        main()
    assert "Example: genseg benchmark --quick" in capsys.readouterr().out


def test_the_report_names_the_commit_read_when_the_run_started(monkeypatch, tmp_path):
    import genseg.evaluation.benchmark_report as report
    import genseg.provenance as provenance
    from genseg.evaluation.benchmark import BenchmarkPlan
    from genseg.evaluation.protocol import Budget

    plan = BenchmarkPlan(tmp_path, "quick", Budget(steps=1), {}, [])
    plan.code = {"git_commit": "a" * 40, "git_dirty": False}  # recorded at the start
    monkeypatch.setattr(provenance, "_git", lambda *args: "b" * 40)  # HEAD moved on since
    assert report.provenance(plan)["git_commit"] == "a" * 40
    plan.code = {}
    assert report.provenance(plan)["git_commit"] == "b" * 40  # no record: read now


@pytest.mark.parametrize(
    ("units", "unit", "note"),
    [
        (2, "volume", " (2 scans: too few for a 95 % interval)"),
        (1, "image", " (1 image: too few for a 95 % interval)"),
        (4, "image+volume", " (4 units: too few for a 95 % interval)"),
        (48, "image", ""),
        (0, "image", ""),  # reports written before rows carried the count
    ],
)
def test_an_interval_from_few_units_says_so(units, unit, note):
    from genseg.evaluation.benchmark_report import _ci

    row = {"ci": {"mIoU": [0.157, 0.307]}, "ci_units": units, "ci_unit": unit}
    assert _ci(row) == " [0.157, 0.307]" + note
    assert _ci({"ci": {}}) == ""
