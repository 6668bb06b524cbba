"""pytest fixtures for plugin authors (loaded through the ``pytest11`` entry point).

Install genseg and these fixtures are available in any test suite::

    def test_my_reader(genseg_plugins, genseg_fake_image, tmp_path):
        import my_plugin.plugin
        plugins = genseg_plugins(my_plugin.plugin)        # built-in + your plugin only
        path = genseg_fake_image(tmp_path / "a.png")
        ...

Everything heavy is imported inside the fixtures, so merely having genseg installed adds
nothing to a test session's start-up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

TINY_MODEL: dict[str, Any] = {
    "resolution": 32,
    "text_encoder": {"kind": "tiny", "max_length": 8},
    "codec": {"kind": "space_to_depth", "factor": 4},
    "denoiser": {
        "kind": "unet",
        "block_out_channels": [16, 32],
        "cross_attention_dim": 32,
        "attention_head_dim": 8,
        "num_layers": 2,
        "num_attention_heads": 2,
        "dit_head_dim": 16,
    },
    "image_encoder": {"kind": "none"},  # the pretrained encoder costs seconds; tests that need it ask
}


def tiny_model_config(extra: dict[str, Any] | None = None, **denoiser: Any):
    """A ModelConfig small enough to build and run in a second on a CPU (untrained)."""
    from genseg.config import ModelConfig

    data = {**TINY_MODEL, "denoiser": {**TINY_MODEL["denoiser"], **denoiser}, **(extra or {})}
    return ModelConfig.model_validate(data)


def build_tiny_pipeline(kind: str = "dit", seed: int = 0):
    """An untrained tiny GenSegPipeline with its progress bar off."""
    from genseg.pipeline import build_pipeline

    pipe = build_pipeline(tiny_model_config(kind=kind), seed=seed)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def make_fake_image(path: Path, size: tuple[int, int] = (32, 32), channels: int = 3, seed: int = 0) -> Path:
    """Write a seeded random 8-bit image (PNG/TIFF by extension) and return its path."""
    import numpy as np

    from genseg.data.readers import write_image_png

    rng = np.random.default_rng(seed)
    image = rng.random((*size, channels), dtype=np.float32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        tifffile.imwrite(path, (image * 255).astype(np.uint8).squeeze())
        return path
    return write_image_png(path, image if channels in (1, 3) else image[..., :3])


def make_fake_label(path: Path, size: tuple[int, int] = (32, 32), classes: int = 2, seed: int = 0) -> Path:
    """Write a label map with ``classes`` axis-aligned rectangles (values 1..classes) on 0."""
    import numpy as np

    from genseg.data.readers import write_png_mask

    rng = np.random.default_rng(seed)
    h, w = size
    label = np.zeros(size, dtype=np.uint8)
    for value in range(1, classes + 1):
        y, x = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
        label[y : y + h // 3, x : x + w // 3] = value
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return write_png_mask(path, label)


def make_fake_dataset(
    root: Path, n: int = 4, size: tuple[int, int] = (32, 32), classes: tuple[str, ...] = ("thing", "stuff")
) -> Path:
    """Write a tiny dataset.json folder (same n images in every split) and return it."""
    from genseg.data.schema import DatasetEntry, DatasetSpec, write_dataset_spec

    root = Path(root)
    entries = []
    for i in range(n):
        make_fake_image(root / "images" / f"{i:03d}.png", size, seed=i)
        make_fake_label(root / "labels" / f"{i:03d}.png", size, classes=len(classes), seed=i)
        entries.append(DatasetEntry(image=f"images/{i:03d}.png", label=f"labels/{i:03d}.png"))
    spec = DatasetSpec(
        name=root.name or "fake",
        classes={str(k + 1): {"name": c} for k, c in enumerate(classes)},
        training=entries,
        validation=entries,
        test=entries,
    )
    write_dataset_spec(root, spec)
    return root


def write_installed_plugin(site: Path, entry_name: str, module: str, source: str, dist: str) -> Path:
    """A plugin as pip would leave it: a module plus ``<dist>-0.1.0.dist-info`` with its entry point."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[genseg]\n{entry_name} = {module}\n")
    return site


def run_genseg(*args: str, site: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m genseg.cli.app ARGS`` in a subprocess, with ``site`` on PYTHONPATH."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1", **(env or {})}
    if site is not None:
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), full_env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "genseg.cli.app", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )


@pytest.fixture
def genseg_tiny_pipeline():
    """An untrained tiny DiT pipeline: checks shapes and plumbing, not accuracy."""
    return build_tiny_pipeline()


@pytest.fixture
def genseg_plugins(monkeypatch) -> Callable[..., Any]:
    """Factory: ``genseg_plugins(plugin, ..., autoload=False)`` registers the given plugin
    objects (modules or instances, named by ``name=`` attribute or module name) next to
    the built-in one and makes them what genseg sees for the rest of the test."""
    from genseg.plugins import manager

    def install(*plugins: object, autoload: bool = False):
        extra = [(getattr(p, "__name__", None) or type(p).__name__, p) for p in plugins]
        loaded = manager.build_plugins(extra=extra, autoload=autoload)
        monkeypatch.setattr(manager, "_active", loaded)  # restored after the test
        return loaded

    return install


@pytest.fixture
def genseg_fake_image() -> Callable[..., Path]:
    """Builder: ``genseg_fake_image(path, size=(32, 32), channels=3, seed=0) -> path``."""
    return make_fake_image


@pytest.fixture
def genseg_fake_label() -> Callable[..., Path]:
    """Builder: ``genseg_fake_label(path, size=(32, 32), classes=2, seed=0) -> path``."""
    return make_fake_label


@pytest.fixture
def genseg_fake_dataset() -> Callable[..., Path]:
    """Builder: ``genseg_fake_dataset(root, n=4, size=(32, 32), classes=("thing", "stuff"))``."""
    return make_fake_dataset
