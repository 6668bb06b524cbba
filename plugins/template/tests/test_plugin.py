"""Tests of the ``example`` plugin, written with genseg's plugin testing kit only.

The fixtures (``genseg_plugins``, ``genseg_fake_image``, ...) come with genseg through the
``pytest11`` entry point: no conftest.py is needed. Run ``pytest`` after ``pip install -e .``.
"""

from __future__ import annotations

import numpy as np
import pytest
from genseg.plugins.api import (
    DatasetError,
    InputError,
    domain_vocabularies,
    find_reader,
    load_dataset,
    load_dataset_spec,
    preprocess,
    read,
    registered_datasets,
    registered_domains,
    validate_plugin,
)

import genseg_example.plugin

# genseg_plugins() registers a module under its module name.
NAME = genseg_example.plugin.__name__
HOOKS = {
    "genseg_register_datasets",
    "genseg_register_domains",
    "genseg_register_readers",
    "genseg_register_vocabularies",
}


@pytest.fixture
def plugins(genseg_plugins):
    """genseg with only its built-in plugin and this one, whatever else is installed."""
    return genseg_plugins(genseg_example.plugin)


def test_plugin_loads_with_its_hooks(plugins):
    record = plugins.record(NAME)
    assert record.status == "loaded", record.error
    assert record.hookspec == genseg_example.plugin.GENSEG_HOOKSPEC
    assert set(record.hooks) == HOOKS
    assert record.warnings == []


def test_plugin_validates(plugins):
    report = validate_plugin(NAME, plugins)
    assert report.ok, report.problems
    assert report.warnings == []


def test_domain_and_vocabulary(plugins):
    assert (NAME, "example") in [(p, d.name) for p, d in registered_domains(plugins)]
    [(plugin, vocabulary)] = domain_vocabularies("example", plugins)
    assert plugin == NAME
    assert vocabulary.lookup("Box").name == "square"
    assert vocabulary.lookup("circle").name == "disc"


def test_npy_image_is_found_read_and_preprocessed(plugins, tmp_path):
    image = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    path = tmp_path / "scan.npy"
    np.save(path, image)
    _, spec = find_reader(path, "image", plugins)
    assert spec.name == "example-npy"
    sample = read(path, "image", plugins)
    assert (sample.kind, sample.reader, sample.path) == ("image", "example-npy", path)
    np.testing.assert_array_equal(sample.array, image)
    ready = preprocess(sample, "example", plugins=plugins)
    assert ready.normalised and ready.array.dtype == np.float32
    assert 0.0 <= ready.array.min() and ready.array.max() <= 1.0


def test_npy_label_is_read_and_bad_arrays_are_refused(plugins, tmp_path):
    label = np.zeros((4, 5), dtype=np.uint8)
    label[1:3, 1:3] = 1
    np.save(tmp_path / "label.npy", label)
    np.testing.assert_array_equal(read(tmp_path / "label.npy", "label", plugins).array, label)
    np.save(tmp_path / "float.npy", label.astype(np.float32))
    with pytest.raises(InputError, match="integers"):
        read(tmp_path / "float.npy", "label", plugins)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="cannot read"):
        read(tmp_path / "objects.npy", "image", plugins)


def test_other_files_still_go_to_the_builtin_readers(plugins, genseg_fake_image, tmp_path):
    path = genseg_fake_image(tmp_path / "photo.png")
    _, spec = find_reader(path, "image", plugins)
    assert spec.name == "pillow"


def test_dataset_is_registered_and_indexed_on_first_use(plugins, tmp_path):
    plugin, registration = registered_datasets(plugins)["example-shapes"]
    assert plugin == NAME and registration.card.licence
    with pytest.raises(DatasetError, match="not there"):
        load_dataset("example-shapes", tmp_path / "missing", plugins)
    rng = np.random.default_rng(0)
    for i in range(3):
        (tmp_path / "images").mkdir(exist_ok=True)
        (tmp_path / "labels").mkdir(exist_ok=True)
        np.save(tmp_path / "images" / f"{i}.npy", rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
        np.save(tmp_path / "labels" / f"{i}.npy", rng.integers(0, 3, (8, 8), dtype=np.uint8))
    folder = load_dataset("example-shapes", tmp_path, plugins)
    spec = load_dataset_spec(folder)
    assert spec.domain == "example"
    assert [c.name for c in spec.classes.values()] == ["square", "disc"]
    assert len(spec.training) + len(spec.validation) + len(spec.test) == 3
