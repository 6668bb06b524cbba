"""LoRA adapters: gradients, frozen base, save/load, switching, mixing, fusing, checks on bad input."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
import torch

from genseg.errors import AdapterError, CheckpointError


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    """A saved tiny DiT base model and a 4-image, 2-class dataset."""
    from genseg.plugins.testing import build_tiny_pipeline, make_fake_dataset

    root = tmp_path_factory.mktemp("adapters")
    build_tiny_pipeline("dit", seed=0).save_pretrained(root / "base")
    make_fake_dataset(root / "data", n=4)
    return root


def _cfg(space, **kw):
    from genseg.config import FinetuneConfig, TrainConfig
    from genseg.plugins.testing import tiny_model_config

    ft = {"base_model": str(space / "base"), "adapter_name": "tiny-lora", "eval_split": "none"}
    ft.update(kw.pop("finetune", {}))
    base = dict(
        model=tiny_model_config(kind="dit"),
        steps=6,
        batch_size=2,
        learning_rate=1e-2,
        warmup_steps=0,
        lr_schedule="constant",
        checkpoint_every=3,
        log_every=1,
        finetune=FinetuneConfig(**ft),
    )
    return TrainConfig(**{**base, **kw})


def _file_bytes(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def trained(space):
    """A LoRA fine-tune of the base (6 steps), with the base folder's bytes before it."""
    from genseg.training.trainer import train

    before = _file_bytes(space / "base")
    result = train(_cfg(space), space / "lora", [space / "data"], progress=False)
    return result, before


def _run(pipe, image=None, prompts=("thing", "stuff")):
    image = np.random.default_rng(1).random((32, 32, 3)).astype(np.float32) if image is None else image
    out = pipe(image, list(prompts), generator=torch.Generator().manual_seed(0), output_type="pt")
    return out.probabilities


def _base(space, **kw):
    from genseg.pipeline import load_pipeline

    return load_pipeline(space / "base", device="cpu", **kw)


def _base_state(module):
    from genseg.adapters.hashing import _base_name

    return {_base_name(k): v for k, v in module.state_dict().items() if _base_name(k) is not None}


def test_only_adapter_parameters_receive_gradients(space):
    from genseg.models.text_encoder import encode_prompts
    from genseg.training.finetune import prepare_pipeline
    from genseg.training.trainer import FlowModel

    pipe = prepare_pipeline(_cfg(space, finetune={"text_encoder": True, "targets": "attn+ff"}))
    model = FlowModel(
        pipe.denoiser,
        pipe.image_encoder,
        pipe.mask_head,
        text_encoder=pipe.text_encoder,
        tokenizer=pipe.tokenizer,
    )
    g = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 32, 32, generator=g)
    x0 = pipe.codec.encode_mask((torch.rand(2, 1, 32, 32, generator=g) > 0.5).float())
    z_img = pipe.codec.encode_image(image)
    t = torch.full((2,), 0.9)
    v, _ = model(torch.randn(x0.shape, generator=g), z_img, t, ["thing", "stuff"], image)
    v.pow(2).mean().backward()
    named = [
        (f"{c}.{n}", p)
        for c in ("denoiser", "text_encoder", "codec")
        for n, p in getattr(pipe, c).named_parameters()
    ]
    with_grad = [n for n, p in named if p.grad is not None]
    assert with_grad, "nothing received a gradient"
    assert all(".lora_" in n for n in with_grad), [n for n in with_grad if ".lora_" not in n][:5]
    lora_b = [p for n, p in named if ".lora_B." in n]
    assert all(p.grad is not None for p in lora_b)
    assert any(n.startswith("text_encoder.") for n in with_grad)  # the text path trains too
    assert sum(float(p.grad.abs().sum()) for p in lora_b) > 0
    # the frozen features path is unchanged: the prompt cache's encoding still has no grad
    assert not encode_prompts(pipe.text_encoder, pipe.tokenizer, ["thing"], 8).tokens.requires_grad


def test_base_weights_are_bit_identical_after_finetuning(space, trained):
    result, before = trained
    assert _file_bytes(space / "base") == before  # the base folder was not touched
    fresh = _base(space)
    tuned = result.pipeline
    for component in ("denoiser", "text_encoder", "codec"):
        got, want = _base_state(getattr(tuned, component)), getattr(fresh, component).state_dict()
        assert got.keys() == want.keys(), component
        for key in want:
            assert torch.equal(got[key], want[key]), f"{component}.{key} changed"
    lora_b = [p for n, p in tuned.denoiser.named_parameters() if ".lora_B." in n]
    assert lora_b and all(float(p.detach().abs().max()) > 0 for p in lora_b)  # while the adapter did learn


def test_saved_adapter_loads_to_identical_outputs(space, trained):
    from genseg.adapters import active_adapters, read_manifest, weights_hash

    result, _ = trained
    tuned = result.pipeline
    for part in tuned.components.values():
        if isinstance(part, torch.nn.Module):
            part.eval()
    manifest = read_manifest(space / "lora")
    fresh = _base(space)
    assert manifest.base.weights_sha256 == weights_hash(fresh)
    plain = _run(fresh)
    loaded = _base(space, adapters=[str(space / "lora")])
    assert active_adapters(loaded) == [("tiny-lora", 1.0)]
    assert torch.equal(_run(loaded), _run(tuned))
    assert not torch.allclose(_run(loaded), plain, atol=1e-4)  # and the adapter does change the output
    assert set(manifest.lora.modules) == {"denoiser"}
    assert len(manifest.lora.modules["denoiser"]) == 16  # 2 blocks × (self + cross) × q, k, v, out


def _negated_copy(space, name="tiny-neg"):
    """A second adapter: the first with lora_B negated (so the two cancel when mixed 1:1)."""
    from safetensors.torch import load_file, save_file

    src, dst = space / "lora", space / name
    if not dst.exists():
        dst.mkdir()
        tensors = load_file(str(src / "adapter_model.safetensors"))
        save_file(
            {k: (-v if ".lora_B." in k else v) for k, v in tensors.items()},
            str(dst / "adapter_model.safetensors"),
        )
        card = json.loads((src / "genseg_adapter.json").read_text())
        card["name"] = name
        (dst / "genseg_adapter.json").write_text(json.dumps(card))
    return dst


def test_switching_and_mixing_adapters_needs_no_reload(space, trained, monkeypatch):
    from genseg.adapters import disable_adapters, enable_adapters, runtime, set_adapters

    neg = _negated_copy(space)
    only_a = _run(_base(space, adapters=[str(space / "lora")]))
    only_b = _run(_base(space, adapters=[str(neg)]))
    plain = _run(_base(space))
    pipe = _base(space, adapters=[str(space / "lora"), str(neg)])
    denoiser = pipe.denoiser

    def no_reading(*_a, **_k):
        raise AssertionError("switching read the adapter from disk")

    monkeypatch.setattr(runtime, "read_adapter", no_reading)
    monkeypatch.setattr(runtime, "resolve_adapter", no_reading)
    monkeypatch.setattr("safetensors.torch.load_file", no_reading)
    set_adapters(pipe, ["tiny-lora"])
    assert torch.equal(_run(pipe), only_a)
    set_adapters(pipe, ["tiny-neg"])
    assert torch.equal(_run(pipe), only_b)
    set_adapters(pipe, ["tiny-lora", "tiny-neg"], [1.0, 1.0])  # opposite deltas cancel
    assert torch.allclose(_run(pipe), plain, atol=1e-5)
    set_adapters(pipe, ["tiny-lora", "tiny-neg"], [0.7, 0.3])
    mixed = _run(pipe)
    assert not torch.allclose(mixed, only_a, atol=1e-5) and not torch.allclose(mixed, plain, atol=1e-5)
    disable_adapters(pipe)
    assert torch.equal(_run(pipe), plain)
    enable_adapters(pipe)
    assert torch.equal(_run(pipe), mixed)
    assert pipe.denoiser is denoiser


def test_fusing_matches_the_unfused_adapter(space, trained):
    from genseg.adapters import fuse_adapters, set_adapters, unfuse_adapters

    pipe = _base(space, adapters=[f"{space / 'lora'}:0.5"])
    unfused = _run(pipe)
    fuse_adapters(pipe)
    layers = [m for m in pipe.denoiser.modules() if hasattr(m, "merged")]
    assert layers and all(m.merged for m in layers)
    assert torch.allclose(_run(pipe), unfused, atol=1e-5)
    with pytest.raises(AdapterError, match="fused"):
        set_adapters(pipe, ["tiny-lora"])
    unfuse_adapters(pipe)
    assert torch.allclose(_run(pipe), unfused, atol=1e-5)
    assert not any(m.merged for m in layers)


def test_an_adapter_for_other_base_weights_is_refused_unless_forced(space, trained, tmp_path):
    from genseg.adapters import AdapterWarning, active_adapters, load_adapter
    from genseg.pipeline import load_pipeline
    from genseg.plugins.testing import build_tiny_pipeline

    build_tiny_pipeline("dit", seed=1).save_pretrained(tmp_path / "other")
    other = load_pipeline(tmp_path / "other", device="cpu")
    with pytest.raises(AdapterError) as err:
        load_adapter(other, space / "lora")
    message = err.value.one_line()
    assert "genseg_adapter.json" in message and "trained on base model 'base'" in message
    assert "--force" in message
    assert active_adapters(other) == []
    with pytest.warns(AdapterWarning, match="applied anyway"):
        load_adapter(other, space / "lora", force=True)
    assert active_adapters(other) == [("tiny-lora", 1.0)]


def _broken_copy(space, tmp_path, how):
    from safetensors.torch import load_file, save_file

    dst = tmp_path / f"broken-{how}"
    shutil.copytree(space / "lora", dst, ignore=shutil.ignore_patterns("checkpoints"))
    card_path, weights = dst / "genseg_adapter.json", dst / "adapter_model.safetensors"
    card = json.loads(card_path.read_text())
    if how == "no-card":
        card_path.unlink()
    elif how == "bad-card":
        card["lora"]["rank"] = 0
        card_path.write_text(json.dumps(card))
    elif how == "not-json":
        card_path.write_text("{not json")
    elif how in ("weights-outside", "weights-absolute"):  # a valid safetensors file, elsewhere
        card["weights"] = str(weights) if how == "weights-absolute" else "../lora/adapter_model.safetensors"
        card_path.write_text(json.dumps(card))
    elif how == "weights-link":  # the card's name, but a link to a file outside the folder
        outside = tmp_path / "outside.safetensors"
        shutil.copy(weights, outside)
        weights.unlink()
        weights.symlink_to(outside)
    elif how == "no-weights":
        weights.unlink()
    elif how == "corrupt-weights":
        weights.write_bytes(b"\x00" * 64)
    elif how == "unknown-module":
        tensors = load_file(str(weights))
        moved = {k.replace("transformer_blocks.1.", "transformer_blocks.7."): v for k, v in tensors.items()}
        save_file(moved, str(weights))
        modules = card["lora"]["modules"]["denoiser"]
        card["lora"]["modules"]["denoiser"] = [
            m.replace("transformer_blocks.1.", "transformer_blocks.7.") for m in modules
        ]
        card_path.write_text(json.dumps(card))
    elif how == "wrong-shape":
        tensors = load_file(str(weights))
        key = next(k for k in tensors if ".lora_A." in k)
        tensors[key] = torch.zeros(4, 5)
        save_file(tensors, str(weights))
    return dst


@pytest.mark.parametrize(
    "how, file, words",
    [
        ("no-card", "genseg_adapter.json", "no genseg_adapter.json"),
        ("bad-card", "genseg_adapter.json", "lora.rank"),
        ("not-json", "genseg_adapter.json", "cannot read the adapter card"),
        ("weights-outside", "genseg_adapter.json", "at weights: Value error, must be a file name inside"),
        ("weights-absolute", "genseg_adapter.json", "at weights: Value error, must be a file name inside"),
        ("weights-link", "adapter_model.safetensors", "a link to a file outside the adapter folder"),
        ("no-weights", "adapter_model.safetensors", "weights are missing"),
        ("corrupt-weights", "adapter_model.safetensors", "cannot read the adapter weights"),
        ("unknown-module", "adapter_model.safetensors", "which the model does not have"),
        ("wrong-shape", "adapter_model.safetensors", "needs (4, 32)"),
    ],
)
def test_bad_adapter_folders_give_one_error_naming_the_file(space, trained, tmp_path, how, file, words):
    from genseg.adapters import active_adapters, load_adapter

    folder = _broken_copy(space, tmp_path, how)
    pipe = _base(space)
    with pytest.raises(AdapterError) as err:
        load_adapter(pipe, folder)
    assert err.value.path == str(folder / file)
    assert words in err.value.one_line() and err.value.fix
    assert active_adapters(pipe) == []
    assert not [m for m in pipe.denoiser.modules() if hasattr(m, "lora_A")]  # nothing half-injected


def test_an_adapter_for_another_architecture_names_the_missing_layer(space, trained, tmp_path):
    from genseg.adapters import AdapterWarning, load_adapter
    from genseg.pipeline import load_pipeline
    from genseg.plugins.testing import build_tiny_pipeline

    build_tiny_pipeline("unet", seed=0).save_pretrained(tmp_path / "unet")
    unet = load_pipeline(tmp_path / "unet", device="cpu")
    with pytest.raises(AdapterError, match="trained on base model"):
        load_adapter(unet, space / "lora")
    with pytest.warns(AdapterWarning), pytest.raises(AdapterError) as err:
        load_adapter(unet, space / "lora", force=True)
    assert err.value.path == str(space / "lora" / "adapter_model.safetensors")
    assert "which the model does not have" in err.value.message
    assert "transformer_blocks.0.attn1." in err.value.message


def test_lora_checkpoints_hold_only_the_adapter_and_resume_exactly(space, trained, tmp_path):
    from safetensors.torch import load_file

    from genseg.training.trainer import train

    ckpt = space / "lora" / "checkpoints" / "step-000003"
    keys = list(load_file(str(ckpt / "model.safetensors")))
    assert keys and all(".lora_" in k for k in keys)
    assert sum(f.stat().st_size for f in ckpt.iterdir()) < 200_000
    # resume a copy of the run from step 3 and finish it: the same adapter as uninterrupted
    run = tmp_path / "resumed"
    shutil.copytree(space / "lora", run)
    shutil.rmtree(run / "checkpoints" / "step-000006")
    for name in ("adapter_model.safetensors", "genseg_adapter.json"):
        (run / name).unlink()
    train(_cfg(space), run, [space / "data"], resume=True, progress=False)
    a = load_file(str(space / "lora" / "adapter_model.safetensors"))
    b = load_file(str(run / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # a checkpoint of another shape is refused clearly
    shutil.rmtree(run / "checkpoints" / "step-000006")
    for name in ("adapter_model.safetensors", "genseg_adapter.json"):
        (run / name).unlink()
    record = run / "genseg_train.json"
    saved = json.loads(record.read_text())
    saved["finetune"]["targets"] = "attn+ff"
    record.write_text(json.dumps(saved))
    with pytest.raises(CheckpointError, match="adapter tensors do not match"):
        train(_cfg(space), run, [space / "data"], resume=True, progress=False)


@pytest.mark.parametrize("damaged", ["model.safetensors", "optimizer.bin"])
def test_a_damaged_lora_checkpoint_is_one_error_naming_the_file(space, trained, tmp_path, damaged):
    from genseg.training.trainer import train

    run = tmp_path / "resumed"
    shutil.copytree(space / "lora", run)
    shutil.rmtree(run / "checkpoints" / "step-000006")
    for name in ("adapter_model.safetensors", "genseg_adapter.json"):
        (run / name).unlink()
    (run / "checkpoints" / "step-000003" / damaged).write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match=f"{damaged} is damaged") as err:
        train(_cfg(space), run, [space / "data"], resume=True, progress=False)
    assert err.value.path == str(run / "checkpoints" / "step-000003") and "earlier one" in err.value.fix


def test_shots_are_k_images_per_class_drawn_from_the_seed(space):
    from genseg.adapters.shots import ShotsWarning, pairs_per_class, select_shots
    from genseg.data.folder_dataset import PromptedSegmentationDataset

    def draw(k, seed, min_items=1):
        data = PromptedSegmentationDataset([space / "data"], "training", 32, transform=lambda **kw: kw)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            counts = select_shots(data, k, seed, min_items)
        return data, counts, [str(w.message) for w in caught if issubclass(w.category, ShotsWarning)]

    data, counts, caught = draw(2, 0)
    assert counts == {"data": {"stuff": 2, "thing": 2}} and not caught
    assert len(data) == 4
    picks = {seed: [(e.image, k) for e, k, _ in draw(2, seed)[0].items] for seed in range(6)}
    assert picks[0] == [(e.image, k) for e, k, _ in draw(2, 0)[0].items]  # deterministic
    assert len({tuple(p) for p in picks.values()}) > 1  # and the seed matters
    data, counts, caught = draw(10, 0)
    assert counts == {"data": {"stuff": 4, "thing": 4}}
    assert len(caught) == 2 and all("fewer than --shots 10; using 4" in m for m in caught)
    data, counts, _ = draw(1, 0, min_items=8)  # 2 pairs repeated to fill a batch of 8
    assert len(data) == 8 and pairs_per_class(data) == {"data": {"stuff": 1, "thing": 1}}


def test_target_presets_pick_attention_feed_forward_or_every_linear_layer():
    from genseg.adapters.targets import target_modules
    from genseg.errors import ConfigError
    from genseg.plugins.testing import build_tiny_pipeline

    dit = build_tiny_pipeline("dit")
    attn = target_modules(dit.denoiser, "attn")
    ff = target_modules(dit.denoiser, "attn+ff")
    every = target_modules(dit.denoiser, "all-linear")
    assert len(attn) == 16 and all(n.rsplit(".", 1)[-1] in ("to_q", "to_k", "to_v", "0") for n in attn)
    assert set(ff) - set(attn) == {
        f"transformer_blocks.{i}.ff.net.{j}" for i in (0, 1) for j in ("0.proj", "2")
    }
    assert set(ff) < set(every) and "proj_out" in every
    text = target_modules(dit.text_encoder, "attn+ff", "text_encoder")
    assert "encoder.layer.0.attention.self.query" in text and "encoder.layer.1.output.dense" in text
    assert "pooler.dense" not in text
    with pytest.raises(ConfigError, match="unknown --targets"):
        target_modules(dit.denoiser, "mlp")


def test_adapter_specs_and_input_contract(space, trained):
    from genseg.adapters import AdapterWarning, apply_input_contract
    from genseg.adapters.runtime import parse_adapter_spec

    assert parse_adapter_spec("a:0.7") == ("a", 0.7)
    assert parse_adapter_spec("runs/x") == ("runs/x", 1.0)
    assert parse_adapter_spec("runs/x:y") == ("runs/x:y", 1.0)
    pipe = _base(space, adapters=[str(space / "lora")])
    assert apply_input_contract(pipe, "generic", {"k": "v"}) == ("generic", {"k": "v"})
    with pytest.warns(AdapterWarning, match="expects domain 'generic'; reading as 'medical'"):
        assert apply_input_contract(pipe, "medical", {})[0] == "medical"
    with pytest.warns(AdapterWarning, match="trained on 3-channel images; this input has 1"):
        pipe(np.zeros((32, 32, 1), np.float32), "thing")


@pytest.fixture(scope="module")
def trained_head(space):
    """A fine-tune with `attn+embed+head`: conv LoRA on the patch embedding and a trained copy of proj_out."""
    from genseg.training.trainer import train

    before = _file_bytes(space / "base")
    cfg = _cfg(space, finetune={"targets": "attn+embed+head", "adapter_name": "tiny-head"})
    result = train(cfg, space / "head", [space / "data"], progress=False)
    return result, before


def test_embed_and_head_targets_pick_the_patch_conv_and_the_output_layer():
    from genseg.adapters.card import Targets
    from genseg.adapters.targets import TARGET_CHOICES, target_modules, trained_modules
    from genseg.config import LoraTargets
    from genseg.plugins.testing import build_tiny_pipeline

    dit = build_tiny_pipeline("dit")
    attn = target_modules(dit.denoiser, "attn")
    assert target_modules(dit.denoiser, "attn+embed") == ["pos_embed.proj", *attn]
    assert target_modules(dit.denoiser, "attn+embed+head") == ["pos_embed.proj", *attn]
    assert trained_modules(dit.denoiser, "attn+embed+head") == ["proj_out"]
    assert trained_modules(dit.denoiser, "attn+embed") == []
    every = target_modules(dit.denoiser, "all-linear+embed")
    assert set(every) == {"pos_embed.proj", *target_modules(dit.denoiser, "all-linear")}
    unet = build_tiny_pipeline("unet").denoiser
    assert "conv_in" in target_modules(unet, "attn+embed")
    assert trained_modules(unet, "attn+embed+head") == ["conv_out"]  # not the inner proj_outs
    # the choices are the same everywhere they are spelled out
    assert set(TARGET_CHOICES) == set(Targets.__args__)
    assert set(TARGET_CHOICES) == set(LoraTargets.__args__)


@pytest.mark.parametrize("targets", ["attn+embed", "attn+embed+head"])
def test_new_targets_train_under_5_percent_of_the_default_denoiser(targets):
    """On the tiny default DiT (the few-shot study's base), with its real shapes."""
    from genseg.adapters.runtime import inject_lora
    from genseg.adapters.targets import target_modules, trained_modules
    from genseg.config import DenoiserConfig
    from genseg.models.denoisers import build_tiny_dit

    denoiser = build_tiny_dit(DenoiserConfig(), mask_ch=64, img_ch=192, text_dim=384, sample_size=16)
    total = sum(p.numel() for p in denoiser.parameters())
    denoiser.requires_grad_(False)
    inject_lora(denoiser, "a", 4, 4.0, target_modules(denoiser, targets), trained_modules(denoiser, targets))
    trainable = sum(p.numel() for p in denoiser.parameters() if p.requires_grad)
    assert total == 1_966_208
    assert trainable / total < 0.05, f"{trainable:,} of {total:,}"


def test_head_adapter_trains_only_its_tensors_and_round_trips(space, trained_head):
    from genseg.adapters import active_adapters, read_manifest
    from genseg.training.finetune import is_adapter_tensor

    result, before = trained_head
    tuned = result.pipeline
    assert _file_bytes(space / "base") == before
    # only adapter tensors were trainable, and the base (proj_out's original included) is bit-identical
    trainable = [n for n, p in tuned.denoiser.named_parameters() if p.requires_grad]
    assert trainable and all(is_adapter_tensor(n) for n in trainable)
    assert any(n.startswith("pos_embed.proj.lora_") for n in trainable)
    assert {n for n in trainable if "modules_to_save" in n} == {
        "proj_out.modules_to_save.tiny-head.weight",
        "proj_out.modules_to_save.tiny-head.bias",
    }
    fresh = _base(space)
    got, want = _base_state(tuned.denoiser), fresh.denoiser.state_dict()
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    copy = tuned.denoiser.proj_out.modules_to_save["tiny-head"].weight
    assert not torch.equal(copy, want["proj_out.weight"])  # the copy did learn
    manifest = read_manifest(space / "head")
    assert manifest.lora.targets == "attn+embed+head"
    assert manifest.lora.trained == {"denoiser": ["proj_out"]}
    assert "pos_embed.proj" in manifest.lora.modules["denoiser"]
    for part in tuned.components.values():
        if isinstance(part, torch.nn.Module):
            part.eval()
    loaded = _base(space, adapters=[str(space / "head")])
    assert active_adapters(loaded) == [("tiny-head", 1.0)]
    assert torch.equal(_run(loaded), _run(tuned))


def test_head_adapter_switches_fuses_and_unloads(space, trained, trained_head):
    from genseg.adapters import (
        AdapterWarning,
        disable_adapters,
        enable_adapters,
        fuse_adapters,
        set_adapters,
        unfuse_adapters,
        unload_adapter,
        unload_adapters,
        weights_hash,
    )

    plain_pipe = _base(space)
    plain, base_hash = _run(plain_pipe), weights_hash(plain_pipe)
    only_head = _run(_base(space, adapters=[str(space / "head")]))
    only_lora = _run(_base(space, adapters=[str(space / "lora")]))
    pipe = _base(space, adapters=[str(space / "lora"), str(space / "head")])
    set_adapters(pipe, ["tiny-lora"])
    assert torch.equal(_run(pipe), only_lora)  # proj_out is the original again
    set_adapters(pipe, ["tiny-head"])
    assert torch.equal(_run(pipe), only_head)
    disable_adapters(pipe)
    assert torch.equal(_run(pipe), plain)
    enable_adapters(pipe)
    assert torch.equal(_run(pipe), only_head)
    fuse_adapters(pipe)
    assert torch.allclose(_run(pipe), only_head, atol=1e-5)
    unfuse_adapters(pipe)
    with pytest.warns(AdapterWarning, match="scales only its LoRA layers"):
        set_adapters(pipe, ["tiny-head"], [0.5])
    # two adapters that both replace proj_out cannot be active together
    other = _base(space, adapters=[str(space / "head")])
    from genseg.adapters import load_adapter

    load_adapter(other, space / "head", name="tiny-head2", activate=False)
    with pytest.raises(AdapterError, match="both replace denoiser layer 'proj_out'"):
        set_adapters(other, ["tiny-head", "tiny-head2"])
    unload_adapter(pipe, "tiny-head")
    assert type(pipe.denoiser.proj_out) is torch.nn.Linear  # no copy left: the original layer is back
    set_adapters(pipe, ["tiny-lora"])
    assert torch.allclose(_run(pipe), only_lora, atol=1e-5)  # (fuse + unfuse is exact only to rounding)
    unload_adapters(pipe)
    assert torch.allclose(_run(pipe), plain, atol=1e-5)
    fresh = plain_pipe.denoiser.state_dict()
    assert pipe.denoiser.state_dict().keys() == fresh.keys()  # nothing of the adapters is left
    assert base_hash == weights_hash(_base(space))


def test_a_head_adapter_with_a_wrong_trained_tensor_is_refused(space, trained_head, tmp_path):
    from safetensors.torch import load_file, save_file

    from genseg.adapters import active_adapters, load_adapter

    dst = tmp_path / "bad-head"
    shutil.copytree(space / "head", dst, ignore=shutil.ignore_patterns("checkpoints"))
    weights = dst / "adapter_model.safetensors"
    tensors = load_file(str(weights))
    tensors["denoiser.proj_out.weight"] = torch.zeros(3, 3)
    save_file(tensors, str(weights))
    pipe = _base(space)
    with pytest.raises(AdapterError, match="denoiser.proj_out.weight|proj_out.weight has shape") as err:
        load_adapter(pipe, dst)
    assert err.value.path == str(weights)
    assert active_adapters(pipe) == []


def test_a_late_fusion_head_adapter_trains_its_readout_writer_and_round_trips(tmp_path):
    """`+head` on the late-fusion denoiser trains a copy of the hypernetwork (a Sequential, so its
    tensors are nested) and the adapter folder loads back onto the base with the same output."""
    from genseg.adapters import read_manifest
    from genseg.pipeline import load_pipeline
    from genseg.plugins.testing import build_tiny_pipeline, make_fake_dataset, tiny_model_config
    from genseg.training.trainer import train

    build_tiny_pipeline("late_fusion", seed=0).save_pretrained(tmp_path / "base")
    make_fake_dataset(tmp_path / "data", n=4)
    cfg = _cfg(
        tmp_path,
        model=tiny_model_config(kind="late_fusion"),
        steps=4,
        checkpoint_every=100,
        finetune={"adapter_name": "lf-head", "targets": "attn+embed+head"},
    )
    tuned = train(cfg, tmp_path / "head", [tmp_path / "data"], progress=False).pipeline
    assert read_manifest(tmp_path / "head").lora.trained == {"denoiser": ["hyper"]}
    copy = tuned.denoiser.hyper.modules_to_save["lf-head"][2].weight
    base = load_pipeline(tmp_path / "base", device="cpu")
    assert not torch.equal(copy, base.denoiser.hyper[2].weight)  # the copy learned
    for part in tuned.components.values():
        if isinstance(part, torch.nn.Module):
            part.eval()
    loaded = load_pipeline(tmp_path / "base", device="cpu", adapters=[str(tmp_path / "head")])
    assert torch.equal(_run(loaded), _run(tuned))
    assert not torch.equal(_run(loaded), _run(base))
