"""`genseg bench`: time genseg and its peers on the same inputs; JSON plus a table."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from genseg.cli.output import check_json_target, emit_json, info, json_option, json_to_stdout


class SuiteChoice(str, Enum):
    train = "train"
    infer = "infer"
    raster = "raster"
    volume = "volume"
    all = "all"


class DeviceChoice(str, Enum):
    cpu = "cpu"
    cuda = "cuda"


def bench(
    suite: list[SuiteChoice] = typer.Option(
        [SuiteChoice.all], "--suite", "-s", help="What to measure; repeat for several."
    ),
    json_out: Path | None = json_option("the full record (machine, versions, figures)"),
    model: str = typer.Option(
        None, "--model", "-m", help="Model folder; default: the untrained tiny default."
    ),
    dataset: Path = typer.Option(
        None, "--dataset", "-d", help="Labelled dataset folder: adds 1/10/50-step mIoU (needs --model)."
    ),
    device: DeviceChoice = typer.Option(DeviceChoice.cpu, "--device", help="cpu or cuda."),
    repeats: int = typer.Option(5, "--repeats", min=1, help="Timed runs per figure (the median is kept)."),
    warmup: int = typer.Option(1, "--warmup", min=0, help="Untimed runs before them."),
    real_size: bool = typer.Option(
        False, "--real-size", help="Also time the SD 2.x U-Net and the 1.3B DiT (seconds per forward on CPU)."
    ),
    bf16: bool = typer.Option(None, "--bf16/--no-bf16", help="bf16 autocast (default: on for cuda only)."),
    compile_: bool = typer.Option(False, "--compile", help="torch.compile the denoiser."),
    batch: int = typer.Option(4, "--batch", min=1, help="Images per inference call."),
    train_batch: int = typer.Option(8, "--train-batch", min=1, help="Samples per training step."),
    scene: int = typer.Option(1024, "--scene", min=16, help="Raster suite: side of the square scene."),
    tile: int = typer.Option(
        None, "--tile", help="Raster suite: tile side (default: the model's resolution)."
    ),
    overlap: int = typer.Option(None, "--overlap", help="Raster suite: overlap in pixels (default: tile/4)."),
    tile_batch: int = typer.Option(16, "--tile-batch", min=1, help="Tiles per forward, both tilers."),
    eval_limit: int = typer.Option(20, "--eval-limit", min=1, help="Test images scored per step count."),
    prompt: list[str] = typer.Option(["building"], "--prompt", "-p", help="Prompt(s) used by every case."),
) -> None:
    """Benchmark training, inference, tiled rasters and volumes; peers are measured in the same run
    on the same inputs (see docs/performance.md). Every figure is the median of --repeats runs after --warmup.

    Example: genseg bench --suite infer --suite raster --json bench.json

    Example: genseg bench --device cuda --real-size -m runs/demo --dataset data/samples/shapes --json gpu.json
    """
    from genseg.bench.config import SUITES, BenchConfig, PerfOptions
    from genseg.bench.harness import run_bench
    from genseg.bench.report import print_report
    from genseg.config import _validation_message
    from genseg.errors import ConfigError

    chosen = list(SUITES) if SuiteChoice.all in suite else list(dict.fromkeys(s.value for s in suite))
    try:
        cfg = BenchConfig(
            suites=chosen,
            device=device.value,
            repeats=repeats,
            warmup=warmup,
            model=model,
            dataset=str(dataset) if dataset else None,
            eval_limit=eval_limit,
            real_size=real_size,
            perf=PerfOptions(bf16=bf16, compile=compile_),
            batch=batch,
            prompts=prompt,
            train_batch=train_batch,
            scene=scene,
            tile=tile,
            overlap=overlap,
            tile_batch=tile_batch,
        )
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        message = _validation_message(exc) if hasattr(exc, "errors") else str(exc)
        raise ConfigError(message, fix="see `genseg bench --help`") from exc
    check_json_target(json_out)
    record = run_bench(cfg, say=lambda m: info(f"{m}…"))
    if not json_to_stdout(json_out):
        print_report(record)
    emit_json(record, json_out)
