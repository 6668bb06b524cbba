"""What a benchmark run measures, as validated data, so the JSON records exactly what ran."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Suite = Literal["train", "infer", "raster", "volume"]
SUITES: tuple[Suite, ...] = ("train", "infer", "raster", "volume")


class PerfOptions(BaseModel):
    """The GPU-path switches applied to a pipeline before it is timed (see genseg.bench.performance).

    ``None`` for bf16 / channels_last means "on for CUDA, off for CPU": CPU autocast to
    bfloat16 is slower than float32 on most CPUs, and channels-last only pays off with cuDNN.
    """

    model_config = ConfigDict(extra="forbid")

    bf16: bool | None = Field(None, description="run the denoiser and text encoder under bf16 autocast")
    channels_last: bool | None = Field(None, description="U-Net weights in channels-last memory format")
    sdpa: bool = Field(True, description="force diffusers' AttnProcessor2_0 (PyTorch SDPA) everywhere")
    compile: bool = Field(False, description="torch.compile the denoiser (first call compiles)")

    def resolved(self, device: str) -> PerfOptions:
        cuda = device.startswith("cuda")
        return self.model_copy(
            update={
                "bf16": cuda if self.bf16 is None else self.bf16,
                "channels_last": cuda if self.channels_last is None else self.channels_last,
            }
        )


class BenchConfig(BaseModel):
    """One `genseg bench` run. Sizes default to figures a CPU finishes in minutes."""

    model_config = ConfigDict(extra="forbid")

    suites: list[Suite] = Field(default_factory=lambda: list(SUITES))
    device: Literal["cpu", "cuda"] = "cpu"
    repeats: int = Field(5, ge=1, description="timed runs per figure; the figure is their median")
    warmup: int = Field(1, ge=0, description="untimed runs before the timed ones")
    model: str | None = Field(None, description="trained model folder; default: the untrained tiny default")
    dataset: str | None = Field(None, description="labelled dataset folder, for 1/10/50-step mIoU")
    eval_limit: int = Field(20, ge=1, description="test images scored per step count")
    real_size: bool = Field(False, description="also time the SD 2.x U-Net and the 1.3B DiT (slow on CPU)")
    perf: PerfOptions = PerfOptions()
    # inference
    batch: int = Field(4, ge=1, description="images per pipeline call")
    prompts: list[str] = Field(default_factory=lambda: ["building"], min_length=1)
    steps: list[int] = Field(default_factory=lambda: [1, 10, 50], min_length=1)
    # training
    train_batch: int = Field(8, ge=1)
    # raster
    scene: int = Field(1024, ge=16, description="side of the square scene, pixels")
    tile: int | None = Field(None, ge=8, description="tile side; default the model's resolution")
    overlap: int | None = Field(None, description="pixels shared by neighbouring tiles; default tile/4")
    tile_batch: int = Field(16, ge=1, description="tiles per forward pass (both tilers)")
    isolate: bool = Field(
        True, description="each raster case in a fresh process, so its peak resident memory is its own"
    )
    # volume
    volume: tuple[int, int, int] = Field((32, 128, 128), description="slices, height, width")
    volume_batches: list[int] = Field(default_factory=lambda: [1, 16], min_length=1)
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> BenchConfig:
        if not self.suites:
            raise ValueError("at least one suite is needed")
        if self.dataset and not self.model:
            raise ValueError("--dataset scores a trained model: pass --model too")
        if self.tile is not None and self.overlap is not None and not 0 <= self.overlap <= self.tile // 2:
            raise ValueError(f"overlap must be between 0 and half the tile ({self.tile // 2})")
        if any(s < 1 for s in self.steps):
            raise ValueError("steps must be >= 1")
        return self
