"""The ``-O KEY=VALUE`` options a domain's preprocessing receives, read the same way by every domain.

Options arrive as text from the command line (``genseg segment -O window=lung``); the
``--strict`` flag arrives as the option :data:`STRICT`, so a domain decides what it refuses
under it (a GeoTIFF without CRS, an assumed band order) without a flag of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from genseg.names import slug

STRICT = "strict"

MODEL_BANDS = "model_bands"
"""Set by genseg, not by users, when the model reads bands beyond its three colour slots
(``model.bands``, :mod:`genseg.data.bands`): a comma list of band names, or ``auto`` for every
band the file has. A domain with multispectral data keeps those bands after its three-band
composite and names every channel in ``meta["bands"]``; a domain without them ignores it."""

CORE_KEYS = frozenset({STRICT, MODEL_BANDS})
"""Option keys every domain accepts because genseg itself sets them."""


def band_key(name: str) -> str:
    """A band name as ``model.bands`` and ``MODEL_BANDS`` spell it: lower case, ``[a-z0-9_]``
    (a file's description "Near Infrared" becomes ``near_infrared``)."""
    return slug(name, default="band", sep="_", keep="_")


def is_strict(options: Mapping[str, Any]) -> bool:
    """Whether ``--strict`` (or ``-O strict=true``) was given."""
    return str(options.get(STRICT, "")).strip().lower() in ("1", "true", "yes", "on")


def check_option_keys(options: Mapping[str, Any], known: Iterable[str], domain: str, example: str) -> None:
    """A ConfigError naming the keys ``domain`` does not understand (a typo would else be ignored)."""
    from genseg.errors import ConfigError

    known = tuple(known)
    unknown = sorted(set(options) - set(known) - CORE_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown {domain} option(s) {', '.join(unknown)}",
            fix=f"options are {', '.join(k for k in known if k not in CORE_KEYS)} (e.g. {example})",
        )


def check_domain_options(domain: str, options: Mapping[str, Any], path: Any = None) -> None:
    """Options for ``domain`` checked against the keys it declares (``DomainInfo.option_keys``):
    one ConfigError listing the known keys. A domain that declares none is not checked here
    (its preprocessing may still refuse a key)."""
    from genseg.errors import ConfigError
    from genseg.plugins import registry

    known = registry.domain_info(domain).option_keys
    if known is None:
        return
    unknown = sorted(set(options) - set(known) - CORE_KEYS)
    if unknown:
        listed = ", ".join(k for k in known if k not in CORE_KEYS) or "none"
        raise ConfigError(
            f"unknown {domain} preprocessing option(s) {', '.join(unknown)}; known: {listed}",
            path=path,
            fix=f"use only the keys {domain} knows ({listed})",
        )
