"""Road-network service matrix: siting.access against a per-candidate networkx loop.

    .venv/bin/python benchmarks/bench_access.py [--quick]

Full case (issue 5): 10,000 candidates × 100,000 demand points on a grid-like road graph of
about 50,000 undirected edges (160 × 160 nodes 100 m apart, 1.5 % of the streets missing, all
streets two-way), radius by environment class (0.9 / 2 / 5 km, 20 / 70 / 10 % of the points).
``--quick`` is a quarter of the graph and a tenth of the points.

The peer is what a user of osmnx writes without siting: one
``networkx.single_source_dijkstra_path_length(G, node, cutoff=r)`` per candidate on the same
graph, then a join to the demand points. It is timed on the first ``PEER_SOURCES``
candidates and extrapolated linearly to all of them.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from siting.access import network_access, radius_by_env, road_network  # noqa: E402
from siting.config import ChargingParams  # noqa: E402
from synthetic import grid_area  # noqa: E402

PEER_SOURCES = 100


def case(side: int, n_candidates: int, n_demand: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    area = grid_area(side, side, 100.0, drop=lambda x1, y1, x2, y2: rng.random(len(x1)) < 0.015)
    extent = (side - 1) * 100.0
    demand = rng.uniform(0, extent, size=(n_demand, 2))
    candidates = rng.uniform(0, extent, size=(n_candidates, 2))
    env = rng.choice(["dense_urban", "urban", "suburban"], size=n_demand, p=[0.2, 0.7, 0.1])
    return area, demand, candidates, radius_by_env(env, ChargingParams().charging.radius_m)


def peer_seconds(area, demand, candidates, radius, net) -> float:
    """networkx Dijkstra per candidate (cutoff = the largest radius) and a join to demand."""
    g = nx.DiGraph()
    coo = net.graph.tocoo()
    g.add_weighted_edges_from(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist()))
    _, d_node = net.tree.query(demand)
    _, c_node = net.tree.query(candidates[:PEER_SOURCES])
    by_node: dict[int, list[int]] = {}
    for i, node in enumerate(d_node.tolist()):
        by_node.setdefault(node, []).append(i)
    start = time.perf_counter()
    pairs = 0
    for node in c_node.tolist():
        lengths = nx.single_source_dijkstra_path_length(g, node, cutoff=float(radius.max()))
        for reached, dist in lengths.items():
            for i in by_node.get(reached, ()):
                pairs += dist <= radius[i]
    return (time.perf_counter() - start) * len(candidates) / PEER_SOURCES


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the worker processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the graph, a tenth of the points")
    parser.add_argument("--workers", type=int, default=1, help="processes for siting's Dijkstra blocks")
    args = parser.parse_args()
    side, n_c, n_d = (80, 1_000, 10_000) if args.quick else (160, 10_000, 100_000)
    area, demand, candidates, radius = case(side, n_c, n_d)
    t0 = time.perf_counter()
    net = road_network(area, ChargingParams())
    t1, c1 = time.perf_counter(), _cpu()
    acc = network_access(None, demand, candidates, radius, ChargingParams(), network=net, workers=args.workers)
    t2, c2 = time.perf_counter(), _cpu()
    peer = peer_seconds(area, demand, candidates, radius, net)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    edges = len(area.road_edges)
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"{'quick' if args.quick else 'full'} case, {args.workers} worker(s), load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print()
    print("| graph nodes | graph edges (two-way) | candidates | demand points | radius (m) | pairs within reach "
          "| graph build (s) | siting matrix, wall (s) | siting matrix, CPU (s) "
          "| networkx loop, wall (s, extrapolated) "
          "| speed-up (wall) | peak RSS (GB) |")
    print("|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {net.n_nodes:,} | {edges:,} | {n_c:,} | {n_d:,} | 900 / 2,000 / 5,000 | {acc.matrix.nnz:,} "
          f"| {t1 - t0:.2f} | {t2 - t1:.1f} | {c2 - c1:.1f} | {peer:.0f} | {peer / (t2 - t1):.1f}x | {peak_gb:.1f} |")


if __name__ == "__main__":
    main()
