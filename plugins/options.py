"""The ``-O KEY=VALUE`` options a domain's preprocessing receives, read the same way by every domain.

Options arrive as text from the command line (``genseg segment -O window=lung``); the
``--strict`` flag arrives as the option :data:`STRICT`, so a domain decides what it refuses
under it (a GeoTIFF without CRS, an assumed band order) without a flag of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

STRICT = "strict"


def is_strict(options: Mapping[str, Any]) -> bool:
    """Whether ``--strict`` (or ``-O strict=true``) was given."""
    return str(options.get(STRICT, "")).strip().lower() in ("1", "true", "yes", "on")


def check_option_keys(options: Mapping[str, Any], known: Iterable[str], domain: str, example: str) -> None:
    """A ConfigError naming the keys ``domain`` does not understand (a typo would else be ignored)."""
    from genseg.errors import ConfigError

    known = tuple(known)
    unknown = sorted(set(options) - set(known) - {STRICT})
    if unknown:
        raise ConfigError(
            f"unknown {domain} option(s) {', '.join(unknown)}",
            fix=f"options are {', '.join(k for k in known if k != STRICT)} (e.g. {example})",
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
    unknown = sorted(set(options) - set(known) - {STRICT})
    if unknown:
        listed = ", ".join(k for k in known if k != STRICT) or "none"
        raise ConfigError(
            f"unknown {domain} preprocessing option(s) {', '.join(unknown)}; known: {listed}",
            path=path,
            fix=f"use only the keys {domain} knows ({listed})",
        )
