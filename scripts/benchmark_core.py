"""Core benchmark: backbones × inference steps, and the timestep-sampler ablation.

Every variant trains with the same budget on the generated sample data (shapes on real
textures + MNI152 slices), then is scored on the held-out test split. Prints measured
numbers and writes them as Markdown (docs/results.md). Trained models are kept under
--runs, so an interrupted benchmark picks up where it stopped.

    python scripts/benchmark_core.py --steps 1000 --output docs/results.md
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

VARIANTS = {
    # name: (backbone, sampler overrides)
    "unet · heavy_tail(0.05)": (
        "unet",
        {"model.objective.timesteps": "heavy_tail", "model.objective.heavy_tail_a": 0.05},
    ),
    "dit · heavy_tail(0.05)": (
        "dit",
        {"model.objective.timesteps": "heavy_tail", "model.objective.heavy_tail_a": 0.05},
    ),
    "unet · heavy_tail(0.5)": (
        "unet",
        {"model.objective.timesteps": "heavy_tail", "model.objective.heavy_tail_a": 0.5},
    ),
    "unet · logit_normal(0, 1)": ("unet", {"model.objective.timesteps": "logit_normal"}),
    "unet · uniform": ("unet", {"model.objective.timesteps": "uniform"}),
}
BACKBONE_ROWS = ["unet · heavy_tail(0.05)", "dit · heavy_tail(0.05)"]


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").replace("--", "-")


def train_variant(
    name: str, runs: Path, datasets: list[Path], steps: int, seed: int
) -> tuple[Path, float | None]:
    from genseg.config import load_train_config
    from genseg.training.trainer import train

    out = runs / slug(name)
    timing = out / "bench_train.json"
    if (out / "model_index.json").is_file() and timing.is_file():
        return out, json.loads(timing.read_text())["seconds"]
    backbone, overrides = VARIANTS[name]
    cfg = load_train_config(
        None,
        {
            "steps": steps,
            "seed": seed,
            "model.denoiser.kind": backbone,
            "checkpoint_every": steps,
            **overrides,
        },
    )
    cfg = cfg.model_copy(update={"datasets": [str(d) for d in datasets]})
    resume = (out / "genseg_train.json").is_file() and any((out / "checkpoints").glob("step-*"))
    if out.exists() and not resume:
        import shutil

        shutil.rmtree(out)
    result = train(cfg, out, datasets, resume=resume, progress=False)
    timing.write_text(json.dumps({"seconds": result.seconds, "steps": steps}))
    return out, result.seconds


def score(pipe, datasets: list[Path], steps: int, limit: int | None) -> dict:
    from genseg.evaluation.runner import evaluate_pipeline

    row = {}
    for folder in datasets:
        t0 = time.perf_counter()
        s = evaluate_pipeline(pipe, [folder], split="test", steps=steps, progress=False, limit=limit)
        elapsed = time.perf_counter() - t0
        pairs = sum(s.counts.values())  # the (image, prompt) pairs that were scored
        row[folder.name] = {
            "mIoU": s.miou,
            "per_class": s.per_class,
            "seconds_per_pair": elapsed / pairs,
            "pairs": pairs,
        }
    return row


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    return (
        f"{platform.system()} {platform.machine()} ({cpu}), {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, "
        f"{'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("data/samples"))
    ap.add_argument("--runs", type=Path, default=Path("runs/bench"))
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--multistep-limit",
        type=int,
        default=30,
        help="test images per dataset for the 10/50-step rows (50 steps is slow on CPU)",
    )
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    ap.add_argument("--output", type=Path, default=Path("docs/results.md"))
    args = ap.parse_args()

    from genseg.data.sample_data import make_shapes_dataset
    from genseg.pipeline import load_pipeline
    from genseg_medical.mni152 import make_mni152_dataset

    datasets = [
        make_shapes_dataset(args.data / "shapes", seed=args.seed),
        make_mni152_dataset(args.data / "mni152", seed=args.seed),
    ]
    results: dict = {"machine": machine(), "steps": args.steps, "variants": {}}
    for name in args.variants:
        t0 = time.perf_counter()
        model_dir, train_s = train_variant(name, args.runs, datasets, args.steps, args.seed)
        pipe = load_pipeline(model_dir)
        entry = {"train_seconds": train_s, "1": score(pipe, datasets, 1, None)}
        if name in BACKBONE_ROWS:
            entry["1_limited"] = score(pipe, datasets, 1, args.multistep_limit)
            for steps in (10, 50):
                entry[str(steps)] = score(pipe, datasets, steps, args.multistep_limit)
        results["variants"][name] = entry
        print(json.dumps({name: entry}, indent=1), flush=True)
        print(f"[{name}] done in {time.perf_counter() - t0:.0f} s", flush=True)
    (args.runs / "results.json").write_text(json.dumps(results, indent=2))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(results, args))
    print(f"wrote {args.output}")


def render(results: dict, args) -> str:
    v = results["variants"]
    lines = [
        "# Measured results",
        "",
        f"Machine: {results['machine']}. Produced by `python scripts/benchmark_core.py --steps {args.steps}`"
        f" (seed {args.seed}); every variant trained for {args.steps} steps of batch 8 at 128 px on the "
        "generated "
        "shapes + MNI152 training splits, scored on the held-out test splits (prompt = class name).",
        "",
    ]
    rows = [n for n in BACKBONE_ROWS if n in v]
    if rows:
        lines += [
            "## Backbones × inference steps",
            "",
            f"10- and 50-step rows use the first {args.multistep_limit} test images of each dataset "
            "(the 1-step column on those same images is given for a like-for-like comparison); "
            "time is per (image, prompt) pair, batch = the prompts of one image.",
            "",
            "| backbone | train s | steps | shapes mIoU | MNI brain | MNI grey | MNI white "
            "| s / pair (shapes) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for n in rows:
            for key, label in (("1", "1 (all test)"), ("1_limited", "1"), ("10", "10"), ("50", "50")):
                r = v[n][key]
                mni = r["mni152"]["per_class"]
                lines.append(
                    f"| {n} | {v[n]['train_seconds']:.0f} | {label} | {r['shapes']['mIoU']:.3f} | "
                    f"{mni.get('brain', float('nan')):.3f} | {mni.get('grey matter', float('nan')):.3f} | "
                    f"{mni.get('white matter', float('nan')):.3f} | "
                    f"{r['shapes']['seconds_per_pair']:.3f} |"
                )
        lines.append("")
    lines += [
        "## Timestep-sampler ablation (U-Net, one-step inference, full test splits)",
        "",
        "| sampler | shapes mIoU | MNI mIoU | MNI brain | MNI grey | MNI white |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for n, e in v.items():
        if not n.startswith("unet"):
            continue
        r = e["1"]
        mni = r["mni152"]["per_class"]
        lines.append(
            f"| {n.split(' · ')[1]} | {r['shapes']['mIoU']:.3f} | {r['mni152']['mIoU']:.3f} | "
            f"{mni.get('brain', float('nan')):.3f} | {mni.get('grey matter', float('nan')):.3f} | "
            f"{mni.get('white matter', float('nan')):.3f} |"
        )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
