"""Benchmark protocols, methods and budgets declared as data and validated before anything runs.

A protocol names what a model trains on, what it is tested on and with which prompts; the
four kinds are the questions the benchmark asks of a text-prompted segmenter:

- ``in-domain``: trained and tested on the same datasets (held-out images);
- ``cross-domain``: trained on some domains, tested zero-shot on another;
- ``few-shot``: the cross-domain model adapted with K labelled images per class (LoRA);
- ``open-vocabulary``: classes held out of training are prompted at test time (unseen), and
  seen classes are prompted with paraphrases that no training prompt uses.

Protocol files live in ``genseg/evaluation/protocols/*.yaml`` (or any path); methods (genseg
and its baselines) in ``methods.yaml`` beside them; budgets (``quick`` for the demo, ``full``)
in ``budgets.yaml``. A protocol that claims to be open-vocabulary while its prompts occur in
training is refused here, before a model is trained.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from genseg.errors import ConfigError
from genseg.names import normalise

PROTOCOL_KINDS = ("in-domain", "cross-domain", "few-shot", "open-vocabulary")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrainSpec(_Strict):
    """What the protocol's model is trained on (training split of each dataset)."""

    datasets: list[str] = Field(min_length=1)
    exclude_classes: list[str] = Field(
        [], description="canonical class names kept out of training (the unseen classes)"
    )
    per_dataset: bool = Field(
        False,
        description="in-domain: every method trains one model per dataset and is scored on that "
        "dataset's test split, as a user with one dataset (and the per-domain peers) would; the run "
        "holds one protocol per dataset, named PROTOCOL-DATASET",
    )


class TestSpec(_Strict):
    """What it is scored on."""

    datasets: list[str] = Field(min_length=1)
    split: Literal["validation", "test"] = "test"


class Protocol(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    kind: Literal["in-domain", "cross-domain", "few-shot", "open-vocabulary"]
    description: str = ""
    default: bool = Field(
        True, description="run by `genseg benchmark` without --protocol (false: only when named)"
    )
    methods: list[str] = Field(min_length=1, description="names from methods.yaml")
    train: TrainSpec
    test: TestSpec
    unseen: list[str] = Field([], description="open-vocabulary: test classes never trained on")
    paraphrases: dict[str, list[str]] = Field(
        {}, description="open-vocabulary: seen class -> prompts that no training prompt uses"
    )
    prompting: Literal["semantic", "referring"] = Field(
        "semantic",
        description="semantic: every class of a test dataset prompted on every image, absent ones "
        "included; referring: only the classes present. Datasets whose labels are declared incomplete "
        "are scored referring either way.",
    )
    shots: list[int] = Field([], description="few-shot: labelled images per class")
    adapt: list[str] = Field(
        [], description="few-shot: datasets whose training split gives the K shots (default: test datasets)"
    )

    @model_validator(mode="after")
    def _kind_fields(self) -> Protocol:
        if self.kind == "few-shot" and not self.shots:
            raise ValueError("a few-shot protocol needs `shots`, e.g. [1, 5, 10, 25]")
        if self.kind != "few-shot" and (self.shots or self.adapt):
            raise ValueError("`shots` and `adapt` belong to few-shot protocols")
        if self.kind == "open-vocabulary":
            if not self.unseen and not self.paraphrases:
                raise ValueError("an open-vocabulary protocol needs `unseen` classes or `paraphrases`")
            missing = sorted(set(self.unseen) - set(self.train.exclude_classes))
            if missing:
                raise ValueError(
                    f"unseen classes {missing} are not in train.exclude_classes, so training would see them"
                )
        elif self.unseen or self.paraphrases:
            raise ValueError("`unseen` and `paraphrases` belong to open-vocabulary protocols")
        if self.train.per_dataset and (
            self.kind != "in-domain" or set(self.train.datasets) != set(self.test.datasets)
        ):
            raise ValueError(
                "train.per_dataset needs an in-domain protocol that tests on exactly the datasets "
                "it trains on"
            )
        if self.kind == "cross-domain" and set(self.train.datasets) & set(self.test.datasets):
            raise ValueError("a cross-domain protocol must test on datasets it does not train on")
        return self


class MethodSpec(_Strict):
    """genseg or a baseline (training-config overrides and the inference steps), or a peer: a
    model a user would train instead (closed-set, from ``genseg.evaluation.peers``)."""

    description: str = ""
    kind: Literal["genseg", "peer"] = Field("genseg", description="genseg-trained, or a peer method")
    peer: str | None = Field(None, description="peer: its implementation in genseg.evaluation.peers")
    domains: list[str] | None = Field(
        None, description="the domains the method applies to (None: every domain)"
    )
    options: dict[str, Any] = Field({}, description="peer: its hyper-parameters")
    overrides: dict[str, Any] = {}
    steps: int = Field(1, ge=1, description="Euler steps at inference")
    colour: str = Field("#4C72B0", description="colour in the plots")

    @model_validator(mode="after")
    def _peer_fields(self) -> MethodSpec:
        if self.kind == "peer":
            from genseg.evaluation.peers import PEERS

            if self.peer not in PEERS:
                raise ValueError(f"unknown peer {self.peer!r}: use one of {', '.join(PEERS)}")
            if self.overrides:
                raise ValueError("`overrides` are genseg training-config keys; a peer takes `options`")
        elif self.peer or self.options:
            raise ValueError("`peer` and `options` belong to methods of kind peer")
        return self


class Budget(_Strict):
    """How much each model trains; every method of a protocol gets the same budget."""

    description: str = ""
    steps: int = Field(ge=1)
    batch_size: int = Field(8, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    resolution: int = Field(128, ge=16)
    lora_steps: int = Field(150, ge=1)
    lora_rank: int = Field(4, ge=1)
    lora_learning_rate: float = Field(1e-2, gt=0)
    lora_targets: str = "attn+embed+head"
    test_limit: int | None = Field(None, ge=1, description="at most this many test images per dataset")
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples for the 95 % intervals")
    overlays: int = Field(3, ge=0, description="overlay images per (protocol, dataset)")
    seed: int = 0


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError("file not found", path=path, fix="pass an existing YAML file") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse YAML: {exc}", path=path, fix="check the YAML syntax") from exc
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping at the top level", path=path)
    return data


def _validate(model: type[BaseModel], data: Any, path: Path, what: str):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(
            f"invalid {what} at {where}: {first['msg']}",
            path=path,
            fix="see docs/benchmark.md for the protocol fields",
        ) from exc


def builtin_dir() -> Path:
    return Path(str(resources.files("genseg.evaluation.protocols")))


def builtin_protocols() -> list[str]:
    return sorted(p.stem for p in builtin_dir().glob("*.yaml") if p.stem not in ("methods", "budgets"))


def default_protocols() -> list[str]:
    """The built-in protocols `genseg benchmark` runs when none is named (those on sample data)."""
    return [name for name in builtin_protocols() if load_protocol(name)[0].default]


def load_protocol(ref: str | Path) -> tuple[Protocol, Path]:
    """A built-in protocol by name, or a YAML file by path."""
    path = Path(ref)
    if not path.suffix:
        path = builtin_dir() / f"{ref}.yaml"
        if not path.is_file():
            raise ConfigError(
                f"unknown protocol {str(ref)!r}",
                fix=f"use one of {', '.join(builtin_protocols())} or a path to a protocol .yaml",
            )
    return _validate(Protocol, _read_yaml(path), path, "protocol"), path


def per_dataset_protocols(
    protocol: Protocol, methods: dict[str, MethodSpec], specs: dict[str, Any]
) -> list[Protocol]:
    """``protocol`` itself, or with ``train.per_dataset`` one protocol per dataset (named
    ``PROTOCOL-DATASET``, trained and tested on that dataset alone, with the methods that apply
    to its domain; ``specs`` maps dataset names to their loaded specs)."""
    if not protocol.train.per_dataset:
        return [protocol]
    out = []
    for name in protocol.test.datasets:
        domain = specs[name].domain
        fits = [m for m in protocol.methods if methods[m].domains is None or domain in methods[m].domains]
        if not fits:
            continue
        out.append(
            protocol.model_copy(
                update={
                    "name": f"{protocol.name}-{name}",
                    "methods": fits,
                    "train": protocol.train.model_copy(update={"datasets": [name], "per_dataset": False}),
                    "test": protocol.test.model_copy(update={"datasets": [name]}),
                }
            )
        )
    return out


def load_methods(path: Path | None = None) -> dict[str, MethodSpec]:
    path = path or builtin_dir() / "methods.yaml"
    data = _read_yaml(path).get("methods", {})
    return {name: _validate(MethodSpec, spec, path, f"method {name!r}") for name, spec in data.items()}


def load_budget(name: str, path: Path | None = None) -> Budget:
    path = path or builtin_dir() / "budgets.yaml"
    data = _read_yaml(path).get("budgets", {})
    if name not in data:
        raise ConfigError(f"unknown budget {name!r}", path=path, fix=f"use one of {', '.join(data)}")
    return _validate(Budget, data[name], path, f"budget {name!r}")


def check_methods(protocol: Protocol, methods: dict[str, MethodSpec], path: Path) -> None:
    unknown = [m for m in protocol.methods if m not in methods]
    if unknown:
        raise ConfigError(
            f"protocol {protocol.name!r} names unknown methods {unknown}",
            path=path,
            fix=f"use methods defined in methods.yaml: {', '.join(methods)}",
        )
    peers = [m for m in protocol.methods if methods[m].kind == "peer"]
    if peers and protocol.kind != "in-domain":
        raise ConfigError(
            f"protocol {protocol.name!r} ({protocol.kind}) lists peer methods {peers}; peers are closed-set "
            "models trained on the test classes, so they belong to in-domain protocols only",
            path=path,
            fix="drop them from this protocol, or list them in an in-domain one",
        )


def check_method_domains(
    protocol: Protocol, methods: dict[str, MethodSpec], specs: dict[str, Any], path: Path
) -> None:
    """Refuse a method that applies to none of the protocol's test domains, or one whose
    training data has none of its domains' datasets (before anything trains)."""
    test_domains = {specs[n].domain for n in protocol.test.datasets}
    train_domains = {specs[n].domain for n in protocol.train.datasets}
    for name in protocol.methods:
        allowed = methods[name].domains
        if allowed is None:
            continue
        if not set(allowed) & test_domains:
            raise ConfigError(
                f"protocol {protocol.name!r}: method {name!r} applies to domains {allowed}, "
                f"but the test datasets are {sorted(test_domains)}",
                path=path,
                fix=f"drop {name!r} from this protocol, or add a test dataset of one of its domains",
            )
        if not set(allowed) & test_domains & train_domains:
            raise ConfigError(
                f"protocol {protocol.name!r}: method {name!r} ({allowed}) has no training dataset "
                "of a domain it is tested on",
                path=path,
                fix="train on a dataset of the domains it is tested on",
            )


def training_prompts(specs: dict[str, Any], train: TrainSpec) -> set[str]:
    """Every prompt training may draw: names and synonyms of the classes it keeps."""
    excluded = {normalise(c) for c in train.exclude_classes}
    prompts: set[str] = set()
    for name in train.datasets:
        spec = specs[name]
        for key, cls in spec.classes.items():
            if normalise(cls.name) not in excluded:
                prompts.update(normalise(p) for p in spec.prompts_for(key))
    return prompts


def check_open_vocabulary(protocol: Protocol, specs: dict[str, Any], path: Path) -> None:
    """Refuse an open-vocabulary protocol whose 'unseen' prompts occur in training.

    ``specs`` maps dataset name to its DatasetSpec. Unseen classes must exist in the test
    data and must not be a name or synonym of a trained class; paraphrases must not be a
    training prompt either (a synonym listed in dataset.json is drawn during training).
    """
    if protocol.kind != "open-vocabulary":
        return
    seen = training_prompts(specs, protocol.train)
    test_classes = {normalise(c.name) for n in protocol.test.datasets for c in specs[n].classes.values()}
    absent = [c for c in protocol.unseen if normalise(c) not in test_classes]
    if absent:
        raise ConfigError(
            f"protocol {protocol.name!r}: unseen classes {absent} are not classes of the test datasets",
            path=path,
            fix="name canonical class names of the test datasets under `unseen`",
        )
    leaks = [c for c in protocol.unseen if normalise(c) in seen]
    leaks += [p for ps in protocol.paraphrases.values() for p in ps if normalise(p) in seen]
    if leaks:
        raise ConfigError(
            f"protocol {protocol.name!r} claims to be open-vocabulary but prompts {sorted(set(leaks))} "
            "occur in training (as a class name or a synonym of a trained class)",
            path=path,
            fix="move those classes to train.exclude_classes, or use paraphrases no training prompt uses",
        )
    unknown = [c for c in protocol.paraphrases if normalise(c) not in test_classes]
    if unknown:
        raise ConfigError(
            f"protocol {protocol.name!r}: paraphrased classes {unknown} are not in the test datasets",
            path=path,
        )
