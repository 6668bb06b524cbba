"""The pytest kit plugin authors get (entry point ``pytest11``), and registered dataset names on the CLI."""

from __future__ import annotations

import json
import types
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np

from genseg.plugins import hookimpl


def test_the_kit_is_a_pytest11_entry_point():
    assert "genseg.plugins.testing" in {ep.value for ep in entry_points(group="pytest11")}


def test_tiny_pipeline_and_fake_inputs_work_together(genseg_tiny_pipeline, genseg_fake_image, tmp_path):
    from genseg.data.readers import read_image

    path = genseg_fake_image(tmp_path / "a.png", size=(20, 28))
    out = genseg_tiny_pipeline(read_image(path), ["thing"], num_inference_steps=1)
    assert out.masks.shape == (1, 1, 20, 28)


def test_fake_dataset_loads_as_a_training_set(genseg_fake_dataset, genseg_fake_label, tmp_path):
    from genseg.data.folder_dataset import PromptedSegmentationDataset
    from genseg.data.readers import read_label

    root = genseg_fake_dataset(tmp_path / "fake", n=3, classes=("cell", "nucleus"))
    ds = PromptedSegmentationDataset(root, "training", resolution=32)
    assert set(ds.class_names()) == {"cell", "nucleus"} and ds[0]["image"].shape == (3, 32, 32)
    label = read_label(genseg_fake_label(tmp_path / "l.png", classes=3))
    assert set(np.unique(label)) <= {0, 1, 2, 3} and label.max() >= 1


def test_genseg_plugins_fixture_scopes_the_plugin_to_the_test(genseg_plugins):
    from genseg.plugins import manager, registry

    @hookimpl
    def genseg_register_domains():
        return [{"name": "scoped"}]

    loaded = genseg_plugins(
        types.SimpleNamespace(__name__="scoped", genseg_register_domains=genseg_register_domains)
    )
    assert manager.load_plugins() is loaded
    assert [r.name for r in loaded.records] == ["generic", "scoped"]
    assert "scoped" in {d.name for _, d in registry.domains()}


def _load_toy(root: Path) -> Path:
    from genseg.plugins.testing import make_fake_dataset

    return make_fake_dataset(root, n=2)


def test_evaluate_accepts_a_registered_dataset_name(genseg_plugins, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from genseg.cli.app import app
    from genseg.plugins.testing import build_tiny_pipeline

    @hookimpl
    def genseg_register_datasets():
        return [{"card": {"name": "toy", "licence": "CC0-1.0"}, "loader": f"{__name__}:_load_toy"}]

    genseg_plugins(
        types.SimpleNamespace(__name__="toydata", genseg_register_datasets=genseg_register_datasets)
    )
    build_tiny_pipeline().save_pretrained(tmp_path / "model")
    monkeypatch.setenv("GENSEG_DATA_DIR", str(tmp_path / "data"))
    scores = tmp_path / "scores.json"
    result = CliRunner().invoke(
        app,
        ["evaluate", "-m", str(tmp_path / "model"), "-d", "toy", "--json", str(scores)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    data = json.loads(scores.read_text())
    assert data["datasets"] == [str(tmp_path / "data" / "toy")]
    assert 0.0 <= data["mIoU"] <= 1.0 and set(data["per_class"]) <= {"thing", "stuff"}
