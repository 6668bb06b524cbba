"""Joint text-to-image training (GenMask) and `genseg generate`.

What must hold: segmentation-only models are unchanged; guidance never reaches mask
sampling; a joint run's mask samples are exactly a plain run's; text dropout hits only
generation samples, at its rate; the generation/mask mix is the configured ratio; a joint
model round-trips through disk and `genseg generate` writes a PNG of the requested size.
"""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from genseg.cli.testing import run_cli
from genseg.errors import ConfigError

JOINT_CODEC = {"codec": {"kind": "space_to_depth", "factor": 4, "mask_as_image": True}}


def _joint_model(make_tiny_config):
    return make_tiny_config(JOINT_CODEC, kind="dit")


def _train_cfg(model, joint: dict | None, steps: int = 2):
    from genseg.config import TrainConfig

    return TrainConfig(
        model=model,
        batch_size=4,
        steps=steps,
        warmup_steps=0,
        log_every=1,
        lr_schedule="constant",
        joint_generation=joint,
    )


# ---------------------------------------------------------------- defaults and config


def test_default_configs_and_codec_are_unchanged():
    from genseg.config import CodecConfig, TrainConfig
    from genseg.models.factory import build_codec

    assert TrainConfig().joint_generation is None
    assert CodecConfig().mask_as_image is False
    codec = build_codec(CodecConfig())
    assert (codec.mask_latent_channels, codec.image_latent_channels) == (16, 48)  # factor 4
    mask = (torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    latent = codec.encode_mask(mask)
    assert torch.equal(latent, F.pixel_unshuffle(mask * 2 - 1, 4))  # the formula it always had
    assert torch.equal(codec.decode_mask(latent), mask)


def test_mask_as_image_codec_shares_the_image_latent_space(tmp_path):
    from genseg.models.codec import SpaceToDepthCodec

    codec = SpaceToDepthCodec(factor=4, mask_as_image=True)
    assert codec.mask_latent_channels == codec.image_latent_channels == 48
    g = torch.Generator().manual_seed(0)
    mask = (torch.rand(2, 1, 16, 16, generator=g) > 0.5).float()
    image = torch.rand(2, 3, 16, 16, generator=g)
    # a mask is the black/white image of itself
    assert torch.equal(codec.encode_mask(mask), codec.encode_image(mask.repeat(1, 3, 1, 1)))
    assert torch.equal(codec.decode_mask(codec.encode_mask(mask)), mask)
    assert torch.allclose(codec.decode_image(codec.encode_image(image)), image, atol=1e-6)
    codec.save_pretrained(tmp_path / "codec")
    assert SpaceToDepthCodec.from_pretrained(tmp_path / "codec").mask_latent_channels == 48


def test_configs_that_cannot_train_jointly_fail_clearly(tmp_path, make_tiny_config, genseg_fake_dataset):
    from pydantic import ValidationError

    from genseg.config import FinetuneConfig, JointGenerationConfig, load_train_config
    from genseg.generation.joint import check_joint_config
    from genseg.training.trainer import train

    joint = JointGenerationConfig()
    plain = make_tiny_config(kind="dit")  # space-to-depth with 1-channel masks
    with pytest.raises(ConfigError, match="one latent space") as err:
        check_joint_config(_train_cfg(plain, joint))
    assert "mask_as_image" in err.value.fix
    with_encoder = make_tiny_config({**JOINT_CODEC, "image_encoder": {"kind": "efficientnet_lite0"}})
    with pytest.raises(ConfigError, match="image encoder"):
        check_joint_config(_train_cfg(with_encoder, joint))
    finetune = _train_cfg(_joint_model(make_tiny_config), joint).model_copy(
        update={"finetune": FinetuneConfig(base_model="runs/x")}
    )
    with pytest.raises(ConfigError, match="finetune"):
        check_joint_config(finetune)
    check_joint_config(_train_cfg(_joint_model(make_tiny_config), joint))  # a valid one passes
    with pytest.raises(ValidationError):
        JointGenerationConfig(ratio=0)
    with pytest.raises(ConfigError, match="text_dropout"):
        load_train_config(None, {"joint_generation.text_dropout": 1.5})
    # train() refuses before writing anything
    data = genseg_fake_dataset(tmp_path / "data", n=4)
    with pytest.raises(ConfigError, match="one latent space"):
        train(_train_cfg(plain, joint), tmp_path / "run", [data], progress=False)
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- mixing and dropout


def test_generation_count_follows_the_ratio_and_the_seed():
    from genseg.generation.joint import generation_count

    g = torch.Generator().manual_seed(0)
    assert {generation_count(8, 1.0, g) for _ in range(50)} == {8}  # GenMask's 1:1
    counts = [generation_count(8, 0.3, torch.Generator().manual_seed(s)) for s in range(3000)]
    assert set(counts) == {2, 3}
    assert abs(np.mean(counts) - 2.4) < 0.05
    again = [generation_count(8, 0.3, torch.Generator().manual_seed(s)) for s in range(3000)]
    assert counts == again


def test_text_dropout_rate():
    from genseg.generation.joint import drop_captions

    captions = [f"caption {i}" for i in range(5000)]
    dropped = drop_captions(captions, 0.1, torch.Generator().manual_seed(0))
    share = sum(c == "" for c in dropped) / len(dropped)
    assert 0.085 < share < 0.115
    assert all(d in ("", c) for c, d in zip(captions, dropped, strict=True))
    assert drop_captions(captions, 0.0, torch.Generator().manual_seed(0)) == captions
    assert set(drop_captions(captions, 1.0, torch.Generator().manual_seed(0))) == {""}


def test_captions_name_the_classes_by_area(tmp_path, genseg_fake_dataset):
    from genseg.data.schema import DatasetSpec
    from genseg.generation.captions import ImageCaptionDataset, caption_for_label, join_names

    assert join_names(["grass"]) == "grass"
    assert join_names(["grass", "red circle", "blue square"]) == "grass, red circle and blue square"
    spec = DatasetSpec(name="x", classes={"1": "red circle", "2": "grass", "3": "blue square"})
    label = np.zeros((10, 10), np.uint8)
    label[:6] = 2
    label[6:8, :5] = 1
    label[8:, :3] = 3
    assert caption_for_label(label, spec) == "grass, red circle and blue square"
    assert caption_for_label(label, spec, exclude=["Red  Circle"]) == "grass and blue square"
    data = ImageCaptionDataset([genseg_fake_dataset(tmp_path / "d", n=3)], resolution=24)
    assert len(data) == 3
    item = data.load(0, flip=True)
    assert item["image"].shape == (3, 24, 24) and 0 <= item["image"].min() <= item["image"].max() <= 1
    assert torch.equal(data.load(0, flip=True)["image"], data.load(0)["image"].flip(-1))
    assert set(" ".join(data.captions()).replace(",", " ").split()) <= {"thing", "stuff", "and"}


def test_the_empty_prompt_is_encodable_for_generation_only():
    from genseg.errors import PromptError
    from genseg.generation.text import CaptionCache
    from genseg.models.text_encoder import build_tiny_text_encoder, encode_prompts

    model, tokenizer = build_tiny_text_encoder()
    feats = CaptionCache(model, tokenizer, 8)(["", "thing", ""])
    assert feats.tokens.shape == (3, 8, 32)
    assert torch.equal(feats.tokens[0], feats.tokens[2])
    assert not torch.equal(feats.tokens[0], feats.tokens[1])
    assert torch.equal(feats.tokens[1], encode_prompts(model, tokenizer, ["thing"], 8).tokens[0])
    with pytest.raises(PromptError):  # segmentation still refuses an empty prompt
        encode_prompts(model, tokenizer, [""], 8)


# ---------------------------------------------------------------- guidance and masks


def test_guidance_never_touches_mask_sampling(make_tiny_config):
    from genseg.generation.sampling import generate_images
    from genseg.pipeline import GenSegPipeline, build_pipeline

    assert not {"guidance", "guidance_scale"} & set(inspect.signature(GenSegPipeline.__call__).parameters)
    pipe = build_pipeline(_joint_model(make_tiny_config), seed=0)
    pipe.set_progress_bar_config(disable=True)
    image = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)

    def segment():
        return pipe(image, ["thing", "stuff"], generator=torch.Generator().manual_seed(0)).probabilities

    before = segment()
    a = generate_images(pipe, "thing and stuff", steps=2, guidance=7.5, seed=0)
    b = generate_images(pipe, "thing and stuff", steps=2, guidance=1.0, seed=0)
    assert not torch.equal(a, b)  # guidance does act on generation
    assert np.array_equal(before, segment())  # ... and leaves segmentation as it was


def test_generation_refuses_a_segmentation_only_codec(make_tiny_config):
    from genseg.generation.sampling import generate_images
    from genseg.pipeline import build_pipeline

    pipe = build_pipeline(make_tiny_config(kind="dit"), seed=0)
    with pytest.raises(ConfigError, match="mask_as_image"):
        generate_images(pipe, "thing", steps=1)


# ---------------------------------------------------------------- training end to end


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory):
    """A segmentation-only run and two joint runs (all captions dropped / none), 2 steps each."""
    from genseg.config import JointGenerationConfig
    from genseg.plugins.testing import make_fake_dataset, tiny_model_config
    from genseg.training.trainer import train

    root = tmp_path_factory.mktemp("joint")
    data = make_fake_dataset(root / "data", n=6)
    model = tiny_model_config(JOINT_CODEC, kind="dit")
    runs = {}
    for name, joint in (
        ("seg", None),
        ("drop_all", JointGenerationConfig(text_dropout=1.0)),
        ("drop_none", JointGenerationConfig(text_dropout=0.0)),
    ):
        result = train(_train_cfg(model, joint), root / name, [data], progress=False)
        runs[name] = result
    return runs


def _joint_log(result):
    return [json.loads(line) for line in (result.output / "joint_log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_joint_runs_keep_the_mask_stream_and_drop_only_generation_text(trained_runs):
    seg, drop_all, drop_none = trained_runs["seg"], trained_runs["drop_all"], trained_runs["drop_none"]
    assert not (seg.output / "joint_log.jsonl").exists()
    log_all, log_none = _joint_log(drop_all), _joint_log(drop_none)
    # step 1: same weights, and the same mask samples (images, prompts, t, noise) in every run,
    # whether every generation caption is dropped or none is
    assert log_all[0]["mask_loss"] == log_none[0]["mask_loss"] == pytest.approx(seg.first_loss, abs=2e-6)
    assert [r["n_gen"] for r in log_all + log_none] == [4] * 4  # ratio 1.0 at batch 4
    assert all(r["n_uncond"] == r["n_gen"] for r in log_all)
    assert all(r["n_uncond"] == 0 for r in log_none)
    assert log_all[0]["gen_loss"] != log_none[0]["gen_loss"]  # the captions did change
    record = json.loads((drop_none.output / "genseg_train.json").read_text())
    assert record["joint_generation"]["ratio"] == 1.0


@pytest.mark.slow
def test_joint_model_loads_and_generate_writes_a_png(trained_runs, tmp_path, monkeypatch, capsys):
    from genseg.generation.sampling import generate_images
    from genseg.pipeline import load_pipeline

    model = trained_runs["drop_none"].output
    pipe = load_pipeline(model, device="cpu")
    masks = pipe(np.zeros((32, 32, 3), np.float32), ["thing", "stuff"]).masks
    assert masks.shape == (1, 2, 32, 32)
    one = generate_images(pipe, "thing and stuff", steps=3, guidance=3.0, seed=1)
    assert one.shape == (1, 3, 32, 32)
    assert torch.equal(one, generate_images(pipe, "thing and stuff", steps=3, guidance=3.0, seed=1))

    out = tmp_path / "img.png"
    code, stdout, stderr = run_cli(
        monkeypatch, capsys, "generate", "--model", str(model), "--prompt", "thing and stuff",
        "--steps", "3", "--guidance", "3", "--seed", "0", "--size", "48", "--output", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    with Image.open(out) as img:
        assert img.size == (48, 48) and img.mode == "RGB"

    code, _, stderr = run_cli(
        monkeypatch, capsys, "generate", "--model", str(trained_runs["seg"].output), "--prompt", "thing",
        "--output", str(tmp_path / "no.png"),
    )  # fmt: skip
    assert code == 3 and "segmentation only" in stderr
    assert not (tmp_path / "no.png").exists()
