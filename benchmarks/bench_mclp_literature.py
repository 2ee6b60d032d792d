"""The optimiser on a published MCLP benchmark: the Bronx instance against its best-known values.

    .venv/bin/python benchmarks/bench_mclp_literature.py [--seeds 0 1 2] [--p 50 100]

The instance (``../shared/data/mclp/Bronx.txt``, see its README) has 3,839 demand nodes that
are also the candidates, radius 600 m. For each p, ``solve_mclp`` (``auto``) is run per seed;
prints a markdown table of objective / best known, the proven bound and its source, and seconds.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy import sparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from siting.solve import solve_mclp  # noqa: E402

BRONX = Path(__file__).resolve().parents[2] / "shared" / "data" / "mclp" / "Bronx.txt"
RADIUS_M = 600.0
BEST_KNOWN = {50: 1_205_051, 60: 1_290_635, 70: 1_348_232, 80: 1_376_061, 90: 1_384_376, 100: 1_385_099}


def read_instance(path: Path = BRONX) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Coverage matrix (node i covers node j within ``RADIUS_M``, itself included) and demands,
    distances by the spherical law of cosines (radius 6,378,100 m), stored in float32 as the instance's
    authors do (cosines in float32 lose all precision below about 2 km)."""
    lines = path.read_text().split("\n")
    at = {line.strip(): k for k, line in enumerate(lines) if line.strip().endswith("_SECTION")}
    n = int(next(line.split(":")[1] for line in lines if line.startswith("DIMENSION")))
    start, demand_at = at["NODE_COORD_SECTION"] + 1, at["DEMAND_SECTION"] + 1
    coords = np.array([line.split() for line in lines[start:start + n]], dtype=np.float64)
    weights = np.array([line.split()[-1] for line in lines[demand_at:demand_at + n]], dtype=np.float64)
    lat, lon = np.radians(coords[:, 0]), np.radians(coords[:, 1])
    rows, cols = [], []
    for i in range(n):
        cos_d = np.sin(lat[i]) * np.sin(lat) + np.cos(lat[i]) * np.cos(lat) * np.cos(lon[i] - lon)
        d = (6_378_100.0 * np.arccos(np.clip(cos_d, -1.0, 1.0))).astype(np.float32)
        near = np.flatnonzero(d <= np.float32(RADIUS_M))
        near = np.union1d(near, [i])
        rows.append(np.full(len(near), i))
        cols.append(near)
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sparse.csr_matrix((np.ones(len(r), dtype=bool), (r, c)), shape=(n, n)), weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--p", nargs="*", type=int, default=sorted(BEST_KNOWN))
    args = parser.parse_args()
    matrix, weights = read_instance()
    print(f"Bronx: {matrix.shape[0]:,} nodes, {matrix.nnz:,} pairs; load {os.getloadavg()[0]:.1f}\n")
    print("| p | seed | objective | / best known | proven bound | bound / objective | bound source | method | s | CPU s "
          "| load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for p in args.p:
        for seed in args.seeds:
            start, cpu = time.perf_counter(), time.process_time()
            sol = solve_mclp(matrix, weights, p, seed=seed)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            print(f"| {p} | {seed} | {sol.objective:,.0f} | {sol.objective / BEST_KNOWN[p]:.5f} | {sol.bound:,.0f} | "
                  f"{sol.bound / sol.objective:.4f} | {getattr(sol, 'bound_source', '')} | {sol.method} | "
                  f"{seconds:.1f} | {cpu:.1f} | {os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
