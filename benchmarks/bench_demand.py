"""Benchmark: buildings → 100 m demand grid (issue 3: 100,000 buildings in < 10 s on 2 cores).

A generated city (UTM 50N, 20 × 20 km): random rectangular and rotated buildings of
mixed types (a third with ``building:levels``), a street grid every 200 m in both
directions (each street stored as two directed edges, like osmnx), residential and
commercial landuse blocks and priority POIs. Times :func:`siting.demand.build_demand`
end to end, and, as a reference for the building → cell allocation step alone, the
same allocation with ``geopandas.overlay`` (the usual way in GIS scripts).

    .venv/bin/python benchmarks/bench_demand.py [--quick] [--buildings N] [--repeat R]
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from siting.area import Area
from siting.config import DemandParams
from siting.demand import build_demand
from siting.grid import GridSpec, polygon_cell_areas

CRS = "EPSG:32650"
X0, Y0 = 600_000.0, 3_400_000.0


def generated_city(n_buildings: int, size_m: float = 20_000.0, seed: int = 0) -> Area:
    """A synthetic city with ``n_buildings`` buildings (see the module docstring)."""
    rng = np.random.default_rng(seed)
    cx, cy = X0 + rng.uniform(0, size_m, n_buildings), Y0 + rng.uniform(0, size_m, n_buildings)
    w, h = rng.uniform(8, 60, n_buildings), rng.uniform(8, 40, n_buildings)
    rects = shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    rotated = rng.random(n_buildings) < 0.3
    rects[rotated] = [shapely.affinity.rotate(g, a) for g, a in zip(rects[rotated], rng.uniform(0, 90, rotated.sum()))]
    types = rng.choice(["yes", "residential", "apartments", "house", "commercial", "office", "industrial", "school"],
                       size=n_buildings, p=[0.45, 0.15, 0.15, 0.08, 0.06, 0.04, 0.05, 0.02])
    levels = np.where(rng.random(n_buildings) < 0.33, rng.integers(1, 33, n_buildings), np.nan)
    buildings = gpd.GeoDataFrame({
        "osm_id": [f"way/{i}" for i in range(n_buildings)], "building": types, "levels": levels,
        "height_m": np.nan, "name": None}, geometry=rects, crs=CRS)

    ticks = np.arange(0, size_m + 1, 200.0)
    a, b = np.meshgrid(ticks[:-1], ticks)  # segment start along the street, street offset
    horizontal = shapely.linestrings(np.stack([np.stack([X0 + a, Y0 + b], -1), np.stack([X0 + a + 200, Y0 + b], -1)], -2).reshape(-1, 2, 2))
    vertical = shapely.linestrings(np.stack([np.stack([X0 + b, Y0 + a], -1), np.stack([X0 + b, Y0 + a + 200], -1)], -2).reshape(-1, 2, 2))
    lines = np.concatenate([horizontal, vertical])
    lines = np.concatenate([lines, shapely.reverse(lines)])  # both directions, as osmnx stores them
    highway = rng.choice(["primary", "secondary", "tertiary", "residential", "trunk"], size=len(lines) // 2,
                         p=[0.1, 0.15, 0.2, 0.5, 0.05])
    edges = gpd.GeoDataFrame({"u": np.arange(len(lines)), "v": np.arange(len(lines)) + 1, "key": 0,
                              "highway": np.concatenate([highway, highway]), "length_m": shapely.length(lines),
                              "oneway": False, "maxspeed_kmh": np.nan, "name": None}, geometry=lines, crs=CRS)

    bx, by = rng.integers(0, int(size_m // 400), (2, 400)) * 400.0
    landuse = gpd.GeoDataFrame({"osm_id": [f"way/l{i}" for i in range(400)],
                                "landuse": rng.choice(["residential", "commercial", "industrial"], 400, p=[0.7, 0.2, 0.1])},
                               geometry=shapely.box(X0 + bx, Y0 + by, X0 + bx + 400, Y0 + by + 400), crs=CRS)
    pois = gpd.GeoDataFrame({"osm_id": [f"node/{i}" for i in range(300)],
                             "category": rng.choice(["transport_hub", "scenic", "public_place", "shop", "parking"], 300)},
                            geometry=shapely.points(X0 + rng.uniform(0, size_m, 300), Y0 + rng.uniform(0, size_m, 300)), crs=CRS)
    boundary = shapely.box(X0, Y0, X0 + size_m, Y0 + size_m)
    nodes = gpd.GeoDataFrame({"x": [], "y": []}, geometry=[], crs=CRS)
    return Area(name="generated city", slug="generated", crs=CRS, boundary=boundary,
                boundary_wgs84=gpd.GeoSeries([boundary], crs=CRS).to_crs(4326).iloc[0], boundary_origin="bbox",
                buildings=buildings, road_nodes=nodes, road_edges=edges, pois=pois, landuse=landuse,
                source="generated", source_hash="0")


def overlay_allocation(area: Area, cell_size: float) -> float:
    """Footprint m² per cell with geopandas.overlay; returns the total (checked against siting's)."""
    spec = GridSpec.covering(area.boundary, area.crs, cell_size)
    rows, cols = np.divmod(np.arange(spec.shape[0] * spec.shape[1]), spec.shape[1])
    cells = gpd.GeoDataFrame({"cell": np.arange(len(rows))}, geometry=spec.boxes(rows, cols), crs=area.crs)
    pieces = gpd.overlay(area.buildings[["building", "geometry"]], cells, how="intersection", keep_geom_type=True)
    return float(pieces.geometry.area.groupby(pieces["cell"]).sum().sum())


WUHAN = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "raster" / "wuhan_worldpop" / "pop_30_m_wuhan.tif"


def raster_rows(cell_size: float, repeat: int) -> list[str]:
    """WorldPop (Wuhan, ~90 m, EPSG:4326) onto a UTM grid: siting vs rasterio.warp.reproject."""
    import rasterio
    from rasterio.warp import Resampling, reproject

    from siting.io.raster import read_population

    with rasterio.open(WUHAN) as src:
        r0, c0, n = 400, 500, 240  # a 240 × 240 pixel window (~19 × 22 km) over central Wuhan
        own = float(src.read(1, window=((r0, r0 + n), (c0, c0 + n)), masked=True).sum())
        res, left, top = src.res[0], src.bounds.left, src.bounds.top
        box_ll = shapely.box(left + c0 * res, top - (r0 + n) * res, left + (c0 + n) * res, top - r0 * res)
        boundary = gpd.GeoSeries([box_ll.segmentize(res / 4)], crs=4326).to_crs(CRS).iloc[0]
        spec = GridSpec.covering(boundary, CRS, cell_size)
        full = np.ma.filled(src.read(1, masked=True).astype("float64"), 0.0)
        src_crs, src_transform = src.crs, src.transform
    out = []
    t, ours = best_of(lambda: read_population(WUHAN, spec, boundary), repeat)
    out.append(f"| `read_population` (sub-pixel sums, clipped to the area) | {spec.shape[0]}×{spec.shape[1]} | {t:.2f} | "
               f"{ours.sum():,.1f} | {100 * (ours.sum() / own - 1):+.3f} % |")
    rows, cols = np.divmod(np.arange(spec.shape[0] * spec.shape[1]), spec.shape[1])
    inside = shapely.area(shapely.intersection(spec.boxes(rows, cols), boundary)).reshape(spec.shape) / cell_size ** 2
    for method in (Resampling.sum, Resampling.average, Resampling.bilinear):
        def warp():
            dst = np.zeros(spec.shape)
            reproject(full, dst, src_transform=src_transform, src_crs=src_crs, dst_transform=spec.transform,
                      dst_crs=CRS, resampling=method, src_nodata=None)
            return dst
        t, dst = best_of(warp, repeat)
        if method != Resampling.sum:  # densities per source pixel → people per cell
            dst = dst * cell_size ** 2 / _pixel_m2(src_transform, spec)
        total = float((dst * inside).sum())
        out.append(f"| `rasterio.warp.reproject` {method.name} (× cell share inside) | {spec.shape[0]}×{spec.shape[1]} | "
                   f"{t:.2f} | {total:,.1f} | {100 * (total / own - 1):+.3f} % |")
    return [f"raster window sum (rasterio, masked): {own:,.1f}", "",
            "| raster → grid | grid | time (s) | grid sum | vs window sum |", "|---|---|---:|---:|---:|", *out]


OSM = WUHAN.parents[2] / "osm"
REAL_AREAS = ("nanjing_xinjiekou_osm/osm_bbox.osm.xml", "shanghai_shu_baoshan_osm/map_1.osm",
              "fujian_ninghua_osm/map.osm", "shanghai_fengxian_roads_osm/map.osm")


def real_rows(params: DemandParams, repeat: int) -> list[str]:
    """build_demand on the shared OSM extracts (loading not timed)."""
    from siting.io.osm import load_area

    out = ["| OSM extract | km² | buildings | cells | time (s) | source | residents | workers | road points | "
           "dense / urban / suburban / rural cells |", "|---|---:|---:|---:|---:|---|---:|---:|---:|---|"]
    for rel in REAL_AREAS:
        area = load_area(OSM / rel)
        t, d = best_of(lambda: build_demand(area, params), repeat)
        i, env = d.info, d.info["env_classes"]
        out.append(f"| {rel.split('/')[0]} | {area.area_km2:.2f} | {i['buildings']:,} | {i['cells']:,} | {t:.2f} | "
                   f"{i['demand_source']} | {i['residents_total']:,.0f} | {i['workers_total']:,.0f} | {i['road_points']:,} | "
                   f"{env['dense_urban']} / {env['urban']} / {env['suburban']} / {env['rural']} |")
    return out


def _pixel_m2(src_transform, spec: GridSpec) -> float:
    """Area of one source pixel in the grid CRS near the grid's centre."""
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(CRS, 4326, always_xy=True).transform(
        *(spec.transform.c + spec.transform.a * spec.shape[1] / 2, spec.transform.f + spec.transform.e * spec.shape[0] / 2))
    px = shapely.box(lon, lat, lon + src_transform.a, lat - src_transform.e)
    return float(gpd.GeoSeries([px], crs=4326).to_crs(CRS).area.iloc[0])


def best_of(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20,000 buildings, one repeat, no overlay reference")
    ap.add_argument("--buildings", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = args.buildings or (20_000 if args.quick else 100_000)
    repeat = 1 if args.quick else args.repeat
    params = DemandParams()

    t = time.perf_counter()
    area = generated_city(n)
    t_gen = time.perf_counter() - t
    spec = GridSpec.covering(area.boundary, area.crs, params.cell_size_m)
    t_alloc, (_, _, shares) = best_of(lambda: polygon_cell_areas(area.buildings.geometry.to_numpy(), spec), repeat)
    t_total, demand = best_of(lambda: build_demand(area, params), repeat)
    t_cal, _ = best_of(lambda: build_demand(area, params.model_copy(update={"population": 1_000_000})), repeat)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"shapely {shapely.__version__}, geopandas {gpd.__version__}")
    print(f"generated city: {n:,} buildings, {len(area.road_edges):,} road edges, {len(area.landuse)} landuse, "
          f"{len(area.pois)} POIs, {area.area_km2:.0f} km², grid {spec.shape[0]}×{spec.shape[1]} @ {params.cell_size_m:g} m "
          f"(generation {t_gen:.1f} s, not timed)\n")
    print("| step | buildings | time (s, best of %d) | result |" % repeat)
    print("|---|---:|---:|---|")
    print(f"| building → cell allocation (siting `polygon_cell_areas`) | {n:,} | {t_alloc:.2f} | "
          f"{shares.sum() / 1e6:.3f} km² footprint |")
    if not args.quick:
        t_ov, total = best_of(lambda: overlay_allocation(area, params.cell_size_m), 1)
        print(f"| building → cell allocation (`geopandas.overlay`, reference) | {n:,} | {t_ov:.2f} | "
              f"{total / 1e6:.3f} km² footprint |")
    info = demand.info
    print(f"| `build_demand` end to end | {n:,} | {t_total:.2f} | {info['cells']:,} cells, "
          f"{info['cell_points']:,} cell + {info['road_points']:,} road points, "
          f"{info['residents_total']:,.0f} residents |")
    print(f"| `build_demand` calibrated to 1,000,000 | {n:,} | {t_cal:.2f} | |")
    verdict = "PASS" if t_total < 10 else "FAIL"
    print(f"\ntarget: {n:,} buildings → 100 m grid in < 10 s: {verdict} ({t_total:.2f} s)\n")
    if WUHAN.is_file():
        print("\n".join(raster_rows(params.cell_size_m, repeat)) + "\n")
    if OSM.is_dir():
        print("\n".join(real_rows(params, repeat)))


if __name__ == "__main__":
    main()
