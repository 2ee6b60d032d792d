"""siting against PySAL spopt ``MCLP`` solved to optimality with HiGHS, side by side in one run.

    .venv/bin/python benchmarks/bench_spopt.py [--seeds 0 1 2 3 4] [--cbc]

Instance as in ``bench_optimize.py``: 5,000 clustered demand points, 500 candidates, radius
800 m, p = 40 (``clustered(5000, 500, 0)``). spopt end to end: dense ``cdist`` cost matrix,
``MCLP.from_cost_matrix``, ``solve(pulp.HiGHS(msg=False))`` (highspy, to optimality). siting
end to end: ``coverage_from_radius`` and ``solve_mclp`` (``auto``), once per solver seed.
``--cbc`` adds spopt with CBC (``PULP_CBC_CMD``, 600 s limit), labelled as such.
Objectives are recomputed from the chosen sites. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_optimize import clustered  # noqa: E402
from siting.coverage import coverage_from_radius  # noqa: E402
from siting.solve import solve_mclp  # noqa: E402

RADIUS_M, P = 800.0, 40


def spopt_run(demand, cands, weights, solver) -> tuple[float, float, float]:
    """spopt end to end with a PuLP solver: (objective, seconds, CPU seconds of this process)."""
    from scipy.spatial.distance import cdist
    from spopt.locate import MCLP

    start, cpu = time.perf_counter(), time.process_time()
    cost = cdist(demand, cands)
    model = MCLP.from_cost_matrix(cost, weights, service_radius=RADIUS_M, p_facilities=P).solve(solver)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    chosen = [j for j in range(len(cands)) if (model.fac_vars[j].value() or 0) > 0.5]
    return float(weights[(cost[:, chosen] <= RADIUS_M).any(axis=1)].sum()), seconds, cpu


def main() -> None:
    import pulp

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="*", type=int, default=list(range(5)))
    parser.add_argument("--cbc", action="store_true", help="also spopt with CBC (600 s limit)")
    args = parser.parse_args()
    demand, cands, weights = clustered(5000, 500, 0)
    solve_mclp(coverage_from_radius(demand[:50], cands[:50], RADIUS_M), weights[:50], 5)  # compile/load once
    print(f"load before: {os.getloadavg()[0]:.1f}")
    optimum, highs_s, highs_cpu = spopt_run(demand, cands, weights, pulp.HiGHS(msg=False))
    rows = [("spopt + HiGHS (optimal)", optimum, highs_s, highs_cpu)]
    if args.cbc:
        rows.append(("spopt + CBC (600 s limit)",) + spopt_run(demand, cands, weights,
                                                               pulp.PULP_CBC_CMD(msg=False, timeLimit=600)))
    print("\n| solver | seed | objective | / spopt+HiGHS optimum | s | CPU s | speed-up (wall) | speed-up (CPU) "
          "| proven gap | method | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, value, seconds, cpu in rows:
        print(f"| {name} | - | {value:,.1f} | {value / optimum:.6f} | {seconds:.2f} | {cpu:.2f} | "
              f"{highs_s / seconds:.1f}× | {highs_cpu / cpu:.1f}× | - | - | {os.getloadavg()[0]:.1f} |", flush=True)
    for seed in args.seeds:
        start, cpu = time.perf_counter(), time.process_time()
        sol = solve_mclp(coverage_from_radius(demand, cands, RADIUS_M), weights, P, seed=seed)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(f"| siting | {seed} | {sol.objective:,.1f} | {sol.objective / optimum:.6f} | {seconds:.2f} | {cpu:.2f} | "
              f"{highs_s / seconds:.0f}× | {highs_cpu / cpu:.0f}× | {sol.gap:.3%} | {sol.method} | "
              f"{os.getloadavg()[0]:.1f} |", flush=True)
    print(f"\nload after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
