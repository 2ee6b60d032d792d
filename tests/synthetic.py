"""Synthetic areas for tests and benchmarks (not part of the package)."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.area import Area


def grid_area(nx: int, ny: int, step_m: float = 100.0, drop=None, crs: str = "EPSG:32650",
              pois: gpd.GeoDataFrame | None = None, landuse: gpd.GeoDataFrame | None = None,
              highway: str = "residential") -> Area:
    """A synthetic :class:`Area` whose roads are an ``nx`` × ``ny`` grid of two-way
    streets ``step_m`` apart (origin at 0, 0), for tests, benchmarks and examples.

    ``drop(x1, y1, x2, y2) -> bool array`` removes edges (a river without a bridge).
    """
    from shapely.geometry import box

    ids = np.arange(nx * ny)
    x, y = (ids % nx) * step_m, (ids // nx) * step_m
    nodes = gpd.GeoDataFrame({"x": x, "y": y}, geometry=gpd.points_from_xy(x, y), crs=crs,
                             index=pd.Index(ids, name="osmid"))
    u = np.r_[ids[ids % nx < nx - 1], ids[ids < nx * (ny - 1)]]
    v = np.r_[ids[ids % nx < nx - 1] + 1, ids[ids < nx * (ny - 1)] + nx]
    if drop is not None:
        keep = ~np.asarray(drop(x[u], y[u], x[v], y[v]), dtype=bool)
        u, v = u[keep], v[keep]
    edges = gpd.GeoDataFrame({
        "u": u, "v": v, "key": 0, "highway": highway, "length_m": np.hypot(x[u] - x[v], y[u] - y[v]),
        "oneway": False, "maxspeed_kmh": np.nan, "name": None},
        geometry=shapely.linestrings(np.stack([np.c_[x[u], y[u]], np.c_[x[v], y[v]]], axis=1)), crs=crs)
    boundary = box(0, 0, (nx - 1) * step_m, (ny - 1) * step_m)
    empty = gpd.GeoDataFrame({"geometry": []}, geometry="geometry", crs=crs)
    return Area(name=f"grid {nx}x{ny}", slug=f"grid-{nx}x{ny}", crs=crs, boundary=boundary,
                boundary_wgs84=gpd.GeoSeries([boundary], crs=crs).to_crs(4326).iloc[0], boundary_origin="bbox",
                buildings=empty, road_nodes=nodes,
                road_edges=edges, pois=pois if pois is not None else empty,
                landuse=landuse if landuse is not None else empty, source="synthetic", source_hash="0")
