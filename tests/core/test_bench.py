"""`genseg bench`: every suite runs on a tiny case and writes a record that validates.

No figure here is a timing assertion: the harness is checked for what it records (keys,
positive numbers, the peers measured beside genseg), not for how fast this machine is.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from genseg.errors import ConfigError

TINY = dict(repeats=1, warmup=0, batch=1, train_batch=2, steps=[1, 50], scene=160, tile_batch=4)


def _positive(row: dict, *keys: str) -> None:
    for key in keys:
        assert row[key] > 0, (key, row[key])


@pytest.fixture(scope="module")
def record():
    """One run of the train, infer, volume and raster suites at tiny sizes (raster in-process)."""
    from genseg.bench.config import BenchConfig
    from genseg.bench.harness import run_bench

    cfg = BenchConfig(**TINY, volume=(4, 64, 64), volume_batches=[1, 4], isolate=False)
    return run_bench(cfg)


def test_record_names_machine_versions_commit_and_config(record):
    assert record["machine"]["cpu_cores"] >= 1 and record["machine"]["cpu_model"]
    assert record["machine"]["gpu"] is None  # a CPU run
    for lib in ("torch", "diffusers", "transformers", "monai"):
        assert record["libraries"][lib]
    assert record["config"]["repeats"] == 1 and record["config"]["device"] == "cpu"
    assert "git_commit" in record
    # the default tiny U-Net: self- and cross-attention in each transformer block of its two
    # coarser levels (down, mid and up blocks), all on torch's fused SDPA processor
    from diffusers.models.attention_processor import Attention

    from genseg.config import ModelConfig
    from genseg.pipeline import build_pipeline

    layers = sum(isinstance(m, Attention) for m in build_pipeline(ModelConfig()).denoiser.modules())
    assert record["model"]["performance"]["attention_processors"] == {"AttnProcessor2_0": layers}


def test_infer_suite_times_steps_and_peers(record):
    infer = record["suites"]["infer"]
    assert set(infer["genseg_steps"]) == {"1", "50"}
    for row in infer["genseg_steps"].values():
        _positive(row, "median_s", "items_per_s", "flops")
    assert infer["genseg_steps"]["50"]["flops"] > infer["genseg_steps"]["1"]["flops"]
    assert infer["speedup_1_vs_50"] > 0
    clipseg = infer["peers"]["clipseg"]
    _positive(clipseg, "median_s", "flops", "parameters")
    assert clipseg["input_resolution"] == record["model"]["resolution"]
    assert clipseg["mfu"] is None  # no known peak on a CPU: omitted, not guessed
    sd, dit = infer["real_size"]["sd2_unet"], infer["real_size"]["dit_1b3"]
    assert 0.8e9 < sd["parameters"] < 0.9e9 and 1.2e9 < dit["parameters"] < 1.4e9
    assert sd["flops_per_forward"] > 1e11 and "median_s" not in sd  # timed only with --real-size


def test_train_suite_times_plain_and_checkpointed_steps(record):
    train = record["suites"]["train"]["genseg"]
    assert set(train) == {"adamw", "adamw+gradient_checkpointing"}
    for row in train.values():
        _positive(row, "median_s", "samples_per_s", "flops_per_step")
    # recomputing the forward in the backward pass costs FLOPs
    assert train["adamw+gradient_checkpointing"]["flops_per_step"] > train["adamw"]["flops_per_step"]


def test_raster_suite_runs_both_tilers_on_the_same_tiles(record):
    raster = record["suites"]["raster"]
    g, m = raster["cases"]["genseg_tiler"], raster["cases"]["monai_sliding_window"]
    assert g["tiles"] == m["tiles"] == 4  # 160 px scene, 128 px tiles, 32 px overlap
    for row in (g, m):
        _positive(row, "median_s", "megapixels_per_s", "process_peak_rss_mb")
    assert raster["throughput_ratio_genseg_vs_monai"] > 0


@pytest.mark.slow
def test_raster_cases_in_fresh_processes_report_their_own_peak_memory():
    from genseg.bench.config import BenchConfig
    from genseg.bench.suite_raster import run_raster

    raster = run_raster(BenchConfig(**TINY, suites=["raster"], isolate=True))
    assert raster["memory_method"].startswith("ru_maxrss of a fresh process")
    for row in raster["cases"].values():
        assert row["isolated_process"] is True
        _positive(row, "median_s", "process_peak_rss_mb", "rss_at_case_start_mb")
    assert raster["peak_rss_ratio_genseg_vs_monai"] > 0


def test_volume_suite_times_each_batch_size(record):
    vol = record["suites"]["volume"]
    assert set(vol["batches"]) == {"1", "4"}
    _positive(vol["batches"]["4"], "median_s", "slices_per_s")
    assert vol["batching_speedup"] > 0


def test_cli_writes_the_record_atomically(tmp_path):
    from typer.testing import CliRunner

    from genseg.cli.app import app

    out = tmp_path / "bench.json"
    args = ["bench", "--suite", "train", "--repeats", "1", "--warmup", "0", "--train-batch", "1"]
    result = CliRunner().invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert list(data["suites"]) == ["train"]
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]  # no temporary file left
    assert "Example: genseg bench" in CliRunner().invoke(app, ["bench", "--help"]).output


def test_bad_options_are_config_errors():
    from genseg.bench.config import BenchConfig
    from genseg.bench.harness import run_bench

    with pytest.raises(ValueError, match="pass --model"):
        BenchConfig(dataset="data/samples/shapes")  # mIoU needs a trained model
    if not __import__("torch").cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA"):
            run_bench(BenchConfig(device="cuda", suites=["train"]))


def test_mfu_only_for_known_devices_in_bf16():
    from genseg.bench.flops import bf16_peak, mfu

    assert bf16_peak("NVIDIA H100 80GB HBM3") == 989e12
    assert bf16_peak("NVIDIA H200") == 989e12
    assert bf16_peak("NVIDIA A100-SXM4-80GB") == 312e12
    assert bf16_peak("Some Future GPU") is None
    assert mfu(989e12, 1.0, "NVIDIA H200", bf16=True) == pytest.approx(1.0)
    assert mfu(989e12, 1.0, "NVIDIA H200", bf16=False) is None
    assert mfu(1e12, 1.0, None, bf16=True) is None


def test_adamw8bit_without_bitsandbytes_says_how_to_install():
    import importlib.util

    import torch

    from genseg.training.memory_saving import build_optimizer

    if importlib.util.find_spec("bitsandbytes") is not None:
        pytest.skip("bitsandbytes is installed here")
    with pytest.raises(ConfigError, match="pip install bitsandbytes"):
        build_optimizer([torch.nn.Parameter(torch.zeros(2))], "adamw8bit", 1e-3, 0.0)


@pytest.fixture(scope="module")
def toy_dataset(tmp_path_factory):
    """8 seeded 32×32 images with a bright square (class 1)."""
    root = tmp_path_factory.mktemp("toy")
    (root / "images").mkdir()
    (root / "labels").mkdir()
    rng = np.random.default_rng(0)
    entries = []
    for i in range(8):
        img = rng.uniform(0.2, 0.5, (32, 32, 3))
        lab = np.zeros((32, 32), np.uint8)
        y, x = rng.integers(2, 18, 2)
        img[y : y + 12, x : x + 12] = [0.95, 0.9, 0.2]
        lab[y : y + 12, x : x + 12] = 1
        Image.fromarray((img * 255).astype(np.uint8)).save(root / "images" / f"{i}.png")
        Image.fromarray(lab).save(root / "labels" / f"{i}.png")
        entries.append({"image": f"images/{i}.png", "label": f"labels/{i}.png"})
    spec = {"name": "toy", "classes": {"1": {"name": "yellow square"}}, "training": entries}
    (root / "dataset.json").write_text(json.dumps(spec))
    return root


def test_gradient_checkpointing_trains_to_the_same_loss(toy_dataset, tmp_path, make_tiny_config):
    from genseg.config import TrainConfig
    from genseg.training.trainer import train

    losses = {}
    for ckpt in (False, True):
        cfg = TrainConfig(
            model=make_tiny_config(),
            steps=3,
            batch_size=4,
            warmup_steps=0,
            log_every=1,
            lr_schedule="constant",
            checkpoint_every=3,
            gradient_checkpointing=ckpt,
        )
        result = train(cfg, tmp_path / f"run-{ckpt}", [toy_dataset], progress=False)
        assert result.pipeline.denoiser.is_gradient_checkpointing is ckpt
        losses[ckpt] = [json.loads(x)["loss"] for x in (tmp_path / f"run-{ckpt}" / "train_log.jsonl").open()]
    assert len(losses[True]) == 3
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-4, atol=1e-6)
