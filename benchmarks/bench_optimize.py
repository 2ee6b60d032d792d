"""Optimiser quality against proven optima, and speed against PySAL spopt's MCLP.

    .venv/bin/python benchmarks/bench_optimize.py [--quick]

1. Quality: on random, clustered and grid-city instances that HiGHS solves to proven
   optimality (``scipy.optimize.milp``, an independent formulation, gap 0), the share of
   the optimum ``solve_mclp(method="auto")`` reaches, and the gap its own bound proves.
2. spopt: the same real-shaped instance (5,000 demand points in clusters, 500 candidates,
   radius 800 m, p = 40) solved end to end by spopt (dense cost matrix with ``cdist``,
   ``MCLP.from_cost_matrix``, CBC through PuLP) and by siting (KD-tree sparse matrix,
   ``solve_mclp``). CBC gets a time limit (it does not prove these instances optimal in
   reasonable time); its objective is recomputed from the sites it returns.

Prints markdown tables.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from siting.coverage import coverage_from_radius  # noqa: E402
from siting.solve import solve_mclp  # noqa: E402


# --------------------------------------------------------------------------- instances


def uniform(n_demand: int, n_cand: int, seed: int, side: float = 6000.0):
    """Demand and candidates uniform on a square; integer weights 1..99."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(0, side, (n_demand, 2)), rng.uniform(0, side, (n_cand, 2)),
            rng.integers(1, 100, n_demand).astype(float))


def clustered(n_demand: int, n_cand: int, seed: int, side: float = 10_000.0, clusters: int = 25):
    """Neighbourhood clusters of varied size and spread plus 15 % scattered demand;
    70 % of candidates on built-up demand (rooftops, poles), the rest spread (grid fill)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.1 * side, 0.9 * side, (clusters, 2))
    size = rng.lognormal(0, 0.8, clusters)
    spread = rng.uniform(200, 600, clusters)
    n_bg = int(0.15 * n_demand)
    which = rng.choice(clusters, n_demand - n_bg, p=size / size.sum())
    demand = np.vstack([centres[which] + rng.normal(0, 1, (len(which), 2)) * spread[which, None],
                        rng.uniform(0, side, (n_bg, 2))])
    return demand, _candidates(demand, n_cand, side, rng), np.round(rng.lognormal(3, 1, n_demand), 1)


def grid_city(n_demand: int, n_cand: int, seed: int, cell: float = 100.0):
    """Demand on grid cells as siting's demand stage makes them: the ``n_demand`` densest
    cells of a mixture of urban cores, weights following the density; candidates as in
    :func:`clustered`."""
    rng = np.random.default_rng(seed)
    side = cell * np.ceil(np.sqrt(n_demand * 2.0))
    clusters = max(12, n_demand // 20_000)
    xs = np.arange(cell / 2, side, cell, dtype=np.float64)
    cells = np.column_stack([np.tile(xs, len(xs)), np.repeat(xs, len(xs))])
    centres = rng.uniform(0.15 * side, 0.85 * side, (clusters, 2))
    spread = rng.uniform(0.04, 0.12, clusters) * side * np.sqrt(12 / clusters)
    mass = rng.lognormal(0, 0.6, clusters)
    density = np.zeros(len(cells))
    for c, s, m in zip(centres, spread, mass):  # a loop over a dozen cores, vectorised over cells
        density += m * np.exp(-((cells - c) ** 2).sum(axis=1) / (2 * s * s))
    keep = np.argsort(-density, kind="stable")[:n_demand]
    weights = np.round(density[keep] / density[keep].max() * 400 * rng.lognormal(0, 0.5, n_demand), 1)
    return cells[keep], _candidates(cells[keep], n_cand, side, rng), weights


def _candidates(demand: np.ndarray, n_cand: int, side: float, rng: np.random.Generator) -> np.ndarray:
    near = int(0.7 * n_cand)
    return np.vstack([demand[rng.choice(len(demand), near, replace=False)] + rng.normal(0, 30, (near, 2)),
                      rng.uniform(0, side, (n_cand - near, 2))])


GENERATORS = {"uniform": uniform, "clustered": clustered, "grid city": grid_city}


# --------------------------------------------------------------------------- references


def highs_optimum(matrix, weights: np.ndarray, p: int, time_limit: float) -> tuple[float, bool, float]:
    """MCLP with ``scipy.optimize.milp`` (HiGHS) on the plain formulation, gap 0:
    (objective, proven optimal, seconds)."""
    from scipy import sparse
    from scipy.optimize import Bounds, LinearConstraint, milp

    n_demand, n_cand = matrix.shape
    a = sparse.hstack([-matrix.astype(float), sparse.identity(n_demand)]).tocsr()
    card = sparse.hstack([sparse.csr_matrix(np.ones((1, n_cand))), sparse.csr_matrix((1, n_demand))])
    start = time.perf_counter()
    res = milp(c=-np.concatenate([np.zeros(n_cand), weights]),
               constraints=[LinearConstraint(a, -np.inf, 0), LinearConstraint(card, 0, p)],
               integrality=np.concatenate([np.ones(n_cand), np.zeros(n_demand)]),
               bounds=Bounds(0, 1), options={"time_limit": time_limit, "mip_rel_gap": 0.0})
    seconds = time.perf_counter() - start
    x = res.x[:n_cand] > 0.5
    value = float(weights[(matrix @ x.astype(float)) > 0].sum())
    return value, res.status == 0, seconds


def spopt_mclp(demand, cands, weights, radius: float, p: int, time_limit: float) -> tuple[float, float, str]:
    """spopt end to end: dense cost matrix, model, CBC. (objective, seconds, status)."""
    import pulp
    from scipy.spatial.distance import cdist
    from spopt.locate import MCLP

    start = time.perf_counter()
    cost = cdist(demand, cands)
    model = MCLP.from_cost_matrix(cost, weights, service_radius=radius, p_facilities=p)
    model = model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit))
    seconds = time.perf_counter() - start
    chosen = [j for j in range(len(cands)) if (model.fac_vars[j].value() or 0) > 0.5]
    value = float(weights[(cost[:, chosen] <= radius).any(axis=1)].sum())
    return value, seconds, pulp.LpStatus[model.problem.status]


# --------------------------------------------------------------------------- runs


def quality(quick: bool) -> None:
    sizes = [(1000, 100, 10)] if quick else [(1000, 100, 10), (2000, 200, 20)]
    seeds = range(2) if quick else range(3)
    print("| instance | demand × candidates | p | HiGHS optimum | HiGHS s | auto objective | auto / optimum "
          "| auto proven gap | auto method | auto s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, make in GENERATORS.items():
        for n_demand, n_cand, p in sizes:
            for seed in seeds:
                demand, cands, weights = make(n_demand, n_cand, seed)
                matrix = coverage_from_radius(demand, cands, 600.0)
                optimum, proven, highs_s = highs_optimum(matrix, weights, p, 600.0)
                sol = solve_mclp(matrix, weights, p)
                flag = "" if proven else " (not proven)"
                print(f"| {name} #{seed} | {n_demand:,} × {n_cand} | {p} | {optimum:,.1f}{flag} | {highs_s:.1f} | "
                      f"{sol.objective:,.1f} | {sol.objective / optimum:.4%} | {sol.gap:.3%} | {sol.method} | "
                      f"{sol.runtime_s:.2f} |")


def against_spopt(quick: bool) -> None:
    limit = 60.0 if quick else 600.0
    print(f"\nspopt MCLP (CBC, time limit {limit:.0f} s) vs siting, 5,000 demand points in clusters, "
          "500 candidates, radius 800 m, p = 40, end to end\n")
    print("| instance | spopt s | spopt objective | CBC status | siting s | siting objective | siting method "
          "| siting proven gap | speed-up | objective ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in ("grid city", "clustered"):
        demand, cands, weights = GENERATORS[name](5000, 500, 0)
        start = time.perf_counter()
        matrix = coverage_from_radius(demand, cands, 800.0)
        sol = solve_mclp(matrix, weights, 40)
        ours = time.perf_counter() - start
        theirs, spopt_s, status = spopt_mclp(demand, cands, weights, 800.0, 40, limit)
        print(f"| {name} | {spopt_s:.1f} | {theirs:,.1f} | {status} | {ours:.2f} | {sol.objective:,.1f} | "
              f"{sol.method} | {sol.gap:.3%} | {spopt_s / ours:.0f}× | {sol.objective / theirs:.6f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, smaller instances; CBC limited to 60 s")
    parser.add_argument("--part", choices=("all", "quality", "spopt"), default="all")
    args = parser.parse_args()
    if args.part in ("all", "quality"):
        quality(args.quick)
    if args.part in ("all", "spopt"):
        against_spopt(args.quick)


if __name__ == "__main__":
    main()
