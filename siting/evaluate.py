"""Honest evaluation: hide some existing sites, plan with the rest, count the hidden
sites the plan finds, and compare with two random baselines drawn in the same run.

A hidden site is *found* when a proposed site stands within ``radius_m`` of it (150 m
for 5G, 300 m for charging by default). The planner gets ``count`` = all existing sites
in the area, so it proposes as many sites as were hidden; the baselines place the same
number of points uniformly in the area and on random road nodes, ``baseline_draws``
times each, and report the mean. Everything follows ``params.seed``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from scipy.spatial import cKDTree

from siting.area import Area
from siting.config import Params
from siting.errors import PlanError
from siting.learn import learn_from_existing
from siting.pipeline import run_plan
from siting.request import PlanRequest

EVALUATION_FILE = "evaluation.json"


def split_holdout(n: int, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, hidden) of ``n`` sites with ``round(holdout × n)`` hidden (at least one)."""
    if not 0 < holdout < 1:
        raise PlanError(f"`holdout` {holdout} is outside (0, 1): give the share of sites to hide, e.g. 0.4")
    n_hidden = min(max(int(round(holdout * n)), 1), n - 1)
    if n < 2:
        raise PlanError(f"{n} existing site(s) inside the area: evaluation needs at least 2 (some to hide, "
                        "some to keep); check `existing` and its `existing_crs`")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_hidden:]), np.sort(order[:n_hidden])


def found(hidden_xy: np.ndarray, proposed_xy: np.ndarray, radius_m: float) -> int:
    """How many hidden sites have a proposed site within ``radius_m``."""
    if len(hidden_xy) == 0 or len(proposed_xy) == 0:
        return 0
    dist, _ = cKDTree(proposed_xy).query(hidden_xy, distance_upper_bound=np.nextafter(radius_m, np.inf))
    return int(np.sum(dist <= radius_m))


def uniform_locations(boundary, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniformly distributed inside ``boundary`` (rejection sampling)."""
    x0, y0, x1, y1 = boundary.bounds
    share = max(boundary.area / max((x1 - x0) * (y1 - y0), 1e-9), 1e-3)
    out = np.empty((0, 2))
    while len(out) < n:
        m = int(np.ceil(2 * (n - len(out)) / share)) + 8
        xy = np.column_stack([rng.uniform(x0, x1, m), rng.uniform(y0, y1, m)])
        out = np.vstack([out, xy[shapely.contains_xy(boundary, xy[:, 0], xy[:, 1])]])
    return out[:n]


def road_node_locations(area: Area, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct road nodes of the area drawn at random (all of them if fewer)."""
    nodes = area.road_nodes[["x", "y"]].to_numpy(dtype=float)
    nodes = nodes[shapely.contains_xy(area.boundary, nodes[:, 0], nodes[:, 1])]
    return nodes[rng.choice(len(nodes), size=min(n, len(nodes)), replace=False)]


def _proposed_xy(result) -> np.ndarray:
    sites = result.layers["sites"]
    new = sites[sites["status"] == "proposed"]
    return np.column_stack([new.geometry.x.to_numpy(), new.geometry.y.to_numpy()])


def _score(n_found: int, hidden: int, result, weights: np.ndarray | None) -> dict:
    """Hidden sites found and the plan's coverage: of the unweighted demand ``weights``
    (5G: one row per demand point), else the plan's own ``coverage_ratio`` (charging
    plans cover sessions derived from the demand, weighted by learning when it is used)."""
    if weights is None:
        coverage = float(result.summary["coverage_ratio"])
    else:
        covered = result.layers["demand"]["covered_after"].to_numpy(dtype=bool)
        coverage = round(float(weights[covered].sum() / weights.sum()), 6) if weights.sum() else 0.0
    return {"found": n_found, "share": round(n_found / hidden, 4) if hidden else 0.0,
            "proposed": len(_proposed_xy(result)), "coverage_ratio": coverage}


def evaluate_holdout(area: Area, existing: gpd.GeoDataFrame, kind: str = "5g", *, params: Params,
                     holdout: float = 0.4, radius_m: float | None = None, raster=None) -> dict:
    """Hide ``holdout`` of the existing sites inside ``area``, plan with the rest and score.

    Returns a JSON-ready dict: the split, the radius, and per method (``plan`` =
    learning from the kept sites when there are enough: demand multiplier and, for 5G,
    the candidate score as a secondary objective; ``plan_without_learning``;
    ``random_uniform``; ``random_road_nodes``) how many hidden sites were found; the plans
    also give their coverage (5G: of the unweighted demand), the baselines the share of draws
    the plan beat.
    """
    from siting.demand import build_demand, demand_grid
    from siting.io.raster import population_samples

    lp = params.learn
    radius = radius_m if radius_m is not None else (lp.eval_radius_5g_m if kind == "5g" else lp.eval_radius_charging_m)
    if radius <= 0:
        raise PlanError(f"`radius_m` {radius} must be positive: give a distance in metres such as 150")
    sites = existing.to_crs(area.crs)
    xy = np.column_stack([sites.geometry.x.to_numpy(), sites.geometry.y.to_numpy()])
    inside = shapely.contains_xy(area.boundary, xy[:, 0], xy[:, 1])
    sites, xy = existing[inside].reset_index(drop=True), xy[inside]
    kept, hidden = split_holdout(len(sites), holdout, params.seed)
    total = len(sites)
    kept_sites = sites.iloc[kept].reset_index(drop=True)
    population = population_samples(raster, demand_grid(area, params.demand), area.boundary) if raster else None
    demand = build_demand(area, params.demand, population=population)
    request = PlanRequest(kind=kind, count=total)
    unlearned = params.model_copy(update={"learn": params.learn.model_copy(update={"strength": 0.0})})
    plain = run_plan(area, request, unlearned, existing=kept_sites, demand=demand)
    planned = run_plan(area, request, params, existing=kept_sites, demand=demand) if lp.strength > 0 else plain
    learning = planned.summary.get("learning") or learn_from_existing(area, demand, kept_sites, kind, params).summary()
    hidden_xy = xy[hidden]
    weights = demand.points["weight"].to_numpy(dtype=float) if kind == "5g" else None
    methods: dict[str, Any] = {}
    for name, result in (("plan", planned), ("plan_without_learning", plain)):
        methods[name] = _score(found(hidden_xy, _proposed_xy(result), radius), len(hidden), result, weights)
    n_prop = methods["plan"]["proposed"]
    rng = np.random.default_rng(params.seed)
    for name, draw in (("random_uniform", lambda: uniform_locations(area.boundary, n_prop, rng)),
                       ("random_road_nodes", lambda: road_node_locations(area, n_prop, rng))):
        hits = np.array([found(hidden_xy, draw(), radius) for _ in range(lp.baseline_draws)])
        methods[name] = {"found": round(float(hits.mean()), 3), "share": round(float(hits.mean()) / len(hidden), 4),
                         "proposed": n_prop, "draws": lp.baseline_draws,
                         "plan_beats_share": round(float(np.mean(methods["plan"]["found"] > hits)), 4)}
    beats = all(methods["plan"]["found"] > methods[b]["found"] for b in ("random_uniform", "random_road_nodes"))
    return {"kind": kind, "area": area.name, "seed": params.seed, "holdout": holdout, "radius_m": radius,
            "existing_in_area": total, "existing_outside_area": int((~inside).sum()), "kept": len(kept),
            "hidden": len(hidden), "methods": methods, "plan_beats_baselines": bool(beats),
            "learning": learning, "candidate_preference": planned.summary.get("candidate_preference")}


def run_evaluation(source: str, existing: Path, kind: str = "5g", holdout: float = 0.4,
                   radius_m: float | None = None, existing_crs: str = "wgs84", config: Path | None = None,
                   overrides: dict[str, Any] | None = None, out: Path | None = None) -> tuple[dict, Path]:
    """Read the inputs, evaluate, write ``evaluation.json``; returns (report, path)."""
    from siting.config import load_params
    from siting.io.export import write_json
    from siting.io.osm import load_area
    from siting.io.sites import read_sites

    params = load_params(config, overrides)
    area = load_area(source)
    sites = read_sites(existing, crs=existing_crs)
    report = evaluate_holdout(area, sites, kind=kind, params=params, holdout=holdout, radius_m=radius_m)
    report["request"] = {"source": Path(source).name if Path(source).exists() else source,
                         "existing": Path(existing).name, "existing_crs": existing_crs}
    path = (Path(out) if out else Path("data/processed") / area.slug / kind) / EVALUATION_FILE
    write_json(path, report)
    return report, path


def describe(report: dict) -> str:
    """A few lines for the terminal."""
    m = report["methods"]
    lines = [f"{report['area']} {report['kind']}: hid {report['hidden']} of {report['existing_in_area']} existing "
             f"sites (seed {report['seed']}); found within {report['radius_m']:g} m:"]
    for name, label in (("plan", "plan"), ("plan_without_learning", "plan without learning"),
                        ("random_uniform", "random locations"), ("random_road_nodes", "random road nodes")):
        coverage = f", demand covered {m[name]['coverage_ratio']:.2%}" if "coverage_ratio" in m[name] else ""
        lines.append(f"  {label}: {m[name]['found']:g} of {report['hidden']} ({m[name]['share']:.0%}){coverage}")
    learning = report["learning"]
    auc = learning["cv_auc"].get(learning["model"]) if learning["model"] else None
    lines.append(f"  learning: {learning['status']}" + (f", spatial-CV AUC {auc:.3f} ({learning['model']})"
                                                        if auc is not None else f" ({learning['reason']})"))
    return "\n".join(lines)
