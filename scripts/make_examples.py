"""Write the small example inputs under data/raw/examples/ that the README's commands use.

    .venv/bin/python scripts/make_examples.py

The existing sites are a synthetic pattern on real roads (no operator's site list is public):
every fourth junction of trunk, primary and secondary roads, in a fixed order. The Nanjing file
is in GCJ-02, as lists taken from Amap or Tencent are; the Helsinki file is in WGS-84. The
districts file splits the Nanjing Xinjiekou extract into a western and an eastern half along
its median longitude: example districts, not administrative boundaries. Reruns write the same
bytes.
"""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import box

from siting.io.osm import load_area
from siting.datums import wgs84_to_gcj02
from siting.learn import intersections

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "raw" / "examples"
NANJING = ROOT.parent / "shared" / "data" / "osm" / "nanjing_xinjiekou_osm" / "osm_bbox.osm.xml"


def junction_sites(area, prefix: str, every: int = 4) -> pd.DataFrame:
    """Every ``every``-th major-road junction of ``area`` as lon/lat rows, sorted for stable output."""
    xy = intersections(area, ("trunk", "primary", "secondary"))
    pts = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=area.crs).to_crs(4326)
    lonlat = np.round(np.column_stack([pts.x, pts.y]), 6)
    lonlat = lonlat[np.lexsort((lonlat[:, 0], lonlat[:, 1]))][::every]
    return pd.DataFrame({"site_id": [f"{prefix}{i + 1:03d}" for i in range(len(lonlat))],
                         "operator": "example", "lon": lonlat[:, 0], "lat": lonlat[:, 1]})


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    helsinki = junction_sites(load_area("demo", processed_dir=None), "HEL", every=3)
    helsinki.to_csv(OUT / "helsinki_existing_sites.csv", index=False, lineterminator="\n")
    nanjing_area = load_area(NANJING, processed_dir=None)
    nanjing = junction_sites(nanjing_area, "NJ")
    nanjing["lon"], nanjing["lat"] = (np.round(v, 6) for v in wgs84_to_gcj02(nanjing["lon"], nanjing["lat"]))
    nanjing.to_csv(OUT / "nanjing_existing_sites_gcj02.csv", index=False, lineterminator="\n")
    west, south, east, north = nanjing_area.boundary_wgs84.bounds
    middle = round(float(np.median(nanjing_area.road_nodes.to_crs(4326).geometry.x)), 4)
    districts = gpd.GeoDataFrame({"district": ["Xinjiekou West (example)", "Xinjiekou East (example)"]},
                                 geometry=[box(west, south, middle, north), box(middle, south, east, north)],
                                 crs=4326)
    (OUT / "nanjing_districts.geojson").write_text(districts.to_json(drop_id=True) + "\n", encoding="utf-8")
    print(f"written: {len(helsinki)} Helsinki sites, {len(nanjing)} Nanjing sites, 2 districts in {OUT}")


if __name__ == "__main__":
    main()
