"""Charging sessions on roads-only OSM (issue 17 item 5): do they follow activity or road length?

Run from the project root with the shared data beside it::

    python benchmarks/bench_charging_roads.py [--data ../shared/data]

For each extract, with the built-up model off (road demand only) and on: the share of the
day's public charging sessions that comes from road length (through traffic) and from
people and POIs, and the share held by the 10 % of demand points with most sessions (a
concentration measure: 10 % means spread evenly). Figures go into ``benchmarks/RESULTS.md``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from shapely.geometry import box

from siting.charging import charging_demand, kind_config
from siting.config import Params
from siting.demand import build_demand
from siting.io.osm import load_area

AREAS = (
    ("Shenzhen Nanshan core", "osm/shenzhen_nanshan_kejiyuan_osm/osm_bbox.osm.xml", (113.92, 22.536, 114.0, 22.564)),
    ("Shanghai Fengxian coast", "osm/shanghai_fengxian_roads_osm/map.osm", None),
    ("Taipei major roads core", "osm/taipei_major_roads_osm/osm_bbox.osm.xml.gz", (121.50, 25.02, 121.56, 25.06)),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    a = ap.parse_args()
    base = Params()
    cfg = kind_config(base.charging, "charging")
    print("| area | model | sessions/day | from road length | from people and POIs | top 10 % of points hold |")
    print("|---|---|---|---|---|---|")
    for name, rel, bbox in AREAS:
        area = load_area(str(a.data / rel), boundary=box(*bbox) if bbox else None, processed_dir=None, cache_dir=None)
        for on in (False, True):
            demand = base.demand.model_copy(update={"builtup_model": on})
            points = build_demand(area, demand).points
            s = charging_demand(points, area.pois, cfg, base.charging)
            total = float(s["sessions"].sum())
            road_km = float(np.nan_to_num(points["road_m"].to_numpy(dtype=float)).sum()) / 1000.0
            road = min(road_km * cfg.sessions_per_road_km_day, total)
            top = np.sort(s["sessions"].to_numpy())[::-1][: max(len(s) // 10, 1)].sum() / total
            print(f"| {name} | {'on' if on else 'off'} | {total:,.0f} | {road / total:.0%} | {1 - road / total:.0%} "
                  f"| {top:.0%} |", flush=True)


if __name__ == "__main__":
    main()
