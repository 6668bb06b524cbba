"""When two coordinate reference systems count as the same grid for an image/label pair.

genseg never reprojects a label. Two CRSs are

- ``"same"``: identical definitions (same WKT, or the same projection *and* the same datum);
- ``"equivalent"``: the same projection method and parameters, ellipsoid, prime meridian,
  axes and units, differing only in the datum's name or realisation (NAD83 vs NAD83(HARN),
  an unnamed datum on GRS 80 vs NAD83): coordinates of one are read as the other's; the shift
  between such realisations is about a metre or less, below the pixel of most imagery.
  Accepted with a warning, once per pair of definitions;
- ``"different"``: anything else (another zone, projection, ellipsoid or unit): refused. Two
  ellipsoids must agree exactly, so WGS 84 vs ETRS89 (WGS 84 vs GRS 80 ellipsoid) or NAD27 vs
  NAD83 are refused.

The comparison reads PROJJSON from rasterio (no pyproj needed); a BoundCRS (a WKT with
TOWGS84) is compared by its source CRS.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal

Relation = Literal["same", "equivalent", "different"]

_UNIT_FACTORS = {"degree": math.pi / 180, "metre": 1.0, "meter": 1.0, "radian": 1.0, "unity": 1.0}
_warned: set[tuple[str, str]] = set()


class CRSEquivalenceWarning(UserWarning):
    """An image and its label use equivalent but not identical CRSs."""


def _unit_factor(unit: Any) -> float | None:
    if isinstance(unit, dict):
        return float(unit.get("conversion_factor", 1.0))
    return _UNIT_FACTORS.get(str(unit).lower()) if unit is not None else 1.0


def _num(value: Any, unit: Any = None) -> Any:
    factor = _unit_factor(unit)
    if isinstance(value, (int, float)) and factor is not None:
        return round(float(value) * factor, 10)
    return (value, str(unit))


def _ellipsoid(datum: dict[str, Any]) -> tuple:
    ell = datum.get("ellipsoid") or {}
    a = _num(ell.get("semi_major_axis"))
    if "inverse_flattening" in ell:
        shape = ("rf", _num(ell["inverse_flattening"]))
    elif "semi_minor_axis" in ell:
        b = ell["semi_minor_axis"]
        b = b.get("value") if isinstance(b, dict) else b
        shape = ("rf", _num(float(a) / (float(a) - float(b))) if b != a else ("sphere",))
    else:
        shape = ("radius", _num(ell.get("radius")))
    pm = (datum.get("prime_meridian") or {}).get("longitude", 0)
    return (a, shape, _num(pm.get("value") if isinstance(pm, dict) else pm))


def _axes(cs: dict[str, Any] | None) -> tuple:
    return tuple(
        (
            ax.get("direction"),
            str(ax.get("unit", "")) if not isinstance(ax.get("unit"), dict) else _num(1, ax["unit"]),
        )
        for ax in (cs or {}).get("axis", [])
    )


def _datum(crs: dict[str, Any]) -> dict[str, Any]:
    return crs.get("datum") or crs.get("datum_ensemble") or {}


def signature(projjson: dict[str, Any]) -> tuple[tuple, str]:
    """(everything but the datum's identity, the datum's name) of a PROJJSON CRS."""
    crs = projjson.get("source_crs", projjson) if projjson.get("type") == "BoundCRS" else projjson
    kind = crs.get("type")
    if kind == "ProjectedCRS":
        base = crs.get("base_crs") or {}
        datum = _datum(base)
        conv = crs.get("conversion") or {}
        method = conv.get("method") or {}
        params = tuple(
            sorted(
                (str((p.get("id") or {}).get("code", p.get("name"))), _num(p.get("value"), p.get("unit")))
                for p in conv.get("parameters", [])
            )
        )
        shape = (
            kind,
            str((method.get("id") or {}).get("code", method.get("name"))),
            params,
            _ellipsoid(datum),
            _axes(crs.get("coordinate_system")),
        )
    else:
        datum = _datum(crs)
        shape = (kind, _ellipsoid(datum), _axes(crs.get("coordinate_system")))
    return shape, str(datum.get("name", ""))


def crs_relation(a: Any, b: Any) -> Relation:
    """How two rasterio CRSs (or None) relate: ``same``, ``equivalent`` or ``different``."""
    if a is None or b is None or not a or not b:
        return "same" if not a and not b else "different"
    if a.to_wkt() == b.to_wkt():
        return "same"
    shape_a, datum_a = signature(a.to_dict(projjson=True))
    shape_b, datum_b = signature(b.to_dict(projjson=True))
    if shape_a != shape_b:
        return "different"
    return "same" if datum_a == datum_b else "equivalent"


def describe(crs: Any) -> str:
    """``EPSG:N (name)`` or the CRS name."""
    if not crs:
        return "no CRS"
    epsg = crs.to_epsg()
    name = signature_name(crs)
    return f"EPSG:{epsg} ({name})" if epsg else name


def signature_name(crs: Any) -> str:
    data = crs.to_dict(projjson=True)
    data = data.get("source_crs", data) if data.get("type") == "BoundCRS" else data
    return str(data.get("name", crs.to_string()))


def warn_equivalent(image_crs: Any, label_crs: Any, where: str) -> None:
    """Warn once per pair of CRS definitions that they are taken as the same grid."""
    key = (image_crs.to_wkt(), label_crs.to_wkt())
    if key in _warned:
        return
    _warned.add(key)
    warnings.warn(
        f"{where}: the label's CRS {describe(label_crs)} and the image's {describe(image_crs)} differ only "
        "in the datum's name or realisation (same projection, parameters, ellipsoid and units); the label "
        "is used on the image's grid without reprojection (warned once per CRS pair)",
        CRSEquivalenceWarning,
        stacklevel=3,
    )


__all__ = ["CRSEquivalenceWarning", "Relation", "crs_relation", "describe", "signature", "warn_equivalent"]
