"""``summary.json``: one typed model, built in one place for every facility kind.

A stage reports its figures (5G: :func:`siting.pipeline.build_result`; charging:
:func:`siting.charging.plan_charging`); :func:`summarise` adds what every plan carries
(kind, area, request, density, demand, learning, ingest notes, existing sites read,
provenance) and validates the whole against :class:`Summary`. The JSON form is what
:attr:`siting.result.PlanResult.summary` holds and ``summary.json`` stores.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from siting.area import Area
from siting.config import Params
from siting.provenance import osm_input, provenance
from siting.request import PlanRequest

Block = dict[str, Any]


class AreaBlock(BaseModel):
    """The planned area."""

    model_config = ConfigDict(extra="forbid")

    name: str
    slug: str
    crs: str
    area_km2: float
    boundary_origin: str


class Summary(BaseModel):
    """Everything ``summary.json`` holds. Fields a plan does not have are left out of the
    JSON (charging has no ``optimality_gap``, 5G no ``piles_total``); a field the plan
    has but cannot give (a bound without a solver) is ``null``."""

    model_config = ConfigDict(extra="forbid")

    # every kind
    kind: str
    area: AreaBlock
    request: Block
    sites_existing: int
    sites_proposed: int
    sites_total: int
    sites_per_km2: float | None
    candidates: dict[str, int]
    demand_points: int
    demand_total: float
    demand_covered: float
    demand_covered_before: float
    coverage_ratio: float
    coverage_ratio_before: float
    population_total: float
    population_covered: float
    bound: float | None
    bound_source: str | None = None  # what proved ``bound`` (LP relaxation, Lagrangean, ...)
    bound_note: str | None = None  # in words, when the bound is too weak to judge the plan by
    solver: str
    gaps: int
    gap_areas: Block
    headline: Block
    demand_info: Block
    ingest: Block
    provenance: Block
    learning: Block | None = None
    existing_sites: Block | None = None
    district: Block | None = None  # siting batch: the district's own figures
    # 5G
    sites_existing_outside_area: int | None = None
    optimality_gap: float | None = None
    min_sites_bound: int | None = None
    sites_by_reason: dict[str, int] | None = None
    fill: Block | None = None
    phases: list[Block] | None = None
    capacity: Block | None = None
    reserve: Block | None = None
    candidate_preference: Block | None = None
    radio: Block | None = None
    terrain: Block | None = None
    # charging kinds
    piles_total: int | None = None
    piles_existing: int | None = None
    piles_proposed: int | None = None
    piles_fast: int | None = None
    piles_slow: int | None = None
    candidates_without_road_access: int | None = None
    existing_without_road_access: int | None = None
    demand_served: float | None = None
    served_ratio: float | None = None
    sessions_total: float | None = None
    sessions_served: float | None = None
    sessions_served_ratio: float | None = None
    sessions_served_before: float | None = None
    sessions_served_ratio_before: float | None = None
    evs_total: float | None = None
    unreachable_demand: float | None = None
    unreachable_points: int | None = None
    selection_rounds: int | None = None
    parameters: Block | None = None
    request_met: bool | None = None

    def as_json(self) -> dict[str, Any]:
        """The JSON-ready dict of ``summary.json`` (fields the plan does not have left out)."""
        return self.model_dump(exclude_unset=True)


def summarise(area: Area, request: PlanRequest, params: Params, figures: Block, *, demand_info: Block,
              learning: Block | None = None, existing_sites: Block | None = None,
              inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The summary of a plan: the stage's ``figures`` plus what every plan carries.

    Parameters
    ----------
    area
        The planned area.
    request
        The request planned; recorded as the ``request`` block.
    params
        The parameters planned with; recorded in the provenance block.
    figures
        The stage's figures (site counts, coverage, bound, headline, ...).
    demand_info
        Where the demand came from (:attr:`siting.demand.Demand.info`).
    learning
        What learning from the existing sites did, when it ran.
    existing_sites
        What reading the existing sites found (counts), when they were given.
    inputs
        More provenance inputs by role (``{"file", "sha256"}`` entries or paths), beside
        the OSM input and the request's files.

    Returns
    -------
    dict
        The JSON-ready summary (:meth:`Summary.as_json`).
    """
    files: dict[str, str | Path | dict] = {"osm": osm_input(area), **request.inputs(), **(inputs or {})}
    blocks: Block = {"learning": learning, "existing_sites": existing_sites}
    summary = Summary(
        kind=request.kind,
        area=AreaBlock(name=area.name, slug=area.slug, crs=area.crs, area_km2=round(area.area_km2, 4),
                       boundary_origin=area.boundary_origin),
        request=request.record(),
        sites_per_km2=round(figures["sites_total"] / area.area_km2, 3) if area.area_km2 else None,
        demand_info=demand_info,
        ingest=area.info,
        provenance=provenance(files, params.model_dump(mode="json"), request.plan_id),
        **{k: v for k, v in blocks.items() if v is not None},
        **figures,
    )
    return summary.as_json()
