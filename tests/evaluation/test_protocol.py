"""Protocol files: validated before anything trains; open-vocabulary leaks refused."""

from __future__ import annotations

import pytest
import yaml

from genseg.errors import ConfigError
from genseg.evaluation.protocol import (
    builtin_protocols,
    check_open_vocabulary,
    load_budget,
    load_methods,
    load_protocol,
)
from genseg.plugins.testing import make_fake_dataset


def _write(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


def test_builtin_protocols_methods_and_budgets_load():
    expected = {"in-domain", "open-vocabulary", "cross-domain", "few-shot", "real-data", "generated-data"}
    assert set(builtin_protocols()) == expected
    methods = load_methods()
    assert {"genseg", "discriminative", "label-diffusion", "no-shortcut"} <= set(methods)
    assert methods["label-diffusion"].steps == 10
    for name in builtin_protocols():
        protocol, _ = load_protocol(name)
        assert set(protocol.methods) <= set(methods)
    assert load_budget("quick").steps < load_budget("full").steps


def test_unknown_protocol_and_budget_give_the_choices():
    with pytest.raises(ConfigError, match="unknown protocol 'nope'.*in-domain"):
        load_protocol("nope")
    with pytest.raises(ConfigError, match="unknown budget"):
        load_budget("enormous")


def test_kind_specific_fields_are_checked(tmp_path):
    base = {"name": "p", "methods": ["genseg"], "train": {"datasets": ["a"]}, "test": {"datasets": ["b"]}}
    with pytest.raises(ConfigError, match="needs `shots`"):
        load_protocol(_write(tmp_path / "fs.yaml", {**base, "kind": "few-shot"}))
    with pytest.raises(ConfigError, match="not in train.exclude_classes"):
        load_protocol(_write(tmp_path / "ov.yaml", {**base, "kind": "open-vocabulary", "unseen": ["x"]}))
    same = {**base, "kind": "cross-domain", "test": {"datasets": ["a"]}}
    with pytest.raises(ConfigError, match="must test on datasets it does not train on"):
        load_protocol(_write(tmp_path / "cd.yaml", same))
    with pytest.raises(ConfigError, match="invalid protocol at kind"):
        load_protocol(_write(tmp_path / "k.yaml", {**base, "kind": "sideways"}))


def test_a_protocol_naming_an_unknown_dataset_fails_before_training(tmp_path):
    from genseg.evaluation.benchmark import plan_benchmark

    path = _write(
        tmp_path / "p.yaml",
        {
            "name": "p",
            "kind": "in-domain",
            "methods": ["genseg"],
            "train": {"datasets": ["no-such-dataset"]},
            "test": {"datasets": ["no-such-dataset"]},
        },
    )
    with pytest.raises(ConfigError, match=r"unknown datasets \['no-such-dataset'\]") as info:
        plan_benchmark([path], tmp_path / "out")
    assert "genseg datasets list" in info.value.fix
    assert not (tmp_path / "out").exists()  # nothing written


def _open_vocab(tmp_path, unseen, paraphrases, exclude=None):
    folder = make_fake_dataset(tmp_path / "fake", classes=("thing", "stuff"))
    return folder, {
        "name": "ov",
        "kind": "open-vocabulary",
        "methods": ["genseg"],
        "train": {"datasets": [str(folder)], "exclude_classes": exclude if exclude is not None else unseen},
        "test": {"datasets": [str(folder)]},
        "unseen": unseen,
        "paraphrases": paraphrases,
    }


def test_open_vocabulary_leak_is_refused(tmp_path):
    from genseg.data.schema import load_dataset_spec, write_dataset_spec
    from genseg.evaluation.benchmark import plan_benchmark

    folder, data = _open_vocab(tmp_path, ["stuff"], {"thing": ["object"]})
    spec = load_dataset_spec(folder)  # "object" becomes a training synonym of "thing"
    spec.classes["1"].synonyms = ["object"]
    write_dataset_spec(folder, spec)
    path = _write(tmp_path / "ov.yaml", data)
    with pytest.raises(ConfigError, match=r"claims to be open-vocabulary but prompts \['object'\]"):
        plan_benchmark([path], tmp_path / "out")


def test_unseen_class_named_by_another_classes_synonym_is_a_leak(tmp_path):
    from genseg.data.schema import load_dataset_spec

    folder, data = _open_vocab(tmp_path, ["stuff"], {})
    spec = load_dataset_spec(folder)
    spec.classes["1"].synonyms = ["stuff"]  # the trained class answers to the unseen name
    protocol, _ = load_protocol(_write(tmp_path / "ov.yaml", data))
    with pytest.raises(ConfigError, match="occur in training"):
        check_open_vocabulary(protocol, {str(folder): spec}, tmp_path / "ov.yaml")


def test_a_clean_open_vocabulary_protocol_plans(tmp_path):
    from genseg.evaluation.benchmark import plan_benchmark, protocol_queries

    folder, data = _open_vocab(tmp_path, ["stuff"], {"thing": ["object"]})
    plan = plan_benchmark([_write(tmp_path / "ov.yaml", data)], tmp_path / "out")
    items = protocol_queries(plan, plan.protocols[0][0])
    tags = {q[3] for it in items for q in it.queries}
    assert tags == {"seen", "unseen", "paraphrase"}
    prompts = {(q[0], q[2]) for it in items for q in it.queries}
    assert ("thing", "object") in prompts and ("stuff", "stuff") in prompts


def test_a_finished_run_recorded_before_a_config_field_was_added_is_still_the_same_run(tmp_path):
    import json

    from genseg.config import TrainConfig
    from genseg.evaluation.benchmark import _same_run_config

    cfg = TrainConfig(steps=7, datasets=["d"])
    record = json.loads(cfg.model_dump_json())
    del record["log_with"]  # a field this record predates: its default is what the run used
    path = tmp_path / "genseg_train.json"
    path.write_text(json.dumps({**record, "exported": {"step": 7, "selection": "last"}}))
    assert _same_run_config(path, cfg)
    assert not _same_run_config(path, cfg.model_copy(update={"steps": 8}))
    path.write_text("{not json")
    assert not _same_run_config(path, cfg)
