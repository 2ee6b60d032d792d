"""Demand surface: dasymetric population, calibration, rasters, roads, priority, environment classes."""
from __future__ import annotations

import hashlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import rasterio
import shapely
import shapely.affinity
from affine import Affine
from shapely.geometry import LineString, Point, box

from siting.area import Area
from siting.config import DemandParams, load_params
from siting.demand import POINT_COLUMNS, build_demand, demand_grid
from siting.errors import ConfigError, InputError
from siting.grid import GridSpec, polygon_cell_areas
from siting.io.raster import population_samples, read_population, write_population_tif

CRS = "EPSG:32650"  # UTM 50N: Nanjing, Wuhan
X0, Y0 = 500_000.0, 3_500_000.0  # a corner of the test areas, on the 100 m grid
P = DemandParams()
P_ROADS = P.model_copy(update={"builtup_model": False})  # road demand only, without the built-up model


def make_area(size: float = 1000.0, buildings=(), roads=(), pois=(), landuse=(), boundary=None) -> Area:
    """A synthetic Area in UTM 50N whose south-west corner is (X0, Y0).

    ``buildings``: (polygon, building type, levels, height_m); ``roads``: (line, highway);
    ``pois``: (point, category); ``landuse``: (polygon, landuse).
    """
    boundary = boundary if boundary is not None else box(X0, Y0, X0 + size, Y0 + size)
    b = list(buildings)
    bgdf = gpd.GeoDataFrame({
        "osm_id": [f"way/{i}" for i in range(len(b))], "building": [t for _, t, _, _ in b],
        "levels": np.array([lv for _, _, lv, _ in b], dtype=float), "height_m": np.array([h for *_, h in b], dtype=float),
        "name": [None] * len(b)}, geometry=[g for g, *_ in b], crs=CRS)
    r = list(roads)
    edges = gpd.GeoDataFrame({
        "u": np.arange(len(r)), "v": np.arange(len(r)) + 1000, "key": 0, "highway": [h for _, h in r],
        "length_m": [g.length for g, _ in r], "oneway": False, "maxspeed_kmh": np.nan, "name": None},
        geometry=[g for g, _ in r], crs=CRS)
    nodes = gpd.GeoDataFrame({"x": [], "y": []}, geometry=[], crs=CRS)
    pois = list(pois)
    pgdf = gpd.GeoDataFrame({"osm_id": [f"node/{i}" for i in range(len(pois))], "category": [c for _, c in pois]},
                            geometry=[g for g, _ in pois], crs=CRS)
    lu = list(landuse)
    lgdf = gpd.GeoDataFrame({"osm_id": [f"way/l{i}" for i in range(len(lu))], "landuse": [k for _, k in lu]},
                            geometry=[g for g, _ in lu], crs=CRS)
    wgs = gpd.GeoSeries([boundary], crs=CRS).to_crs("EPSG:4326").iloc[0]
    return Area(name="test", slug="test", crs=CRS, boundary=boundary, boundary_wgs84=wgs, boundary_origin="bbox",
                buildings=bgdf, road_nodes=nodes, road_edges=edges, pois=pgdf, landuse=lgdf, source="synthetic",
                source_hash="0")


def persons(footprint_m2: float, floors: float, params: DemandParams = P) -> float:
    """DOMAIN.md §5 by hand: footprint × floors × efficiency / m² per person."""
    return footprint_m2 * floors * params.floor_efficiency / params.m2_per_person


def cell(demand, x: float, y: float):
    """The grid row of the cell containing (x, y)."""
    g = demand.grid
    return g[g.geometry.contains(Point(x, y))].iloc[0]


# ------------------------------------------------------------------ dasymetric population

def test_residents_from_levels_height_and_type():
    area = make_area(buildings=[
        (box(X0 + 10, Y0 + 10, X0 + 30, Y0 + 30), "apartments", 5, np.nan),      # 400 m², 5 floors
        (box(X0 + 210, Y0 + 10, X0 + 240, Y0 + 20), "residential", np.nan, 30.0),  # 300 m², 30 m -> 10 floors
        (box(X0 + 410, Y0 + 10, X0 + 430, Y0 + 20), "house", np.nan, np.nan),      # 200 m², default 2 floors
        (box(X0 + 610, Y0 + 10, X0 + 630, Y0 + 30), "office", 10, np.nan),         # workers only
    ])
    d = build_demand(area, P)
    assert cell(d, X0 + 20, Y0 + 20)["residents"] == pytest.approx(persons(400, 5))
    assert cell(d, X0 + 220, Y0 + 15)["residents"] == pytest.approx(persons(300, 10))
    assert cell(d, X0 + 420, Y0 + 15)["residents"] == pytest.approx(persons(200, 2))
    office = cell(d, X0 + 620, Y0 + 20)
    assert office["residents"] == 0
    assert office["workers"] == pytest.approx(400 * 10 * P.floor_efficiency / P.m2_per_worker)
    assert d.info["demand_source"] == "buildings"
    assert d.info["residents_total"] == pytest.approx(persons(400, 5) + persons(300, 10) + persons(200, 2))


def test_building_across_cells_is_split_by_area():
    # 40 x 40 m centred on the grid corner (X0+100, Y0+100): a quarter in each of four cells
    area = make_area(buildings=[(box(X0 + 80, Y0 + 80, X0 + 120, Y0 + 120), "apartments", 6, np.nan)])
    d = build_demand(area, P)
    quarters = [cell(d, X0 + 100 + dx, Y0 + 100 + dy)["residents"] for dx in (-5, 5) for dy in (-5, 5)]
    assert quarters == pytest.approx([persons(1600, 6) / 4] * 4)
    assert d.grid["residents"].sum() == pytest.approx(persons(1600, 6))
    assert cell(d, X0 + 95, Y0 + 95)["building_cover"] == pytest.approx(400 / 10_000)


def test_untyped_building_takes_floors_from_its_tower_neighbours_but_a_bungalow_does_not():
    towers = [(box(X0 + x, Y0 + y, X0 + x + 30, Y0 + y + 30), "apartments", 20, np.nan)
              for x in (100, 200, 300) for y in (100, 300)]
    area = make_area(buildings=towers + [
        (box(X0 + 210, Y0 + 210, X0 + 230, Y0 + 230), "yes", np.nan, np.nan),
        (box(X0 + 260, Y0 + 260, X0 + 270, Y0 + 270), "bungalow", np.nan, np.nan),
        (box(X0 + 850, Y0 + 850, X0 + 870, Y0 + 870), "yes", np.nan, np.nan),   # far from towers: default
    ])
    d = build_demand(area, P)
    share = P.untyped_residential_share  # untyped, outside any landuse
    assert cell(d, X0 + 220, Y0 + 220)["residents"] == pytest.approx(share * persons(400, 20) + persons(100, 1))
    assert cell(d, X0 + 860, Y0 + 860)["residents"] == pytest.approx(share * persons(400, P.default_floors["yes"]))


def test_untyped_building_use_follows_landuse():
    area = make_area(
        buildings=[(box(X0 + 10, Y0 + 10, X0 + 30, Y0 + 30), "yes", 4, np.nan),
                   (box(X0 + 510, Y0 + 10, X0 + 530, Y0 + 30), "yes", 4, np.nan),
                   (box(X0 + 510, Y0 + 810, X0 + 530, Y0 + 830), "yes", 4, np.nan)],
        landuse=[(box(X0, Y0, X0 + 300, Y0 + 300), "residential"), (box(X0 + 400, Y0, X0 + 700, Y0 + 300), "commercial")])
    d = build_demand(area, P)
    fa = 400 * 4 * P.floor_efficiency
    assert cell(d, X0 + 20, Y0 + 20)[["residents", "workers"]].tolist() == pytest.approx([fa / P.m2_per_person, 0])
    assert cell(d, X0 + 520, Y0 + 20)[["residents", "workers"]].tolist() == pytest.approx([0, fa / P.m2_per_worker])
    mixed = P.untyped_residential_share
    assert cell(d, X0 + 520, Y0 + 820)[["residents", "workers"]].tolist() == pytest.approx(
        [mixed * fa / P.m2_per_person, (1 - mixed) * fa / P.m2_per_worker])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 900), st.floats(0, 900), st.floats(1, 450), st.floats(1, 300),
                          st.floats(0, 90)), min_size=1, max_size=30),
       st.sampled_from([25.0, 100.0, 250.0]))
def test_allocation_to_cells_keeps_every_footprint(rects, cell_size):
    """Rotated buildings of any size: their pieces over the cells add up to their areas."""
    geoms = np.array([shapely.affinity.rotate(box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h), a) for x, y, w, h, a in rects])
    spec = GridSpec.covering(box(X0 - 300, Y0 - 300, X0 + 1600, Y0 + 1600), CRS, cell_size)
    idx, cells, areas = polygon_cell_areas(geoms, spec)
    assert np.bincount(idx, areas, minlength=len(geoms)) == pytest.approx(shapely.area(geoms), rel=1e-9)
    pieces = shapely.intersection(geoms[idx], spec.boxes(*np.divmod(cells, spec.shape[1])))
    assert areas == pytest.approx(shapely.area(pieces), rel=1e-9, abs=1e-6)  # m²: GEOS at UTM magnitudes


def test_a_school_drawn_around_its_grounds_is_a_campus_not_a_tower():
    campus = (box(X0 + 300, Y0 + 300, X0 + 500, Y0 + 500), "school", np.nan, np.nan)    # 40,000 m² "building"
    small = (box(X0 + 710, Y0 + 710, X0 + 750, Y0 + 750), "school", np.nan, np.nan)     # a real school building
    d = build_demand(make_area(buildings=[campus, small]), P)
    inside = d.grid[d.grid.geometry.within(campus[0])]
    assert len(inside) == 4 and (inside["building_cover"] == 0).all() and set(inside["env_class"]) != {"dense_urban"}
    assert inside["workers"].sum() == pytest.approx(40_000 * P.grounds_plot_ratio * P.floor_efficiency / P.m2_per_worker)
    assert cell(d, X0 + 730, Y0 + 730)["workers"] == pytest.approx(
        1600 * P.default_floors["school"] * P.floor_efficiency / P.m2_per_worker)


# ------------------------------------------------------------------ calibration

@pytest.mark.parametrize("total", [12_345.0, 4_000.0])
def test_calibration_conserves_the_census_total(total):
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 960, size=(300, 2))
    area = make_area(buildings=[(box(X0 + x, Y0 + y, X0 + x + 25, Y0 + y + 15), "residential", lv, np.nan)
                                for (x, y), lv in zip(xy, rng.integers(1, 30, 300))])
    estimate = build_demand(area, P).info["residents_total"]
    d = build_demand(area, P.model_copy(update={"population": total}))
    assert d.grid["residents"].sum() == pytest.approx(total, rel=1e-3)
    cells = d.points[d.points["kind"] == "cell"]
    assert cells["residents"].sum() == pytest.approx(total, rel=1e-3)
    assert d.info["calibration_factor"] == pytest.approx(total / estimate)


def test_calibration_on_an_l_shaped_area_ignores_buildings_outside_it():
    l_shape = box(X0, Y0, X0 + 1000, Y0 + 500).union(box(X0, Y0, X0 + 500, Y0 + 1000))
    inside = (box(X0 + 100, Y0 + 100, X0 + 120, Y0 + 120), "apartments", 6, np.nan)
    outside = (box(X0 + 800, Y0 + 800, X0 + 820, Y0 + 820), "apartments", 6, np.nan)   # in the grid's bbox only
    d = build_demand(make_area(buildings=[inside, outside], boundary=l_shape), P.model_copy(update={"population": 900}))
    assert d.grid["residents"].sum() == pytest.approx(900)
    assert cell(d, X0 + 110, Y0 + 110)["residents"] == pytest.approx(900)
    assert len(d.grid) == 75 and d.info["residents_estimate"] == pytest.approx(persons(400, 6))


def test_negative_population_total_is_a_config_error_with_exit_status_2():
    with pytest.raises(ConfigError, match="demand.population") as exc:
        load_params(overrides={"demand.population": -5000})
    assert exc.value.exit_code == 2


# ------------------------------------------------------------------ sparse areas

def test_roads_only_area_has_road_demand_and_no_building_population():
    area = make_area(roads=[(LineString([(X0, Y0 + 500), (X0 + 1000, Y0 + 500)]), "trunk"),
                            (LineString([(X0 + 1000, Y0 + 500), (X0, Y0 + 500)]), "trunk"),   # other direction
                            (LineString([(X0 + 500, Y0), (X0 + 500, Y0 + 1000)]), "residential")])
    d = build_demand(area, P_ROADS)
    assert d.info["demand_source"] == "roads"
    assert d.info["residents_total"] == 0
    roads = d.points[d.points["kind"] == "road"]
    assert len(roads) == 20 and (d.points["kind"] == "cell").sum() == 0
    assert roads["road_m"].sum() == pytest.approx(2000)
    trunk = roads[roads.geometry.y == Y0 + 500]
    assert trunk["weight"].sum() == pytest.approx(P.road_weight_per_km["trunk"] * 1.0)
    assert set(roads["source"]) == {"roads"}
    assert d.grid["road_m"].sum() == pytest.approx(2000, rel=1e-6)
    assert d.grid["road_m_trunk"].sum() == pytest.approx(1000, rel=1e-6)

    spread = build_demand(area, P_ROADS.model_copy(update={"population": 3000}))
    assert spread.info["demand_source"] == "roads"
    assert spread.grid["residents"].sum() == pytest.approx(3000)
    assert set(spread.grid.loc[spread.grid["residents"] > 0, "source"]) == {"roads"}


def test_sparse_area_keeps_its_buildings_and_puts_the_rest_of_the_census_on_unmapped_roads():
    block = (box(X0 + 100, Y0 + 100, X0 + 140, Y0 + 140), "apartments", 6, np.nan)
    streets = [(LineString([(X0, Y0 + y), (X0 + 3000, Y0 + y)]), "residential") for y in (550, 1550, 2550)]
    area = make_area(size=3000, buildings=[block], roads=streets)
    d = build_demand(area, P_ROADS.model_copy(update={"population": 5000}))
    assert d.info["sparse"] and d.info["demand_source"] == "roads"
    assert d.grid["residents"].sum() == pytest.approx(5000)
    assert cell(d, X0 + 120, Y0 + 120)["residents"] == pytest.approx(persons(1600, 6))   # as estimated, unscaled
    on_roads = d.grid.loc[d.grid["source"] == "roads", "residents"]
    assert len(on_roads) == 90 and on_roads.to_numpy() == pytest.approx([(5000 - persons(1600, 6)) / 90] * 90)


def test_landuse_fills_in_where_buildings_are_unmapped():
    area = make_area(landuse=[(box(X0, Y0, X0 + 200, Y0 + 200), "residential"),
                              (box(X0 + 600, Y0 + 600, X0 + 800, Y0 + 700), "commercial")])
    d = build_demand(area, P)
    assert d.info["demand_source"] == "landuse"
    assert d.grid["residents"].sum() == pytest.approx(0.04 * P.landuse_residents_per_km2)
    assert d.grid["workers"].sum() == pytest.approx(0.02 * P.landuse_workers_per_km2)
    assert set(d.points.loc[d.points["residents"] > 0, "source"]) == {"landuse"}


def test_empty_area_with_a_population_total_is_a_user_error():
    with pytest.raises(InputError, match="population raster"):
        build_demand(make_area(), P.model_copy(update={"population": 100}))


# ------------------------------------------------------------------ priority, classes, points

def test_priority_places_raise_weight_within_the_radius():
    area = make_area(buildings=[(box(X0 + 10, Y0 + 10, X0 + 30, Y0 + 30), "apartments", 5, np.nan),
                                (box(X0 + 810, Y0 + 810, X0 + 830, Y0 + 830), "apartments", 5, np.nan)],
                     pois=[(Point(X0 + 60, Y0 + 60), "transport_hub"), (Point(X0 + 900, Y0 + 100), "shop")],
                     roads=[(LineString([(X0, Y0 + 60), (X0 + 1000, Y0 + 60)]), "primary")])
    d = build_demand(area, P)
    near, far = cell(d, X0 + 20, Y0 + 20), cell(d, X0 + 820, Y0 + 820)
    assert near["priority"] == P.priority_weight and far["priority"] == 1
    assert near["weight"] == pytest.approx(P.priority_weight * far["weight"])
    road = d.points[d.points["kind"] == "road"]
    near_hub = road.geometry.distance(Point(X0 + 60, Y0 + 60)) <= P.priority_radius_m
    assert near_hub.sum() == 4   # road points at x = 50, 150, 250, 350 m
    assert (road.loc[near_hub, "priority"] == P.priority_weight).all() and (road.loc[~near_hub, "priority"] == 1).all()
    assert road.loc[~near_hub, "weight"].to_numpy() == pytest.approx([P.road_weight_per_km["primary"] * 0.1] * 6)


def test_environment_classes_need_a_dense_neighbourhood():
    block = [(box(X0 + x + 20, Y0 + y + 20, X0 + x + 80, Y0 + y + 80), "apartments", 20, np.nan)
             for x in range(0, 500, 100) for y in range(0, 500, 100)]          # 36 % cover, 20 floors
    lone = [(box(X0 + 2520, Y0 + 2520, X0 + 2580, Y0 + 2580), "apartments", 30, np.nan)]
    village = [(box(X0 + x + 10, Y0 + y + 10, X0 + x + 90, Y0 + y + 90), "yes", 4, np.nan)   # 64 % cover, 4 floors
               for x in range(2000, 2500, 100) for y in range(0, 500, 100)]
    walkups = [(box(X0 + x + 25, Y0 + y + 25, X0 + x + 75, Y0 + y + 75), "residential", 6, np.nan)  # 25 %, 6 floors
               for x in range(0, 500, 100) for y in range(2000, 2500, 100)]
    area = make_area(size=3000, buildings=block + lone + village + walkups)
    d = build_demand(area, P)
    assert cell(d, X0 + 250, Y0 + 250)["env_class"] == "dense_urban"
    assert cell(d, X0 + 2250, Y0 + 250)["env_class"] == "dense_urban"     # an urban village: street canyons
    assert cell(d, X0 + 250, Y0 + 2250)["env_class"] == "urban"
    assert cell(d, X0 + 2550, Y0 + 2550)["env_class"] != "dense_urban"
    assert cell(d, X0 + 1550, Y0 + 1550)["env_class"] == "rural"
    assert sum(d.info["env_classes"].values()) == len(d.grid) == 900


def test_points_follow_the_interface_and_are_reproducible():
    area = make_area(buildings=[(box(X0 + 10, Y0 + 10, X0 + 30, Y0 + 30), "apartments", 5, np.nan)],
                     roads=[(LineString([(X0, Y0 + 50), (X0 + 1000, Y0 + 50)]), "motorway_link")])
    a, b = build_demand(area, P), build_demand(area, P)
    assert tuple(a.points.columns) == POINT_COLUMNS
    assert a.points["demand_id"].tolist() == list(range(len(a.points)))
    assert a.points.crs == CRS and a.points.equals(b.points)
    assert set(a.points["env_class"]) <= {"dense_urban", "urban", "suburban", "rural"}
    assert (a.points["priority"] >= 1).all()
    # grid aligned to multiples of the cell size, whatever the boundary
    shifted = build_demand(make_area(boundary=box(X0 + 37, Y0 + 11, X0 + 963, Y0 + 989),
                                     roads=[(LineString([(X0, Y0 + 500), (X0 + 1000, Y0 + 500)]), "primary")]), P)
    minx, miny, *_ = shifted.grid.total_bounds
    assert (minx % 100, miny % 100) == (0, 0)


def test_the_demand_grid_is_square_and_a_grid_kind_is_refused():
    with pytest.raises(ConfigError, match="unknown parameter 'demand.grid'"):
        load_params(overrides={"demand.grid": "h3"})


# ------------------------------------------------------------------ rasters

def write_raster(path: Path, values: np.ndarray, transform: Affine, crs: str | None, nodata: float = -3.4e38) -> Path:
    profile = {"driver": "GTiff", "dtype": "float32", "count": 1, "height": values.shape[0], "width": values.shape[1],
               "transform": transform, "nodata": nodata}
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values.astype("float32"), 1)
    return path


def lonlat_area(lon0: float, lat0: float, lon1: float, lat1: float) -> Area:
    """An empty area whose boundary is a lon/lat box, projected (densified) to UTM 50N."""
    poly = gpd.GeoSeries([box(lon0, lat0, lon1, lat1).segmentize(0.0005)], crs="EPSG:4326").to_crs(CRS).iloc[0]
    return make_area(boundary=poly)


def raster_demand(area: Area, params: DemandParams, raster):
    """The demand of ``area`` with residents from ``raster``, read as a plan reads it."""
    return build_demand(area, params, population=population_samples(raster, demand_grid(area, params), area.boundary))


def test_raster_alone_is_sum_preserving(tmp_path):
    res = 1 / 1200  # ~90 m pixels, like WorldPop
    values = np.random.default_rng(3).uniform(0, 20, size=(60, 60))
    values[5, 7] = -3.4e38   # nodata
    values[9, 9] = np.nan
    lon0, lat1 = 118.78, 32.06
    tif = write_raster(tmp_path / "pop.tif", values, Affine(res, 0, lon0, 0, -res, lat1), "EPSG:4326")
    # boundary on pixel edges: rows/cols 10..49 inside
    area = lonlat_area(lon0 + 10 * res, lat1 - 50 * res, lon0 + 50 * res, lat1 - 10 * res)
    d = raster_demand(area, P, tif)
    inside = values[10:50, 10:50]
    expected = inside[np.isfinite(inside) & (inside > 0)].sum()
    assert d.grid["residents"].sum() == pytest.approx(expected, rel=1e-3)
    assert d.info["demand_source"] == "raster"
    calibrated = raster_demand(area, P.model_copy(update={"population": 1000}), tif)
    assert calibrated.grid["residents"].sum() == pytest.approx(1000, rel=1e-3)


def test_coarse_raster_pixel_lands_on_its_housing(tmp_path):
    # two 1 km pixels (GHS-POP style) in the area's CRS: 1000 people west, 500 east; one tower block west
    tif = write_raster(tmp_path / "ghs.tif", np.array([[1000.0, 500.0]]), Affine(1000, 0, X0, 0, -1000, Y0 + 1000), CRS)
    area = make_area(size=2000, boundary=box(X0, Y0, X0 + 2000, Y0 + 1000),
                     buildings=[(box(X0 + 510, Y0 + 510, X0 + 540, Y0 + 540), "apartments", 10, np.nan)])
    d = raster_demand(area, P, tif)
    u = P.raster_dasymetric_share
    assert cell(d, X0 + 520, Y0 + 520)["residents"] == pytest.approx(u * 1000 + (1 - u) * 1000 / 100)
    assert cell(d, X0 + 150, Y0 + 150)["residents"] == pytest.approx((1 - u) * 1000 / 100)
    assert cell(d, X0 + 1550, Y0 + 550)["residents"] == pytest.approx(500 / 100)   # no housing: evenly
    assert d.grid["residents"].sum() == pytest.approx(1500)
    even = raster_demand(area, P.model_copy(update={"raster_dasymetric_share": 0.0}), tif)
    assert cell(even, X0 + 520, Y0 + 520)["residents"] == pytest.approx(10)


def test_raster_without_crs_or_elsewhere_is_refused(tmp_path):
    area = lonlat_area(118.78, 32.02, 118.80, 32.04)
    values = np.ones((10, 10))
    no_crs = write_raster(tmp_path / "nocrs.tif", values, Affine(0.001, 0, 118.78, 0, -0.001, 32.04), None)
    far = write_raster(tmp_path / "far.tif", values, Affine(0.001, 0, 10.0, 0, -0.001, 50.0), "EPSG:4326")
    with pytest.raises(InputError, match="no CRS") as exc:
        raster_demand(area, P, no_crs)
    assert exc.value.exit_code == 2
    with pytest.raises(InputError, match="does not overlap"):
        raster_demand(area, P, far)
    with pytest.raises(InputError, match="does not exist"):
        raster_demand(area, P, tmp_path / "missing.tif")
    text = tmp_path / "pop.tif"
    text.write_text("lon,lat,pop\n118.79,32.03,5\n")
    with pytest.raises(InputError, match="not a readable GeoTIFF"):
        raster_demand(area, P, text)
    empty = write_raster(tmp_path / "empty.tif", np.full((40, 40), -3.4e38), Affine(0.001, 0, 118.77, 0, -0.001, 32.05),
                         "EPSG:4326")
    with pytest.raises(InputError, match="no population inside the area"):
        raster_demand(area, P, empty)


def test_population_tif_round_trips_and_is_byte_identical(tmp_path):
    area = make_area(buildings=[(box(X0 + 10, Y0 + 10, X0 + 30, Y0 + 30), "apartments", 5, np.nan)])
    d = build_demand(area, P)
    a, b = tmp_path / "a" / "population.tif", tmp_path / "b" / "population.tif"
    write_population_tif(a, d)
    write_population_tif(b, d)
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    with rasterio.open(a) as src:
        assert src.crs.to_epsg() == 32650 and src.res == (100.0, 100.0)
        assert src.read(1, masked=True).sum() == pytest.approx(persons(400, 5), rel=1e-6)
    # and reading it back onto the same grid gives the same cells
    back = read_population(a, d.spec, area.boundary)
    assert back[d.grid["row"], d.grid["col"]] == pytest.approx(d.grid["residents"].to_numpy(), rel=1e-6)


WUHAN = "raster/wuhan_worldpop/pop_30_m_wuhan.tif"


def test_wuhan_worldpop_window_sum_is_kept(shared_data):
    path = shared_data / WUHAN
    with rasterio.open(path) as src:
        res, (lon0, lat1) = src.res[0], (src.bounds.left, src.bounds.top)
        r0, c0, n = 700, 800, 60   # a 60 x 60 pixel window (~5 x 5 km) in central Wuhan
        window = src.read(1, window=((r0, r0 + n), (c0, c0 + n)), masked=True)
        own = float(window.sum())
    area = lonlat_area(lon0 + c0 * res, lat1 - (r0 + n) * res, lon0 + (c0 + n) * res, lat1 - r0 * res)
    d = raster_demand(area, P, path)
    assert own > 100
    assert d.grid["residents"].sum() == pytest.approx(own, rel=0.01)


# ------------------------------------------------------------------ real OSM areas (need siting.io.osm)

def _load(source: Path) -> Area:
    osm = pytest.importorskip("siting.io.osm")
    return osm.load_area(source)


def _centre_classes(source: Path):
    """The demand of an OSM extract and the environment classes within 500 m of its centre."""
    area = _load(source)
    d = build_demand(area, P)
    return d, d.grid.loc[d.grid.geometry.centroid.distance(area.boundary.centroid) < 500, "env_class"]


def test_nanjing_centre_is_denser_than_ninghua(shared_data):
    ranks = {"rural": 0, "suburban": 1, "urban": 2, "dense_urban": 3}
    nanjing_d, nanjing = _centre_classes(shared_data / "osm/nanjing_xinjiekou_osm/osm_bbox.osm.xml")
    ninghua_d, ninghua = _centre_classes(shared_data / "osm/fujian_ninghua_osm/map.osm")
    assert nanjing.map(ranks).mean() > ninghua.map(ranks).mean() + 0.5
    assert (nanjing == "dense_urban").mean() > 0.5     # Xinjiekou: towers on most blocks
    assert (ninghua == "dense_urban").sum() == 0       # a county town with five mapped buildings
    # and Ninghua's five buildings do not make it a building-based area
    assert (nanjing_d.info["sparse"], nanjing_d.info["demand_source"]) == (False, "buildings")
    assert (ninghua_d.info["sparse"], ninghua_d.info["demand_source"]) == (True, "model")


def test_fengxian_roads_only(shared_data):
    area = _load(shared_data / "osm/shanghai_fengxian_roads_osm/map.osm")
    d = build_demand(area, P)
    assert d.info["demand_source"] == "model"   # no buildings: residents from the built-up model
    assert d.info["residents_by_source"]["buildings"] == 0
    assert d.grid["residents"].sum() == pytest.approx(d.info["residents_by_source"]["model"]) and d.grid["residents"].sum() > 0
    roads = d.points[d.points["kind"] == "road"]
    assert len(roads) > 100 and (roads["weight"] > 0).all()
    assert roads["road_m"].sum() == pytest.approx(d.grid["road_m"].sum(), rel=0.02)   # both ~ road km inside
    spread = build_demand(area, P.model_copy(update={"population": 20_000}))
    assert spread.info["demand_source"] == "model" and spread.grid["residents"].sum() == pytest.approx(20_000)
    plain = build_demand(area, P_ROADS)
    assert plain.info["demand_source"] == "roads" and plain.grid["residents"].sum() == 0



# ------------------------------------------------------------------ the command line

@pytest.mark.parametrize("case, message", [("nocrs", "has no CRS"), ("far", "does not overlap"), ("negative", "population")])
def test_plan_command_refuses_bad_demand_input_with_exit_status_2(tmp_path, capsys, case, message):
    cli = pytest.importorskip("siting.cli")
    pytest.importorskip("siting.workflow")
    values = np.ones((10, 10))
    args = ["--count", "3", "--out", str(tmp_path / "out"), "--quiet"]
    if case == "nocrs":
        args += ["--raster", str(write_raster(tmp_path / "r.tif", values, Affine(0.01, 0, 24.9, 0, -0.01, 60.2), None))]
    elif case == "far":  # Wuhan, while the demo area is Helsinki
        args += ["--raster", str(write_raster(tmp_path / "r.tif", values, Affine(0.01, 0, 114.2, 0, -0.01, 30.6), "EPSG:4326"))]
    else:
        args += ["--population", "-5000"]
    with pytest.raises(SystemExit) as exc:
        cli.main(["plan", "demo", *args])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert err.startswith("siting: error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
