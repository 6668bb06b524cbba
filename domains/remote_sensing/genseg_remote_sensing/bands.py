"""Band names and sensor presets (``data/bands.json``): which three bands the model sees.

The model takes three channels, whatever the sensor. A scene's bands are named (``-O
bands=`` declares them in file order; else a ``sensor`` preset; else the file's band
descriptions; else ``b1``...``bN``) and ``-O composite=`` picks three: a named composite
(``rgb``, ``false-colour``, ``swir``) or three band names or 1-based indices. The
agriculture plugin gives ``bands`` and ``composite`` the same meanings.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from genseg.plugins.api import InputError, load_package_json


class Band(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    common: str = Field(description="common name shared across sensors: red, nir, swir16, ...")
    centre_nm: float | None = None


class SensorPreset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    title: str = ""
    bands: list[Band] = Field(min_length=1)
    scale: float = 1.0
    offset: float = 0.0
    normalise: Literal["reflectance", "percentile", "dtype"] = "percentile"
    reflectance_max: float = Field(0.3, gt=0, description="reflectance shown as 1.0 (brighter is clipped)")
    reference: str = ""


class BandPresets(BaseModel):
    model_config = ConfigDict(extra="forbid")

    composites: dict[str, list[str]]
    sensors: list[SensorPreset]

    def sensor(self, name: str) -> SensorPreset:
        for preset in self.sensors:
            if preset.name == name.strip().lower():
                return preset
        known = ", ".join(p.name for p in self.sensors)
        raise InputError(
            f"unknown sensor {name!r}; presets: {known}", fix="pass -O sensor=NAME with one of them"
        )


@lru_cache(maxsize=1)
def presets() -> BandPresets:

    return load_package_json("genseg_remote_sensing", "data/bands.json", BandPresets)


def band_names(
    descriptions: list[str | None], sensor: SensorPreset | None, path=None, declared: str | None = None
) -> list[str]:
    """Canonical (lower-case common) name of each band: as ``declared`` (comma list in file
    order), else the sensor preset's, else the file's band descriptions, else ``b1``...``bN``."""
    count = len(descriptions)
    if declared:
        names = [n.strip().lower() for n in declared.split(",") if n.strip()]
        if len(names) != count:
            raise InputError(
                f"-O bands names {len(names)} bands ({', '.join(names)}) but the file has {count}",
                path=path,
                fix="name every band of the file in order, e.g. -O bands=blue,green,red,nir",
            )
        return names
    if sensor is not None:
        if len(sensor.bands) != count:
            listed = ", ".join(b.name for b in sensor.bands)
            raise InputError(
                f"the file has {count} bands but the {sensor.name} preset has {len(sensor.bands)} ({listed})",
                path=path,
                fix="name the bands yourself with -O bands=... or drop -O sensor",
            )
        return [b.common for b in sensor.bands]
    aliases = {b.name.lower(): b.common for s in presets().sensors for b in s.bands}
    names = []
    for i, text in enumerate(descriptions):
        key = (text or "").strip().lower()
        names.append(aliases.get(key, key) if key else f"b{i + 1}")
    return names


def select_bands(names: list[str], composite: str | None, path=None) -> list[int]:
    """0-based indices of the three bands the model sees.

    ``composite`` is a preset name or a comma list of band names or 1-based indices
    (``red,green,blue``, ``4,3,2``); without it, RGB when the bands are named so, else the
    first three (one or two bands are repeated to make three).
    """
    available = ", ".join(f"{i + 1}:{n}" for i, n in enumerate(names))
    if composite and "," in composite:
        wanted = [w.strip() for w in composite.split(",") if w.strip()]
    elif composite:
        table = presets().composites
        if composite not in table:
            raise InputError(
                f"unknown composite {composite!r}; known: {', '.join(table)}",
                path=path,
                fix="pass -O composite=rgb (or false-colour, swir), or three bands: -O composite=A,B,C",
            )
        wanted = table[composite]
    elif all(c in names for c in ("red", "green", "blue")):
        wanted = ["red", "green", "blue"]
    else:
        picks = list(range(min(3, len(names))))
        return (picks * 3)[:3]
    if len(wanted) != 3:
        raise InputError(
            f"the model sees exactly three bands; {len(wanted)} were asked for ({', '.join(wanted)})",
            path=path,
            fix=f"pass three with -O composite=A,B,C; the file's bands are {available}",
        )
    picks = []
    for w in wanted:
        if w.isdigit():
            index = int(w) - 1
            if not 0 <= index < len(names):
                raise InputError(
                    f"band index {w} is out of range: the file has {len(names)} bands ({available})",
                    path=path,
                    fix="band indices start at 1; pick from the list above",
                )
        elif w.lower() in names:
            index = names.index(w.lower())
        else:
            raise InputError(
                f"no band named {w!r} in this file; its bands are {available}",
                path=path,
                fix="use the names listed or 1-based indices; name bands with -O bands=... or -O sensor=NAME",
            )
        picks.append(index)
    return picks
