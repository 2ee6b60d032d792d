"""Capacitated 5G planning at city scale: 100,000 demand points × 10,000 candidates, p = 1,000.

Synthetic city (seeded): demand on a 20 × 20 km square with traffic hot spots, candidates
spread uniformly, pairs within 500 m with a log-distance link margin, site resource from
``CapacityParams`` defaults (n78, 100 MHz). Compared in the same run with the
coverage-only plan (``solve_mclp`` on traffic) whose traffic is then assigned within
capacity: how much more traffic the capacity-aware plan serves, and the gap of both to
the proven bound.

Usage: ``.venv/bin/python benchmarks/bench_capacity.py [--quick]`` (quick: 10× smaller).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from siting.capacity import site_capacity_mhz, spectral_efficiency  # noqa: E402
from siting.config import CapacityParams  # noqa: E402
from siting.coverage import coverage_matrix, pairs_within  # noqa: E402
from siting.solve import served_traffic, solve_capacitated, solve_mclp  # noqa: E402

RADIUS_M = 500.0


def city(n_demand: int, n_cand: int, side_m: float, seed: int = 0):
    """Demand points, candidate points, covered pairs, spectral efficiency and traffic."""
    rng = np.random.default_rng(seed)
    demand = rng.uniform(0, side_m, (n_demand, 2))
    cand = rng.uniform(0, side_m, (n_cand, 2))
    hubs = rng.uniform(0, side_m, (max(n_demand // 5000, 2), 2))
    near = np.min(np.hypot(*(demand[:, None, :] - hubs[None, :, :]).transpose(2, 0, 1)), axis=1)
    # Mbps per point: a background plus hot spots (dense cores of a few km)
    traffic = rng.gamma(2.0, 10.0, n_demand) * (1.0 + 8.0 * np.exp(-(near / 1500.0) ** 2))
    rows, cols, dist = pairs_within(demand, cand, RADIUS_M)
    margin = 39.08 * np.log10(RADIUS_M / np.maximum(dist, 10.0))  # 0 dB at the edge (UMa NLOS slope, §1.8)
    return rows, cols, spectral_efficiency(margin, CapacityParams()), traffic


def run(quick: bool) -> None:
    n_demand, n_cand, p = (10_000, 1_000, 100) if quick else (100_000, 10_000, 1_000)
    side = 20_000.0 / (10 ** 0.5 if quick else 1.0)  # same density either way
    t0 = time.perf_counter()
    rows, cols, se, traffic = city(n_demand, n_cand, side)
    build_s = time.perf_counter() - t0
    capacity = site_capacity_mhz(np.full(n_cand, "rooftop", dtype=object), 100.0, CapacityParams())
    cpu0, t0 = time.process_time(), time.perf_counter()
    sol = solve_capacitated((rows, cols), traffic, se, capacity, count=p, method="greedy+swap")
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    t0 = time.perf_counter()
    mclp = solve_mclp(coverage_matrix(rows, cols, n_demand, n_cand), traffic, p, method="greedy+swap")
    served_mclp = served_traffic((rows, cols), traffic, se, capacity, mclp.selected)
    mclp_s = time.perf_counter() - t0
    total = traffic.sum()
    print(f"{n_demand:,} demand points × {n_cand:,} candidates, {len(rows):,} pairs, p = {p:,}; "
          f"instance built in {build_s:.1f} s; {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"load {os.getloadavg()[0]:.1f}\n")
    print("| plan | served traffic (share) | covered traffic | bound | gap to bound | wall s | CPU s "
          "| mean / max load |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| capacity-aware (`solve_capacitated`, {sol.method}) | {sol.objective / total:.4f} | "
          f"{traffic[sol.covered].sum() / total:.4f} | {sol.bound / total:.4f} | {sol.gap:.4%} | {wall:.1f} | "
          f"{cpu:.1f} | {sol.load.mean():.3f} / {sol.load.max():.3f} |")
    print(f"| coverage-only (`solve_mclp` on traffic, then LP assignment) | {served_mclp / total:.4f} | "
          f"{mclp.objective / total:.4f} | {sol.bound / total:.4f} | {1 - served_mclp / sol.bound:.4%} | "
          f"{mclp_s:.1f} | | |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x smaller instance")
    run(parser.parse_args().quick)
