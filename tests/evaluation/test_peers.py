"""Peers (MONAI BasicUNet, a per-pixel random forest) train a few steps on tiny generated
data, write predictions in genseg's layout that the shared scorer reads, and are declared
and checked like every other method."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import yaml

from genseg.errors import ConfigError
from genseg.plugins.testing import make_fake_dataset

TINY = {"steps": 2, "batch_size": 2, "resolution": 32, "test_limit": 2, "bootstrap": 20, "overlays": 1}


def _budget():
    from genseg.evaluation.protocol import load_budget

    return load_budget("quick").model_copy(update=TINY)


def _medical_pngs(root):
    folder = make_fake_dataset(root, n=2, classes=("liver", "kidney"))
    spec = json.loads((folder / "dataset.json").read_text())
    (folder / "dataset.json").write_text(json.dumps({**spec, "domain": "medical"}))
    return folder


def _nifti(array, path):
    nib.save(nib.Nifti1Image(np.ascontiguousarray(array.transpose(2, 1, 0)), np.eye(4)), str(path))
    return path.name


def _ct_volumes(root):
    """Two 4×16×16 'CT' slabs in HU with a bright 'liver' block on some slices."""
    root.mkdir(parents=True)
    entries = []
    for i in range(2):
        hu = np.full((4, 16, 16), -100, np.int16)
        label = np.zeros((4, 16, 16), np.uint8)
        label[1:3, 4:10, 4:10] = 1
        hu[label == 1] = 80
        entries.append(
            {"image": _nifti(hu, root / f"ct{i}.nii.gz"), "label": _nifti(label, root / f"l{i}.nii.gz")}
        )
    spec = {"name": "toy-ct", "domain": "medical", "classes": {"1": "liver", "2": "spleen"},
            "training": entries, "test": entries[:1]}  # fmt: skip
    (root / "dataset.json").write_text(json.dumps(spec))
    return root


def _rs_tiles(root):
    from genseg_remote_sensing.synthetic import make_rs_scenes

    return make_rs_scenes(root, n_train=2, n_val=0, n_test=1, size=32)


def _items(folder, prompting="semantic"):
    from genseg.data.schema import load_dataset_spec
    from genseg.evaluation.predictions import QueryItem, image_id
    from genseg.evaluation.runner import split_items

    spec = load_dataset_spec(folder)
    return [
        QueryItem(spec.name, spec.domain, e.image, e.label, image_id(folder, e.image), e.ignore,
                  [(c, v, c, "test") for c, v in e.classes], e.options, e.prompting, e.depth)
        for e in split_items(folder, "test", prompting)
    ]  # fmt: skip


@pytest.mark.parametrize(("method", "make"), [("basicunet", _medical_pngs), ("basicunet", _ct_volumes),
                                              ("random-forest", _rs_tiles)])  # fmt: skip
def test_a_peer_trains_and_writes_predictions_the_shared_scorer_reads(tmp_path, method, make):
    from genseg.data.schema import load_dataset_spec
    from genseg.evaluation.peers import train_or_load
    from genseg.evaluation.predictions import read_index, write_predictions
    from genseg.evaluation.protocol import load_methods
    from genseg.evaluation.scoring import score_predictions

    folder = make(tmp_path / "data")
    spec = load_methods()[method]
    specs = {"d": load_dataset_spec(folder)}
    if method == "random-forest":
        spec = spec.model_copy(update={"options": {**spec.options, "trees": 5, "samples": 500, "n_jobs": 1}})
    peer, record, trained = train_or_load(method, spec, {"d": folder}, specs, _budget(), [], tmp_path / "m")
    assert (
        trained
        and record["train_cpu_s"] > 0
        and record["classes"] == [c.name for c in specs["d"].classes.values()]
    )
    if method == "random-forest":
        assert len(record["bands"]) == 4  # every band of the tiles, not a 3-band composite
    items = _items(folder)
    write_predictions(items, tmp_path / "preds", peer.segment, meta={"method": method})
    index = read_index(tmp_path / "preds")
    assert index.complete and all((tmp_path / "preds" / r.file).is_file() for r in index.records)
    if make is _ct_volumes:
        assert {r.slice for r in index.records} == {0, 1, 2, 3}  # every slice, absent classes too
    scored = score_predictions(tmp_path / "preds", plugin_metrics=False)
    g = scored.get("all", "all", "test")
    assert g.prompting == "semantic" and 0.0 <= g.scores.miou <= 1.0
    assert set(g.scores.per_class) == {c.name for c in specs["d"].classes.values()}
    # a finished identical peer is reused, not retrained
    _, _, again = train_or_load(method, spec, {"d": folder}, specs, _budget(), [], tmp_path / "m")
    assert not again


def _protocol(tmp_path, methods, train, test, kind="in-domain", **extra):
    path = tmp_path / f"p{len(list(tmp_path.glob('p*.yaml')))}.yaml"
    data = {
        "name": "p",
        "kind": kind,
        "methods": methods,
        "train": {"datasets": train},
        "test": {"datasets": test},
    }
    path.write_text(yaml.safe_dump({**data, **extra}))
    return path


def test_methods_real_data_protocol_and_peer_fields_validate(tmp_path):
    from genseg.evaluation.protocol import builtin_protocols, default_protocols, load_methods, load_protocol

    methods = load_methods()
    assert methods["basicunet"].kind == "peer" and methods["basicunet"].domains == ["medical"]
    assert methods["random-forest"].domains == ["remote-sensing"] and methods["genseg"].kind == "genseg"
    protocol, _ = load_protocol("real-data")
    assert protocol.prompting == "semantic" and set(protocol.methods) <= set(methods)
    assert {"genseg", "discriminative", "basicunet", "random-forest"} == set(protocol.methods)
    assert "real-data" in builtin_protocols() and "real-data" not in default_protocols()
    with pytest.raises(ConfigError, match="prompting"):
        load_protocol(_protocol(tmp_path, ["genseg"], ["a"], ["a"], prompting="sideways"))
    bad = tmp_path / "methods.yaml"
    bad.write_text(yaml.safe_dump({"methods": {"x": {"kind": "peer", "peer": "no-such-peer"}}}))
    with pytest.raises(ConfigError, match="unknown peer 'no-such-peer'"):
        load_methods(bad)


def test_a_peer_outside_its_domains_is_refused_before_anything_trains(tmp_path):
    from genseg.evaluation.benchmark import plan_benchmark

    generic = str(make_fake_dataset(tmp_path / "generic", n=2))
    medical = str(_medical_pngs(tmp_path / "med"))
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"'random-forest' applies to domains \['remote-sensing'\]"):
        plan_benchmark([_protocol(tmp_path, ["random-forest"], [medical], [medical])], out)
    with pytest.raises(ConfigError, match="no training dataset of a domain it is tested on"):
        plan_benchmark([_protocol(tmp_path, ["basicunet"], [generic], [medical, generic])], out)
    with pytest.raises(ConfigError, match="in-domain protocols only"):
        plan_benchmark([_protocol(tmp_path, ["basicunet"], [generic], [medical], kind="cross-domain")], out)
    assert not (out / "models").exists()


def _per_dataset(path):
    data = yaml.safe_load(path.read_text())
    data["train"]["per_dataset"] = True
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_per_dataset_protocol_plans_one_protocol_per_dataset_with_the_methods_of_its_domain(tmp_path):
    from genseg.evaluation.benchmark import plan_benchmark

    med, rs = str(_ct_volumes(tmp_path / "ct")), str(_rs_tiles(tmp_path / "rs"))
    methods = ["genseg", "basicunet", "random-forest"]
    path = _per_dataset(_protocol(tmp_path, methods, [med, rs], [med, rs]))
    plan = plan_benchmark([path], tmp_path / "out")
    got = {p.name: (p.train.datasets, p.test.datasets, p.methods) for p, _ in plan.protocols}
    assert got == {
        f"p-{med}": ([med], [med], ["genseg", "basicunet"]),
        f"p-{rs}": ([rs], [rs], ["genseg", "random-forest"]),
    }
    with pytest.raises(ConfigError, match="tests on exactly the datasets it trains on"):
        plan_benchmark([_per_dataset(_protocol(tmp_path, methods, [med, rs], [med]))], tmp_path / "out")
    assert not (tmp_path / "out" / "models").exists()


def test_benchmark_with_peers_reports_per_domain_and_draws_the_grid(tmp_path):
    from genseg.evaluation.benchmark import plan_benchmark, run_benchmark

    med, rs = str(_ct_volumes(tmp_path / "ct")), str(_rs_tiles(tmp_path / "rs"))
    path = _protocol(tmp_path, ["basicunet", "random-forest"], [med, rs], [med, rs])
    methods = tmp_path / "methods.yaml"
    from genseg.evaluation.protocol import builtin_dir

    data = yaml.safe_load((builtin_dir() / "methods.yaml").read_text())
    data["methods"]["random-forest"]["options"].update(trees=5, samples=500, n_jobs=1)
    methods.write_text(yaml.safe_dump(data))
    out = tmp_path / "bench"
    plan = plan_benchmark([path], out, budget_overrides=TINY, methods_file=methods)
    result = run_benchmark(plan, progress=False)
    report = (out / "report.md").read_text()
    assert "### p · medical (semantic prompting)" in report and "### p · remote-sensing" in report
    assert "absent-class FP area" in report and "train CPU s" in report and "| *prompting* |" in report
    rows = {(r["method"], r["key"]) for r in result.rows if r["level"] == "domain"}
    assert rows == {("basicunet", "medical"), ("random-forest", "remote-sensing")}  # each in its domain only
    for r in result.rows:
        assert r["prompting"] == "semantic" and r["train_cpu_s"] > 0 and r["predict_s"] >= 0
    header = (out / "results.csv").read_text().splitlines()[0]
    assert "prompting" in header and "absent_fp_area" in header and "train_cpu_s" in header
    grids = sorted(p.name for p in (out / "overlays").glob("*.png"))
    assert grids == ["p_medical.png", "p_remote-sensing.png"]
