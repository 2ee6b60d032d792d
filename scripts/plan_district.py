"""Plan one district with siting's library API, stage by stage; copy it and change what you need.

    .venv/bin/python scripts/plan_district.py AREA KIND COUNT [--existing FILE] [--existing-crs gcj02]
        [--out DIR]

AREA is 'demo', an OSM file or a place name; KIND 5g, charging, basic, depot, swap or hydrogen;
COUNT the sites in total, existing included. Writes the plan's GeoJSON, CSV, GeoPackage and
summary.json to DIR (default out/<area>-<kind>-api/) and prints the headline figures.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import siting


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("area")
    ap.add_argument("kind")
    ap.add_argument("count", type=int)
    ap.add_argument("--existing", type=Path)
    ap.add_argument("--existing-crs", default="wgs84")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    try:
        area = siting.load_area(args.area)
        params = siting.load_params(None, {"seed": 0})
        existing = siting.read_sites(args.existing, crs=args.existing_crs, area=area) if args.existing else None
        demand = siting.build_demand(area, params.demand)
        result = siting.plan_area(area, args.kind, params, existing=existing, demand=demand, count=args.count)
        out = args.out or Path("out") / f"{area.slug}-{args.kind}-api"
        siting.write_plan(result, out)
    except siting.SitingError as exc:
        print(f"siting: error: {exc}", file=sys.stderr)
        return 2
    s = result.summary
    print(f"{area.name} {args.kind}: {s['sites_existing']} existing + {s['sites_proposed']} proposed sites, "
          f"demand covered {s['coverage_ratio']:.1%}; written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
