"""Plan one area end to end: demand → candidates → coverage → optimiser → layers.

This module only chains the stages; each stage is a pure function in its own module.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse

from siting import coverage as cov
from siting import learn, radio
from siting.area import Area
from siting.candidates import candidates_5g
from siting.config import Params, SolverParams
from siting.demand import Demand, build_demand, environment_layer
from siting.errors import PlanError
from siting.gaps import plan_gaps
from siting.layers import coverage_polygons, points_xy
from siting.optimize import Solution, solve_mclp, solve_set_cover
from siting.result import PlanResult, sites_layer

#: facility kinds siting plans; all but "5g" are planned on the road network
KINDS = ("5g", "charging", "basic", "depot", "swap", "hydrogen")


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


def plan_area(area: Area, kind: str, params: Params, existing: gpd.GeoDataFrame | None = None,
              count: int | None = None, target: float | None = None, piles: int | None = None,
              raster=None, dem=None, demand: Demand | None = None) -> PlanResult:
    """Plan ``kind`` facilities in ``area``: a number of sites (``count``), a coverage
    share (``target``) or, for charging, a number of piles (``piles``).

    ``demand`` may be given when the caller has built it already (it is built from
    ``area``, ``params.demand`` and ``raster`` otherwise)."""
    if kind not in KINDS:
        raise PlanError(f"unknown facility kind '{kind}': use one of {', '.join(KINDS)}")
    if sum(x is not None for x in (count, target, piles)) != 1:
        raise PlanError("give exactly one of --count, --target or --piles")
    if target is not None and not 0 < target <= 1:
        raise PlanError(f"--target {target} is outside (0, 1]: give a coverage share such as 0.98")
    if kind == "5g" and piles is not None:
        raise PlanError("--piles applies to charging kinds only: use --count or --target for 5g")
    if demand is None:
        demand = build_demand(area, params.demand, raster=raster)
    learned = None
    if existing is not None and params.learn.strength > 0:  # where operators built tells where demand is
        learned = learn.learn_from_existing(area, demand, existing, kind, params)
        demand = learn.weighted_demand(demand, learned, kind)
    if kind == "5g":
        result = plan_5g(area, demand, params, existing=existing, count=count, target=target, dem=dem,
                         learned=learned)
    else:
        from siting.charging import plan_charging

        result = plan_charging(area, demand, kind, params, existing=existing, count=count, piles=piles,
                               target=target)
    result.layers["environment"] = environment_layer(demand)
    result.summary["sites_per_km2"] = round(result.summary["sites_total"] / area.area_km2, 3) if area.area_km2 else None
    result.summary.setdefault("demand_info", demand.info)
    if learned is not None:
        result.summary["learning"] = learned.summary()
        if learned.used:
            result.layers["suitability"] = learn.suitability_layer(demand, learned, area.crs)
    return result


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
    scenario = radio.scenario_codes(radio.scenarios_for(candidates["source"].to_numpy(), rp,
                                                        candidates["env_class"].to_numpy()))
    reach = radio.reach_m(budget, scenario, h_bs, rp)
    cov.check_memory(demand_xy, cand_xy, reach, params.solver.memory_budget_gb)
    rows, cols, dist = cov.pairs_within(demand_xy, cand_xy, reach)
    extra, los, terrain_info = 0.0, None, None
    if dem is not None:
        from siting import terrain

        extra, terrain_los = terrain.pair_terrain(dem, demand_xy[rows], cand_xy[cols], h_bs[cols], rp.h_ut_m,
                                                  budget.fc_ghz, params.terrain, buildings=area.buildings,
                                                  storey_height_m=params.demand.storey_height_m)
        terrain_info = terrain.terrain_summary(dem, extra, terrain_los, params.terrain)
    kwargs = dict(d2d_m=dist, scenario=scenario[cols], h_bs_m=h_bs[cols], budget=budget, params=rp)
    if rp.los_from_buildings:  # ray-test only the pairs whose LOS state can change a coverage decision
        indoor_pair = radio.indoor_required(demand["env_class"].to_numpy(), rp)[rows]
        decisive = ((radio.link_margin_db(indoor=False, los=np.ones(len(rows), bool), **kwargs) - extra >= 0)
                    & (radio.link_margin_db(indoor=indoor_pair, **kwargs) - extra < 0))
        los = radio.buildings_los(area.buildings, cand_xy[cols], h_bs[cols], demand_xy[rows], rp,
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
            learned: learn.Learned | None = None) -> PlanResult:
    """5G base stations: TR 38.901 link budget per pair, then MCLP or set cover.

    With ``learned`` (a used suitability model) and ``count``, the learned candidate
    score is a secondary objective of the choice (:func:`siting.learn.candidate_preference`)."""
    points = demand.points
    candidates = candidates_5g(area, demand, params, existing=existing)
    prefer = learned is not None and learned.used and count is not None and not params.capacity.enabled
    if prefer and params.learn.junction_candidates:
        candidates = learn.with_junction_candidates(area, demand, candidates, params)
    if len(candidates) == 0:
        raise PlanError("no candidate sites in the area: check the area boundary and OSM data")
    links = radio_links(area, points, candidates, params, dem=dem)
    shape = (len(points), len(candidates))
    required = links.matrix(links.required_margin, shape)
    weights = points["weight"].to_numpy(dtype=float)
    fixed = np.flatnonzero(candidates["fixed"].to_numpy(dtype=bool))
    preference = None
    if prefer:
        preference = learn.candidate_preference(
            learn.candidate_scores(area, demand, candidates, learned, "5g", params),
            candidates["fixed"].to_numpy(dtype=bool), float(weights.sum()), count - len(fixed),
            learned.model.skill, params.learn.candidate_preference)
    if preference is None:
        solution = _solve(required, weights, fixed, count, target, params.seed, params.solver)
    else:
        solution = preference.strip(_solve(*preference.extend(required, weights), fixed, count, target, params.seed,
                                           params.solver), len(points))
    capacity = None
    if params.capacity.enabled:
        from siting.capacity import plan_capacity

        capacity = plan_capacity(points, candidates["source"].to_numpy(), links.rows, links.cols,
                                 links.required_margin, fixed, len(solution.selected) if count else None,
                                 target, params, area.crs)
        cs = capacity.solution
        solution = replace(solution, selected=cs.selected, gains=cs.site_served, objective=cs.objective,
                           bound=cs.bound, gap=cs.gap, min_sites=cs.min_sites, method=f"capacity {cs.method}")
    result = build_result(area, points, candidates, solution, fixed, params, kind="5g",
                          masks=_coverage_masks(links, shape, required, fixed, solution.selected),
                          served=_served(links.required_margin, links, shape, solution.selected, weights))
    if capacity is not None:
        result.layers["capacity_gaps"] = capacity.capacity_gaps
        result.layers["sites"]["load"] = np.round(capacity.load, 4)
        result.layers["sites"]["served_mbps"] = np.round(capacity.solution.site_served, 3)
        result.summary["capacity"] = capacity.summary
    if preference is not None:
        result.summary["candidate_preference"] = preference.summary(solution.selected, float(weights.sum()), candidates)
    result.summary["demand_info"] = demand.info
    result.summary["radio"] = radio.describe(params.radio)
    if links.terrain is not None:
        result.summary["terrain"] = links.terrain
    return result


def _solve(matrix: sparse.csr_matrix, weights: np.ndarray, fixed: np.ndarray, count: int | None,
           target: float | None, seed: int, params: SolverParams | None = None) -> Solution:
    if count is not None:
        if count < len(fixed):
            warnings.warn(f"--count {count} is below the {len(fixed)} existing sites: nothing new is planned")
            count = len(fixed)
        if count > matrix.shape[1]:
            raise PlanError(f"--count {count} exceeds the {matrix.shape[1]} candidate sites: "
                            "ask for fewer sites or use --target")
        return solve_mclp(matrix, weights, count, fixed=fixed, seed=seed, params=params)
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
                 fixed: np.ndarray, params: Params, kind: str, masks: dict, served: np.ndarray) -> PlanResult:
    """Assemble the sites, demand, coverage and gap layers and the summary."""
    dp = params.demand
    sel = np.asarray(solution.selected)
    is_fixed = np.isin(sel, fixed)
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
        "boundary": gpd.GeoDataFrame({"name": [area.name], "origin": [area.boundary_origin]},
                                     geometry=[area.boundary], crs=area.crs),
    }
    weights = points["weight"].to_numpy(dtype=float)
    residents = points["residents"].to_numpy(dtype=float)
    total = float(weights.sum())
    summary = {
        "kind": kind,
        "area": {"name": area.name, "slug": area.slug, "crs": area.crs, "area_km2": round(area.area_km2, 4),
                 "boundary_origin": area.boundary_origin},
        "sites_existing": int(is_fixed.sum()),
        "sites_proposed": int((~is_fixed).sum()),
        "sites_total": int(len(sel)),
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
        "gaps": int(len(gaps)),
        "gap_areas": gap_figures,
    }
    return PlanResult(kind=kind, area_slug=area.slug, crs=area.crs, layers=layers, summary=summary)
