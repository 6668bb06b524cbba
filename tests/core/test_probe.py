"""Seg4Diff's attention probe: recording leaves the model unchanged, maps have the image's
shape and the documented normalisation, masks follow the documented rules, bad input fails
clearly, and the layer search / LoRA sharpening work end to end on a tiny MM-DiT."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from genseg.errors import ConfigError, InputError


@pytest.fixture(scope="module")
def mmdit_pipe():
    from genseg.plugins.testing import build_tiny_pipeline

    return build_tiny_pipeline("mmdit")


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    from genseg.cli.app import main

    monkeypatch.setattr(sys, "argv", ["genseg", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out + out.err


def test_recording_leaves_the_forward_pass_unchanged(mmdit_pipe):
    from genseg.models.denoisers import predict_velocity
    from genseg.probe.attention import recording

    gen = torch.Generator().manual_seed(0)
    x, z = torch.randn(2, 16, 8, 8, generator=gen), torch.randn(2, 48, 8, 8, generator=gen)
    text, t = mmdit_pipe.encode_text(["red circle", "grass"]), torch.ones(2)
    with torch.no_grad():
        plain = predict_velocity(mmdit_pipe.denoiser, x, z, t, text)
        with recording(mmdit_pipe.denoiser, [0, 1]) as recorders:
            recorded = predict_velocity(mmdit_pipe.denoiser, x, z, t, text)
        after = predict_velocity(mmdit_pipe.denoiser, x, z, t, text)
    torch.testing.assert_close(recorded, plain, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(after, plain)
    maps = recorders[0].maps  # B × image tokens (4×4 grid) × text tokens (max_length 8)
    assert maps.shape == (2, 16, 8)
    # rows are a slice of a softmax over image + text keys: positive, summing to less than 1
    assert (maps > 0).all() and (maps.sum(-1) < 1).all()
    assert type(mmdit_pipe.denoiser.transformer_blocks[0].attn.processor).__name__ == "JointAttnProcessor2_0"


def test_token_weights_skip_padding_and_special_tokens(mmdit_pipe):
    from genseg.probe.maps import token_weights

    tok = mmdit_pipe.tokenizer
    w = token_weights(tok, ["red circle", "grass"], 8)
    assert w.shape == (2, 8)
    torch.testing.assert_close(w.sum(1), torch.ones(2))
    # [CLS] red circle [SEP] pad... → only positions 1 and 2 count; "grass" is one word token
    assert w[0].nonzero().flatten().tolist() == [1, 2]
    assert w[1].nonzero().flatten().tolist() == [1]
    with_special = token_weights(tok, ["red circle"], 8, special_tokens=True)
    assert with_special[0].nonzero().flatten().tolist() == [0, 1, 2, 3]


def test_probe_maps_have_the_image_shape_and_span_zero_to_one(mmdit_pipe):
    from genseg.probe.probe import AttentionProbe

    probe = AttentionProbe(mmdit_pipe, layer=1)
    image = np.random.default_rng(0).random((40, 50, 3)).astype(np.float32)
    out = probe(image, ["red circle", "grass", "sky"], generator=torch.Generator().manual_seed(0))
    assert out.probabilities.shape == (1, 3, 40, 50) and out.masks.shape == (1, 3, 40, 50)
    flat = out.probabilities.reshape(3, -1)
    np.testing.assert_allclose(flat.min(1), 0.0, atol=1e-6)  # per-map min-max normalisation
    np.testing.assert_allclose(flat.max(1), 1.0, atol=1e-6)
    # argmax rule: at most one prompt per pixel, exactly where the best map beats the threshold
    maps, masks = out.probabilities[0], out.masks[0]
    assert masks.sum(0).max() <= 1
    np.testing.assert_array_equal(masks.any(0), maps.max(0) > 0.5)
    winner = maps.argmax(0)
    assert all(masks[winner[y, x], y, x] for y, x in zip(*np.nonzero(masks.any(0)), strict=True))


def test_mask_rules():
    from genseg.probe.maps import masks_from_maps, minmax

    maps = torch.tensor([[[0.9, 0.2], [0.6, 0.1]], [[0.8, 0.7], [0.3, 0.2]]])
    single = masks_from_maps(maps[:1], 0.5)
    assert single.tolist() == [[[True, False], [True, False]]]
    arg = masks_from_maps(maps, 0.5, "argmax")
    assert arg.tolist() == [[[True, False], [True, False]], [[False, True], [False, False]]]
    indep = masks_from_maps(maps, 0.5, "independent")
    assert indep[:, 0, 0].tolist() == [True, True]  # overlapping classes may both claim a pixel
    assert not minmax(torch.full((1, 3, 3), 0.4)).any()  # a constant map is all background


def test_layer_out_of_range_names_the_valid_range(mmdit_pipe):
    from genseg.probe.checks import LayerRangeError
    from genseg.probe.probe import AttentionProbe

    with pytest.raises(LayerRangeError, match="valid layers are 0 to 1") as err:
        AttentionProbe(mmdit_pipe, layer=2)
    assert isinstance(err.value, InputError) and "--layer between 0 and 1" in err.value.fix
    assert AttentionProbe(mmdit_pipe, layer=-1).layer == 1


@pytest.mark.parametrize("kind", ["unet", "dit"])
def test_backbones_without_joint_attention_are_refused(kind):
    from genseg.plugins.testing import build_tiny_pipeline
    from genseg.probe.checks import NoJointAttentionError
    from genseg.probe.probe import AttentionProbe

    with pytest.raises(
        NoJointAttentionError, match=rf"joint image-text attention \(mmdit\).*is {kind}"
    ) as err:
        AttentionProbe(build_tiny_pipeline(kind))
    assert isinstance(err.value, ConfigError) and "kind=mmdit" in err.value.fix


def test_segment_cli_attention_probe_and_its_errors(tmp_path, monkeypatch, capsys, mmdit_pipe):
    from genseg.plugins.testing import build_tiny_pipeline

    mmdit_pipe.save_pretrained(tmp_path / "mmdit")
    build_tiny_pipeline("dit").save_pretrained(tmp_path / "dit")
    image = tmp_path / "img.png"
    Image.fromarray((np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)).save(image)
    common = ["-p", "red circle", "-p", "grass", "-o", str(tmp_path / "out"), str(image)]

    probe = ["segment", "-m", str(tmp_path / "mmdit"), "--method", "attention-probe"]
    code, text = run_cli(monkeypatch, capsys, *probe, "--layer", "1", *common)
    assert code == 0, text
    label = np.asarray(Image.open(tmp_path / "out" / "img_mask.png"))
    assert label.shape == (40, 50) and set(np.unique(label)) <= {0, 1, 2}

    code, text = run_cli(monkeypatch, capsys, *probe, "--layer", "5", *common)
    assert code == 3 and "valid layers are 0 to 1" in text
    code, text = run_cli(monkeypatch, capsys, "segment", "-m", str(tmp_path / "dit"), *probe[3:], *common)
    assert code == 3 and "(mmdit)" in text and "is dit" in text
    assert "Traceback" not in text


def test_probe_layers_cli_and_lora_sharpening(tmp_path, monkeypatch, capsys, genseg_fake_dataset):
    from genseg.plugins.testing import build_tiny_pipeline
    from genseg.probe.layers import score_layers
    from genseg.probe.probe import AttentionProbe

    pipe = build_tiny_pipeline("mmdit")
    pipe.save_pretrained(tmp_path / "model")
    data = genseg_fake_dataset(tmp_path / "data", n=4)
    model = ["-m", str(tmp_path / "model"), "-d", str(data)]
    code, text = run_cli(monkeypatch, capsys, "probe-layers", *model, "--json", str(tmp_path / "layers.json"))
    assert code == 0, text
    report = json.loads((tmp_path / "layers.json").read_text())
    assert [row["layer"] for row in report["layers"]] == [0, 1]
    best = max(report["layers"], key=lambda r: r["mIoU"])["layer"]
    assert report["best_layer"] == best and f"expert layer: {best}" in text
    before = report["layers"][1]["mIoU"]

    train = [
        "--layer",
        "1",
        "--steps",
        "30",
        "--batch-size",
        "4",
        "--lr",
        "1e-2",
        "-o",
        str(tmp_path / "lora"),
    ]
    code, text = run_cli(monkeypatch, capsys, "probe-finetune", *model, *train)
    assert code == 0, text
    assert (tmp_path / "lora" / "adapter_model.safetensors").is_file()
    assert json.loads((tmp_path / "lora" / "genseg_adapter.json").read_text())["probe"] == {"layer": 1}
    after_args = ["--lora", str(tmp_path / "lora"), "--json", str(tmp_path / "after.json")]
    code, text = run_cli(monkeypatch, capsys, "probe-layers", *model, *after_args)
    assert code == 0, text
    after = json.loads((tmp_path / "after.json").read_text())
    assert after["layers"][1]["mIoU"] > before  # sharpened on these very images
    assert after["layers"][0]["mIoU"] == pytest.approx(report["layers"][0]["mIoU"])  # block 0 untouched
    # the base model on disk is unchanged by the adapter
    base = score_layers(AttentionProbe(build_tiny_pipeline("mmdit")), [data], progress=False)
    assert base[1].scores.miou == pytest.approx(before)
