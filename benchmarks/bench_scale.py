"""Scale: coverage matrix plus MCLP solve on a city-region instance, time and peak memory.

    .venv/bin/python benchmarks/bench_scale.py [--quick] [--method auto]

Full size: 1,000,000 demand cells (100 m grid of a region with many urban cores) ×
100,000 candidates (radius 300, 500 or 800 m by candidate: poles, rooftops, masts),
p = 10,000. ``--quick``: 100,000 × 10,000, p = 1,000. Each run is a fresh subprocess;
peak memory is its maximum resident set size (``resource.getrusage``), which includes
the instance itself. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def run(n_demand: int, n_cand: int, p: int, method: str) -> dict:
    """Build the instance, then time the coverage matrix and the solve (in this process)."""
    from bench_optimize import grid_city
    from siting.coverage import check_memory, pairs_within, coverage_matrix
    from siting.solve import solve_mclp

    demand, cands, weights = grid_city(n_demand, n_cand, 0)
    radius = np.random.default_rng(1).choice([300.0, 500.0, 800.0], n_cand)
    t0, c0 = time.perf_counter(), time.process_time()
    estimate = check_memory(demand, cands, radius, budget_gb=8.0)
    t1 = time.perf_counter()
    rows, cols, _ = pairs_within(demand, cands, radius)
    matrix = coverage_matrix(rows, cols, n_demand, n_cand)
    del rows, cols
    t2 = time.perf_counter()
    sol = solve_mclp(matrix, weights, p, method=method)
    t3 = time.perf_counter()
    return {"pairs": int(matrix.nnz), "estimate": estimate, "check_s": t1 - t0, "matrix_s": t2 - t1,
            "solve_s": t3 - t2, "total_s": t3 - t0, "cpu_s": time.process_time() - c0,
            "bound_source": sol.bound_source, "objective": sol.objective, "bound": sol.bound,
            "gap": sol.gap, "method": sol.method, "sites": len(sol.selected),
            "coverage": sol.objective / float(weights.sum()),
            "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 x 10,000, p = 1,000")
    parser.add_argument("--method", default="auto")
    parser.add_argument("--child", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run(*args.child, args.method)))
        return
    size = (100_000, 10_000, 1_000) if args.quick else (1_000_000, 100_000, 10_000)
    out = subprocess.run([sys.executable, __file__, "--method", args.method, "--child", *map(str, size)],
                         check=True, capture_output=True, text=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print("| demand × candidates | p | pairs (estimate) | memory check s | matrix s | solve s | matrix + solve s "
          "| CPU s | peak RSS GB | covered share | proven gap | bound source | method | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {size[0]:,} × {size[1]:,} | {size[2]:,} | {r['pairs']:,} ({r['estimate']:,}) | {r['check_s']:.1f} | "
          f"{r['matrix_s']:.1f} | {r['solve_s']:.1f} | {r['matrix_s'] + r['solve_s']:.1f} | {r['cpu_s']:.1f} | "
          f"{r['peak_gb']:.2f} | {r['coverage']:.4f} | {r['gap']:.3%} | {r['bound_source']} | {r['method']} | "
          f"{os.getloadavg()[0]:.1f} |")


if __name__ == "__main__":
    main()
