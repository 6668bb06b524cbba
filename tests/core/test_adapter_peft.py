"""PEFT loads an adapter folder's `peft/COMPONENT/` as it is, to the outputs genseg's own loading gives."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from genseg.errors import AdapterError

NAME = "tiny-lora"


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    """A tiny DiT base, a dataset, and a 2-step fine-tune with LoRA on the attention, the input
    convolution (a conv LoRA) and the text encoder, and the output head trained in full."""
    from genseg.config import FinetuneConfig, TrainConfig
    from genseg.plugins.testing import build_tiny_pipeline, make_fake_dataset, tiny_model_config
    from genseg.training.trainer import train

    root = tmp_path_factory.mktemp("adapter_peft")
    build_tiny_pipeline("dit", seed=0).save_pretrained(root / "base")
    make_fake_dataset(root / "data", n=4)
    cfg = TrainConfig(
        model=tiny_model_config(kind="dit"),
        steps=2,
        batch_size=2,
        learning_rate=5e-2,
        warmup_steps=0,
        lr_schedule="constant",
        checkpoint_every=2,
        finetune=FinetuneConfig(
            base_model=str(root / "base"),
            adapter_name=NAME,
            eval_split="none",
            targets="attn+embed+head",
            text_encoder=True,
        ),
    )
    result = train(cfg, root / "lora", [root / "data"], progress=False)
    return root, result


def _eval(pipe):
    for part in pipe.components.values():
        if isinstance(part, torch.nn.Module):
            part.eval()
    return pipe


def _base(root):
    from genseg.pipeline import load_pipeline

    return _eval(load_pipeline(root / "base", device="cpu"))


def _with_genseg_adapter(root):
    from genseg.pipeline import load_pipeline

    return _eval(load_pipeline(root / "base", device="cpu", adapters=[str(root / "lora")]))


def _peft(module, folder):
    from peft import PeftModel

    return PeftModel.from_pretrained(module, str(folder)).eval()


def _denoiser_inputs(pipe) -> dict:
    """A fixed input for the DiT denoiser: noise and an image latent, a timestep, two prompts."""
    from genseg.models.text_encoder import encode_prompts

    g = torch.Generator().manual_seed(0)
    text = encode_prompts(pipe.text_encoder, pipe.tokenizer, ["thing", "stuff"], pipe.config.max_text_length)
    z_image = pipe.codec.encode_image(torch.rand(2, 3, 32, 32, generator=g))
    noise = torch.randn(pipe.codec.encode_mask(torch.zeros(2, 1, 32, 32)).shape, generator=g)
    return {
        "hidden_states": torch.cat([noise, z_image], dim=1),
        "encoder_hidden_states": text.tokens,
        "timestep": torch.full((2,), 700.0),
        "added_cond_kwargs": {"resolution": None, "aspect_ratio": None},
        "encoder_attention_mask": text.mask,
    }


def _probabilities(pipe):
    image = np.random.default_rng(1).random((32, 32, 3)).astype(np.float32)
    out = pipe(image, ["thing", "stuff"], generator=torch.Generator().manual_seed(0), output_type="pt")
    return out.probabilities


def test_the_adapter_folder_has_one_peft_folder_per_adapted_component(space):
    root, _ = space
    peft = root / "lora" / "peft"
    assert sorted(p.name for p in peft.iterdir()) == ["denoiser", "text_encoder"]
    for component in ("denoiser", "text_encoder"):
        assert sorted(p.name for p in (peft / component).iterdir()) == [
            "adapter_config.json",
            "adapter_model.safetensors",
        ]


def test_peft_loads_the_denoiser_to_the_output_genseg_gives(space):
    root, _ = space
    genseg_pipe = _with_genseg_adapter(root)
    fresh = _base(root)
    inputs = _denoiser_inputs(fresh)
    with torch.no_grad():
        plain = fresh.denoiser(**inputs).sample
        model = _peft(fresh.denoiser, root / "lora" / "peft" / "denoiser")
        via_peft = model(**inputs).sample
        via_genseg = genseg_pipe.denoiser(**inputs).sample
    assert (via_genseg - plain).abs().max() > 1e-4  # the adapter changes the output
    torch.testing.assert_close(via_peft, via_genseg, rtol=1e-5, atol=1e-6)


def test_peft_loads_the_text_encoder_to_the_output_genseg_gives(space):
    root, _ = space
    genseg_pipe = _with_genseg_adapter(root)
    fresh = _base(root)
    tokens = fresh.tokenizer(["thing", "stuff"], padding="max_length", max_length=8, return_tensors="pt")
    with torch.no_grad():
        plain = fresh.text_encoder(**tokens).last_hidden_state
        model = _peft(fresh.text_encoder, root / "lora" / "peft" / "text_encoder")
        via_peft = model(**tokens).last_hidden_state
        via_genseg = genseg_pipe.text_encoder(**tokens).last_hidden_state
    assert (via_genseg - plain).abs().max() > 1e-4
    torch.testing.assert_close(via_peft, via_genseg, rtol=1e-5, atol=1e-6)


def test_a_pipeline_with_peft_loaded_components_segments_as_with_genseg_adapters(space):
    root, _ = space
    want = _probabilities(_with_genseg_adapter(root))
    fresh = _base(root)
    for component in ("denoiser", "text_encoder"):  # PEFT injects into the module it wraps
        _peft(getattr(fresh, component), root / "lora" / "peft" / component)
    torch.testing.assert_close(_probabilities(fresh), want, rtol=1e-5, atol=1e-6)


def test_the_peft_config_is_the_lora_config_genseg_injected(space):
    from peft import LoraConfig

    from genseg.adapters import read_manifest

    root, result = space
    card = read_manifest(root / "lora")
    for component in ("denoiser", "text_encoder"):
        saved = LoraConfig.from_pretrained(str(root / "lora" / "peft" / component))
        used = getattr(result.pipeline, component).peft_config[NAME]
        assert (saved.r, saved.lora_alpha, saved.lora_dropout) == (used.r, used.lora_alpha, used.lora_dropout)
        assert set(saved.target_modules) == set(used.target_modules) == set(card.lora.modules[component])
        assert saved.modules_to_save == used.modules_to_save == (card.lora.trained.get(component) or None)
        assert saved.base_model_name_or_path == "base" and saved.inference_mode
    assert card.lora.trained == {"denoiser": ["proj_out"]}  # "+head": PEFT modules_to_save
    assert any(m.endswith("pos_embed.proj") for m in card.lora.modules["denoiser"])  # "+embed": a conv LoRA


@pytest.mark.filterwarnings("ignore:Could not find a config file")  # PEFT looks for the base by name
def test_the_peft_weights_are_what_peft_itself_saves(space, tmp_path):
    from safetensors.torch import load_file

    root, _ = space
    for component in ("denoiser", "text_encoder"):
        ours = root / "lora" / "peft" / component
        model = _peft(getattr(_base(root), component), ours)
        model.save_pretrained(str(tmp_path / component))
        want = load_file(str(tmp_path / component / "adapter_model.safetensors"))
        got = load_file(str(ours / "adapter_model.safetensors"))
        assert got.keys() == want.keys(), component
        assert all(torch.equal(got[k], want[k]) for k in want), component


def test_an_adapter_folder_from_before_loads_and_gets_the_same_peft_folders(space, tmp_path):
    from genseg.adapters import add_peft_folders, read_adapter

    root, _ = space
    old = tmp_path / "old-lora"
    shutil.copytree(root / "lora", old)
    shutil.rmtree(old / "peft")
    (old / "README.md").unlink()
    read_adapter(old)  # genseg's own format alone is a complete adapter
    add_peft_folders(old)
    for path in sorted((root / "lora" / "peft").rglob("*")):
        twin = old / "peft" / path.relative_to(root / "lora" / "peft")
        assert path.is_dir() == twin.is_dir()
        if path.is_file():
            assert path.read_bytes() == twin.read_bytes(), path  # the same bytes, run after run
    assert (old / "README.md").is_file()
    (old / "README.md").write_text("mine\n")
    add_peft_folders(old)
    assert (old / "README.md").read_text() == "mine\n"  # a README already there is kept


def test_a_peft_file_or_readme_linking_out_of_the_folder_is_refused(space, tmp_path):
    from genseg.adapters import read_adapter

    root, _ = space
    outside = tmp_path / "outside.safetensors"
    shutil.copy(root / "lora" / "peft" / "denoiser" / "adapter_model.safetensors", outside)
    for relative in ("peft/denoiser/adapter_model.safetensors", "peft", "README.md"):
        folder = tmp_path / relative.replace("/", "_")
        shutil.copytree(root / "lora", folder)
        link = folder / relative
        shutil.rmtree(link) if link.is_dir() else link.unlink()
        link.symlink_to(outside if relative != "peft" else root / "lora" / "peft")
        with pytest.raises(AdapterError) as caught:
            read_adapter(folder)
        line = caught.value.one_line()
        assert str(link) in line and "outside the adapter folder" in line
    inside = tmp_path / "inside"
    shutil.copytree(root / "lora", inside)
    (inside / "README.md").unlink()
    (inside / "README.md").symlink_to(inside / "genseg_adapter.json")
    read_adapter(inside)  # a link within the folder is fine


def test_the_card_cannot_name_the_peft_weights_or_a_path(space, tmp_path):
    from genseg.adapters import read_adapter

    root, _ = space
    folder = tmp_path / "moved"
    shutil.copytree(root / "lora", folder)
    card = json.loads((folder / "genseg_adapter.json").read_text())
    for weights in ("peft/denoiser/adapter_model.safetensors", "../lora/adapter_model.safetensors"):
        (folder / "genseg_adapter.json").write_text(json.dumps({**card, "weights": weights}))
        with pytest.raises(AdapterError, match="must be a file name inside the adapter folder"):
            read_adapter(folder)
