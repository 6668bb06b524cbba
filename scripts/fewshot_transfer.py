"""Few-shot transfer: LoRA vs full fine-tuning vs training from scratch on the same K shots.

A base model (the tiny default: DiT, MiniLM text, space-to-depth ×8) is trained on one
domain (`shapes`, generic photographs of shapes on textures), then carried to a held-out
domain (`mni152`, brain MRI slices; none of its prompts was seen) with K labelled images per
class, K = 1, 5, 10, 25 by default. For each K the three methods get the same images (drawn
from the seed), the same number of steps and batch size, and are scored on the held-out
domain's test split. Prints the table as Markdown plus the trainable-parameter fraction and
the adapter size against the pipeline folder. Runs are kept under --runs, so an interrupted
run picks up where it stopped; --reuse names an earlier --runs folder whose finished runs
(base, full fine-tunes, scratch runs of the same name) are read instead of trained again.

    python scripts/fewshot_transfer.py --runs runs/fewshot --json runs/fewshot/results.json
    python scripts/fewshot_transfer.py --runs runs/fewshot2 --reuse runs/fewshot --targets attn+embed \
        --lora-lr 1e-2 --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from genseg.adapters.targets import TARGET_CHOICES

METHODS = ("lora", "full", "scratch")


def folder_bytes(folder: Path, names: tuple[str, ...]) -> int:
    return sum((folder / n).stat().st_size for n in names)


def pipeline_bytes(model: Path) -> int:
    """The exported pipeline: model_index.json and its component folders (not the run's checkpoints)."""
    index = json.loads((model / "model_index.json").read_text())
    parts = [
        model / name for name, value in index.items() if isinstance(value, list) and (model / name).is_dir()
    ]
    return (model / "model_index.json").stat().st_size + sum(
        p.stat().st_size for part in parts for p in part.rglob("*") if p.is_file()
    )


def base_config(args):
    from genseg.config import TrainConfig

    return TrainConfig(
        steps=args.base_steps,
        batch_size=args.batch_size,
        seed=args.seed,
        checkpoint_every=args.base_steps,
        keep_checkpoints=1,
        model={"resolution": args.resolution},
    )


def _reused(args, name: str, record: str) -> Path | None:
    """The finished run `name` of the --reuse folder, when there is one."""
    if args.reuse is not None and (args.reuse / name / record).is_file():
        return args.reuse / name
    return None


def train_base(args, source: Path) -> tuple[Path, float]:
    from genseg.training.trainer import train

    out = _reused(args, "base", "fewshot_base.json") or args.runs / "base"
    record = out / "fewshot_base.json"
    if (out / "model_index.json").is_file() and record.is_file():
        return out, json.loads(record.read_text())["seconds"]
    cfg = base_config(args).model_copy(update={"datasets": [str(source)]})
    result = train(cfg, out, [source], progress=not args.quiet)
    record.write_text(json.dumps({"seconds": result.seconds, "steps": result.steps}))
    return out, result.seconds


def score(pipe, target: Path, seed: int, split: str = "test") -> dict:
    from genseg.evaluation.runner import evaluate_pipeline

    return evaluate_pipeline(pipe, [target], split=split, seed=seed, progress=False).as_dict()


def run_one(
    args,
    base: Path,
    target: Path,
    k: int,
    method: str,
    seed: int,
    lr: float,
    split: str = "test",
    variant: tuple[str, int, int] | None = None,
) -> dict:
    """Train one (K, method, seed, lr) cell and score it on the target's `split`.

    `variant` = (targets, rank, steps) replaces the LoRA defaults (the ablation).
    """
    from genseg.config import FinetuneConfig, TrainConfig
    from genseg.pipeline import load_pipeline
    from genseg.training.finetune import is_adapter_tensor
    from genseg.training.trainer import train

    targets, rank, steps = variant or (args.targets, args.rank, args.steps)
    if method != "lora":  # full fine-tune or scratch: no LoRA shape
        targets, rank = args.targets, args.rank
    tag = "" if split == "test" else f"-lr{lr:g}-{split}"
    if variant:
        tag += (f"-{targets}-r{rank}" if method == "lora" else "") + f"-n{steps}"
    elif method == "lora" and (targets, rank) != ("attn", 4):  # the first study's runs are attn r=4
        tag += f"-{targets}-r{rank}"
    name = f"k{k:02d}-{method}-s{seed}{tag}"
    out = args.runs / name
    record = out / "fewshot_result.json"
    reused = _reused(args, name, "fewshot_result.json")
    if reused is not None:
        return {**json.loads((reused / "fewshot_result.json").read_text()), "reused_from": str(reused)}
    if record.is_file():
        return json.loads(record.read_text())
    recorded = TrainConfig.model_validate_json((base / "genseg_train.json").read_text())
    common = dict(
        model=recorded.model,
        datasets=[str(target)],
        steps=steps,
        batch_size=args.batch_size,
        warmup_steps=min(20, steps // 10),
        learning_rate=lr,
        checkpoint_every=steps,
        keep_checkpoints=1,
        seed=seed,
        shots=k,
    )
    if method == "scratch":
        cfg = TrainConfig(**common)
    else:
        ft = FinetuneConfig(
            base_model=str(base),
            mode="lora" if method == "lora" else "full",
            adapter_name=f"mni152-k{k}",
            lora_rank=rank,
            targets=targets,
            eval_split="none",
        )
        cfg = TrainConfig(**common, finetune=ft)
    result = train(cfg, out, [target], progress=False)
    pipe = result.pipeline
    for part in pipe.components.values():
        if hasattr(part, "eval"):
            part.eval()
    scores = score(pipe, target, seed=0, split=split)
    named = list(pipe.denoiser.named_parameters())
    denoiser_params = sum(p.numel() for n, p in named if not is_adapter_tensor(n))
    if method == "lora":  # LoRA factors and the copies of layers trained in full
        trainable = sum(p.numel() for n, p in named if is_adapter_tensor(n))
    else:
        trainable = denoiser_params  # the optimizer updated the whole denoiser
    row = {
        "k": k,
        "method": method,
        "seed": seed,
        "lr": lr,
        "split": split,
        "targets": targets if method == "lora" else "full",
        "rank": rank if method == "lora" else None,
        "steps": steps,
        "mIoU": scores["mIoU"],
        "per_class": scores["per_class"],
        "trainable": trainable,
        "denoiser_params": denoiser_params,
        "train_s": round(result.seconds, 1),
        "first_loss": result.first_loss,
        "last_loss": result.last_loss,
    }
    if method == "lora" and split == "test":
        row["adapter_bytes"] = folder_bytes(out, ("adapter_model.safetensors", "genseg_adapter.json"))
        # the adapter as saved must give the scores of the in-memory run
        loaded = load_pipeline(base, device="cpu", adapters=[str(out)])
        row["reloaded_mIoU"] = score(loaded, target, seed=0, split=split)["mIoU"]
    record.write_text(json.dumps(row, indent=2))
    return row


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def markdown(rows: list[dict], zero_shot: dict) -> str:
    ks = sorted({r["k"] for r in rows})
    lines = [
        "| K (shots per class) | LoRA mIoU | full FT mIoU | scratch mIoU | LoRA / full "
        "| LoRA s | full s | scratch s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| 0 (base, zero-shot) | {zero_shot['mIoU']:.3f} | | | | | | |",
    ]
    for k in ks:
        cell = {m: [r for r in rows if r["k"] == k and r["method"] == m] for m in METHODS}
        miou = {m: mean([r["mIoU"] for r in cell[m]]) for m in METHODS if cell[m]}
        secs = {m: mean([r["train_s"] for r in cell[m]]) for m in METHODS if cell[m]}
        ratio = f"{miou['lora'] / miou['full']:.0%}" if miou.get("full") else "–"
        cells = (
            [f"{miou.get(m, 0):.3f}" for m in METHODS] + [ratio] + [f"{secs.get(m, 0):.0f}" for m in METHODS]
        )
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    lines += ["", "Per class (mean over seeds):", "", "| K | method | brain | grey matter | white matter |"]
    lines.append("|---:|---|---:|---:|---:|")
    for k in ks:
        for m in METHODS:
            cell = [r for r in rows if r["k"] == k and r["method"] == m]
            if cell:
                pc = {
                    c: mean([r["per_class"].get(c, 0.0) for r in cell])
                    for c in ("brain", "grey matter", "white matter")
                }
                lines.append(
                    f"| {k} | {m} | {pc['brain']:.3f} | {pc['grey matter']:.3f} | {pc['white matter']:.3f} |"
                )
    return "\n".join(lines)


def variant_table(variants: list[dict], rows: list[dict], k: int, seed: int) -> str:
    full = next((r for r in rows if r["k"] == k and r["method"] == "full" and r["seed"] == seed), None)
    lines = [
        "",
        f"LoRA variants at K = {k} (seed {seed}):",
        "",
        "| targets | rank | steps | trainable | % of denoiser | mIoU | % of full FT |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in variants:
        ratio = f"{r['mIoU'] / full['mIoU']:.0%}" if full else "–"
        lines.append(
            f"| {r['targets']} | {r['rank'] or '–'} | {r['steps']} | {r['trainable']:,} | "
            f"{r['trainable'] / r['denoiser_params']:.2%} | {r['mIoU']:.3f} | {ratio} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/samples"), help="sample-data folder")
    parser.add_argument("--runs", type=Path, default=Path("runs/fewshot"))
    parser.add_argument(
        "--reuse",
        type=Path,
        default=None,
        help="earlier --runs folder whose finished runs are read, not redone",
    )
    parser.add_argument("--base-steps", type=int, default=1500)
    parser.add_argument("--steps", type=int, default=300, help="steps of every few-shot run")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 5, 10, 25])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of the shot draw")
    parser.add_argument("--seed", type=int, default=0, help="seed of the base training")
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--targets", default="attn", choices=list(TARGET_CHOICES))
    parser.add_argument(
        "--lora-lr",
        type=float,
        default=None,
        help="LoRA learning rate, chosen beforehand on the validation split (skips LoRA's --lr-grid)",
    )
    parser.add_argument(
        "--lr-grid", type=float, nargs="+", default=[3e-4, 1e-3, 3e-3], help="learning rates tried per method"
    )
    parser.add_argument("--select-k", type=int, default=10, help="K at which the learning rate is chosen")
    parser.add_argument(
        "--lora-variants",
        nargs="*",
        default=[],
        help="extra runs at --select-k as TARGETS:RANK[:STEPS], e.g. attn+ff:4 all-linear:4 attn:4:900; "
        "full:0:900 is a full fine-tune with that many steps",
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()

    import torch

    from genseg.data.sample_data import make_shapes_dataset
    from genseg.pipeline import load_pipeline
    from genseg_medical.mni152 import make_mni152_dataset

    t0 = time.perf_counter()
    source = make_shapes_dataset(args.data / "shapes")
    target = make_mni152_dataset(args.data / "mni152")
    args.runs.mkdir(parents=True, exist_ok=True)
    base, base_s = train_base(args, source)
    zero_shot = score(load_pipeline(base, device="cpu"), target, seed=0)
    print(
        f"base trained on shapes for {args.base_steps} steps in {base_s:.0f} s; "
        f"zero-shot mni152 mIoU {zero_shot['mIoU']:.3f}"
    )
    lrs = {}
    for method in METHODS:  # each method's learning rate, chosen on the validation split at one K
        if method == "lora" and args.lora_lr is not None:
            lrs[method] = args.lora_lr
            continue
        tried = [
            run_one(args, base, target, args.select_k, method, 0, lr, "validation") for lr in args.lr_grid
        ]
        best = max(tried, key=lambda r: r["mIoU"])
        lrs[method] = best["lr"]
        print(
            f"{method:<7} lr on validation (K={args.select_k}): "
            + ", ".join(f"{r['lr']:g} → {r['mIoU']:.3f}" for r in tried)
        )
    rows = []
    for k in args.shots:
        for seed in args.seeds:
            for method in METHODS:
                row = run_one(args, base, target, k, method, seed, lrs[method])
                rows.append(row)
                print(
                    f"K={k:>2} seed={seed} {method:<7} mIoU {row['mIoU']:.3f}  "
                    f"trainable {row['trainable']:,} "
                    f"({row['trainable'] / row['denoiser_params']:.2%} of the denoiser)  "
                    f"{row['train_s']:.0f} s",
                    flush=True,
                )
    lora = [r for r in rows if r["method"] == "lora"]
    variants = []
    for spec in args.lora_variants:  # LoRA shapes and budgets at one K, against that K's full fine-tune
        targets, rank, *steps = spec.split(":")
        variant = (targets, int(rank), int(steps[0]) if steps else args.steps)
        method = "full" if targets == "full" else "lora"
        row = run_one(args, base, target, args.select_k, method, args.seeds[0], lrs[method], variant=variant)
        variants.append(row)
        print(
            f"K={args.select_k} lora {spec:<16} mIoU {row['mIoU']:.3f}  trainable {row['trainable']:,}",
            flush=True,
        )
    pipe_bytes = pipeline_bytes(base)
    meta = {
        "machine": f"{platform.system()} {platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, {'CUDA' if torch.cuda.is_available() else 'no GPU'}",
        "base_steps": args.base_steps,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "resolution": args.resolution,
        "lr": lrs,
        "lr_grid": args.lr_grid,
        "rank": args.rank,
        "targets": args.targets,
        "seeds": args.seeds,
        "base_train_s": round(base_s, 1),
        "zero_shot": zero_shot,
        "lora_trainable": lora[0]["trainable"] if lora else None,
        "denoiser_params": lora[0]["denoiser_params"] if lora else None,
        "adapter_bytes": lora[0]["adapter_bytes"] if lora else None,
        "pipeline_bytes": pipe_bytes,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    print()
    print(markdown(rows, zero_shot))
    if variants:
        print(variant_table(variants, rows, args.select_k, args.seeds[0]))
    if lora:
        share = meta["lora_trainable"] / meta["denoiser_params"]
        same = all(abs(r["reloaded_mIoU"] - r["mIoU"]) < 1e-9 for r in lora)
        print(
            f"\nLoRA r={args.rank} on {args.targets}: {meta['lora_trainable']:,} trainable of "
            f"{meta['denoiser_params']:,} denoiser parameters ({share:.2%}); "
            f"adapter {meta['adapter_bytes'] / 1024:.0f} KB vs pipeline folder {pipe_bytes / 2**20:.1f} MB "
            f"({meta['adapter_bytes'] / pipe_bytes:.3%}); reloaded adapters score "
            f"{'the same' if same else 'DIFFERENTLY'}"
        )
    print(f"wall {meta['wall_s']:.0f} s; {meta['machine']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"meta": meta, "rows": rows, "variants": variants}, indent=2))


if __name__ == "__main__":
    main()
