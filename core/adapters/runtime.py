"""Adapters on a loaded pipeline: load, switch, weight, disable, fuse, unload.

LoRA layers are injected in place with PEFT (`inject_adapter_in_model`), so the denoiser
keeps its class and the pipeline its `__call__`; several adapters live side by side under
their names and switching or re-weighting them is a flag change on the layers (diffusers'
`set_weights_and_activate_adapters`), never a reload. Fusing merges the active adapters
into the base weights for speed (PEFT `merge`); unfusing restores them.

Layers an adapter trains in full (`--targets ...+head`, PEFT `modules_to_save`) are kept as
one copy per adapter next to the untouched original (`ModulesToSaveWrapper`); switching
picks the active adapter's copy, the original when no active adapter has one. Such a copy
cannot be mixed or scaled: two active adapters that both replace a layer are refused, and a
weight other than 1 scales only the LoRA part (with a warning).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from genseg.adapters.card import CARD_FILE, AdapterManifest
from genseg.adapters.peft_export import lora_config
from genseg.adapters.store import COMPONENTS, AdapterFiles, read_adapter, resolve_adapter
from genseg.errors import AdapterError

STATE_ATTRIBUTE = "_genseg_adapters"


class AdapterWarning(UserWarning):
    """An adapter is used outside what its card describes (another base, domain or input)."""


@dataclass
class LoadedAdapter:
    name: str
    folder: Path
    manifest: AdapterManifest
    options: dict


@dataclass
class AdapterState:
    """What genseg keeps on a pipeline about its adapters."""

    base_hash: str | None = None
    loaded: dict[str, LoadedAdapter] = field(default_factory=dict)
    active: list[str] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    enabled: bool = True
    fused: bool = False
    warned: set[str] = field(default_factory=set)


def adapter_state(pipe) -> AdapterState:
    """The pipeline's adapter state (created empty on first use)."""
    state = pipe.__dict__.get(STATE_ATTRIBUTE)
    if state is None:
        state = AdapterState()
        pipe.__dict__[STATE_ATTRIBUTE] = state
    return state


def base_hash(pipe) -> str:
    """The hash of the pipeline's base weights, computed once and kept."""
    state = adapter_state(pipe)
    if state.base_hash is None:
        if state.fused:
            raise AdapterError("cannot hash the base weights while adapters are fused into them")
        from genseg.adapters.hashing import weights_hash

        state.base_hash = weights_hash(pipe)
    return state.base_hash


def parse_adapter_spec(spec: str) -> tuple[str, float]:
    """`NAME`, `DIR`, `NAME:0.7` or `DIR:0.7` → (reference, weight)."""
    ref, sep, weight = str(spec).rpartition(":")
    if sep and ref:
        try:
            return ref, float(weight)
        except ValueError:
            pass
    return str(spec), 1.0


def _tuner_layers(module: torch.nn.Module):
    from peft.tuners.tuners_utils import BaseTunerLayer

    return [m for m in module.modules() if isinstance(m, BaseTunerLayer)]


def _wrappers(module: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """The layers replaced by trained copies (PEFT `ModulesToSaveWrapper`), by name."""
    from peft.utils.other import ModulesToSaveWrapper

    return {n: m for n, m in module.named_modules() if isinstance(m, ModulesToSaveWrapper)}


def _adapted(pipe) -> list[torch.nn.Module]:
    """The components that carry LoRA layers or trained copies."""
    out = []
    for name in COMPONENTS:
        module = getattr(pipe, name, None)
        if isinstance(module, torch.nn.Module) and (_tuner_layers(module) or _wrappers(module)):
            out.append(module)
    return out


def _remove_wrappers(module: torch.nn.Module, only: str | None = None) -> None:
    """Drop adapter `only`'s trained copies (all adapters' with None); a layer left without any
    copy gets its original module back, so the model is its base class again."""
    for name, wrapper in _wrappers(module).items():
        for adapter in [a for a in list(wrapper.modules_to_save) if only in (None, a)]:
            wrapper.delete_adapter(adapter, new_active_adapters=[])
        if not len(wrapper.modules_to_save):
            parent, _, child = name.rpartition(".")
            setattr(module.get_submodule(parent) if parent else module, child, wrapper.original_module)


def _lora_shapes(layer: torch.nn.Module, rank: int) -> dict[str, tuple[int, ...]] | None:
    """The shapes PEFT gives `lora_A`/`lora_B` on `layer` at `rank`; None for a layer kind LoRA cannot wrap.

    A Conv2d (the DiT's patch embedding) gets a conv `A` with the layer's kernel and a 1×1 `B`.
    """
    if isinstance(layer, torch.nn.Linear):
        return {"A.weight": (rank, layer.in_features), "B.weight": (layer.out_features, rank)}
    if isinstance(layer, torch.nn.Conv2d):
        return {
            "A.weight": (rank, layer.in_channels // layer.groups, *layer.kernel_size),
            "B.weight": (layer.out_channels, rank, 1, 1),
        }
    return None


def _check_modules(pipe, files: AdapterFiles) -> None:
    """Every LoRA tensor must fit a linear or conv layer the model has, at the card's rank, and
    every fully trained tensor (`modules_to_save`) one of the model's own, shape for shape."""
    rank = files.manifest.lora.rank
    fix = "the adapter was made for another architecture; load it onto its base model"
    for component, state in files.tensors.items():
        model = getattr(pipe, component, None)
        if not isinstance(model, torch.nn.Module):
            raise AdapterError(
                f"the adapter has weights for the {component}, which this pipeline does not have",
                path=files.weights_path,
                fix="load it onto the base model named in its card",
            )

        def submodule(name: str, model=model, component=component) -> torch.nn.Module:
            try:
                return model.get_submodule(name)
            except AttributeError:
                raise AdapterError(
                    f"weights for {component} layer {name!r}, which the model does not have",
                    path=files.weights_path,
                    fix=fix,
                ) from None

        for key, tensor in state.items():
            module_name, lora, kind = key.rpartition(".lora_")
            if not lora:  # a module trained in full: the base must hold a tensor of that name and shape
                module_name, _, param = key.rpartition(".")
                layer = submodule(module_name)
                layer = getattr(layer, "original_module", layer)
                base = getattr(layer, param, None)
                if not isinstance(base, torch.Tensor) or tuple(base.shape) != tuple(tensor.shape):
                    have = tuple(base.shape) if isinstance(base, torch.Tensor) else "no such tensor"
                    raise AdapterError(
                        f"{key} has shape {tuple(tensor.shape)}, but the {component} has {have} there",
                        path=files.weights_path,
                        fix=fix,
                    )
                continue
            layer = submodule(module_name)
            layer = getattr(layer, "base_layer", layer)
            shapes = _lora_shapes(layer, rank)
            if shapes is None:
                raise AdapterError(
                    f"{component} layer {module_name!r} is a {type(layer).__name__}, "
                    "not a linear or conv layer",
                    path=files.weights_path,
                    fix=fix,
                )
            expected = shapes.get(kind)
            if tuple(tensor.shape) != expected:
                raise AdapterError(
                    f"{key} has shape {tuple(tensor.shape)}, but {component} layer {module_name!r} "
                    f"needs {expected} at rank {rank}",
                    path=files.weights_path,
                    fix=fix,
                )


def inject_lora(
    module: torch.nn.Module,
    name: str,
    rank: int,
    alpha: float,
    modules: list[str],
    trained: Sequence[str] = (),
) -> None:
    """Add an (untrained) LoRA adapter `name` on the listed layers of `module`, in place, and a
    trainable copy of each `trained` layer (PEFT `modules_to_save`; the original stays as it is)."""
    from peft import inject_adapter_in_model

    config = lora_config(rank, alpha, modules, trained)
    training = module.training
    with warnings.catch_warnings():
        # several adapters on one model are what we want; PEFT warns about it
        warnings.filterwarnings("ignore", message=".*Already found a `peft_config` attribute.*")
        inject_adapter_in_model(config, module, adapter_name=name)
    module.train(training)


def load_adapter(
    pipe,
    ref: str | Path,
    *,
    name: str | None = None,
    weight: float = 1.0,
    force: bool = False,
    activate: bool = True,
) -> str:
    """Load an adapter folder (or registered name) next to those already loaded; returns its name.

    Refused when its card's base hash differs from this pipeline's weights, unless `force`.
    """
    from peft import set_peft_model_state_dict

    folder, options = resolve_adapter(ref)
    files = read_adapter(folder, options)
    manifest = files.manifest
    state = adapter_state(pipe)
    if state.fused:
        raise AdapterError(
            "adapters are fused into the weights", fix="call unfuse_adapters(pipe) before loading another"
        )
    name = name or manifest.name
    if name in state.loaded:
        raise AdapterError(
            f"an adapter named {name!r} is already loaded",
            path=folder,
            fix="load it once, or give it another name",
        )
    expected = base_hash(pipe)
    if manifest.base.weights_sha256 != expected:
        message = (
            f"adapter {manifest.name!r} was trained on base model {manifest.base.name!r} (weights "
            f"{manifest.base.weights_sha256[:12]}…), but the loaded model's weights hash to {expected[:12]}…"
        )
        if not force:
            raise AdapterError(
                message,
                path=folder / CARD_FILE,
                fix="load it onto the model it was trained on, or pass --force to apply it anyway",
            )
        warnings.warn(f"{folder}: {message}; applied anyway (--force)", AdapterWarning, stacklevel=2)
    _check_modules(pipe, files)
    for component, tensors in files.tensors.items():
        module = getattr(pipe, component)
        lora = manifest.lora
        inject_lora(
            module, name, lora.rank, lora.alpha, lora.modules[component], lora.trained.get(component, [])
        )
        result = set_peft_model_state_dict(module, tensors, adapter_name=name)
        unexpected = getattr(result, "unexpected_keys", [])
        if unexpected:
            raise AdapterError(
                f"{len(unexpected)} tensors did not load into the {component}, e.g. {unexpected[0]!r}",
                path=files.weights_path,
                fix="the adapter was made for another architecture; load it onto its base model",
            )
    state.loaded[name] = LoadedAdapter(name, Path(folder), manifest, files.options)
    if pipe.config.resolution != manifest.input.resolution:
        warnings.warn(
            f"{folder}: adapter {name!r} was trained at {manifest.input.resolution} px, the model runs at "
            f"{pipe.config.resolution} px",
            AdapterWarning,
            stacklevel=2,
        )
    if activate:
        set_adapters(pipe, [*state.active, name], [*state.weights, weight])
    else:
        # PEFT makes a freshly injected adapter active; keep the active set as it was
        _activate(pipe, state.active, state.weights)
    return name


def _activate(pipe, names: list[str], weights: list[float]) -> None:
    from diffusers.utils.peft_utils import set_weights_and_activate_adapters

    for module in _adapted(pipe):
        if names:
            set_weights_and_activate_adapters(module, names, weights)
        else:
            for layer in _tuner_layers(module):
                layer.set_adapter([])
        for wrapper in _wrappers(module).values():  # the active adapter's copy, else the original
            wrapper.set_adapter([n for n in names if n in wrapper.modules_to_save], inference_mode=True)


def _check_trained_copies(state: AdapterState, names: list[str], weights: list[float]) -> None:
    """Refuse two active adapters that replace the same layer; warn when a weight cannot apply."""
    owner: dict[tuple[str, str], str] = {}
    for name, weight in zip(names, weights, strict=True):
        trained = state.loaded[name].manifest.lora.trained
        for component, layers in trained.items():
            for layer in layers:
                other = owner.setdefault((component, layer), name)
                if other != name:
                    raise AdapterError(
                        f"adapters {other!r} and {name!r} both replace {component} layer {layer!r} by a "
                        "trained copy; only one of them can be active",
                        fix="activate one of them, or fine-tune them with --targets without +head",
                    )
        key = f"scaled trained copies of {name}"
        if trained and weight != 1.0 and key not in state.warned:
            state.warned.add(key)
            warnings.warn(
                f"adapter {name!r} replaces {sum(map(len, trained.values()))} layer(s) by trained copies, "
                f"which are used whole; the weight {weight:g} scales only its LoRA layers",
                AdapterWarning,
                stacklevel=3,
            )


def set_adapters(pipe, names: Sequence[str], weights: Sequence[float] | None = None) -> None:
    """Make `names` the active adapters, mixed with `weights` (1.0 each by default). No reload."""
    state = adapter_state(pipe)
    names = list(names)
    weights = [1.0] * len(names) if weights is None else [float(w) for w in weights]
    if len(weights) != len(names):
        raise AdapterError(f"{len(names)} adapters but {len(weights)} weights")
    unknown = [n for n in names if n not in state.loaded]
    if unknown:
        raise AdapterError(
            f"adapter {unknown[0]!r} is not loaded",
            fix=f"load it first; loaded: {', '.join(state.loaded) or 'none'}",
        )
    if state.fused:
        raise AdapterError("adapters are fused into the weights", fix="call unfuse_adapters(pipe) first")
    _check_trained_copies(state, names, weights)
    _activate(pipe, names, weights)
    state.active, state.weights = names, weights
    install_input_check(pipe)


def active_adapters(pipe) -> list[tuple[str, float]]:
    """The active adapters and their weights (empty when disabled)."""
    state = adapter_state(pipe)
    return list(zip(state.active, state.weights, strict=True)) if state.enabled else []


def disable_adapters(pipe) -> None:
    """Run the base model alone; the adapters stay loaded (`enable_adapters` brings them back)."""
    from diffusers.utils.peft_utils import set_adapter_layers

    state = adapter_state(pipe)
    if state.fused:
        unfuse_adapters(pipe)
    for module in _adapted(pipe):
        set_adapter_layers(module, enabled=False)
        for wrapper in _wrappers(module).values():
            wrapper.enable_adapters(False)
    state.enabled = False


def enable_adapters(pipe) -> None:
    from diffusers.utils.peft_utils import set_adapter_layers

    state = adapter_state(pipe)
    for module in _adapted(pipe):
        set_adapter_layers(module, enabled=True)
        for wrapper in _wrappers(module).values():
            wrapper.enable_adapters(True)
    state.enabled = True
    _activate(pipe, state.active, state.weights)


def fuse_adapters(pipe) -> None:
    """Merge the active adapters (with their weights) into the base weights: no LoRA cost per call."""
    state = adapter_state(pipe)
    if not state.enabled or not state.active:
        raise AdapterError("no active adapter to fuse", fix="load or enable an adapter first")
    if state.fused:
        return
    base_hash(pipe)  # keep the hash of the unfused base
    for module in _adapted(pipe):
        for layer in _tuner_layers(module):
            layer.merge(adapter_names=list(state.active))
    state.fused = True


def unfuse_adapters(pipe) -> None:
    """Subtract fused adapters from the base weights again."""
    state = adapter_state(pipe)
    for module in _adapted(pipe):
        for layer in _tuner_layers(module):
            layer.unmerge()
    state.fused = False


def unload_adapter(pipe, name: str) -> None:
    """Remove one adapter's layers; the others stay active with their weights."""
    from diffusers.utils.peft_utils import delete_adapter_layers

    state = adapter_state(pipe)
    if name not in state.loaded:
        raise AdapterError(f"adapter {name!r} is not loaded")
    if state.fused:
        unfuse_adapters(pipe)
    for module in _adapted(pipe):
        delete_adapter_layers(module, name)
        _remove_wrappers(module, only=name)
    keep = [(n, w) for n, w in zip(state.active, state.weights, strict=True) if n != name]
    del state.loaded[name]
    state.active, state.weights = [n for n, _ in keep], [w for _, w in keep]
    if state.loaded:
        _activate(pipe, state.active, state.weights)
    else:
        unload_adapters(pipe)


def unload_adapters(pipe) -> None:
    """Remove every LoRA layer: the pipeline is its base model again."""
    from diffusers.utils.peft_utils import recurse_remove_peft_layers

    state = adapter_state(pipe)
    if state.fused:
        unfuse_adapters(pipe)
    for module in _adapted(pipe):
        _remove_wrappers(module)
        recurse_remove_peft_layers(module)
        if hasattr(module, "peft_config"):
            del module.peft_config
    state.loaded.clear()
    state.active, state.weights = [], []
    state.enabled = True
    install_input_check(pipe)


def attach_adapters(pipe, specs: Sequence[str], force: bool = False, fuse: bool = False) -> list[str]:
    """Load `NAME|DIR[:WEIGHT]` specs and activate them together; what `--adapter` does."""
    names, weights = [], []
    for spec in specs:
        ref, weight = parse_adapter_spec(spec)
        names.append(load_adapter(pipe, ref, force=force, activate=False))
        weights.append(weight)
        probe = adapter_state(pipe).loaded[names[-1]].manifest.probe
        if probe is not None:
            warnings.warn(
                f"{ref}: adapter {names[-1]!r} was trained for the attention probe (block {probe.layer}), "
                "not for the generator's masks; pass it as --probe-lora with --method attention-probe",
                AdapterWarning,
                stacklevel=2,
            )
    if names:
        set_adapters(pipe, names, weights)
        if fuse:
            fuse_adapters(pipe)
    return names


def install_input_check(pipe) -> None:
    """Let the pipeline warn when images differ from the active adapters' input contract."""
    from genseg.adapters.contract import check_images

    state = adapter_state(pipe)
    pipe.__dict__["_input_check"] = (lambda images: check_images(pipe, images)) if state.active else None
