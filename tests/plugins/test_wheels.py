"""Plugins as users get them: built as wheels, installed into a fresh environment, found, removed.

Nothing here needs the network: wheels are built with the setuptools already installed
(``--no-build-isolation``), installed with ``--no-index``, and the fresh environment reaches
genseg and its dependencies through a ``.pth`` file pointing at this environment. The domain
plugins installed with their dependencies resolved by pip, next to genseg's own wheel, are
tests/packaging/test_fresh_install.py.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "plugins" / "template"
DOMAINS = ["medical", "remote_sensing", "agriculture"]
PIP_WHEEL = ("-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index")
_COPY_IGNORE = shutil.ignore_patterns(
    "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache"
)


def _env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GENSEG_PLUGINS", "GENSEG_DISABLE_PLUGIN_AUTOLOAD", "PYTHONPATH", "VIRTUAL_ENV")
    }
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        NO_ALBUMENTATIONS_UPDATE="1",
        TOKENIZERS_PARALLELISM="false",
        PIP_NO_INDEX="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PYTHONNOUSERSITE="1",
    )
    return env


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    cmd = [str(a) for a in args]
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _build_wheel(source: Path, tmp_path: Path) -> Path:
    """Build ``source`` (copied first, so nothing is written into the repository) into a wheel."""
    src = tmp_path / "src" / source.name
    shutil.copytree(source, src, ignore=_COPY_IGNORE)
    dist = tmp_path / "dist"
    _run(sys.executable, *PIP_WHEEL, "-w", dist, src, cwd=tmp_path)
    [wheel] = dist.glob("*.whl")
    return wheel


def _entry_points(wheel: Path) -> configparser.ConfigParser:
    with zipfile.ZipFile(wheel) as zf:
        [name] = [n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt")]
        parser = configparser.ConfigParser(delimiters=("=",))
        parser.optionxform = str  # keep entry point names as written
        parser.read_string(zf.read(name).decode("utf-8"))
        return parser


def _fresh_venv(tmp_path: Path) -> Path:
    """A new virtual environment without pip that sees this environment's packages after its own."""
    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path)
    # addsitedir, not a bare path: it also runs the .pth files there (editable installs of genseg).
    lines = [f"import site; site.addsitedir({d!r})\n" for d in site.getsitepackages()]
    Path(purelib.stdout.strip(), "zz_genseg_parent_env.pth").write_text("".join(lines), encoding="utf-8")
    return python


def _pip_for(python: Path) -> list[str | Path]:
    """This environment's pip acting on ``python``'s environment (``--python`` needs pip 22.3)."""
    from importlib.metadata import version

    from packaging.version import Version

    if Version(version("pip")) >= Version("22.3"):
        return [sys.executable, "-m", "pip", "--python", python]
    return [python, "-m", "pip"]  # importable there through the .pth file; installs into its prefix


def _plugins(python: Path, cwd: Path) -> dict[str, dict]:
    out = _run(python, "-m", "genseg.cli.app", "plugins", "list", "--json", "-", cwd=cwd).stdout
    return {record["name"]: record for record in json.loads(out)}


def test_template_wheel_installs_loads_passes_its_tests_and_uninstalls(tmp_path):
    wheel = _build_wheel(TEMPLATE, tmp_path)
    assert wheel.name.startswith("genseg_plugin_example-0.1.0-")
    with zipfile.ZipFile(wheel) as zf:
        files = set(zf.namelist())
    assert {"genseg_example/data/vocabulary.json", "genseg_example/data/datasets.json"} <= files
    assert not any(f.startswith("tests/") for f in files)
    assert dict(_entry_points(wheel)["genseg"]) == {"example": "genseg_example.plugin"}

    python = _fresh_venv(tmp_path)
    pip = _pip_for(python)
    _run(*pip, "install", "-q", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    where = _run(python, "-c", "import genseg_example.plugin as m; print(m.__file__)", cwd=tmp_path)
    assert Path(where.stdout.strip()).resolve().is_relative_to((tmp_path / "fresh").resolve()), where.stdout

    records = _plugins(python, tmp_path)
    example = records.get("example")
    assert example is not None, sorted(records)
    assert example["status"] == "loaded", example["error"]
    assert (example["distribution"], example["version"]) == ("genseg-plugin-example", "0.1.0")
    assert example["hookspec"] == ">=1.0,<2"
    assert example["hooks"] == [
        "genseg_register_datasets",
        "genseg_register_domains",
        "genseg_register_readers",
        "genseg_register_vocabularies",
    ]
    assert example["warnings"] == [] and example["hook_errors"] == {}
    assert records["generic"]["status"] == "builtin"

    # The template's own tests, against the installed wheel (run from outside the source copy).
    tests = tmp_path / "src" / TEMPLATE.name / "tests"
    result = _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", tests, cwd=tmp_path)
    assert " passed" in result.stdout and "failed" not in result.stdout, result.stdout

    _run(*pip, "uninstall", "-y", "genseg-plugin-example", cwd=tmp_path)
    assert "example" not in _plugins(python, tmp_path)


@pytest.mark.parametrize("domain", DOMAINS)
def test_domain_plugin_builds_a_wheel_with_a_genseg_entry_point(domain, tmp_path):
    wheel = _build_wheel(REPO / "domains" / domain, tmp_path)
    assert wheel.name.startswith(f"genseg_plugin_{domain}-"), wheel.name
    entry_points = _entry_points(wheel)
    assert entry_points.has_section("genseg"), entry_points.sections()
    targets = dict(entry_points["genseg"])
    assert targets, "the [genseg] section names no plugin"
    with zipfile.ZipFile(wheel) as zf:
        files = set(zf.namelist())
    for name, target in targets.items():
        module = target.partition(":")[0]
        assert module.replace(".", "/") + ".py" in files, f"{name} = {target}: module not in the wheel"
