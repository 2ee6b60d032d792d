"""Capacity-aware 5G planning: busy-hour traffic, site capacity, capacitated site choice.

Coverage alone does not explain a city's site count: in dense districts sites are added
for traffic, not reach (``DOMAIN.md`` §1.9, TY5G: dense and general urban zones are
capacity-led, suburbs and rural coverage-led). This module adds the capacity side:

- :func:`traffic_mbps`: busy-hour downlink demand per demand point, from residents,
  workers and road users (each with a presence share and an activity factor) times the
  busy-hour rate of an average account (monthly data / busy days / busy hours);
- :func:`spectral_efficiency`: bit/s/Hz per layer of a demand–site pair from its link
  margin, SINR = ``edge_sinr_db`` + margin, on the truncated Shannon curve of 3GPP TR
  36.942 annex A; :func:`site_capacity_mhz`: the radio resource of a site, sectors ×
  bandwidth × downlink share × MIMO layers × ``max_load`` (MHz). Serving ``x`` Mbps over
  a pair uses ``x / se`` MHz of the site's resource;
- the capacitated site choice itself is :func:`siting.solve.solve_capacitated`;
- :func:`explain_count`: the coverage-driven count (set cover alone), the
  capacity-driven count, and which one drives the plan;
- :func:`capacity_outputs`: per-site load, the ``capacity_gaps`` layer (covered but not
  served demand, dissolved like the coverage gaps) and summary figures.
"""
from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np

from siting.config import CapacityParams, SolverParams
from siting.coverage import coverage_matrix
from siting.errors import PlanError
from siting.vocab import POLE_SOURCE
from siting.layers import gap_polygons
from siting.solve import Solution, solve_capacitated, solve_set_cover

#: seconds of traffic per busy hour and megabits per gigabyte
_MBIT_PER_GB_HOUR = 8000.0 / 3600.0


# --------------------------------------------------------------------------- traffic and capacity


def busy_hour_mbps_per_user(params: CapacityParams) -> float:
    """Mean busy-hour downlink rate of an average account [Mbps]: monthly data spread
    over the busy days and the busy hours of a day."""
    return params.dou_gb_month / (params.busy_days_per_month * params.busy_hours_per_day) * _MBIT_PER_GB_HOUR


def traffic_mbps(points: gpd.GeoDataFrame, params: CapacityParams) -> np.ndarray:
    """Busy-hour downlink traffic demand of each demand point [Mbps].

    Active users = residents × share × activity + workers × share × activity + road km ×
    road users per km × activity, times the subscriber share (:func:`subscriber_share`)
    and the busy-hour rate of an account; priority places (``priority`` > 1) carry
    ``priority_extra`` more.
    """
    col = {c: points[c].to_numpy(dtype=np.float64) for c in ("residents", "workers", "road_m", "priority")}
    users = (col["residents"] * params.resident_share * params.resident_activity
             + col["workers"] * params.worker_share * params.worker_activity
             + col["road_m"] / 1000.0 * params.road_users_per_km * params.road_activity)
    boost = 1.0 + params.priority_extra * (col["priority"] - 1.0)
    share = subscriber_share(params, float(col["residents"].sum()))
    return users * share * busy_hour_mbps_per_user(params) * boost


def subscriber_share(params: CapacityParams, residents: float) -> float:
    """Share of the people's traffic the planned network carries: ``subscriber_share``,
    or with a plan's ``users`` (5G users) those users spread over ``users_population``
    (else over ``residents``, the area's own): users per resident, at most 1."""
    if params.users is None:
        return params.subscriber_share
    population = params.users_population or residents
    if population <= 0:
        raise PlanError("capacity.users is set but the area has no residents to spread them over: "
                        "set capacity.users_population to the city's population")
    return min(params.users / population, 1.0)


def spectral_efficiency(margin_db: np.ndarray, params: CapacityParams) -> np.ndarray:
    """Spectral efficiency per layer [bit/s/Hz] of pairs with link margin ``margin_db``.

    SINR [dB] = ``edge_sinr_db`` + margin, capped at ``sinr_max_db``; SE =
    min(``se_max``, α·log2(1 + SINR)), and 0 below ``sinr_min_db`` (TR 36.942 annex A).
    """
    sinr_db = np.minimum(params.edge_sinr_db + np.asarray(margin_db, dtype=np.float64), params.sinr_max_db)
    se = np.minimum(params.se_max, params.shannon_alpha * np.log2(1.0 + 10.0 ** (sinr_db / 10.0)))
    return np.where(sinr_db >= params.sinr_min_db, se, 0.0)


def site_capacity_mhz(source: np.ndarray, bandwidth_mhz: float, params: CapacityParams) -> np.ndarray:
    """Usable radio resource of each candidate [MHz]: sectors × bandwidth × downlink share ×
    layers × ``max_load``; street-lamp small cells have ``small_cell_sectors``.

    A site serving Mbps ``x_i`` at spectral efficiency ``se_i`` uses ``Σ x_i / se_i`` MHz.
    """
    sectors = np.where(np.asarray(source, dtype=object) == POLE_SOURCE, params.small_cell_sectors, params.sectors)
    return sectors * bandwidth_mhz * params.dl_share * params.layers * params.max_load


# --------------------------------------------------------------------------- explanation and outputs


def explain_count(pairs, traffic, se, site_capacity, target: float, fixed=None, method: str = "auto", *,
                  params: CapacityParams, solver: SolverParams) -> dict:
    """Why the site count is what it is, for one area or district.

    ``coverage_sites``: the fewest sites covering ``target`` of the traffic (set cover,
    capacity ignored); ``capacity_sites``: the fewest serving ``target`` of it within
    capacity (:func:`solve_capacitated`); with their proven lower bounds. ``driver`` is
    ``"capacity-led"`` when serving needs more sites than covering (dense and urban
    zones, DOMAIN §1.9 TY5G), else ``"coverage-led"`` (suburbs, rural).
    """
    rows, cols = (np.asarray(a).ravel() for a in pairs)
    t = np.asarray(traffic, dtype=np.float64)
    matrix = coverage_matrix(rows, cols, len(t), len(np.asarray(site_capacity).ravel()))
    cover = solve_set_cover(matrix, t, target, fixed=fixed, method=method, params=solver)
    serve = solve_capacitated(pairs, t, se, site_capacity, target=target, fixed=fixed, method=method,
                              params=params, solver=solver)
    n_cover, n_serve = len(cover.selected), len(serve.selected)
    return {
        "target": float(target),
        "traffic_mbps": round(float(t.sum()), 3),
        "coverage_sites": n_cover,
        "coverage_min_sites": cover.min_sites,
        "capacity_sites": n_serve,
        "capacity_min_sites": serve.min_sites,
        "extra_sites_for_capacity": max(n_serve - n_cover, 0),
        "driver": "capacity-led" if n_serve > n_cover else "coverage-led",
    }


def capacity_outputs(points: gpd.GeoDataFrame, solution: Solution, traffic: np.ndarray,
                     cell_size_m: float, road_spacing_m: float, crs: str,
                     unserved_share: float = 0.01, max_load: float = 1.0) -> tuple[gpd.GeoDataFrame, dict]:
    """The ``capacity_gaps`` layer and the summary figures of a capacitated plan.

    ``capacity_gaps``: demand points covered by the plan but with more than
    ``unserved_share`` of their traffic not served, dissolved like the coverage gaps
    (:func:`siting.layers.gap_polygons`); its ``unserved_mbps`` column replaces
    ``demand``. Site loads are reported as shares of the full capacity: ``solution.load``
    (share of the usable resource) × ``max_load`` (the usable share of the capacity).
    """
    if solution.served is None or solution.load is None:
        raise ValueError("capacity_outputs needs a capacitated solution (siting.solve.solve_capacitated)")
    load = solution.load
    t = np.asarray(traffic, dtype=np.float64)
    unserved = np.maximum(t - solution.served, 0.0)
    short = solution.covered & (unserved > unserved_share * t)
    layer_points = points[["kind", "residents", "workers", "geometry"]].copy()
    layer_points["weight"] = unserved
    gaps = gap_polygons(layer_points, ~short, cell_size_m, road_spacing_m, crs).rename(
        columns={"demand": "unserved_mbps"})
    total, covered = float(t.sum()), float(t[solution.covered].sum())
    summary = {
        "traffic_total_mbps": round(total, 3),
        "traffic_covered_mbps": round(covered, 3),
        "traffic_served_mbps": round(solution.objective, 3),
        "served_ratio": round(solution.objective / total, 6) if total else 0.0,
        "served_of_covered": round(solution.objective / covered, 6) if covered else 0.0,
        "site_load_mean": round(float(load.mean()) * max_load, 4) if len(load) else 0.0,
        "site_load_max": round(float(load.max()) * max_load, 4) if len(load) else 0.0,
        "sites_full": int(np.sum(load >= 0.999)),  # at the planning ceiling max_load
        "capacity_bound_mbps": round(float(solution.bound), 3),
        "capacity_gap": round(float(solution.gap), 6),
        "capacity_solver": solution.method,
        "capacity_gaps": int(len(gaps)),
    }
    return gaps, summary


@dataclass(frozen=True)
class CapacityPlan:
    """Everything the 5G pipeline needs from the capacity side of one area."""

    solution: Solution
    load: np.ndarray  # per selected site, share of its full capacity used (≤ max_load)
    traffic: np.ndarray  # Mbps per demand point
    capacity_gaps: gpd.GeoDataFrame
    summary: dict  # figures for summary.json, with the count explanation under "count"


def plan_capacity(points: gpd.GeoDataFrame, candidate_source: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                  margin_db: np.ndarray, fixed: np.ndarray, count: int | None, target: float | None,
                  params, crs: str) -> CapacityPlan:
    """Capacitated plan of one area from the radio pairs of ``siting.pipeline.radio_links``.

    ``margin_db``: each pair's margin for the service its demand point needs (pairs with
    a negative margin are not covered and are dropped); ``params``: the run's
    :class:`~siting.config.Params`. The count explanation uses ``target``, or for a
    ``count`` plan the share of traffic the plan serves.
    """
    from siting.radio import link_budget

    cp = params.capacity
    ok = np.asarray(margin_db) >= 0
    pairs = (np.asarray(rows)[ok], np.asarray(cols)[ok])
    traffic = traffic_mbps(points, cp)
    se = spectral_efficiency(np.asarray(margin_db)[ok], cp)
    capacity = site_capacity_mhz(candidate_source, link_budget(params.radio).bandwidth_mhz, cp)
    solution = solve_capacitated(pairs, traffic, se, capacity, count=count, target=target, fixed=fixed,
                                 seed=params.seed, params=cp, solver=params.solver)
    gaps, summary = capacity_outputs(points, solution, traffic, params.demand.cell_size_m,
                                     params.demand.road_point_spacing_m, crs, max_load=cp.max_load)
    share = target if target is not None else solution.objective / max(float(traffic.sum()), 1e-300)
    if share > 0:
        summary["count"] = explain_count(pairs, traffic, se, capacity, min(share, 1.0), fixed=fixed,
                                         method="greedy+swap", params=cp, solver=params.solver)
    return CapacityPlan(solution, solution.load * cp.max_load, traffic, gaps, summary)
