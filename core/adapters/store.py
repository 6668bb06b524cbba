"""Adapter folders on disk: find one by name or path, read it with checks, write it atomically.

A folder holds `adapter_model.safetensors` (LoRA tensors named `COMPONENT.MODULE.lora_A.weight`
and `...lora_B.weight`, plus `COMPONENT.MODULE.weight`/`.bias` for the layers the card lists as
trained in full; never pickle) and `genseg_adapter.json`. Next to them genseg writes, for other
tools, `peft/COMPONENT/` (the same tensors as PEFT saves and loads them,
`genseg.adapters.peft_export`) and `README.md` (a Hugging Face model card). The card is written
last, so a folder with a card is complete. No file of the folder may be a link out of it. Every
problem is one AdapterError naming the file.
"""

from __future__ import annotations

import difflib
import importlib.util
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from genseg.adapters.card import WEIGHTS_FILE, AdapterManifest, read_manifest, write_manifest
from genseg.adapters.peft_export import PEFT_DIR, write_peft_folders
from genseg.adapters.readme import adapter_readme
from genseg.errors import AdapterError
from genseg.file_modes import apply_umask
from genseg.model_card import README_FILE, write_card

if TYPE_CHECKING:  # listing adapters must not import torch
    import torch

COMPONENTS = ("denoiser", "text_encoder")
_LORA_SUFFIXES = (".lora_A.weight", ".lora_B.weight")


@dataclass
class AdapterFiles:
    """What an adapter folder holds, checked against its own card (not yet against a model)."""

    folder: Path
    manifest: AdapterManifest
    tensors: dict[str, dict[str, torch.Tensor]]  # component → PEFT state dict (no adapter name)
    options: dict  # preprocessing options a plugin's registration adds

    @property
    def weights_path(self) -> Path:
        return self.folder / self.manifest.weights


def _plugin_folder(plugin: str) -> Path | None:
    """The folder of the package (or module) that implements `plugin`."""
    from genseg.plugins.manager import load_plugins

    obj = load_plugins().manager.get_plugin(plugin)
    if obj is None:
        return None
    module_name = obj.__name__ if hasattr(obj, "__file__") else type(obj).__module__
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        return None
    if spec.submodule_search_locations:  # a package
        return Path(spec.origin).parent
    package = module_name.rpartition(".")[0]
    return Path(str(resources.files(package))) if package else Path(spec.origin).parent


def registered_location(plugin: str, location: str) -> Path:
    """Where a registered adapter's folder lies: an absolute path, a folder inside an
    importable package (`pkg/adapters/x`) or inside the registering plugin's package."""
    path = Path(location).expanduser()
    if path.is_absolute():
        return path
    first, _, rest = location.partition("/")
    if rest and first.isidentifier():
        try:
            spec = importlib.util.find_spec(first)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.submodule_search_locations:
            candidate = Path(str(resources.files(first).joinpath(rest)))
            if candidate.exists():
                return candidate
    base = _plugin_folder(plugin)
    return (base / location) if base is not None else path


def resolve_adapter(ref: str | Path) -> tuple[Path, dict]:
    """`ref` as an adapter folder, plus preprocessing options its registration adds.

    A path that exists is taken as is; otherwise `ref` is looked up among the adapters
    plugins registered (`genseg adapters list`).
    """
    path = Path(str(ref)).expanduser()
    if path.exists():
        return path, {}
    from genseg.plugins.registry import adapters

    found = {card.name: (plugin, card) for plugin, card in adapters()}
    if str(ref) in found:
        plugin, card = found[str(ref)]
        folder = registered_location(plugin, card.location)
        if not folder.exists():
            raise AdapterError(
                f"adapter {card.name!r} (from plugin {plugin}) points to a folder that does not exist",
                path=folder,
                fix="reinstall the plugin, or download the adapter and pass its folder",
            )
        return folder, dict(card.preprocessing)
    close = difflib.get_close_matches(str(ref), list(found), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise AdapterError(
        f"no adapter folder or registered adapter named {str(ref)!r}{hint}",
        path=path if ("/" in str(ref) or str(ref).startswith(".")) else None,
        fix=f"pass an adapter folder or one of: {', '.join(sorted(found)) or 'none registered'}",
    )


def read_adapter(folder: str | Path, options: dict | None = None) -> AdapterFiles:
    """Read and check the card and the weights of an adapter folder."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    weights = folder / manifest.weights
    if not weights.is_file():
        raise AdapterError(
            "adapter weights are missing",
            path=weights,
            fix="copy the whole adapter folder, or fine-tune again",
        )
    if not weights.resolve().is_relative_to(folder.resolve()):
        raise AdapterError(
            f"adapter weights are a link to a file outside the adapter folder ({weights.resolve()})",
            path=weights,
            fix="copy the weights file into the adapter folder instead of linking it",
        )
    check_links_inside(folder)
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        flat = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise AdapterError(
            f"cannot read the adapter weights: {exc}", path=weights, fix="fine-tune the adapter again"
        ) from None
    tensors: dict[str, dict[str, torch.Tensor]] = {}
    trained = manifest.lora.trained
    for key, value in flat.items():
        component, _, rest = key.partition(".")
        module = next((rest[: -len(s)] for s in _LORA_SUFFIXES if rest.endswith(s)), None)
        # a trained layer's own tensors, or those of its sub-layers (a trained Sequential)
        whole = module is None and any(rest.startswith(t + ".") for t in trained.get(component, []))
        if component not in COMPONENTS or (module is None and not whole):
            raise AdapterError(
                f"unexpected tensor {key!r}: expected COMPONENT.MODULE.lora_A/lora_B.weight "
                f"(or a tensor of a layer the card lists under lora.trained) "
                f"with COMPONENT one of {', '.join(COMPONENTS)}",
                path=weights,
                fix="write adapters with `genseg finetune` (or genseg.adapters.save_adapter)",
            )
        if module is not None and module not in manifest.lora.modules.get(component, []):
            raise AdapterError(
                f"tensor {key!r} is for a layer its card does not list under lora.modules.{component}",
                path=weights,
                fix=f"the weights and {folder / 'genseg_adapter.json'} do not belong together",
            )
        tensors.setdefault(component, {})[rest] = value
    for component, modules in manifest.lora.modules.items():
        have = {k.rsplit(".lora_", 1)[0] for k in tensors.get(component, {})}
        missing = [m for m in modules if m not in have]
        if missing:
            raise AdapterError(
                f"no weights for {component} layer {missing[0]!r} that the card lists"
                + (f" (+{len(missing) - 1} more)" if len(missing) > 1 else ""),
                path=weights,
                fix="copy the whole adapter folder, or fine-tune again",
            )
    for component, modules in trained.items():
        whole = [k for k in tensors.get(component, {}) if ".lora_" not in k]
        missing = [m for m in modules if not any(k.startswith(m + ".") for k in whole)]
        if missing:
            raise AdapterError(
                f"no weights for the fully trained {component} layer {missing[0]!r} that the card lists",
                path=weights,
                fix="copy the whole adapter folder, or fine-tune again",
            )
    return AdapterFiles(folder, manifest, tensors, dict(options or {}))


def check_links_inside(folder: Path) -> None:
    """Refuse an adapter folder whose README or PEFT files link out of it: whoever opens the
    folder with PEFT or the Hub would read a file the adapter never held."""
    inside = folder.resolve()
    peft = folder / PEFT_DIR
    paths = [folder / README_FILE, peft]
    if peft.is_dir() and not peft.is_symlink():
        paths += sorted(peft.rglob("*"))  # rglob does not descend into linked folders
    for path in paths:
        if path.is_symlink() and not path.resolve().is_relative_to(inside):
            raise AdapterError(
                f"{path.relative_to(folder)} is a link to {path.resolve()}, outside the adapter folder",
                path=path,
                fix="copy the file into the adapter folder instead of linking it, or delete it "
                "(genseg.adapters.add_peft_folders writes the PEFT files again)",
            )


def save_adapter(
    folder: str | Path, modules: dict[str, torch.nn.Module], adapter_name: str, manifest: AdapterManifest
) -> Path:
    """Write the named adapter's tensors of each component (LoRA, and the layers it trains in
    full), their PEFT copies, the README and then its card."""
    from peft import get_peft_model_state_dict

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    states: dict[str, dict[str, torch.Tensor]] = {}
    for component, module in modules.items():
        state = get_peft_model_state_dict(module, adapter_name=adapter_name)
        if state:
            states[component] = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    if not states:
        raise AdapterError(f"the model holds no LoRA weights named {adapter_name!r}", path=folder)
    manifest = manifest.model_copy(update={"weights": WEIGHTS_FILE})
    write_files(folder, manifest, states)
    write_manifest(folder, manifest)
    return folder


def write_files(folder: Path, manifest: AdapterManifest, states: dict[str, dict[str, torch.Tensor]]) -> None:
    """Everything of an adapter folder but its card: weights, PEFT copies, README."""
    from safetensors.torch import save_file

    from genseg.data.atomic import atomic_write

    flat = {f"{c}.{key}": value for c, state in states.items() for key, value in state.items()}
    metadata = {"format": "pt", "genseg": "adapter", "name": manifest.name}

    def write_weights(tmp: Path) -> None:
        save_file(flat, str(tmp), metadata=metadata)
        apply_umask(tmp)  # safetensors writes 0600 whatever the umask

    atomic_write(folder / manifest.weights, write_weights)
    write_peft_folders(folder, manifest, states)
    write_card(folder, adapter_readme(manifest, folder))


def add_peft_folders(folder: str | Path) -> Path:
    """Give an adapter folder written before genseg wrote PEFT copies those, and a README unless
    it has one (its weights and card stay as they are)."""
    files = read_adapter(folder)
    write_peft_folders(files.folder, files.manifest, files.tensors)
    if not (files.folder / README_FILE).exists():
        write_card(files.folder, adapter_readme(files.manifest, files.folder))
    return files.folder
