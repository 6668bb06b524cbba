"""Every registry is filled by hooks; one test (at least) per hook, named after it."""

from __future__ import annotations

import json
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

from genseg.data.sample import Sample
from genseg.errors import ConfigError, DatasetError, InputError, OutputError
from genseg.plugins import hookimpl, registry
from genseg.plugins.manager import PluginWarning


def _plugin(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    module.GENSEG_HOOKSPEC = ">=1.0,<2"
    for key, value in hooks.items():
        setattr(module, key, value)
    return module


# --- readers: a .npy reader plugin used by several tests -------------------------------------


def read_npy(path: Path, kind: str) -> Sample:
    array = np.load(path, allow_pickle=False)
    return Sample(array, path, kind, reader="npy", meta={"spacing": (2.0, 1.0)})


@hookimpl
def _register_npy_reader():
    return [{"name": "npy", "patterns": ["*.npy"], "read": f"{__name__}:read_npy"}]


NPY = _plugin("npyplugin", genseg_register_readers=_register_npy_reader)


def test_genseg_register_readers_and_pattern_dispatch(genseg_plugins, tmp_path):
    plugins = genseg_plugins(NPY)
    path = tmp_path / "scan.NPY"  # patterns match case-insensitively
    with open(path, "wb") as fh:
        np.save(fh, np.arange(12, dtype=np.float32).reshape(3, 4, 1))
    plugin, spec = registry.find_reader(path, "image")
    assert (plugin, spec.name) == ("npyplugin", "npy")
    sample = registry.read(path, "image", plugins)
    assert sample.reader == "npy" and sample.array.shape == (3, 4, 1) and sample.meta["spacing"] == (2.0, 1.0)
    assert [s.name for p, s in registry.readers() if p == "npyplugin"] == ["npy"]


def test_genseg_get_reader_lets_a_plugin_look_inside_files(genseg_plugins, tmp_path):
    @hookimpl
    def genseg_get_reader(path, kind):
        if path.suffix == "" and path.read_bytes()[:6] == b"\x93NUMPY":
            return {"name": "npy-sniffed", "patterns": ["*"], "read": f"{__name__}:read_npy"}
        return None

    genseg_plugins(_plugin("sniffer", genseg_get_reader=genseg_get_reader))
    path = tmp_path / "no_extension"
    with open(path, "wb") as fh:
        np.save(fh, np.ones((2, 2), dtype=np.int64))
    plugin, spec = registry.find_reader(path, "label")
    assert (plugin, spec.name) == ("sniffer", "npy-sniffed")
    assert registry.read(path, "label").array.sum() == 4
    assert registry.find_reader(tmp_path / "x.png", "image")[1].name == "pillow"  # others still reach generic


def test_a_domain_reader_overrides_the_generic_one_for_the_same_pattern(genseg_plugins, tmp_path):
    @hookimpl
    def genseg_register_readers():
        return [{"name": "special-png", "patterns": ["*.png"], "kinds": ["image"], "read": "x.y:z"}]

    genseg_plugins(_plugin("override", genseg_register_readers=genseg_register_readers))
    assert registry.find_reader(tmp_path / "a.png", "image")[1].name == "special-png"
    assert registry.find_reader(tmp_path / "a.png", "label")[1].name == "pillow"  # it claims images only


def test_a_file_no_reader_claims_lists_readers_and_plugins_that_add_more(genseg_plugins, tmp_path):
    genseg_plugins()  # built-in only: the medical plugin is not active
    with pytest.raises(InputError) as err:
        registry.find_reader(tmp_path / "scan.dcm", "image")
    text = err.value.one_line()
    assert "scan.dcm" in text and "pillow (*.png" in text and "tiff (*.tif" in text
    assert "pip install genseg-plugin-medical" in text


@pytest.mark.parametrize("name", ["brain.mgz", "brain.mgh", "brain.hdr", "brain.img", "scan.dicom"])
def test_medical_file_types_without_the_medical_plugin_get_its_install_hint(genseg_plugins, tmp_path, name):
    genseg_plugins()  # built-in only
    with pytest.raises(InputError) as err:
        registry.find_reader(tmp_path / name, "image")
    ext = "." + name.split(".")[-1]
    assert f"{ext!r} is provided by genseg-plugin-medical: pip install genseg-plugin-medical" in err.value.fix


def test_every_file_type_a_domain_plugin_reads_has_an_install_hint():
    from genseg_medical import plugin as medical

    known = registry.known_providers()["extensions"]
    patterns = {p for spec in medical.genseg_register_readers() for p in spec["patterns"] if p != "*"}
    assert {p.lstrip("*") for p in patterns} - set(known) == set()


def test_genseg_register_writers_and_genseg_get_writer(genseg_plugins, tmp_path):
    genseg_plugins()
    assert registry.find_writer(tmp_path / "m.png")[1].name == "png-mask"
    assert registry.find_writer(tmp_path / "whatever", fmt="PNG")[1].name == "png-mask"
    out = registry.write(tmp_path / "m.png", np.array([[0, 1], [2, 3]], dtype=np.uint8))
    assert registry.read(out, "label").array.tolist() == [[0, 1], [2, 3]]
    with pytest.raises(InputError, match="no installed writer handles this output name. Writers: png-mask"):
        registry.find_writer(tmp_path / "m.nii.gz")


def test_genseg_get_writer_from_a_plugin_wins(genseg_plugins, tmp_path):
    @hookimpl
    def genseg_get_writer(path, fmt):
        return {"name": "npy-writer", "patterns": ["*.npy"], "formats": ["npy"], "write": "numpy:save"}

    genseg_plugins(_plugin("npywriter", genseg_get_writer=genseg_get_writer))
    assert registry.find_writer(tmp_path / "a.png")[0] == "npywriter"


def test_the_png_writer_announces_spatial_metadata_it_cannot_keep(genseg_plugins, tmp_path):
    genseg_plugins()
    ref = Sample(
        np.zeros((2, 2, 1), np.float32), tmp_path / "in.tif", "image", "x", meta={"crs": "EPSG:32633"}
    )
    with pytest.warns(UserWarning, match="cannot store the crs"):
        registry.write(tmp_path / "m.png", np.zeros((2, 2), np.uint8), reference=ref)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        registry.write(
            tmp_path / "n.png", np.zeros((2, 2), np.uint8), reference=ref.with_array(ref.array, meta={})
        )


SEEN: list[Path] = []


def write_half_then_fail(path: Path, mask, reference=None) -> Path:
    """A writer that dies mid-write, as a full disk or a bug would."""
    SEEN.append(path)
    path.write_bytes(b"half a file")
    raise OSError("disk full")


def write_and_warn(path: Path, mask, reference=None) -> Path:
    SEEN.append(path)
    warnings.warn(f"{path}: written without metadata", UserWarning, stacklevel=2)
    path.write_bytes(b"whole")
    return path


@hookimpl
def _register_flaky_writers():
    return [
        {"name": n, "patterns": [f"*.{n}"], "formats": [n], "write": f"{__name__}:{fn}"}
        for n, fn in (("flaky", "write_half_then_fail"), ("warns", "write_and_warn"))
    ]


def test_a_writer_failing_mid_write_leaves_nothing_under_the_final_name(genseg_plugins, tmp_path):
    genseg_plugins(_plugin("flaky", genseg_register_writers=_register_flaky_writers))
    SEEN.clear()
    (tmp_path / "old.flaky").write_bytes(b"the previous mask")
    for name in ("new.flaky", "old.flaky"):
        with pytest.raises(OutputError, match="cannot write the output: disk full"):
            registry.write(tmp_path / name, np.zeros((2, 2), np.uint8))
    assert SEEN[0].parent == tmp_path and SEEN[0].name.endswith(".flaky") and SEEN[0].name != "new.flaky"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.flaky"]  # no temporary file left either
    assert (tmp_path / "old.flaky").read_bytes() == b"the previous mask"


def test_a_writer_writes_a_temporary_file_that_is_renamed_and_reported_by_its_final_name(
    genseg_plugins, tmp_path
):
    genseg_plugins(_plugin("flaky", genseg_register_writers=_register_flaky_writers))
    SEEN.clear()
    with pytest.warns(UserWarning) as caught:
        out = registry.write(tmp_path / "sub" / "m.warns", np.zeros((2, 2), np.uint8))
    assert out == tmp_path / "sub" / "m.warns" and out.read_bytes() == b"whole"
    assert SEEN[0] != out and SEEN[0].parent == out.parent  # the writer saw a sibling temporary path
    assert [str(w.message) for w in caught] == [f"{out}: written without metadata"]


def test_genseg_preprocess_generic_scales_raw_values_and_keeps_metadata(genseg_plugins, tmp_path):
    genseg_plugins()
    raw = Sample(
        np.array([[[0], [65535]]], dtype=np.uint16), tmp_path / "a", "image", "r", meta={"affine": [1]}
    )
    out = registry.preprocess(raw, "generic")
    assert out.normalised and out.array.dtype == np.float32 and out.array.ravel().tolist() == [0.0, 1.0]
    assert out.meta == {"affine": [1]}


def test_genseg_preprocess_domain_plugin_answers_first_for_its_domain(genseg_plugins, tmp_path):
    @hookimpl
    def genseg_preprocess(sample, domain, options):
        if domain != "toy":
            return None
        lo, hi = options.get("window", (0, 100))
        return sample.with_array(
            np.clip((sample.array - lo) / (hi - lo), 0, 1).astype(np.float32), normalised=True
        )

    genseg_plugins(_plugin("toy", genseg_preprocess=genseg_preprocess))
    raw = Sample(np.array([[[-50.0], [50.0], [150.0]]]), tmp_path / "a", "image", "r")
    assert registry.preprocess(raw, "toy").array.ravel().tolist() == [0.0, 0.5, 1.0]
    assert registry.preprocess(raw, "toy", {"window": (0, 200)}).array.ravel().tolist() == [0.0, 0.25, 0.75]
    assert registry.preprocess(raw, "generic").array.ravel().tolist() == [0.0, 1.0, 1.0]  # float: clipped


def test_genseg_register_domains_collects_every_plugin(genseg_plugins):
    @hookimpl
    def genseg_register_domains():
        return [{"name": "astronomy", "description": "sky surveys"}]

    genseg_plugins(_plugin("astro", genseg_register_domains=genseg_register_domains))
    assert ("astro", "astronomy") in [(p, d.name) for p, d in registry.domains()]


def test_genseg_register_datasets_card_loader_and_names_on_the_cli(genseg_plugins, tmp_path, monkeypatch):
    from genseg.datasets import resolve_dataset
    from genseg.plugins.testing import make_fake_dataset

    calls = []

    def load_toy(root: Path) -> Path:
        calls.append(root)
        return make_fake_dataset(root, n=2)

    module = _plugin("toydata")
    module.load_toy = load_toy

    @hookimpl
    def genseg_register_datasets():
        card = {"name": "toy-set", "licence": "CC0-1.0", "url": "https://example.org", "classes": ["thing"]}
        return [{"card": card, "loader": "toydata:load_toy"}]

    module.genseg_register_datasets = genseg_register_datasets
    monkeypatch.setitem(__import__("sys").modules, "toydata", module)
    genseg_plugins(module)
    plugin, reg = registry.datasets()["toy-set"]
    assert plugin == "toydata" and reg.card.licence == "CC0-1.0"
    assert "shapes" in registry.datasets()  # the built-in one
    assert "mni152" not in registry.datasets()  # the medical plugin's, not active here

    folder = resolve_dataset(f"toy-set={tmp_path / 'mine'}")
    assert folder == tmp_path / "mine" and (folder / "dataset.json").is_file()
    monkeypatch.setenv("GENSEG_DATA_DIR", str(tmp_path / "cache"))
    assert resolve_dataset("toy-set") == tmp_path / "cache" / "toy-set"
    assert calls == [tmp_path / "mine", tmp_path / "cache" / "toy-set"]


def test_an_unregistered_dataset_name_lists_names_and_the_providing_plugin(genseg_plugins):
    from genseg.datasets import resolve_dataset

    genseg_plugins()  # no domain plugin active
    with pytest.raises(DatasetError) as err:
        resolve_dataset("kvasir-seg")
    text = err.value.one_line()
    assert "pip install genseg-plugin-medical" in text and "shapes" in text and "mni152" not in text
    with pytest.raises(DatasetError, match="did you mean 'shapes'"):
        resolve_dataset("shape")


def test_genseg_register_vocabularies_lookup_by_synonym(genseg_plugins):
    genseg_plugins(autoload=True)
    (plugin, medical), *_ = registry.vocabulary("medical")
    assert plugin == "medical"
    assert (
        medical.lookup("  Hepatic ").name == "liver"
        and medical.lookup("liver").codes["SNOMED CT"] == "10200004"
    )
    assert registry.vocabulary("generic")[0][1].lookup("disk").name == "circle"
    with pytest.raises(ConfigError, match="choose one of: agriculture, generic, medical, remote-sensing"):
        registry.vocabulary("astronomy")


def test_genseg_register_vocabularies_bad_item_is_recorded_not_fatal(genseg_plugins):
    @hookimpl
    def genseg_register_vocabularies():
        return [{"domain": "bad", "name": "no terms", "terms": []}]

    loaded = genseg_plugins(_plugin("badvocab", genseg_register_vocabularies=genseg_register_vocabularies))
    with pytest.warns(PluginWarning, match="plugin 'badvocab' failed in genseg_register_vocabularies"):
        assert [v.domain for _, v in registry.vocabularies()] == ["generic"]
    assert "terms" in loaded.record("badvocab").hook_errors["genseg_register_vocabularies"]
    assert loaded.record("badvocab").status == "failing"


def test_genseg_register_adapters(genseg_plugins):
    @hookimpl
    def genseg_register_adapters():
        return [
            {"name": "liver-lora", "domain": "medical", "location": "adapters/liver", "base_model": "demo"}
        ]

    genseg_plugins(_plugin("adapt", genseg_register_adapters=genseg_register_adapters))
    assert [(p, a.name, a.licence) for p, a in registry.adapters()] == [("adapt", "liver-lora", "unknown")]


def test_genseg_register_metrics_builds_working_torchmetrics(genseg_plugins):
    import torch

    from genseg.plugins.schemas import resolve_target

    genseg_plugins()
    specs = {s.name: s for _, s in registry.metrics("generic")}
    assert set(specs) == {"iou", "dice"}
    pred = torch.tensor([[1, 1, 0, 0]])
    target = torch.tensor([[1, 0, 0, 0]])
    iou, dice = resolve_target(specs["iou"].factory)(), resolve_target(specs["dice"].factory)()
    iou.update(pred, target)
    dice.update(pred, target)
    assert iou.compute().item() == pytest.approx(0.5) and dice.compute().item() == pytest.approx(2 / 3)


def test_genseg_register_commands_adds_commands_and_refuses_taken_names(genseg_plugins):
    import typer
    from typer.testing import CliRunner

    @hookimpl
    def genseg_register_commands(app):
        @app.command("hello")
        def hello(name: str = "world") -> None:
            typer.echo(f"hello {name}")

    @hookimpl(specname="genseg_register_commands")
    def hijack_commands(app):
        app.command("train")(lambda: None)

    loaded = genseg_plugins(
        _plugin("greeter", genseg_register_commands=genseg_register_commands),
        _plugin("hijacker", genseg_register_commands=hijack_commands),
    )
    app = typer.Typer()
    app.command("train")(lambda: None)
    app.command("env")(lambda: None)
    with pytest.warns(PluginWarning, match="train already taken"):
        assert registry.register_commands(app) == ["greeter"]
    assert "train" in loaded.record("hijacker").hook_errors["genseg_register_commands"]
    result = CliRunner().invoke(app, ["hello", "--name", "plugins"])
    assert result.exit_code == 0 and result.output.strip() == "hello plugins"


def test_known_providers_is_consistent():
    data = registry.known_providers()
    assert set(data) >= {"datasets", "domains", "extensions"}
    dists = {d for kind in ("datasets", "domains", "extensions") for d in data[kind].values()}
    assert dists <= {"genseg-plugin-medical", "genseg-plugin-remote-sensing", "genseg-plugin-agriculture"}
    assert json.dumps(data)  # plain JSON, importable without heavy libraries


def test_lookups_use_the_plugin_set_they_are_given_not_the_process_wide_one(tmp_path):
    from genseg.plugins import manager

    loaded = manager.build_plugins([("npyplugin", NPY)], autoload=False)
    assert manager.load_plugins() is not loaded
    path = tmp_path / "a.npy"
    np.save(path, np.zeros((2, 2, 1), np.float32))
    plugin, spec = registry.find_reader(path, "image", loaded)
    assert (plugin, spec.name) == ("npyplugin", "npy")
    assert registry.read(path, "image", loaded).reader == "npy"
    with pytest.raises(InputError):
        registry.find_reader(path, "image")  # the process-wide set has no .npy reader
