"""Where a record was made: library versions, the machine and the code's git commit.

A timing or a score without its machine, libraries and commit cannot be compared with
another, so `genseg env`, the performance harness and the benchmark report all take these
facts from here; each chooses which distributions it lists.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_CHECKOUT = Path(__file__).resolve().parent


def versions(distributions: Iterable[str]) -> dict[str, str | None]:
    """The installed version of each distribution (None when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for name in distributions:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def cpu_model() -> str:
    """The CPU's marketing name (/proc/cpuinfo on Linux, else what platform knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def available_cores() -> int:
    """Cores this process may run on (the affinity mask), which a container may limit."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def machine(device: str = "cpu") -> dict[str, Any]:
    """CPU, cores, torch threads, platform, Python and (on ``cuda``) the GPU."""
    import torch

    cuda = device.startswith("cuda") and torch.cuda.is_available()
    gpu = None
    if cuda:
        props = torch.cuda.get_device_properties(0)
        gpu = {
            "name": props.name,
            "memory_gb": round(props.total_memory / 2**30, 1),
            "capability": f"{props.major}.{props.minor}",
            "cuda": torch.version.cuda,
            "bf16_supported": torch.cuda.is_bf16_supported(),
        }
    return {
        "cpu_model": cpu_model(),
        "cpu_cores": available_cores(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "gpu": gpu,
    }


def _git(*args: str) -> str:
    """``git ARGS`` run in genseg's checkout; "unknown" outside one or without git."""
    try:
        out = subprocess.run(["git", "-C", str(_CHECKOUT), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def code_state() -> dict[str, Any]:
    """The commit and whether tracked files had changes ("unknown" outside a checkout)."""
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }


def git_commit() -> str | None:
    """The commit with ``+dirty`` when tracked files differ from it; None outside a checkout."""
    state = code_state()
    if state["git_commit"] == "unknown":
        return None
    return state["git_commit"] + ("+dirty" if state["git_dirty"] else "")
