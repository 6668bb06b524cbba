"""Seg4Diff's attention probe on a genseg MM-DiT: which block grounds text, and how its
zero-shot masks compare with the same model's one-step generated masks.

For each dataset: every block's probe maps are scored on the validation split (the expert
block is chosen there, so the test split is not used for selection) and on the test split;
the generator is scored on the test split with `genseg.evaluation` (one step, seed 0).
Optionally (`--lora-steps N`) the expert block gets Seg4Diff's LoRA (rank 16) trained on the
training split, and the sharpened probe is scored again on test.

    python scripts/probe_study.py --model runs/probe/mmdit --lora-steps 300

Prints markdown tables and writes runs/probe/probe_study.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch


def _layer_rows(scores) -> list[dict]:
    return [{"layer": s.layer, "mIoU": s.scores.miou, "per_class": s.scores.per_class} for s in scores]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="runs/probe/mmdit")
    parser.add_argument("--dataset", action="append", default=None, help="repeatable; default: both samples")
    parser.add_argument("--limit", type=int, default=None, help="images per split and dataset")
    parser.add_argument("--lora-steps", type=int, default=0)
    parser.add_argument("--lora-lr", type=float, default=1e-4)
    parser.add_argument("--out", default="runs/probe/probe_study.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--untrained", action="store_true", help="also probe a randomly initialised MM-DiT of the same config"
    )
    args = parser.parse_args()

    from genseg.evaluation.runner import evaluate_pipeline
    from genseg.pipeline import load_pipeline
    from genseg.probe.finetune import finetune_probe, save_probe_lora
    from genseg.probe.layers import score_layers
    from genseg.probe.probe import AttentionProbe

    folders = [Path(d) for d in (args.dataset or ["data/samples/shapes", "data/samples/mni152"])]
    pipe = load_pipeline(args.model, device="cpu")
    probe = AttentionProbe(pipe)
    report: dict = {
        "model": args.model,
        "machine": f"{platform.system()} {platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}",
        "threshold": 0.5,
        "seed": args.seed,
        "limit": args.limit,
        "datasets": {},
    }
    for folder in folders:
        t0 = time.time()
        val = score_layers(probe, [folder], "validation", args.limit, seed=args.seed, progress=False)
        test = score_layers(probe, [folder], "test", args.limit, seed=args.seed, progress=False)
        probe_s = time.time() - t0
        expert = max(val, key=lambda s: (s.scores.miou, -s.layer)).layer
        t0 = time.time()
        gen = evaluate_pipeline(pipe, [folder], "test", seed=args.seed, progress=False, limit=args.limit)
        report["datasets"][folder.name] = {
            "validation_layers": _layer_rows(val),
            "test_layers": _layer_rows(test),
            "expert_layer": expert,
            "probe_test_mIoU": test[expert].scores.miou,
            "probe_test_per_class": test[expert].scores.per_class,
            "generator_test_mIoU": gen.miou,
            "generator_test_per_class": gen.per_class,
            "seconds": {"probe_all_layers_val_and_test": probe_s, "generator_test": time.time() - t0},
        }
        print(
            f"{folder.name}: expert {expert}, probe {test[expert].scores.miou:.3f}, generator {gen.miou:.3f}"
        )

    if args.untrained:
        # the same probe on the same architecture before any training: what grounding the
        # training gave the attention (the text encoder is pretrained MiniLM in both)
        from genseg.config import TrainConfig
        from genseg.pipeline import build_pipeline

        record = TrainConfig.model_validate_json((Path(args.model) / "genseg_train.json").read_text())
        fresh = AttentionProbe(build_pipeline(record.model, seed=args.seed))
        for folder in folders:
            val = score_layers(fresh, [folder], "validation", args.limit, seed=args.seed, progress=False)
            test = score_layers(fresh, [folder], "test", args.limit, seed=args.seed, progress=False)
            expert = max(val, key=lambda s: (s.scores.miou, -s.layer)).layer
            report["datasets"][folder.name]["untrained"] = {
                "expert_layer": expert,
                "probe_test_mIoU": test[expert].scores.miou,
                "test_layers": _layer_rows(test),
            }

    if args.lora_steps:
        # one adapter per model, on the block that is expert on most datasets (first on a tie)
        experts = [d["expert_layer"] for d in report["datasets"].values()]
        layer = max(experts, key=experts.count)
        lora_probe = AttentionProbe(load_pipeline(args.model, device="cpu"), layer=layer)
        result = finetune_probe(
            lora_probe,
            folders,
            steps=args.lora_steps,
            learning_rate=args.lora_lr,
            seed=args.seed,
            progress=False,
        )
        save_probe_lora(
            lora_probe.pipe, Path(args.out).parent / "probe_adapter", layer, 16, base_model=args.model
        )
        report["lora"] = {
            "layer": layer,
            "steps": args.lora_steps,
            "learning_rate": args.lora_lr,
            "seconds": result.seconds,
            "loss_first10": sum(result.losses[:10]) / len(result.losses[:10]),
            "loss_last10": sum(result.losses[-10:]) / len(result.losses[-10:]),
        }
        for folder in folders:
            sharp = score_layers(lora_probe, [folder], "test", args.limit, seed=args.seed, progress=False)
            report["datasets"][folder.name]["lora_test_mIoU"] = sharp[layer].scores.miou
            report["datasets"][folder.name]["lora_test_per_class"] = sharp[layer].scores.per_class

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print_tables(report)
    print(f"\nwritten {out}")


def print_tables(report: dict) -> None:
    names = list(report["datasets"])
    print("\n| block | " + " | ".join(f"{n} val mIoU | {n} test mIoU" for n in names) + " |")
    print("|---|" + "---|---|" * len(names))
    n_layers = len(report["datasets"][names[0]]["test_layers"])
    for i in range(n_layers):
        cells = []
        for n in names:
            d = report["datasets"][n]
            mark = " ★" if d["expert_layer"] == i else ""
            cells += [f"{d['validation_layers'][i]['mIoU']:.3f}{mark}", f"{d['test_layers'][i]['mIoU']:.3f}"]
        print(f"| {i} | " + " | ".join(cells) + " |")
    columns = [("expert block", lambda d: str(d["expert_layer"]))]
    columns.append(("probe, zero-shot", lambda d: f"{d['probe_test_mIoU']:.3f}"))
    if "lora" in report:
        columns.append(
            (f"probe + LoRA (block {report['lora']['layer']})", lambda d: f"{d['lora_test_mIoU']:.3f}")
        )
    columns.append(("one-step generator", lambda d: f"{d['generator_test_mIoU']:.3f}"))
    if all("untrained" in d for d in report["datasets"].values()):
        columns.append(("probe, untrained MM-DiT", lambda d: f"{d['untrained']['probe_test_mIoU']:.3f}"))
    print("\n| dataset (test mIoU) | " + " | ".join(c for c, _ in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for n in names:
        d = report["datasets"][n]
        print(f"| {n} | " + " | ".join(f(d) for _, f in columns) + " |")


if __name__ == "__main__":
    main()
