"""The versioned MIMIC-III variable mapping (``resources/mimic_variables.yaml``), checked on load.

The mapping names, for each of the 12 time-series variables, its CareVue, MetaVision and
LABEVENTS ITEMIDs with the unit each one is charted in, the accepted units with their
conversion to the canonical unit, and the physiological range; plus the ICD-9 prefixes of the
static comorbidity flags. Extraction accumulates per *channel*: one channel per variable, and
one per component of a variable that is the sum of components (MetaVision GCS).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

SYSTEMS = ("carevue", "metavision", "labevents")
CHART_SYSTEMS = ("carevue", "metavision")
_EMPTY_UNITS = {"", "none", "nan"}


def normalise_unit(text: object) -> str:
    """Canonical spelling of a VALUEUOM string: lower case, no spaces or dots, degree -> 'deg'."""
    if text is None:
        return ""
    unit = str(text).strip().lower().replace(" ", "").replace(".", "")
    unit = re.sub(r"^(°|\?|º)", "deg", unit)
    return "" if unit in _EMPTY_UNITS else unit


@dataclass(frozen=True)
class Unit:
    """One accepted unit: ``canonical = value * scale + offset``."""

    name: str
    scale: float
    offset: float
    spellings: tuple[str, ...]


@dataclass(frozen=True)
class Channel:
    """What extraction accumulates per hourly bin: a variable, or one component of it."""

    variable: str
    component: str | None
    low: float
    high: float
    itemids: dict[str, dict[int, str]]

    @property
    def name(self) -> str:
        """``variable`` or ``variable.component``."""
        return f"{self.variable}.{self.component}" if self.component else self.variable


@dataclass(frozen=True)
class Variable:
    """One time-series variable of the mapping."""

    name: str
    label: str
    unit: str
    low: float
    high: float
    units: dict[str, Unit]
    itemids: dict[str, dict[int, str]]
    components: dict[str, Channel] = field(default_factory=dict)
    fraction_at_most: float | None = None

    def spelling_to_unit(self) -> dict[str, Unit]:
        """Normalised VALUEUOM spelling -> accepted unit."""
        return {normalise_unit(s): u for u in self.units.values() for s in u.spellings}


@dataclass(frozen=True)
class VariableMap:
    """The whole mapping: variables, comorbidity prefixes, version and content hash."""

    version: int
    variables: dict[str, Variable]
    comorbidities: dict[str, tuple[str, ...]]
    sha256: str
    source: str

    @property
    def names(self) -> list[str]:
        """Variable names in file order (the feature order of the series)."""
        return list(self.variables)

    def channels(self) -> list[Channel]:
        """Accumulation channels: each variable's own ITEMIDs first, then its components."""
        out: list[Channel] = []
        for var in self.variables.values():
            out.append(Channel(var.name, None, var.low, var.high, var.itemids))
            out.extend(var.components.values())
        return out

    def itemid_channels(self, table: str) -> dict[int, tuple[int, str]]:
        """ITEMID -> (channel index, unit it is charted in) for ``chart`` or ``lab`` events."""
        systems = CHART_SYSTEMS if table == "chart" else ("labevents",)
        return {
            itemid: (k, unit)
            for k, channel in enumerate(self.channels())
            for system in systems
            for itemid, unit in channel.itemids.get(system, {}).items()
        }


def _fail(source: str, key: str, problem: str) -> ValueError:
    return ValueError(f"{source}: key '{key}' {problem}; fix the variable mapping file")


def _range(source: str, key: str, spec: Any) -> tuple[float, float]:
    if not (isinstance(spec, list) and len(spec) == 2 and float(spec[0]) < float(spec[1])):
        raise _fail(source, key, f"must be [low, high] with low < high, got {spec!r}")
    return float(spec[0]), float(spec[1])


def _itemids(source: str, key: str, spec: Any, units: dict[str, Unit]) -> dict[str, dict[int, str]]:
    if not isinstance(spec, dict) or not spec:
        raise _fail(source, key, "must map a system (carevue, metavision, labevents) to ITEMIDs")
    out: dict[str, dict[int, str]] = {}
    for system, items in spec.items():
        if system not in SYSTEMS:
            raise _fail(source, f"{key}.{system}", f"is not a system; choose one of {SYSTEMS}")
        out[system] = {}
        for itemid, unit in (items or {}).items():
            if unit not in units:
                raise _fail(
                    source, f"{key}.{system}.{itemid}", f"uses unit {unit!r} not in {sorted(units)}"
                )
            out[system][int(itemid)] = unit
    return out


def _variable(source: str, name: str, spec: dict[str, Any]) -> Variable:
    key = f"variables.{name}"
    units = {
        uname: Unit(
            uname,
            float(u["scale"]),
            float(u["offset"]),
            tuple(str(s) for s in u.get("spellings", [])),
        )
        for uname, u in spec.get("units", {}).items()
    }
    if spec.get("unit") not in units:
        raise _fail(source, f"{key}.unit", f"must be one of its units {sorted(units)}")
    low, high = _range(source, f"{key}.range", spec.get("range"))
    components = {
        cname: Channel(
            name,
            cname,
            *_range(source, f"{key}.components.{cname}.range", c.get("range")),
            _itemids(source, f"{key}.components.{cname}.itemids", c.get("itemids"), units),
        )
        for cname, c in (spec.get("components") or {}).items()
    }
    fraction = spec.get("fraction_at_most")
    return Variable(
        name=name,
        label=str(spec.get("label", name)),
        unit=spec["unit"],
        low=low,
        high=high,
        units=units,
        itemids=_itemids(source, f"{key}.itemids", spec.get("itemids"), units),
        components=components,
        fraction_at_most=float(fraction) if fraction is not None else None,
    )


def parse_variable_map(text: str, source: str = "mimic_variables.yaml") -> VariableMap:
    """Parse and check a mapping document; raises naming the file and the key."""
    doc = yaml.safe_load(text) or {}
    if not isinstance(doc.get("version"), int):
        raise _fail(source, "version", "must be an integer")
    if not isinstance(doc.get("variables"), dict) or not doc["variables"]:
        raise _fail(source, "variables", "must map variable names to their specs")
    variables = {name: _variable(source, name, spec) for name, spec in doc["variables"].items()}
    comorbidities = {
        name: tuple(str(p) for p in spec["prefixes"])
        for name, spec in (doc.get("comorbidities") or {}).items()
    }
    result = VariableMap(
        version=doc["version"],
        variables=variables,
        comorbidities=comorbidities,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        source=source,
    )
    for table in ("chart", "lab"):
        seen: dict[int, str] = {}
        for channel in result.channels():
            systems = CHART_SYSTEMS if table == "chart" else ("labevents",)
            for system in systems:
                for itemid in channel.itemids.get(system, {}):
                    if itemid in seen:
                        raise _fail(
                            source,
                            f"variables.{channel.variable}",
                            f"reuses ITEMID {itemid} already mapped to {seen[itemid]}",
                        )
                    seen[itemid] = channel.name
    return result


def load_variable_map(path: str | Path | None = None) -> VariableMap:
    """The packaged mapping, or the one at ``path``."""
    if path is None:
        resource = resources.files("mmlego") / "resources" / "mimic_variables.yaml"
        text = resource.read_text(encoding="utf-8")
        return parse_variable_map(text, "mmlego/resources/mimic_variables.yaml")
    path = Path(path)
    return parse_variable_map(path.read_text(encoding="utf-8"), str(path))
