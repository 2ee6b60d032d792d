"""5G sites per km² in dense Chinese cores (issue 17 item 4): full coverage, with capacity, and why.

Run from the project root with the shared data beside it::

    python benchmarks/bench_dense_cores.py [--data ../shared/data] [--target 0.99]

For each core box: sites per km² of the box and of its urban + dense-urban cells at
``--target`` coverage (the default n78 link budget), without and with a census-order
population (the district's 2020 census density × the box's area: where buildings are
unmapped, the residents' density then sets at least the environment class,
``demand.urban_residents_per_km2``), and with ``--capacity`` and that population at
``--capacity-target`` of the busy-hour traffic. Figures go into ``benchmarks/RESULTS.md``
by hand.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import box

from siting.config import Params
from siting.io.osm import load_area
from siting.pipeline import plan_area

#: (name, path, lon/lat box, residents of the box: census density of the district × box area)
CORES = (
    # Nanshan 1,795,826 residents on 187.5 km² (2020 census) -> 9,580 per km²
    ("Shenzhen Nanshan core", "osm/shenzhen_nanshan_kejiyuan_osm/osm_bbox.osm.xml", (113.92, 22.536, 114.0, 22.564),
     9580.0),
    ("Shenzhen Nanshan, whole extract", "osm/shenzhen_nanshan_kejiyuan_osm/osm_bbox.osm.xml", None, 9580.0),
    # Qinhuai 740,809 residents on 49.1 km² (2020 census) -> 15,090 per km²
    ("Nanjing Xinjiekou", "osm/nanjing_xinjiekou_osm/osm_bbox.osm.xml", None, 15090.0),
)


def density(result, area) -> tuple[float, float]:
    """Sites per km² of the area and of its urban + dense-urban cells."""
    grid = result.layers["environment"]
    dense = grid[grid["env_class"].isin(["urban", "dense_urban"])]
    sites = result.layers["sites"][result.layers["sites"]["status"] == "proposed"]
    xy = np.column_stack([sites.geometry.x, sites.geometry.y])
    inside = shapely.contains_xy(shapely.union_all(dense.geometry.to_numpy()), xy[:, 0], xy[:, 1]) if len(dense) else []
    km2 = dense.geometry.area.sum() / 1e6
    return len(sites) / area.area_km2, (float(np.sum(inside)) / km2 if km2 > 0 else float("nan"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--target", type=float, default=0.99)
    ap.add_argument("--capacity-target", type=float, default=0.85,
                    help="traffic share of the capacity run (0.99 is unreachable with the default candidates)")
    a = ap.parse_args()
    print("| area | km² | run | urban+dense cells | sites | sites/km² | in urban+dense cells, per km² | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for name, rel, bbox, per_km2 in CORES:
        area = load_area(str(a.data / rel), boundary=box(*bbox) if bbox else None, processed_dir=None, cache_dir=None)
        base = Params()
        counted = base.model_copy(update={
            "demand": base.demand.model_copy(update={"population": per_km2 * area.area_km2})})
        capacity = counted.model_copy(update={"capacity": base.capacity.model_copy(update={"enabled": True})})
        runs = ((f"coverage {a.target:g}", base, a.target),
                (f"coverage {a.target:g}, census population", counted, a.target),
                (f"capacity {a.capacity_target:g}, census population", capacity, a.capacity_target))
        for label, params, target in runs:
            t0 = time.perf_counter()
            try:
                result = plan_area(area, "5g", params, target=target)
            except Exception as exc:  # a refused run is a result too (e.g. capacity unreachable)
                print(f"| {name} | {area.area_km2:.1f} | {label} | | refused: {exc} | | | |", flush=True)
                continue
            grid = result.layers["environment"]
            n_dense = int(grid["env_class"].isin(["urban", "dense_urban"]).sum())
            box_d, dense_d = density(result, area)
            print(f"| {name} | {area.area_km2:.1f} | {label} | {n_dense} | {result.summary['sites_proposed']} "
                  f"| {box_d:.2f} | {dense_d:.2f} | {time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
