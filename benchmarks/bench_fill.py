"""Exact counts, phases and reserve sites at district-to-city scale (issue 18).

Synthetic grid city: demand points and candidates uniform in a square, one coverage
radius, spectral efficiency falling with distance, gamma busy-hour traffic. Times
``solve_mclp`` (which saturates short of the count), ``fill_to_count`` up to ``--factor``
times the saturation count, and ``choose_reserves`` at ratio 0.72.

    .venv/bin/python benchmarks/bench_fill.py [--demand 100000 --candidates 10000]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import sparse

from siting.capacity import spectral_efficiency
from siting.config import CapacityParams
from siting.coverage import coverage_matrix, pairs_within
from siting.fill import fill_to_count
from siting.solve import solve_mclp
from siting.reserve import choose_reserves


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--demand", type=int, default=100_000)
    ap.add_argument("--candidates", type=int, default=10_000)
    ap.add_argument("--side", type=float, default=10_000.0)
    ap.add_argument("--radius", type=float, default=400.0)
    ap.add_argument("--factor", type=float, default=1.5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    demand = rng.uniform(0, args.side, (args.demand, 2))
    cand = rng.uniform(0, args.side, (args.candidates, 2))
    rows, cols, dist = pairs_within(demand, cand, args.radius)
    matrix = coverage_matrix(rows, cols, args.demand, args.candidates)
    covered = np.asarray(matrix.sum(axis=1)).ravel() > 0
    weights = np.where(covered, rng.gamma(2.0, 5.0, args.demand), 0.0)
    se = spectral_efficiency(39.08 * np.log10(args.radius / np.maximum(dist, 10.0)), CapacityParams())
    per_mbps = sparse.csr_matrix((1.0 / se, (rows, cols)), shape=matrix.shape)
    capacity = np.full(args.candidates, 3 * 100 * 0.75 * 4 * 0.8)
    t0 = time.perf_counter()
    solution = solve_mclp(matrix, weights, args.candidates, method="greedy+swap")
    t1 = time.perf_counter()
    count = min(int(len(solution.selected) * args.factor), args.candidates)
    filled = fill_to_count(per_mbps, weights, capacity, solution.selected,
                           np.full(len(solution.selected), "coverage", dtype=object), count)
    t2 = time.perf_counter()
    reserves = choose_reserves(matrix, weights, filled.selected, filled.selected, 0.72, 0.9)
    t3 = time.perf_counter()
    print(f"{args.demand:,} x {args.candidates:,}, {len(rows):,} pairs; saturated at {len(solution.selected):,} "
          f"sites ({t1 - t0:.1f} s); filled to {count:,} ({t2 - t1:.1f} s: "
          f"{filled.summary['capacity']['sites']} capacity, {filled.summary['redundancy']['sites']} redundancy); "
          f"{len(reserves.site):,} reserves ({t3 - t2:.1f} s)")


if __name__ == "__main__":
    main()
