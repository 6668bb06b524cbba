"""Slice-wise volume segmentation on CPU: slices per second and peak memory.

Writes a synthetic 256×256×100 CT volume (HU values, 0.8×0.8×2.5 mm, non-identity affine)
as NIfTI, then runs what `genseg segment --domain medical -o mask.nii.gz` runs: the
medical plugin's MONAI reader, the soft-tissue window, every slice through the default
tiny DiT (untrained weights: throughput does not depend on them), the NIfTI writer.
Prints one line per batch size; the peak resident memory is that of a fresh process.

Example: .venv/bin/python scripts/benchmark_medical_volume.py --batch-sizes 1 8 16
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

SHAPE = (256, 256, 100)  # i, j, k voxels


def write_volume(path: Path) -> None:
    import nibabel as nib

    rng = np.random.default_rng(0)
    x, y, z = np.meshgrid(*(np.linspace(-1, 1, n) for n in SHAPE), indexing="ij")
    body = (x**2 + y**2 < 0.8).astype(np.float32)
    organ = ((x - 0.2) ** 2 / 0.1 + (y + 0.1) ** 2 / 0.05 + z**2 / 0.5 < 1).astype(np.float32)
    hu = -1000 + body * 1040 + organ * 60 + rng.normal(0, 15, SHAPE)
    affine = np.array([[-0.8, 0, 0, 100.0], [0, -0.8, 0, 120.0], [0, 0, 2.5, -80.0], [0, 0, 0, 1]])
    nib.save(nib.Nifti1Image(hu.astype(np.int16), affine), path)


def run_one(volume: Path, batch_size: int, threads: int) -> dict:
    """In this (fresh) process: load the model, segment the volume, report numbers."""
    import torch

    torch.set_num_threads(threads)
    from genseg.config import ModelConfig
    from genseg.pipeline import build_pipeline
    from genseg.segment import segment_files

    pipe = build_pipeline(ModelConfig(), seed=0)
    pipe.set_progress_bar_config(disable=True)
    rss_model = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = Path(tempfile.mkdtemp()) / "mask.nii.gz"
    t0 = time.perf_counter()
    segment_files(pipe, [volume], ["liver"], out, domain="medical", batch_size=batch_size, progress=False)
    seconds = time.perf_counter() - t0
    import nibabel as nib

    written = nib.load(out)
    source = nib.load(volume)
    return {
        "batch_size": batch_size,
        "slices": SHAPE[2],
        "seconds": round(seconds, 2),
        "slices_per_s": round(SHAPE[2] / seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rss_after_model_mb": round(rss_model),
        "same_affine": bool(np.allclose(written.affine, source.affine)),
        "same_shape": written.shape == source.shape,
        "threads": threads,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 16])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--child", nargs=2, metavar=("VOLUME", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(Path(args.child[0]), int(args.child[1]), args.threads)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        volume = Path(tmp) / "ct.nii.gz"
        write_volume(volume)
        print(f"volume {SHAPE[0]}×{SHAPE[1]}×{SHAPE[2]} int16 NIfTI; model: default tiny DiT (128 px); CPU")
        print(f"{'batch':>5} {'seconds':>8} {'slices/s':>9} {'peak RSS MB':>12} {'affine kept':>12}")
        for bs in args.batch_sizes:
            cmd = [sys.executable, __file__, "--child", str(volume), str(bs), "--threads", str(args.threads)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(done.stderr)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            kept = r["same_affine"] and r["same_shape"]
            row = f"{bs:>5} {r['seconds']:>8.2f} {r['slices_per_s']:>9.2f} {r['peak_rss_mb']:>12}"
            print(f"{row} {kept!s:>12}")


if __name__ == "__main__":
    main()
