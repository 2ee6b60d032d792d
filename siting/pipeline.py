"""Plan one area end to end: demand → candidates → coverage → optimiser → layers.

This module only chains the stages; each stage is a pure function in its own module.
:func:`run_plan` is the one orchestrator: the CLI (through :mod:`siting.workflow`),
``siting batch`` and ``siting evaluate`` all plan through it.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse

from siting import coverage as cov
from siting import learn, radio, terrain
from siting.area import Area
from siting.candidates import candidates_5g
from siting.charging import plan_charging
from siting.config import Params, SolverParams
from siting.demand import Demand, build_demand, environment_layer
from siting.errors import PlanError
from siting.fill import REASONS, fill_to_count
from siting.gaps import plan_gaps
from siting.grid import PopulationSamples
from siting.layers import coverage_polygons, points_xy
from siting.los import buildings_los
from siting.phases import check_phases, plan_phases
from siting.request import PlanRequest
from siting.reserve import check_reserve, choose_reserves, reserve_layers
from siting.result import PlanResult, sites_layer
from siting.solve import Solution, solve_mclp, solve_set_cover
from siting.solve.problem import bound_note
from siting.summary import summarise

if TYPE_CHECKING:
    from siting.elevation import Dem


@dataclass(frozen=True)
class RadioLinks:
    """Demand–candidate pairs within reach and their link margins (dB)."""

    rows: np.ndarray
    cols: np.ndarray
    outdoor_margin: np.ndarray
    indoor_margin: np.ndarray
    required_margin: np.ndarray  # the margin of the service each demand point needs
    terrain: dict | None = None  # what the DEM did, for summary.json

    def matrix(self, margin: np.ndarray, shape: tuple[int, int]) -> sparse.csr_matrix:
        """Boolean coverage matrix of the pairs whose ``margin`` is non-negative."""
        return cov.coverage_matrix(self.rows, self.cols, shape[0], shape[1], keep=margin >= 0)


def run_plan(area: Area, request: PlanRequest, params: Params | None = None, *,
             existing: gpd.GeoDataFrame | None = None, demand: Demand | None = None, dem: Dem | None = None,
             population: PopulationSamples | None = None, inputs: dict[str, Any] | None = None) -> PlanResult:
    """Plan ``request`` in ``area``: the one place that decides which stages run.

    Demand (unless given), learning from the existing sites (``params.learn.strength`` >
    0 and ``existing`` given), the kind's planner (:func:`plan_5g` or
    :func:`siting.charging.plan_charging`), then the layers and the summary every plan
    has (:func:`siting.summary.summarise`).

    Parameters
    ----------
    area
        The area to plan (:func:`siting.load_area`).
    request
        What to plan (:class:`siting.request.PlanRequest`, validated when made).
    params
        Every parameter (:func:`siting.load_params`); the defaults when None.
    existing
        The existing sites (:func:`siting.read_sites`); they stay, and count in ``count``.
    demand
        Demand already built from ``area`` (built here from ``params.demand`` and
        ``population`` otherwise).
    dem
        Elevation for terrain diffraction (5G; :func:`siting.io.dem.read_dem`).
    population
        Population raster samples on the demand grid (:func:`siting.io.raster.population_samples`).
    inputs
        More provenance inputs by role (``{"file", "sha256"}`` entries or paths).

    Returns
    -------
    PlanResult
        Layers (``sites``, ``coverage``, ``gaps``, ``demand``, ``boundary``,
        ``environment``, ...) and the ``summary.json`` dict.

    Raises
    ------
    siting.errors.PlanError
        When the request cannot be met in this area (``count`` above the candidate
        sites, no candidates, a phase below the existing sites, ...).
    """
    params = params or Params()
    if demand is None:
        demand = build_demand(area, params.demand, population=population)
    learned = None
    if existing is not None and params.learn.strength > 0:  # where operators built tells where demand is
        learned = learn.learn_from_existing(area, demand, existing, request.kind, params)
        demand = learn.weighted_demand(demand, learned, request.kind)
    if request.kind == "5g":
        result = plan_5g(area, demand, params, existing=existing, count=request.count, target=request.target,
                         dem=dem, learned=learned, phases=request.phases, reserve=request.reserve)
    else:
        result = plan_charging(area, demand, request.kind, params, existing=existing, count=request.count,
                               piles=request.piles, target=request.target)
    if request.count is not None and request.count < result.summary["sites_existing"]:
        warnings.warn(f"`count` {request.count} is below the {result.summary['sites_existing']} existing sites: "
                      "nothing new is planned")
    layers = dict(result.layers)
    layers["boundary"] = gpd.GeoDataFrame({"name": [area.name], "origin": [area.boundary_origin]},
                                          geometry=[area.boundary], crs=area.crs)
    layers["environment"] = environment_layer(demand)
    if learned is not None and learned.used:
        layers["suitability"] = learn.suitability_layer(demand, learned, area.crs)
    summary = summarise(area, request, params, result.summary, demand_info=demand.info,
                        learning=None if learned is None else learned.summary(),
                        existing_sites=None if existing is None else existing.attrs.get("sites", {}), inputs=inputs)
    return PlanResult(kind=request.kind, area_slug=area.slug, crs=area.crs, layers=layers, summary=summary)


def plan_area(area: Area, kind: str = "5g", params: Params | None = None, *,
              existing: gpd.GeoDataFrame | None = None, demand: Demand | None = None, dem: Dem | None = None,
              population: PopulationSamples | None = None, inputs: dict[str, Any] | None = None,
              **request: Any) -> PlanResult:
    """:func:`run_plan` with the request given as keywords.

    Parameters
    ----------
    area
        The area to plan.
    kind
        ``"5g"`` or a charging kind.
    params
        Every parameter; the defaults when None.
    existing, demand, dem, population, inputs
        As for :func:`run_plan`.
    **request
        The other fields of :class:`siting.request.PlanRequest` (``count``, ``target``,
        ``piles``, ``phases``, ``reserve``, ``plan_id``, ...).

    Returns
    -------
    PlanResult
        As :func:`run_plan`.

    Raises
    ------
    siting.errors.PlanError
        For a bad request (see :class:`siting.request.PlanRequest`) or one the area cannot meet.
    """
    return run_plan(area, PlanRequest(kind=kind, **request), params, existing=existing, demand=demand, dem=dem,
                    population=population, inputs=inputs)


def radio_links(area: Area, demand: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame, params: Params,
                dem=None) -> RadioLinks:
    """Link margins of every demand–candidate pair within the reach of the link budget.

    Per pair: the TR 38.901 scenario of the candidate, its mounting height, NLOS (or
    LOS from building heights with ``radio.los_from_buildings``), indoor penetration
    where the demand point's environment class needs deep coverage, and, with a DEM,
    the terrain's diffraction loss.
    """
    rp = params.radio
    budget = radio.link_budget(rp)
    demand_xy, cand_xy = points_xy(demand), points_xy(candidates)
    h_bs = candidates["height_m"].to_numpy(dtype=float)
    scenario = radio.scenario_codes(radio.scenarios_for(candidates["source"].to_numpy(),
                                                        candidates["env_class"].to_numpy()))
    reach = radio.reach_m(budget, scenario, h_bs, rp)
    cov.check_memory(demand_xy, cand_xy, reach, params.solver.memory_budget_gb)
    rows, cols, dist = cov.pairs_within(demand_xy, cand_xy, reach)
    extra: np.ndarray | float = 0.0
    los: np.ndarray | None = None
    terrain_info = None
    if dem is not None:
        loss, terrain_los = terrain.pair_terrain(dem, demand_xy[rows], cand_xy[cols], h_bs[cols], rp.h_ut_m,
                                                 budget.fc_ghz, params.terrain, buildings=area.buildings,
                                                 storey_height_m=params.demand.storey_height_m)
        terrain_info = terrain.terrain_summary(dem, loss, terrain_los, params.terrain)
        extra = loss
    kwargs = dict(d2d_m=dist, scenario=scenario[cols], h_bs_m=h_bs[cols], budget=budget, params=rp)
    if rp.los_from_buildings:  # ray-test only the pairs whose LOS state can change a coverage decision
        indoor_pair = radio.indoor_required(demand["env_class"].to_numpy(), rp)[rows]
        decisive = ((radio.link_margin_db(indoor=False, los=np.ones(len(rows), bool), **kwargs) - extra >= 0)
                    & (radio.link_margin_db(indoor=indoor_pair, **kwargs) - extra < 0))
        los = buildings_los(area.buildings, cand_xy[cols], h_bs[cols], demand_xy[rows], rp,
                                  params.demand.storey_height_m, test=decisive)
        if dem is not None:
            los &= terrain_los
    kwargs["los"] = los
    outdoor = radio.link_margin_db(indoor=False, **kwargs) - extra
    indoor = radio.link_margin_db(indoor=True, **kwargs) - extra
    needs_indoor = radio.indoor_required(demand["env_class"].to_numpy(), rp)[rows]
    return RadioLinks(rows, cols, outdoor, indoor, np.where(needs_indoor, indoor, outdoor), terrain_info)


def plan_5g(area: Area, demand: Demand, params: Params, existing: gpd.GeoDataFrame | None = None,
            count: int | None = None, target: float | None = None, dem=None,
            learned: learn.Learned | None = None, phases=None, reserve: float | None = None) -> PlanResult:
    """5G base stations: TR 38.901 link budget per pair, then MCLP or set cover.

    ``count`` sites stand in the area (existing sites inside it included; existing sites
    marked ``in_area`` False, in the buffer ring, cover but do not count); when coverage
    saturates first the rest go to capacity and redundancy (:mod:`siting.fill`). With
    ``phases`` (:class:`siting.phases.Phase` list) each phase is planned from the previous
    one; with ``reserve`` (reserve sites per proposed site) each proposed site gets ranked
    alternates and a search ring (:mod:`siting.reserve`). With ``learned`` (a used
    suitability model) and ``count``, the learned candidate score is a secondary objective
    of the choice (:func:`siting.learn.candidate_preference`)."""
    points = demand.points
    candidates = candidates_5g(area, demand, params, existing=existing)
    prefer = (learned is not None and learned.used and count is not None and not params.capacity.enabled
              and not phases)
    if prefer and params.learn.junction_candidates:
        candidates = learn.with_junction_candidates(area, demand, candidates, params)
    if len(candidates) == 0:
        raise PlanError("no candidate sites in the area: check the area boundary and OSM data")
    outside = _outside_area(candidates, existing)
    fixed = np.flatnonzero(candidates["fixed"].to_numpy(dtype=bool))
    n_out, usable = int(outside.sum()), len(candidates) - int(outside.sum())
    new: int | None = None  # new sites to place
    if count is not None:
        if count > usable:
            raise PlanError(f"`count` {count} exceeds the {usable} candidate sites: ask for fewer sites or use "
                            "`target`")
        # the one total -> new conversion: a count below the existing sites plans nothing new (run_plan warns)
        new = max(count - (len(fixed) - n_out), 0)
        if reserve is not None:  # a ratio the candidates cannot give fails before the work
            check_reserve(reserve, new, usable - count)
    if phases:
        check_phases(phases, len(fixed) - n_out, usable)
    links = radio_links(area, points, candidates, params, dem=dem)
    net = _network(points, candidates, links, params)
    weights = net.weights
    base_reasons = np.full(len(fixed), "existing", dtype=object)
    preference = None
    if prefer and learned is not None and new is not None:
        preference = learn.candidate_preference(
            learn.candidate_scores(area, demand, candidates, learned, "5g", params),
            candidates["fixed"].to_numpy(dtype=bool), float(weights.sum()), new,
            learned.model.skill, params.learn.candidate_preference)
    phased = None
    if phases:
        phased = plan_phases(phases, lambda base, why, total: _choose(net, base, why, total, None),
                             lambda sel: float(weights[cov.covered_by(net.required, sel)].sum()), fixed,
                             base_reasons, float(weights.sum()), extra=n_out)
        choice = phased.choice
    else:
        choice = _choose(net, fixed, base_reasons, None if new is None else len(fixed) + new, target, preference)
    solution, capacity = choice.solution, choice.capacity
    shape = net.required.shape
    result = build_result(area, points, candidates, solution, fixed, params, kind="5g",
                          masks=_coverage_masks(links, shape, net.required, fixed, solution.selected),
                          served=_served(links.required_margin, links, shape, solution.selected, weights),
                          outside=outside)
    sites, summary = result.layers["sites"], result.summary
    sites["reason"] = choice.reasons
    sites["in_area"] = ~outside[solution.selected]
    summary["sites_by_reason"] = {r: int((choice.reasons[~outside[solution.selected]] == r).sum()) for r in REASONS}
    if choice.fill is not None:
        summary["fill"] = choice.fill
    if phased is not None:
        sites["phase"] = phased.phase
        summary["phases"] = phased.summary
    if capacity is not None:
        result.layers["capacity_gaps"] = capacity.capacity_gaps
        sites["load"] = np.round(capacity.load, 4)
        sites["served_mbps"] = np.round(capacity.solution.site_served, 3)
        summary["capacity"] = capacity.summary
    if reserve is not None:
        _add_reserves(result, net, solution.selected, fixed, reserve)
    if preference is not None:
        summary["candidate_preference"] = preference.summary(solution.selected, float(weights.sum()), candidates)
    summary["headline"] = _headline(summary, target)
    summary["radio"] = radio.describe(params.radio)
    if links.terrain is not None:
        summary["terrain"] = links.terrain
    return result


def _add_reserves(result: PlanResult, net: "_Network", selected: np.ndarray, fixed: np.ndarray,
                  ratio: float) -> None:
    """The ``reserve_sites`` and ``search_rings`` layers and the summary's ``reserve``."""
    rp = net.params.reserve
    proposed = np.asarray(selected)[~np.isin(selected, fixed)]
    reserves = choose_reserves(net.required, net.weights, selected, proposed, ratio, rp.keep_share)
    result.layers["reserve_sites"], result.layers["search_rings"] = reserve_layers(net.candidates, reserves,
                                                                                   rp.ring_buffer_m)
    n = len(proposed)
    result.summary["reserve"] = {
        "ratio": round(float(ratio), 6), "keep_share": rp.keep_share, "sites_proposed": int(n),
        "reserve_sites": int(len(reserves.site)), "ratio_achieved": round(len(reserves.site) / n, 6) if n else 0.0,
        "sites_without_reserve": int(n - len(np.unique(reserves.site)))}


@dataclass(frozen=True)
class _Network:
    """What choosing 5G sites works on: the required-service matrix and demand weights,
    busy-hour traffic, the radio resource per Mbps of each covering pair and per site."""

    required: sparse.csr_matrix
    weights: np.ndarray
    traffic: np.ndarray  # Mbps per demand point (the demand weights when no one is there)
    mhz_per_mbps: sparse.csr_matrix
    capacity_mhz: np.ndarray
    points: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    links: RadioLinks
    params: Params


def _network(points: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame, links: RadioLinks, params: Params) -> _Network:
    from siting.capacity import site_capacity_mhz, spectral_efficiency, traffic_mbps

    shape = (len(points), len(candidates))
    weights = points["weight"].to_numpy(dtype=float)
    ok = links.required_margin >= 0
    se = spectral_efficiency(links.required_margin[ok], params.capacity)
    per_mbps = sparse.csr_matrix((1.0 / np.maximum(se, 1e-9), (links.rows[ok], links.cols[ok])), shape=shape)
    traffic = traffic_mbps(points, params.capacity)
    capacity = site_capacity_mhz(candidates["source"].to_numpy(), radio.link_budget(params.radio).bandwidth_mhz,
                                 params.capacity)
    return _Network(links.matrix(links.required_margin, shape), weights,
                    traffic if traffic.sum() > 0 else weights, per_mbps, capacity, points, candidates, links, params)


@dataclass(frozen=True)
class _Choice:
    solution: Solution
    reasons: np.ndarray  # per selected site: a siting.fill.REASONS entry
    capacity: object | None  # siting.capacity.CapacityPlan with --capacity
    fill: dict | None  # the fill stage's figures when coverage saturated before the count
    coverage_bound: float | None  # proven bound on the covered weight (coverage plans)


def _choose(net: _Network, base: np.ndarray, base_reasons: np.ndarray, total: int | None, target: float | None,
            preference=None) -> _Choice:
    """``total`` sites (or the fewest reaching ``target``) with the ``base`` sites kept:
    the coverage or capacitated solver, then :func:`siting.fill.fill_to_count` when they
    stop short of ``total``."""
    params, required, weights = net.params, net.required, net.weights
    n_points = required.shape[0]
    if preference is None:
        solution = _solve(required, weights, base, total, target, params.seed, params.solver)
    else:
        extended, extended_weights = preference.extend(required, weights)
        solution = preference.strip(_solve(extended, extended_weights, base, total, target, params.seed,
                                           params.solver), n_points)
    capacity = plan = None
    if params.capacity.enabled:
        capacity = _capacity(net, base, total, target)
        cs = capacity.solution
        solution = replace(cs, method=f"capacity {cs.method}")
    reasons = _reasons(required, weights, solution.selected, base, base_reasons)
    if total is not None and len(solution.selected) < total:
        filled = fill_to_count(net.mhz_per_mbps, net.traffic, net.capacity_mhz, solution.selected, reasons, total)
        extra = np.zeros(len(filled.selected) - len(solution.selected))
        solution = replace(solution, selected=filled.selected, gains=np.r_[solution.gains, extra])
        reasons, plan = filled.reasons, filled.summary
        if capacity is not None:  # serve the traffic over every site, the filled ones included
            first = solution.bound
            capacity = _capacity(net, filled.selected, total, None)
            cs = capacity.solution
            bound = max(first, cs.objective)
            solution = replace(solution, gains=cs.site_served, objective=cs.objective, bound=bound,
                               gap=1.0 - cs.objective / bound if bound > 0 else 0.0)
    return _Choice(solution, reasons, capacity, plan, None if capacity is not None else float(solution.bound))


def _capacity(net: _Network, fixed: np.ndarray, total: int | None, target: float | None):
    from siting.capacity import plan_capacity

    links = net.links
    return plan_capacity(net.points, net.candidates["source"].to_numpy(), links.rows, links.cols,
                         links.required_margin, fixed, total, target, net.params, net.candidates.crs)


def _reasons(required: sparse.csr_matrix, weights: np.ndarray, selected: np.ndarray, base: np.ndarray,
             base_reasons: np.ndarray) -> np.ndarray:
    """Why each selected site stands: the base sites' reasons, then ``coverage`` for a
    site that newly covers demand in order of choice, else ``capacity`` (a capacitated
    plan's site for traffic alone)."""
    csc = required.tocsc()
    covered = cov.covered_by(required, base)
    given = dict(zip(np.asarray(base).tolist(), np.asarray(base_reasons, dtype=object).tolist()))
    out = []
    for s in np.asarray(selected).tolist():
        if s in given:
            out.append(given[s])
            continue
        rows = csc.indices[csc.indptr[s]:csc.indptr[s + 1]]
        out.append("coverage" if weights[rows[~covered[rows]]].sum() > 0 else "capacity")
        covered[rows] = True
    return np.asarray(out, dtype=object)


def _outside_area(candidates: gpd.GeoDataFrame, existing: gpd.GeoDataFrame | None) -> np.ndarray:
    """Which candidates are existing sites outside the area (``in_area`` False: the buffer
    ring); all existing sites count as inside when the column is absent."""
    if existing is None or "in_area" not in existing or len(existing) == 0:
        return np.zeros(len(candidates), dtype=bool)
    ids = ("existing/" + existing["site_id"].astype(str) if "site_id" in existing
           else pd.Series([f"existing/{i}" for i in range(len(existing))]))
    ring = set(ids.to_numpy()[~existing["in_area"].to_numpy(dtype=bool)].tolist())
    return candidates["candidate_id"].isin(ring).to_numpy() & candidates["fixed"].to_numpy(dtype=bool)


def _headline(summary: dict, target: float | None) -> dict:
    """What the plan's target measures, and where the plan stands on it."""
    capacity = summary.get("capacity")
    if capacity is not None:
        return {"label": "busy-hour traffic served", "value": capacity["served_ratio"], "target": target,
                "measure": "traffic_served"}
    return {"label": "demand covered with the service it needs", "value": summary["coverage_ratio"],
            "target": target, "measure": "demand_covered"}


def _solve(matrix: sparse.csr_matrix, weights: np.ndarray, fixed: np.ndarray, total: int | None,
           target: float | None, seed: int, params: SolverParams) -> Solution:
    """MCLP for ``total`` sites (the ``fixed`` ones included), else set cover to ``target``."""
    if total is not None:
        return solve_mclp(matrix, weights, total, fixed=fixed, seed=seed, params=params)
    assert target is not None, "a PlanRequest has a count or a target"
    return solve_set_cover(matrix, weights, target, fixed=fixed, params=params)


def _coverage_masks(links: RadioLinks, shape: tuple[int, int], required: sparse.csr_matrix, fixed: np.ndarray,
                    selected: np.ndarray) -> dict[tuple[str, str], np.ndarray]:
    """Which demand points are covered outdoors/indoors, and with the service they
    need (``required``, the matrix the optimiser used), before and after the plan."""
    matrices = {"outdoor": links.matrix(links.outdoor_margin, shape),
                "indoor": links.matrix(links.indoor_margin, shape), "required": required}
    return {(layer, state): cov.covered_by(m, cols)
            for layer, m in matrices.items() for state, cols in (("before", fixed), ("after", selected))}


def _served(margin: np.ndarray, links: RadioLinks, shape: tuple[int, int], selected: np.ndarray,
            weights: np.ndarray) -> np.ndarray:
    """Demand weight served by each selected site: every covered point goes to its
    strongest selected site (highest margin)."""
    chosen = np.zeros(shape[1], dtype=bool)
    chosen[selected] = True
    ok = chosen[links.cols] & (margin >= 0)
    rows, cols, m = links.rows[ok], links.cols[ok], margin[ok]
    order = np.lexsort((cols, -m, rows))  # per row: best margin first, ties by index
    rows, cols = rows[order], cols[order]
    first = np.r_[True, rows[1:] != rows[:-1]]
    served = np.bincount(cols[first], weights=weights[rows[first]], minlength=shape[1])
    return served[selected]


def build_result(area: Area, points: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame, solution: Solution,
                 fixed: np.ndarray, params: Params, kind: str, masks: dict, served: np.ndarray,
                 outside: np.ndarray | None = None) -> PlanResult:
    """Assemble the sites, demand, coverage and gap layers and the summary.

    ``outside`` marks existing sites beyond the area (the buffer ring): they cover, but
    the site counts of the summary are of the area."""
    dp = params.demand
    sel = np.asarray(solution.selected)
    is_fixed = np.isin(sel, fixed)
    ring = np.zeros(len(sel), dtype=bool) if outside is None else np.asarray(outside)[sel]
    sites = sites_layer(candidates.iloc[sel].reset_index(drop=True), is_fixed, served, solution.gains)
    before, after = masks[("required", "before")], masks[("required", "after")]
    demand_layer = points.copy()
    demand_layer["covered_before"] = before
    demand_layer["covered_after"] = after
    layer_masks = {k: v for k, v in masks.items() if k[0] != "required"}
    gaps, gap_figures = plan_gaps(area, demand_layer, after, params)
    layers = {
        "gaps": gaps,
        "sites": sites,
        "demand": demand_layer,
        "coverage": coverage_polygons(points, layer_masks, dp.cell_size_m, dp.road_point_spacing_m, area.crs),
    }
    weights = points["weight"].to_numpy(dtype=float)
    residents = points["residents"].to_numpy(dtype=float)
    total = float(weights.sum())
    summary = {
        "sites_existing": int((is_fixed & ~ring).sum()),
        "sites_existing_outside_area": int(ring.sum()),
        "sites_proposed": int((~is_fixed).sum()),
        "sites_total": int((~ring).sum()),
        "candidates": {str(k): int(v) for k, v in candidates["source"].value_counts().sort_index().items()},
        "demand_points": int(len(points)),
        "demand_total": round(total, 3),
        "demand_covered": round(float(weights[after].sum()), 3),
        "demand_covered_before": round(float(weights[before].sum()), 3),
        "coverage_ratio": round(float(weights[after].sum()) / total, 6) if total else 0.0,
        "coverage_ratio_before": round(float(weights[before].sum()) / total, 6) if total else 0.0,
        "population_total": round(float(residents.sum()), 1),
        "population_covered": round(float(residents[after].sum()), 1),
        "bound": round(float(solution.bound), 3),
        "optimality_gap": round(float(solution.gap), 6),
        "solver": solution.method,
        "min_sites_bound": solution.min_sites,
        "bound_source": solution.bound_source,
        "bound_note": bound_note(float(solution.gap), solution.bound_source, solution.min_sites, len(sel)),
        "gaps": int(len(gaps)),
        "gap_areas": gap_figures,
    }
    return PlanResult(kind=kind, area_slug=area.slug, crs=area.crs, layers=layers, summary=summary)
