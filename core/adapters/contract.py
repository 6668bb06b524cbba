"""The input contract of the active adapters: handed to the reader, checked against inputs.

An adapter names the domain whose reader and preprocessing it was trained behind (CT
window or MR normalisation, band selection) and the options to pass them. `segment` uses
that domain and those options unless told otherwise; anything that differs from the card
(another domain or option, other channel counts, another resolution) is a warning, since
the user may know better, but should know.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from genseg.adapters.card import InputContract
from genseg.adapters.runtime import AdapterWarning, active_adapters, adapter_state


def _contracts(pipe) -> list[tuple[str, InputContract, dict]]:
    state = adapter_state(pipe)
    return [
        (name, state.loaded[name].manifest.input, state.loaded[name].options)
        for name, _ in active_adapters(pipe)
    ]


def _warn_once(pipe, message: str) -> None:
    state = adapter_state(pipe)
    if message not in state.warned:
        state.warned.add(message)
        warnings.warn(message, AdapterWarning, stacklevel=3)


def apply_input_contract(
    pipe, domain: str = "generic", options: Mapping[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """The domain and preprocessing options to read inputs with, given the active adapters.

    `generic` (the default) yields to the adapter's domain; an explicit other domain is
    kept with a warning. The adapter's options fill in what the user did not give; a value
    the user gave that differs is kept with a warning.
    """
    from genseg.errors import GenSegError
    from genseg.plugins.registry import check_domain

    chosen = dict(options or {})
    for name, contract, registered in _contracts(pipe):
        if contract.domain != domain:
            if domain == "generic":
                try:
                    check_domain(contract.domain)
                    domain = contract.domain
                except GenSegError:
                    _warn_once(
                        pipe,
                        f"adapter {name!r} expects domain {contract.domain!r}, which no installed plugin "
                        "provides; reading with the generic reader",
                    )
            else:
                _warn_once(
                    pipe, f"adapter {name!r} expects domain {contract.domain!r}; reading as {domain!r}"
                )
        for key, value in {**registered, **contract.options}.items():
            if key not in chosen:
                chosen[key] = value
            elif str(chosen[key]) != str(value):
                _warn_once(
                    pipe,
                    f"adapter {name!r} was trained with {key}={value}; using {key}={chosen[key]} as asked",
                )
    return domain, chosen


def _channels(image: Any) -> int | None:
    if hasattr(image, "getbands"):  # PIL
        return len(image.getbands())
    shape = getattr(image, "shape", None)
    if shape is None:
        return None
    if len(shape) == 2:
        return 1
    if hasattr(image, "permute"):  # torch: C×H×W
        return int(shape[0])
    return int(shape[-1])  # numpy: H×W×C


def check_images(pipe, images: Any) -> None:
    """Warn (once per message) when an image's channel count is not the adapter's."""
    items = images if isinstance(images, list) else [images]
    for name, contract, _ in _contracts(pipe):
        if contract.channels is None:
            continue
        for image in items:
            got = _channels(image)
            if got is not None and got != contract.channels:
                _warn_once(
                    pipe,
                    f"adapter {name!r} was trained on {contract.channels}-channel images; this input has "
                    f"{got} (check the reader and --domain)",
                )


def check_dataset_domains(pipe, folders: Sequence[str | Path]) -> None:
    """Warn when a dataset to evaluate on is of another domain than the active adapters."""
    from genseg.data.schema import load_dataset_spec

    for folder in folders:
        spec = load_dataset_spec(Path(folder))
        for name, contract, _ in _contracts(pipe):
            if contract.domain != spec.domain:
                _warn_once(
                    pipe,
                    f"adapter {name!r} expects domain {contract.domain!r}; dataset {spec.name!r} is "
                    f"{spec.domain!r}",
                )
