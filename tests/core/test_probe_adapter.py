"""The attention probe's LoRA is an ordinary genseg adapter: its folder is what the adapter store
reads (card with the base hash and the probe's block, PEFT copy, README), it loads back to the
same maps, and on another base model it is one AdapterError naming the card."""

from __future__ import annotations

import json

import pytest
import torch

from genseg.errors import AdapterError

LAYER = 1


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny MM-DiT whose block 1 carries a briefly trained probe LoRA, and its saved folder."""
    from genseg.plugins.testing import build_tiny_pipeline, make_fake_dataset
    from genseg.probe.finetune import finetune_probe, save_probe_lora
    from genseg.probe.probe import AttentionProbe

    root = tmp_path_factory.mktemp("probe_adapter")
    data = make_fake_dataset(root / "data", n=2)
    probe = AttentionProbe(build_tiny_pipeline("mmdit", seed=0), layer=LAYER)
    finetune_probe(probe, [data], steps=3, batch_size=2, learning_rate=1e-2, rank=4, progress=False)
    folder = save_probe_lora(probe.pipe, root / "probe", LAYER, 4, base_model="runs/tiny-mmdit")
    return probe, folder, data


def _maps(probe) -> torch.Tensor:
    image = torch.linspace(0, 1, 3 * 32 * 32).view(3, 32, 32)
    recorded = probe.record(image, ["thing", "stuff"], generator=torch.Generator().manual_seed(0))
    return recorded.maps[probe.layer]


def test_probe_folder_is_read_by_the_adapter_store(trained):
    from genseg.adapters.card import CARD_FILE, WEIGHTS_FILE
    from genseg.adapters.hashing import weights_hash
    from genseg.adapters.peft_export import PEFT_CONFIG_FILE, PEFT_DIR
    from genseg.adapters.store import read_adapter
    from genseg.plugins.testing import build_tiny_pipeline
    from genseg.probe.finetune import target_names

    probe, folder, data = trained
    files = read_adapter(folder)
    card = files.manifest
    assert card.probe is not None and card.probe.layer == LAYER
    assert card.lora.rank == 4 and card.lora.alpha == 4.0
    assert card.lora.modules == {"denoiser": target_names(probe.pipe.denoiser, LAYER)}
    assert len(card.lora.modules["denoiser"]) == 7  # image q/k/v/out and text q/k/v of the block
    # the hash of the base weights, as an untouched copy of the same model gives it
    assert card.base.weights_sha256 == weights_hash(build_tiny_pipeline("mmdit", seed=0))
    assert card.base.name == "tiny-mmdit" and card.base.denoiser == type(probe.pipe.denoiser).__name__
    assert card.training.steps == 3 and card.training.datasets[0].path == str(data)
    assert set(card.prompts) <= {"thing", "stuff"} and card.prompts
    assert set(files.tensors) == {"denoiser"}
    assert all(f".transformer_blocks.{LAYER}." in f".{k}" for k in files.tensors["denoiser"])
    names = {p.name for p in folder.iterdir()}
    assert {WEIGHTS_FILE, CARD_FILE, "README.md", PEFT_DIR} <= names
    assert not any(n.startswith("probe_lora") for n in names)
    peft_config = json.loads((folder / PEFT_DIR / "denoiser" / PEFT_CONFIG_FILE).read_text())
    assert peft_config["r"] == 4 and sorted(peft_config["target_modules"]) == sorted(
        card.lora.modules["denoiser"]
    )
    readme = (folder / "README.md").read_text()
    assert f"block {LAYER}" in readme and "--probe-lora" in readme and "--adapter" not in readme


def test_a_card_without_probe_is_written_as_before(trained, tmp_path):
    from genseg.adapters.card import CARD_FILE, read_manifest, write_manifest

    plain = read_manifest(trained[1]).model_copy(update={"probe": None})
    write_manifest(tmp_path, plain)
    assert "probe" not in json.loads((tmp_path / CARD_FILE).read_text())
    assert read_manifest(tmp_path).probe is None


def test_loaded_probe_adapter_gives_the_trained_maps(trained):
    from genseg.adapters.runtime import active_adapters
    from genseg.plugins.testing import build_tiny_pipeline
    from genseg.probe.probe import AttentionProbe, as_probe

    probe, folder, _ = trained
    base = AttentionProbe(build_tiny_pipeline("mmdit", seed=0), layer=LAYER)
    before = _maps(base)
    loaded = as_probe(base.pipe, "attention-probe", None, folder)
    assert loaded.layer == LAYER  # the card's block is the default layer
    assert active_adapters(loaded.pipe) == [(f"probe-block{LAYER}", 1.0)]
    after = _maps(loaded)
    torch.testing.assert_close(after, _maps(probe))
    assert not torch.allclose(after, before)


def test_probe_adapter_on_another_base_model_fails_naming_the_card(trained):
    from genseg.adapters.card import CARD_FILE
    from genseg.plugins.testing import build_tiny_pipeline
    from genseg.probe.finetune import load_probe_lora

    _, folder, _ = trained
    other = build_tiny_pipeline("mmdit", seed=1)
    with pytest.raises(AdapterError) as info:
        load_probe_lora(other, folder)
    assert info.value.path == str(folder / CARD_FILE)
    assert str(folder / CARD_FILE) in str(info.value) and "trained on base model" in str(info.value)
    assert not any("lora_" in n for n, _ in other.denoiser.named_parameters())  # nothing half-loaded


def test_probe_adapter_beside_fused_adapters_and_wrong_kinds(trained, tmp_path):
    import shutil

    from genseg.adapters.card import CARD_FILE, read_manifest, write_manifest
    from genseg.adapters.runtime import AdapterWarning, active_adapters, adapter_state, attach_adapters
    from genseg.plugins.testing import build_tiny_pipeline
    from genseg.probe.finetune import load_probe_lora

    _, folder, _ = trained
    # the same weights renamed stand in for an --adapter loaded (and fused) before the probe's
    other = tmp_path / "other"
    shutil.copytree(folder, other)
    write_manifest(other, read_manifest(other).model_copy(update={"name": "other"}))
    pipe = build_tiny_pipeline("mmdit", seed=0)
    with pytest.warns(AdapterWarning, match="trained for the attention probe"):
        attach_adapters(pipe, [str(other)], fuse=True)
    assert load_probe_lora(pipe, folder) == LAYER
    assert adapter_state(pipe).fused and [n for n, _ in active_adapters(pipe)] == [
        "other",
        f"probe-block{LAYER}",
    ]

    plain = tmp_path / "plain"
    shutil.copytree(folder, plain)
    write_manifest(plain, read_manifest(plain).model_copy(update={"probe": None}))
    with pytest.raises(AdapterError, match="not trained for the attention probe") as info:
        load_probe_lora(build_tiny_pipeline("mmdit", seed=0), plain)
    assert info.value.path == str(plain / CARD_FILE)

    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "probe_lora.json").write_text('{"layer": 1, "rank": 16}')
    with pytest.raises(AdapterError, match="earlier genseg versions") as info:
        load_probe_lora(build_tiny_pipeline("mmdit", seed=0), legacy)
    assert info.value.path == str(legacy / "probe_lora.json")


def test_adapters_list_says_an_adapter_is_the_probes(trained):
    from genseg.cli.cmd_adapters import _describe, _line
    from genseg.plugins.schemas import AdapterCard

    _, folder, _ = trained
    card = AdapterCard(name="probe-demo", domain="generic", location=str(folder))
    row = _describe("tests", card)
    assert row["status"] == "ok" and row["card"]["probe"] == {"layer": LAYER}
    assert f"attention probe, block {LAYER}, base tiny-mmdit" in _line(row)
    plain = {**row, "card": {**row["card"], "probe": None}}
    assert "attention probe" not in _line(plain) and "(base tiny-mmdit" in _line(plain)
