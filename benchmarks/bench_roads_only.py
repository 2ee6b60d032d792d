"""Roads-only Chinese OSM (issue 17): environment classes, validation by removal, 5G sites per km².

Run from the project root with the shared data beside it::

    python benchmarks/bench_roads_only.py [--data ../shared/data] [--target 0.95]

For each shared extract: the environment classes and residents with the buildings and
with the buildings stripped (class agreement, residents ratio), then a 5G plan at
``--target`` coverage without and with the built-up model (``demand.builtup_model``),
reporting sites per km². Figures go into ``benchmarks/RESULTS.md`` by hand.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from shapely.geometry import box

from siting.config import Params
from siting.demand import build_demand
from siting.io.osm import load_area
from siting.pipeline import plan_area

AREAS = (
    ("Nanjing Xinjiekou", "osm/nanjing_xinjiekou_osm/osm_bbox.osm.xml", None),
    ("Helsinki demo", "demo", None),
    ("Shenzhen Nanshan core", "osm/shenzhen_nanshan_kejiyuan_osm/osm_bbox.osm.xml", (113.92, 22.536, 114.0, 22.564)),
    ("Shanghai Baoshan", "osm/shanghai_shu_baoshan_osm/map_1.osm", None),
    ("Shanghai Fengxian coast", "osm/shanghai_fengxian_roads_osm/map.osm", None),
    ("Fujian Ninghua", "osm/fujian_ninghua_osm/map.osm", None),
)


def with_model(params: Params, on: bool) -> Params:
    return params.model_copy(update={"demand": params.demand.model_copy(update={"builtup_model": on})})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--target", type=float, default=0.95)
    a = ap.parse_args()
    params = Params()
    print("| area | km² | classes with buildings (r/s/u/d) | stripped | class agreement | residents stripped/full "
          "| 5G sites/km² model off | model on | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, rel, bbox in AREAS:
        t0 = time.perf_counter()
        area = load_area("demo" if rel == "demo" else str(a.data / rel), boundary=box(*bbox) if bbox else None, processed_dir=None, cache_dir=None)
        full = build_demand(area, params.demand)
        stripped = build_demand(replace(area, buildings=area.buildings.iloc[:0]), params.demand)
        agree = float((full.grid["env_class"].to_numpy() == stripped.grid["env_class"].to_numpy()).mean())
        ratio = stripped.info["residents_total"] / max(full.info["residents_total"], 1.0)
        density = []
        for on in (False, True):
            result = plan_area(area, "5g", with_model(params, on), target=a.target)
            density.append(result.summary["sites_per_km2"])
        def classes(d):
            return "/".join(str(d.info["env_classes"][c]) for c in ("rural", "suburban", "urban", "dense_urban"))

        print(f"| {name} | {area.area_km2:.1f} | {classes(full)} | {classes(stripped)} | {agree:.1%} | {ratio:.2f} "
              f"| {density[0]:.2f} | {density[1]:.2f} | {time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
