"""The demo `make demo` runs: sample data → train the tiny default → segment held-out images → scores.

Everything is generated locally (MNI152 from nilearn, shapes on skimage textures) and the
tiny model trains on 2 CPU cores in a few minutes. A finished model in the output folder is
reused, so running the demo twice only re-scores it (pass --retrain to start over).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("demo-output"))
    parser.add_argument("--steps", type=int, default=2500, help="training steps (batch 8)")
    parser.add_argument("--backbone", choices=["unet", "dit"], default="dit")
    parser.add_argument("--retrain", action="store_true", help="discard a finished model and train again")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch
    from rich.console import Console

    from genseg.config import load_train_config
    from genseg.data.sample_data import make_mni152_dataset, make_shapes_dataset
    from genseg.evaluation.report import scores_table
    from genseg.evaluation.runner import evaluate_pipeline
    from genseg.pipeline import load_pipeline
    from genseg.training.trainer import train

    console = Console()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    t_start = time.perf_counter()
    data = args.output / "data"
    console.rule("1 · sample data (generated, nothing downloaded)")
    datasets = [
        make_shapes_dataset(data / "shapes", seed=args.seed),
        make_mni152_dataset(data / "mni152", seed=args.seed),
    ]
    console.print(f"datasets: {', '.join(str(d) for d in datasets)}")

    model_dir = args.output / "model"
    if args.retrain and model_dir.exists():
        shutil.rmtree(model_dir)
    console.rule(f"2 · train the tiny {args.backbone} ({args.steps} steps)")
    if (model_dir / "model_index.json").is_file():
        console.print(f"reusing the finished model in {model_dir} (pass --retrain to train again)")
    else:
        if model_dir.exists():
            shutil.rmtree(model_dir)  # an interrupted run: start clean
        cfg = load_train_config(
            None,
            {
                "steps": args.steps,
                "seed": args.seed,
                "model.denoiser.kind": args.backbone,
                "checkpoint_every": max(args.steps // 2, 1),
            },
        )
        cfg = cfg.model_copy(update={"datasets": [str(d) for d in datasets]})
        result = train(cfg, model_dir, datasets)
        console.print(
            f"trained in {result.seconds:.0f} s, loss {result.first_loss:.3f} → {result.last_loss:.3f}"
        )

    console.rule("3 · held-out scores (one-step inference, prompts = class names)")
    pipe = load_pipeline(model_dir)
    report = {}
    for folder in datasets:
        t0 = time.perf_counter()
        scores = evaluate_pipeline(pipe, [folder], split="test", steps=1)
        console.print(
            scores_table(scores, title=f"{folder.name} · test · 1 step ({time.perf_counter() - t0:.0f} s)")
        )
        report[folder.name] = scores.as_dict()
    (args.output / "scores.json").write_text(json.dumps(report, indent=2))

    console.rule("4 · overlays of held-out images")
    overlays = write_overlays(pipe, datasets, args.output / "overlays")
    console.print(f"wrote {len(overlays)} overlays and a grid: {args.output / 'overlays' / 'grid.png'}")
    console.print(f"demo finished in {time.perf_counter() - t_start:.0f} s")


def write_overlays(pipe, datasets: list[Path], out: Path) -> list[Path]:
    """Segment a few test images with the prompts of their classes; one overlay per image and a grid."""
    import torch
    from PIL import Image

    from genseg.data.readers import read_image, write_overlay_png
    from genseg.evaluation.runner import split_items

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for folder in datasets:
        for item in split_items(folder, "test")[:3]:
            names = [n for n, _ in item.classes][:4]
            image = read_image(item.image)
            res = pipe(image, names, generator=torch.Generator().manual_seed(0))
            path = out / f"{folder.name}_{item.image.stem}.png"
            write_overlay_png(path, image, list(res.masks[0]), names)
            written.append(path)
    tiles = [Image.open(p).convert("RGB").resize((256, 256 + 14 * 4)) for p in written]
    if tiles:
        cols = 3
        rows = (len(tiles) + cols - 1) // cols
        grid = Image.new("RGB", (cols * 256, rows * tiles[0].height), (0, 0, 0))
        for i, tile in enumerate(tiles):
            grid.paste(tile, ((i % cols) * 256, (i // cols) * tile.height))
        grid.save(out / "grid.png")
    return written


if __name__ == "__main__":
    main()
