"""Benchmark: one district by stage (time, memory), then a generated city on Dask with 1 and 2 workers.

The city is :func:`bench_demand.generated_city` (UTM 50N, 20 × 20 km, random buildings,
200 m street grid) cut into 10 districts (5 × 2 strips of 4 × 10 km). Part 1 plans one
district stage by stage (clip with the batch buffer, demand, candidates, TR 38.901 links,
MCLP, the whole ``plan_area``, ``write_plan``) and records each stage's wall time and
peak Python/NumPy allocation (tracemalloc). Part 2 runs :func:`siting.batch.run_batch`
over all districts on a ``LocalCluster`` with 1 and with 2 worker processes.

    .venv/bin/python benchmarks/bench_batch.py [--quick] [--buildings N] [--quota Q]
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import geopandas as gpd
import shapely

from bench_demand import X0, Y0, generated_city
from siting.batch import clip_area, run_batch
from siting.districts import Stages
from siting.candidates import candidates_5g
from siting.config import Params
from siting.demand import build_demand
from siting.districts import Prepared, candidates_in_zones, new_candidates, proposal_zones
from siting.io.export import write_plan
from siting.solve import solve_mclp
from siting.pipeline import plan_area, radio_links
from siting.plans import demand_by_district, district_quotas
from siting.registry import Plan


def districts_of(size_m: float, nx: int = 5, ny: int = 2) -> gpd.GeoDataFrame:
    """``nx`` × ``ny`` rectangular districts covering the generated city (EPSG:4326)."""
    w, h = size_m / nx, size_m / ny
    boxes = [shapely.box(X0 + i * w, Y0 + j * h, X0 + (i + 1) * w, Y0 + (j + 1) * h) for j in range(ny) for i in range(nx)]
    names = [f"D{j * nx + i + 1:02d}" for j in range(ny) for i in range(nx)]
    return gpd.GeoDataFrame({"district": names}, geometry=boxes, crs="EPSG:32650").to_crs("EPSG:4326")


def staged(label: str, rows: list, fn, *args, **kwargs):
    """Run ``fn`` and append (stage, seconds, peak MiB) to ``rows``."""
    tracemalloc.start()
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    seconds = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    rows.append((label, seconds, peak))
    return out


def one_district(area, district_metric, params: Params, quota: int, out: Path) -> list:
    rows: list = []
    clipped = staged("clip (buffer %.0f m)" % params.batch.buffer_m, rows, clip_area, area, district_metric,
                     params.batch.buffer_m, "D01", "d01")
    demand = staged("demand", rows, build_demand, clipped, params.demand)
    cands = staged("candidates", rows, candidates_5g, clipped, demand, params)
    links = staged("radio links", rows, radio_links, clipped, demand.points, cands, params)
    matrix = links.matrix(links.required_margin, (len(demand.points), len(cands)))
    staged("MCLP", rows, solve_mclp, matrix, demand.points["weight"].to_numpy(float), quota, seed=0)
    result = staged("plan_area (all of the above + layers)", rows, plan_area, clipped, "5g", params, count=quota)
    staged("write_plan", rows, write_plan, result, out)
    rows.append(("(sizes)", f"{len(clipped.buildings):,} buildings, {len(demand.points):,} demand points, "
                            f"{len(cands):,} candidates, {matrix.nnz:,} pairs", None))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="20,000 buildings instead of 200,000")
    ap.add_argument("--buildings", type=int, default=None)
    ap.add_argument("--quota", type=int, default=20, help="new sites per district (city target = 10 × quota)")
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    n = args.buildings or (20_000 if args.quick else 200_000)
    params = Params()
    t = time.perf_counter()
    area = generated_city(n, size_m=20_000.0, seed=0)
    print(f"generated city: {n:,} buildings in {time.perf_counter() - t:.1f} s")
    districts = districts_of(20_000.0)
    metric = districts.to_crs(area.crs)

    with tempfile.TemporaryDirectory() as tmp:
        rows = one_district(area, metric.geometry.iloc[0], params, args.quota, Path(tmp) / "one")
    print(f"\n### One district (D01, 4 × 10 km, quota {args.quota})\n")
    print("| stage | wall (s) | peak alloc (MiB) |\n|---|---:|---:|")
    for label, seconds, peak in rows:
        if peak is None:
            print(f"| {label} | {seconds} | |")
        else:
            print(f"| {label} | {seconds:.2f} | {peak:.0f} |")
    print(f"\nmax RSS of this process so far: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")

    t = time.perf_counter()
    demand = build_demand(area, params.demand).points
    per = demand_by_district(districts, demand, area.road_edges)
    target = 10 * args.quota
    quotas = district_quotas(districts, per, target, None)
    print(f"\ncity demand + quotas: {time.perf_counter() - t:.1f} s; quotas {quotas['quota'].tolist()}")
    t = time.perf_counter()
    zones = proposal_zones(quotas.to_crs(area.crs), params.batch.border_spacing_m, quotas["demand_share"].to_numpy())
    room = candidates_in_zones(new_candidates(area, build_demand(area, params.demand), "5g", params, None), zones,
                               quotas["district"])
    print(f"candidate check before any district runs (demand again + candidates of the whole city): "
          f"{time.perf_counter() - t:.1f} s; new candidates per district {room.tolist()}")
    plan = Plan(id="generated", name="generated city", area="generated", year=2025, source="benchmark",
                targets=[{"kind": "5g", "count": target, "unit": "base_stations"}])
    prepared = Prepared(plan, target, area, districts, quotas, None)
    default = Stages.default()
    stages = Stages(lambda _: area, default.build_demand, default.run_plan, default.write_plan, default.district_map)
    print(f"\n### Batch: {n:,} buildings, 10 districts, {target} sites\n")
    print("| workers | wall (s) | sum of district runtimes (s) | slowest district (s) | ok |\n|---:|---:|---:|---:|---:|")
    for w in [int(x) for x in args.workers.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            report = run_batch(prepared, params, Path(tmp) / "out", scheduler="local", workers=w, stages=stages,
                               progress=False)
            wall = time.perf_counter() - t
        runtimes = [r["runtime_s"] or 0 for r in report.manifest["districts"].values()]
        print(f"| {w} | {wall:.1f} | {sum(runtimes):.1f} | {max(runtimes):.1f} | "
              f"{10 - len(report.failed)}/10 |")
        if report.failed:
            print("failed:", report.message())
    print(f"\nmachine: {platform.platform()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
