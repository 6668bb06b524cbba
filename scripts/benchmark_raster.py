"""Peak memory and throughput of tiled GeoTIFF segmentation, small scene vs huge scene.

Each size runs in a fresh process that writes a 3-band uint8 GeoTIFF (UTM, 0.5 m, tiled,
DEFLATE; block-wise, so writing it needs little memory), then runs what `genseg segment
--domain remote-sensing -o out.tif SCENE` runs (streamed windows in, label GeoTIFF out)
with the default tiny model (untrained weights: cost does not depend on them), and prints
peak resident memory and megapixels per second. Memory should depend on the tile size
and the scene width, not on the scene's area.

    .venv/bin/python scripts/benchmark_raster.py --sizes 2000 20000 --tile 256 --overlap 64
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_scene(path: Path, size: int, seed: int = 0) -> None:
    """A size×size 3-band scene written one 512-row strip at a time."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window
    from skimage import data

    texture = data.astronaut()  # 512×512×3 uint8, a real photograph tiled over the scene
    rng = np.random.default_rng(seed)
    profile = dict(
        driver="GTiff",
        height=size,
        width=size,
        count=3,
        dtype="uint8",
        crs="EPSG:32631",
        transform=from_origin(440000, 5420000, 0.5, 0.5),
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
        BIGTIFF="IF_SAFER",
    )
    with rasterio.Env(GDAL_CACHEMAX=128 * 2**20), rasterio.open(path, "w", **profile) as dst:
        for row in range(0, size, 512):
            h = min(512, size - row)
            reps = -(-size // 512)
            strip = np.tile(texture[:h], (1, reps, 1))[:, :size]
            shift = int(rng.integers(0, 512))
            strip = np.roll(strip, shift, axis=1)
            dst.write(np.moveaxis(strip, -1, 0), window=Window(0, row, size, h))


def run_one(size: int, tile: int, overlap: int, batch: int, model: str | None) -> dict:
    """Runs in the child process: write, segment, measure."""
    import rasterio
    import torch

    from genseg.segment_tiled import segment_tiled
    from genseg_remote_sensing.raster import GeoTiffSource

    torch.set_num_threads(os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        scene = tmp / "scene.tif"
        t0 = time.perf_counter()
        write_scene(scene, size)
        write_s = time.perf_counter() - t0
        rss_after_write = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if model:
            from genseg.pipeline import load_pipeline

            pipe = load_pipeline(model)
        else:  # the default configuration (a tiny DiT at 128 px), untrained
            from genseg.config import ModelConfig
            from genseg.pipeline import build_pipeline

            pipe = build_pipeline(ModelConfig(), seed=0)
        pipe.set_progress_bar_config(disable=True)
        outputs = {"mask": tmp / "out.tif", "overlay": tmp / "out_overlay.png"}
        t0 = time.perf_counter()
        _, _, report = segment_tiled(
            pipe,
            scene,
            ["buildings"],
            outputs,
            tile,
            overlap=overlap,
            source=GeoTiffSource(scene),
            batch_size=batch,
            progress=False,
        )
        seconds = time.perf_counter() - t0
        with rasterio.open(scene) as a, rasterio.open(outputs["mask"]) as b:
            same_grid = (a.crs, a.transform, a.shape) == (b.crs, b.transform, b.shape)
    return {
        "size": size,
        "megapixels": size * size / 1e6,
        "tiles": report.tiles,
        "seconds": round(seconds, 2),
        "megapixels_per_s": round(size * size / 1e6 / seconds, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_rss_after_writing_scene_mb": round(rss_after_write, 1),
        "scene_write_s": round(write_s, 1),
        "output_on_scene_grid": same_grid,
        "resolution": pipe.config.resolution,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--overlap", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--model", default=None, help="a model folder (default: the tiny default, untrained)")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(run_one(args.child, args.tile, args.overlap, args.batch_size, args.model)))
        return
    rows = []
    for size in args.sizes:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            str(size),
            "--tile",
            str(args.tile),
            "--overlap",
            str(args.overlap),
            "--batch-size",
            str(args.batch_size),
        ] + (["--model", args.model] if args.model else [])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    print(
        f"\ntile {args.tile}, overlap {args.overlap}, batch {args.batch_size}, "
        f"model resolution {rows[0]['resolution']}"
    )
    print("| scene | tiles | seconds | MP/s | peak RSS (MB) | output on scene grid |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['size']}² | {r['tiles']} | {r['seconds']} | {r['megapixels_per_s']} | "
            f"{r['peak_rss_mb']} | {r['output_on_scene_grid']} |"
        )
    if len(rows) > 1:
        print(f"\npeak RSS ratio largest/smallest: {rows[-1]['peak_rss_mb'] / rows[0]['peak_rss_mb']:.2f}")


if __name__ == "__main__":
    main()
