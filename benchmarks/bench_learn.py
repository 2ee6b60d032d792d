"""Benchmark: suitability features and model for 100,000 demand cells and 1,000 existing
sites (issue 11: under 30 s on 2 cores), with a KD-tree neighbourhood sum as reference.

A synthetic 31.6 km × 31.6 km city in EPSG:32650: a 200 m street grid with primary
roads every 1 km and trunk roads every 5 km, 60,000 buildings, 6,000 POIs, 400 landuse
blocks, one demand point per 100 m cell (residents and workers from a smooth random
field); existing sites at 700 random primary/trunk intersections plus 300 anywhere.

    .venv/bin/python benchmarks/bench_learn.py [--quick]

``--quick`` runs a 10 km square (10,000 cells, 100 sites).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from siting import learn  # noqa: E402
from siting.area import Area  # noqa: E402
from siting.vocab import POI_CATEGORIES  # noqa: E402
from siting.config import Params  # noqa: E402

CRS = "EPSG:32650"
X0, Y0 = 600_000.0, 3_500_000.0


def synthetic_city(side_m: float, n_sites: int, seed: int = 0):
    """(area, demand points, existing sites in WGS-84) of a synthetic grid city."""
    rng = np.random.default_rng(seed)
    step = 200.0
    ticks = np.arange(0.0, side_m + 1, step)
    n = len(ticks)
    gx, gy = np.meshgrid(ticks, ticks)
    node_id = np.arange(n * n).reshape(n, n)
    nodes = gpd.GeoDataFrame({"x": X0 + gx.ravel(), "y": Y0 + gy.ravel()},
                             geometry=gpd.points_from_xy(X0 + gx.ravel(), Y0 + gy.ravel()), crs=CRS,
                             index=pd.Index(node_id.ravel(), name="osmid"))

    def cls(t):
        return np.where(t % 5000 == 0, "trunk", np.where(t % 1000 == 0, "primary", "residential"))

    u = np.r_[node_id[:, :-1].ravel(), node_id[:-1, :].ravel()]   # east-west, then north-south edges
    v = np.r_[node_id[:, 1:].ravel(), node_id[1:, :].ravel()]
    hw = np.r_[cls(gy[:, :-1].ravel()), cls(gx[:-1, :].ravel())]
    xy = nodes[["x", "y"]].to_numpy()
    edges = gpd.GeoDataFrame({"u": u, "v": v, "key": 0, "highway": hw, "length_m": step, "oneway": False,
                              "maxspeed_kmh": np.nan, "name": None},
                             geometry=shapely.linestrings(np.stack([xy[u], xy[v]], axis=1)), crs=CRS)
    field = lambda p: 1 + np.sin(p[:, 0] / 3000.0) * np.cos(p[:, 1] / 4000.0)  # noqa: E731
    bxy = rng.uniform(0, side_m, size=(int(60_000 * (side_m / 31_600) ** 2), 2))
    size = rng.uniform(10, 40, len(bxy))
    buildings = gpd.GeoDataFrame({"osm_id": [f"way/{i}" for i in range(len(bxy))], "building": "yes",
                                  "levels": np.where(rng.random(len(bxy)) < 0.3, rng.integers(1, 30, len(bxy)), np.nan),
                                  "height_m": np.nan, "name": None},
                                 geometry=shapely.box(X0 + bxy[:, 0], Y0 + bxy[:, 1], X0 + bxy[:, 0] + size,
                                                      Y0 + bxy[:, 1] + size), crs=CRS)
    pxy = rng.uniform(0, side_m, size=(int(6_000 * (side_m / 31_600) ** 2), 2))
    pois = gpd.GeoDataFrame({"osm_id": [f"node/{i}" for i in range(len(pxy))],
                             "category": rng.choice(POI_CATEGORIES, len(pxy)), "name": None, "parking": None,
                             "capacity": np.nan, "height_m": np.nan, "operator": None, "sockets": np.nan,
                             "output_kw": np.nan}, geometry=gpd.points_from_xy(X0 + pxy[:, 0], Y0 + pxy[:, 1]), crs=CRS)
    lxy = rng.uniform(0, side_m - 500, size=(int(400 * (side_m / 31_600) ** 2), 2))
    landuse = gpd.GeoDataFrame({"osm_id": [f"way/l{i}" for i in range(len(lxy))],
                                "landuse": rng.choice(["residential", "commercial", "industrial", "grass"], len(lxy))},
                               geometry=shapely.box(X0 + lxy[:, 0], Y0 + lxy[:, 1], X0 + lxy[:, 0] + 500,
                                                    Y0 + lxy[:, 1] + 500), crs=CRS)
    boundary = shapely.box(X0, Y0, X0 + side_m, Y0 + side_m)
    area = Area(name="synthetic", slug="synthetic", crs=CRS, boundary=boundary,
                boundary_wgs84=gpd.GeoSeries([boundary], crs=CRS).to_crs(4326).iloc[0], boundary_origin="bbox",
                buildings=buildings, road_nodes=nodes, road_edges=edges, pois=pois, landuse=landuse,
                source="synthetic", source_hash="0")
    c = np.arange(50.0, side_m, 100.0)
    cx, cy = (a.ravel() for a in np.meshgrid(c, c))
    dens = field(np.column_stack([cx, cy]))
    points = gpd.GeoDataFrame({"demand_id": np.arange(len(cx)), "kind": "cell", "residents": 50 * dens,
                               "workers": 20 * (2 - dens), "road_m": 0.0, "building_cover": 0.1,
                               "env_class": np.where(dens > 1.5, "dense_urban", np.where(dens > 0.7, "urban", "suburban")),
                               "priority": 1.0, "weight": 50 * dens, "source": "buildings"},
                              geometry=gpd.points_from_xy(X0 + cx, Y0 + cy), crs=CRS)
    major = learn.intersections(area, ("trunk", "primary"))
    n_pattern = int(0.7 * n_sites)
    pick = major[rng.choice(len(major), size=min(n_pattern, len(major)), replace=False)]
    anywhere = np.array([X0, Y0]) + rng.uniform(0, side_m, size=(n_sites - len(pick), 2))
    sxy = np.vstack([pick, anywhere])
    sites = gpd.GeoDataFrame(geometry=gpd.points_from_xy(sxy[:, 0], sxy[:, 1]), crs=CRS).to_crs(4326)
    return area, points, sites


def kdtree_sum(points_xy: np.ndarray, values: np.ndarray, query_xy: np.ndarray, radius: float) -> np.ndarray:
    """Reference neighbourhood sum: exact pairs from a KD-tree sparse distance matrix."""
    m = cKDTree(query_xy).sparse_distance_matrix(cKDTree(points_xy), radius, output_type="coo_matrix")
    return np.bincount(m.row, weights=values[m.col], minlength=len(query_xy))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10 km square, 100 sites")
    args = ap.parse_args()
    side, n_sites = (10_000.0, 100) if args.quick else (31_600.0, 1000)
    t0 = time.perf_counter()
    area, points, sites = synthetic_city(side, n_sites)
    t_build = time.perf_counter() - t0
    params = Params()
    demand = SimpleNamespace(points=points, grid=None)
    cpu0, t0 = time.process_time(), time.perf_counter()
    xy = np.column_stack([points.geometry.x, points.geometry.y])
    feats = learn.location_features(area, points, xy, "5g", params)
    t_feat = time.perf_counter() - t0
    cpu_feat, cpu1, t1 = time.process_time() - cpu0, time.process_time(), time.perf_counter()
    learned = learn.learn_from_existing(area, demand, sites, "5g", params)
    t_learn, cpu_learn = time.perf_counter() - t1, time.process_time() - cpu1
    t2 = time.perf_counter()
    ref = kdtree_sum(xy, points["residents"].to_numpy(), xy, 500.0)
    t_kd = time.perf_counter() - t2
    fft = feats["residents_500"].to_numpy() * np.pi * 0.25
    err = np.abs(fft - ref) / np.maximum(ref, 1e-9)
    s = learned.summary()
    print(f"# bench_learn ({'quick' if args.quick else 'full'}): {len(points):,} demand cells, {len(sites):,} "
          f"existing sites, {len(area.buildings):,} buildings, {len(area.road_edges):,} road edges, "
          f"{len(area.pois):,} POIs; {feats.shape[1]} features")
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
          f"(other jobs were running); synthetic city built in {t_build:.1f} s")
    print()
    print("| step | wall s | CPU s | notes |")
    print("|---|---|---|---|")
    print(f"| features of the {len(points):,} cells alone (FFT disc sums, {len(params.learn.radii_m)} radii) | "
          f"{t_feat:.1f} | {cpu_feat:.1f} | repeated inside the next row |")
    print(f"| learn_from_existing: features of sites + background + cells, 2 models x "
          f"{len(s['cv_auc_folds'].get('logistic', []))}-fold spatial CV + refit, multiplier | {t_learn:.1f} | "
          f"{cpu_learn:.1f} | "
          f"model {s['model']}, CV AUC " + ", ".join(f"{k} {v:.3f}" for k, v in s["cv_auc"].items()) + " |")
    print(f"| **features and model (target < 30 s)** | **{t_learn:.1f}** | **{cpu_learn:.1f}** | the row above |")
    print(f"| reference: one KD-tree neighbourhood sum (residents, 500 m, sparse_distance_matrix) | {t_kd:.1f} | | "
          f"FFT vs exact: median relative error {np.median(err):.2%}, 99th percentile {np.quantile(err, 0.99):.2%} |")


if __name__ == "__main__":
    main()
