"""Every parameter siting uses, with its default and the source of that default.

Sources are keys of ``DOMAIN.md`` (the project's domain reference, see the README):
e.g. ``[NS3-PL]``, ``[TY5G]``, ``[GW2015]``; ``[A]`` marks an engineering assumption.

Parameters are pydantic models that refuse unknown keys, so a typo in a YAML file is
named in the error instead of being silently ignored. :func:`load_params` reads YAML
and turns every validation problem into one :class:`~siting.errors.ConfigError` line.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from siting.errors import ConfigError


class Section(BaseModel):
    """Base of every parameter section: frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DemandParams(Section):
    """Demand surface (``DOMAIN.md`` §5)."""

    cell_size_m: float = Field(100.0, gt=0, description="demand grid cell size [A]")
    grid: str = Field("square", pattern="^(square|h3)$", description="grid kind")
    storey_height_m: float = Field(3.0, gt=0, description="metres per floor, residential [A] (§5: 3 m/floor)")
    floor_efficiency: float = Field(0.8, gt=0, le=1, description="net/gross floor area ratio [A] (§5: 0.75-0.85)")
    m2_per_person: float = Field(36.52, gt=0, description="urban housing floor area per person [CENSUS2020]")
    m2_per_worker: float = Field(20.0, gt=0, description="office/commercial floor area per worker [A]")
    road_point_spacing_m: float = Field(100.0, gt=0, description="spacing of road demand points [A]")
    priority_weight: float = Field(2.0, ge=1, description="demand multiplier near priority places [A]")
    priority_radius_m: float = Field(300.0, ge=0, description="radius of a priority place's influence [A]")
    population: float | None = Field(None, description="calibration total (e.g. census figure); None keeps the estimate")


class BatchParams(Section):
    """District quotas and batch runs (``siting quotas``, ``siting batch``)."""

    buffer_m: float = Field(1000.0, ge=0, description="district clip buffer so sites across a border count; "
                            "[A] from DOMAIN §1.9: suburban n78 ISD 0.9-1.3 km, cell radius ~ ISD/1.5 < 1 km")
    weight_residents: float = Field(0.5, ge=0, description="quota weight of a district's residents share [A]")
    weight_workers: float = Field(0.3, ge=0, description="quota weight of a district's workers share [A]")
    weight_road_km: float = Field(0.2, ge=0, description="quota weight of a district's road-km share [A]")
    minimum_quota: int = Field(0, ge=0, description="least new sites per district [A] (PLANS.md: every district needs its site count)")
    overlap_tolerance: float = Field(0.001, ge=0, le=1, description="share of the smaller district that may overlap another "
                                     "before the districts file is refused (digitising slivers) [A]")
    min_inside_share: float = Field(0.5, gt=0, le=1, description="share of a district that must lie inside the OSM extent [A]")


class TerrainParams(Section):
    """Terrain-aware radio coverage over a DEM (``siting/terrain.py``, ``--dem``; DOMAIN §2)."""

    method: str = Field("deygout", pattern="^(deygout|bullington|single)$",
                        description="diffraction over the profile: ITU-R P.526 Deygout (up to 3 edges), Bullington "
                                    "equivalent edge, or the single worst knife edge (DOMAIN §2: knife-edge/Deygout)")
    k_factor: float = Field(4.0 / 3.0, gt=0, description="effective Earth radius factor for the curvature bulge "
                                                         "[A] (standard atmosphere, ITU-R P.526/P.452 median)")
    fresnel_clearance: float = Field(0.6, ge=0, description="share of the first Fresnel zone that must be clear "
                                                            "for line of sight (DOMAIN §2: 0.6 r1)")
    step_m: float | None = Field(None, gt=0, description="profile sample spacing; None uses the DEM cell size "
                                                         "(DOMAIN §2: sample every <= grid step)")
    resolution_m: float | None = Field(None, gt=0, description="DEM cell size after reprojection; None keeps the "
                                                               "native resolution (SRTM 1\" ~30 m, 3\" ~90 m) "
                                                               "(DOMAIN §2)")
    buildings: bool = Field(False, description="add OSM building heights to the profile; off by default because "
                                               "the TR 38.901 NLOS law already includes building clutter [A] "
                                               "(DOMAIN §2, §4.1 heights)")


class Params(Section):
    """All parameters of a run. Sections are added by each pipeline stage."""

    batch: BatchParams = BatchParams()

    demand: DemandParams = DemandParams()
    terrain: TerrainParams = TerrainParams()
    seed: int = 0


def load_params(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Params:
    """Read parameters from a YAML file (optional) and apply ``overrides``.

    Raises :class:`ConfigError` naming the offending key (and its line in the YAML).
    """
    data: dict[str, Any] = {}
    lines: dict[str, int] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist: check the path")
        try:
            text = p.read_text(encoding="utf-8")
            node = yaml.compose(text)
            data = yaml.safe_load(text) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {p} is not valid YAML ({_short(exc)}): fix the syntax") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {p} must hold a mapping of sections (demand:, radio:, ...)")
        lines = key_lines(node)
    for key, value in (overrides or {}).items():
        _set_dotted(data, key, value)
    try:
        return Params.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        where = f" (line {lines[loc]})" if loc in lines else ""
        if err["type"] == "extra_forbidden":
            raise ConfigError(f"unknown parameter '{loc}'{where}: remove it or check its spelling") from None
        raise ConfigError(f"parameter '{loc}'{where}: {err['msg']}") from None


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    for part in parts[:-1]:
        data = data.setdefault(part, {})
    data[parts[-1]] = value


def key_lines(node: Any, prefix: str = "") -> dict[str, int]:
    """Map dotted keys of a composed YAML mapping to 1-based line numbers.

    List items are keyed by their index (``targets.1.count``).
    """
    out: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            dotted = f"{prefix}{key_node.value}"
            out[dotted] = key_node.start_mark.line + 1
            out.update(key_lines(value_node, dotted + "."))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[f"{prefix}{i}"] = item.start_mark.line + 1
            out.update(key_lines(item, f"{prefix}{i}."))
    return out
