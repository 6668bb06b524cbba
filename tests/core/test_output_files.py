"""What genseg writes is readable as the user's umask says, and carries a Hugging Face model card."""

from __future__ import annotations

import os
import stat

import pytest

GROUP_OTHER_READ = stat.S_IRGRP | stat.S_IROTH


@pytest.fixture(scope="module", params=[0o022, 0o077], ids=["umask022", "umask077"])
def written(request, tmp_path_factory):
    """Under the given umask: a 2-step tiny model (`genseg train`) and a 2-step adapter on it."""
    from genseg.config import FinetuneConfig, TrainConfig
    from genseg.plugins.testing import make_fake_dataset, tiny_model_config
    from genseg.training.trainer import train

    root = tmp_path_factory.mktemp(f"outputs{request.param:03o}")
    make_fake_dataset(root / "data", n=4)
    base = dict(
        model=tiny_model_config(kind="dit"),
        steps=2,
        batch_size=2,
        warmup_steps=0,
        lr_schedule="constant",
        checkpoint_every=2,
    )
    previous = os.umask(request.param)
    try:
        train(TrainConfig(**base), root / "model", [root / "data"], progress=False)
        finetune = FinetuneConfig(base_model=str(root / "model"), adapter_name="tiny-lora", eval_split="none")
        train(TrainConfig(**base, finetune=finetune), root / "adapter", [root / "data"], progress=False)
    finally:
        os.umask(previous)
    return request.param, root


def _modes(folder) -> dict[str, int]:
    return {
        str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in folder.rglob("*") if p.is_file()
    }


@pytest.mark.parametrize("folder", ["model", "adapter"])
def test_every_file_has_the_mode_the_umask_gives(written, folder):
    mask, root = written
    modes = _modes(root / folder)
    assert any(name.endswith(".safetensors") for name in modes)  # the files safetensors writes 0600
    assert any(name.startswith("checkpoints/") for name in modes)
    if mask == 0o022:
        unreadable = {
            name: oct(mode) for name, mode in modes.items() if mode & GROUP_OTHER_READ != GROUP_OTHER_READ
        }
        assert not unreadable  # a colleague can read every file
    else:
        assert all(mode & 0o077 == 0 for mode in modes.values()), {n: oct(m) for n, m in modes.items()}


def test_apply_umask_gives_a_file_the_umask_mode_and_leaves_links_alone(tmp_path):
    from genseg.file_modes import apply_umask, current_umask

    previous = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        file = tmp_path / "w.safetensors"
        file.write_bytes(b"x")
        file.chmod(0o600)
        link = tmp_path / "link"
        link.symlink_to(file)
        apply_umask(link)
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
        apply_umask(tmp_path)
        assert stat.S_IMODE(file.stat().st_mode) == 0o640
    finally:
        os.umask(previous)


def test_a_model_folder_has_a_model_card(written):
    from huggingface_hub import ModelCard

    _, root = written
    card = ModelCard.load(root / "model" / "README.md")
    data = card.data.to_dict()
    assert data["library_name"] == "genseg" and data["datasets"] == ["data"]
    assert {"genseg", "image-segmentation", "generic"} <= set(data["tags"])
    assert "base_model" not in data and "license" not in data  # no base; the license is unknown
    text = card.text
    assert "| steps / batch / learning rate | 2 / 2 / 0.001 |" in text
    assert "| formulation | `flow`" in text and "| resolution | 32 px |" in text
    assert "| bands (input channels, in order) | red, green, blue |" in text
    assert "| data | generic | " in text and "thing" in text and "stuff" in text
    assert "genseg segment -m model -p thing -p stuff -o out/ image.png" in text
    assert "load_pipeline('model')" in text


def test_an_adapter_folder_has_a_model_card_naming_its_base(written):
    from huggingface_hub import ModelCard

    from genseg.adapters import read_manifest

    _, root = written
    card = ModelCard.load(root / "adapter" / "README.md")
    data = card.data.to_dict()
    assert data["library_name"] == "genseg" and data["base_model"] == "model"
    assert data["datasets"] == ["data"] and {"lora", "peft", "generic"} <= set(data["tags"])
    manifest = read_manifest(root / "adapter")
    assert manifest.base.weights_sha256 in card.text
    assert "genseg segment -m model --adapter adapter" in card.text
    assert "PeftModel.from_pretrained(pipe.denoiser, 'adapter/peft/denoiser')" in card.text


def test_an_adapter_card_shows_its_scores(written, tmp_path):
    from huggingface_hub import ModelCard

    from genseg.adapters import read_manifest
    from genseg.adapters.readme import adapter_readme

    _, root = written
    manifest = read_manifest(root / "adapter")
    scores = {"split": "validation", "mIoU": 0.5, "dice": 0.625, "images": 4, "per_class": {"thing": 0.25}}
    text = adapter_readme(manifest.model_copy(update={"scores": scores}), root / "adapter")
    (tmp_path / "README.md").write_text(text)
    card = ModelCard.load(tmp_path / "README.md")
    assert "On the validation split when training ended (4 images):" in card.text
    assert "| mIoU | 0.5000 |" in card.text and "| thing | 0.2500 |  |" in card.text
