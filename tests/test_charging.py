"""EV charging, swap and hydrogen plans (siting.charging, candidates_charging)."""
from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.sparse.csgraph import maximum_flow

from siting.candidates import candidates_charging
from siting.charging import apportion, assign_sessions, charging_demand, plan_charging, split_piles
from siting.config import ChargingParams, Params, load_params
from siting.coverage import coverage_from_radius
from siting.errors import PlanError
from synthetic import grid_area

CRS = "EPSG:32650"


def pois(rows):
    """POIs in the Area column contract from (osm_id, category, x, y, extra) rows."""
    base = {"name": None, "parking": None, "capacity": np.nan, "height_m": np.nan, "operator": None,
            "sockets": np.nan, "output_kw": np.nan}
    records = [{**base, "osm_id": i, "category": c, **extra} for i, c, _, _, extra in rows]
    return gpd.GeoDataFrame(records, geometry=gpd.points_from_xy([r[2] for r in rows], [r[3] for r in rows]),
                            crs=CRS)


def demand_points(xy, residents=1000.0, env="urban"):
    xy = np.asarray(xy, dtype=float)
    n = len(xy)
    return gpd.GeoDataFrame({"demand_id": np.arange(n), "kind": "cell", "residents": np.full(n, residents),
                             "workers": np.zeros(n), "env_class": env, "source": "buildings"},
                            geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=CRS)


def river(x1, y1, x2, y2):
    """A river between x=900 and x=1000, bridged only at y=0."""
    return (np.minimum(x1, x2) == 900) & (np.maximum(x1, x2) == 1000) & (y1 > 0)


@pytest.fixture(scope="module")
def town():
    """A 2 x 2 km grid town split by a river; car parks on both banks, one charging station east."""
    rows = [(f"node/{i}", "parking", x, y, {"parking": "surface", "capacity": 200.0})
            for i, (x, y) in enumerate([(300, 1500), (800, 1400), (300, 400), (1200, 1500), (1700, 600),
                                        (1500, 1800)])]
    rows.append(("node/90", "charging_station", 1100, 1500, {"sockets": 4.0, "output_kw": 60.0}))
    rows.append(("node/99", "parking", 9000, 9000, {"parking": "surface"}))  # no road within reach
    return grid_area(20, 20, 100.0, drop=river, pois=pois(rows))


@pytest.fixture(scope="module")
def town_demand():
    rng = np.random.default_rng(1)
    return demand_points(rng.uniform(0, 1900, size=(150, 2)), residents=400.0)


# --------------------------------------------------------------------------- building blocks


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 100), st.integers(1, 3), st.integers(3, 30)), min_size=1, max_size=25),
       st.data())
def test_apportion_hits_the_total_within_bounds(rows, data):
    weights, lower, upper = (np.array(c, dtype=float) for c in zip(*rows))
    total = data.draw(st.integers(int(lower.sum()), int(upper.sum())))
    got = apportion(weights, total, lower, upper)
    assert got.sum() == total
    assert np.all(got >= lower) and np.all(got <= upper)


def test_apportion_is_proportional_when_bounds_do_not_bind():
    got = apportion(np.array([1.0, 2.0, 3.0, 4.0]), 100, np.ones(4), np.full(4, 100))
    assert got.tolist() == [10, 20, 30, 40]
    got = apportion(np.array([1.0, 1.0, 1.0]), 10, np.ones(3), np.full(3, 10))
    assert sorted(got.tolist()) == [3, 3, 4] and got.sum() == 10
    with pytest.raises(PlanError, match="cannot be spread"):
        apportion(np.ones(2), 9, np.ones(2), np.full(2, 4))


def test_assignment_respects_capacity_and_serves_the_maximum():
    rng = np.random.default_rng(5)
    n_d, n_s = 40, 6
    mask = rng.random((n_d, n_s)) < 0.3
    r, c = np.nonzero(mask)
    dist = sparse.csr_matrix((rng.uniform(10, 900, len(r)), (r, c)), shape=(n_d, n_s))
    sessions = rng.integers(1, 10, n_d).astype(float)
    capacity = rng.integers(5, 40, n_s).astype(float)
    flow = assign_sessions(dist, sessions, capacity, np.full(n_d, 1000.0)).toarray()
    assert np.all(flow.sum(axis=0) <= capacity + 1e-6) and np.all(flow.sum(axis=1) <= sessions + 1e-6)
    assert np.all(flow[~mask] == 0)  # only pairs within reach
    per_site = flow.sum(axis=0)
    # independent check: integer max flow source -> demand -> station -> sink
    n = n_d + n_s + 2
    src, sink = n - 2, n - 1
    rows = np.r_[np.full(n_d, src), r, n_d + np.arange(n_s)]
    cols = np.r_[np.arange(n_d), n_d + c, np.full(n_s, sink)]
    caps = np.r_[sessions, np.full(len(r), 10**6), capacity].astype(np.int32)
    graph = sparse.csr_matrix((caps, (rows, cols)), shape=(n, n))
    assert per_site.sum() == pytest.approx(maximum_flow(graph, src, sink).flow_value, abs=1e-6)


def test_assignment_sends_sessions_to_the_nearer_station_first():
    # points 0 and 1 reach both stations; station 0 is near point 0, station 1 near point 1
    dist = sparse.csr_matrix(np.array([[100.0, 900.0], [900.0, 100.0], [0.0, 500.0]]))
    flow = assign_sessions(dist, np.array([3.0, 3.0, 2.0]), np.array([10.0, 10.0]), np.full(3, 1000.0)).toarray()
    assert flow.tolist() == [[3.0, 0.0], [0.0, 3.0], [0.0, 2.0]]
    # station 1 too small for both: point 2 (only it reaches) keeps its place, point 1 goes to station 0
    flow = assign_sessions(dist, np.array([3.0, 3.0, 2.0]), np.array([10.0, 2.0]), np.full(3, 1000.0)).toarray()
    assert flow.tolist() == [[3.0, 0.0], [3.0, 0.0], [0.0, 2.0]]


def test_fast_and_slow_piles_add_up():
    fast, slow = split_piles(np.array([1, 2, 3, 10]), 0.7)
    assert fast.tolist() == [1, 1, 2, 7] and (fast + slow).tolist() == [1, 2, 3, 10]


def test_demand_is_residents_times_ownership_times_ev_share_times_sessions():
    cp = ChargingParams(car_ownership_per_person=0.2, ev_share=0.1)
    cfg = cp.charging.model_copy(update={"sessions_per_ev_day": 0.5, "poi_sessions_day": {"mall": 20.0}})
    pts = demand_points([[0, 0], [100, 0]], residents=1000.0)
    mall = pois([("way/1", "mall", 50, 50, {}), ("node/2", "shop", 60, 60, {})])
    out = charging_demand(pts, mall, cfg, cp)
    assert out["sessions"].tolist() == pytest.approx([10.0, 10.0, 20.0])  # 1000 x 0.2 x 0.1 x 0.5; one mall
    assert out["evs"].tolist() == pytest.approx([20.0, 20.0, 0.0])
    assert out["kind"].tolist() == ["cell", "cell", "poi"] and out["env_class"].iloc[2] == "urban"


def test_partial_kind_config_keeps_the_kinds_own_defaults():
    params = load_params(overrides={"charging.hydrogen.fast_share": 1.0, "charging.swap.radius_m.urban": 2500})
    assert params.charging.hydrogen.candidates == ChargingParams().hydrogen.candidates
    assert params.charging.swap.radius_m.urban == 2500 and params.charging.swap.radius_m.rural == 10000


# --------------------------------------------------------------------------- candidates


def test_candidates_fixed_existing_and_street_parking_only_near_estates():
    estate = gpd.GeoDataFrame({"osm_id": ["way/5"], "landuse": ["residential"]},
                              geometry=[shapely.box(0, 0, 300, 300)], crs=CRS)
    area = grid_area(10, 10, 100.0, landuse=estate, pois=pois([
        ("node/1", "parking", 350, 100, {"parking": "street_side"}),   # 50 m from the estate
        ("node/2", "parking", 800, 800, {"parking": "street_side"}),   # far from it
        ("node/3", "parking", 500, 500, {"parking": "multi-storey", "capacity": 300.0}),
        ("node/4", "charging_station", 600, 600, {"capacity": 6.0}),
        ("node/5", "fuel", 700, 100, {})]))
    user = gpd.GeoDataFrame({"site_id": ["A"], "name": ["depot A"], "height_m": [np.nan], "capacity": [np.nan],
                             "piles": [12.0]}, geometry=[shapely.Point(100, 800)], crs=CRS).to_crs(4326)
    cands = candidates_charging(area, "charging", ChargingParams(), existing=user)
    assert cands["candidate_id"].tolist() == ["existing/A", "node/4", "node/1", "node/3", "node/5"]
    assert cands["fixed"].tolist() == [True, True, False, False, False]
    assert cands["piles"].tolist()[:2] == [12, 6]
    assert cands.set_index("candidate_id").loc["node/3", "capacity"] == 300.0
    basic = candidates_charging(area, "basic", ChargingParams())
    assert "landuse:residential" in set(basic["source"]) and "node/5" not in set(basic["candidate_id"])
    hydrogen = candidates_charging(area, "hydrogen", ChargingParams())
    assert hydrogen["candidate_id"].tolist() == ["node/5"]  # charging stations are not hydrogen stations


# --------------------------------------------------------------------------- plans


@pytest.mark.parametrize("total", [12, 37, 60])
def test_pile_plans_end_with_exactly_the_piles_asked(town, town_demand, total):
    result = plan_charging(town, town_demand, "charging", Params(), piles=total)
    sites = result.layers["sites"]
    assert sites["piles"].sum() == total == result.summary["piles_total"]
    assert (sites["piles_fast"] + sites["piles_slow"] == sites["piles"]).all()
    assert (sites["sessions"] <= sites["capacity"] + 1e-6).all()   # no station serves more than its piles can
    old = sites[sites["status"] == "existing"]
    assert old["site_id"].tolist() == ["node/90"] and old["piles"].tolist() == [4]
    assert old["piles_fast"].tolist() == [4]  # 60 kW sockets are fast DC
    assert result.summary["candidates_without_road_access"] == 1
    assert "node/99" not in set(sites["site_id"])


def test_pile_count_below_existing_piles_is_refused(town, town_demand):
    with pytest.raises(PlanError, match="below the 4 piles at the 1 existing"):
        plan_charging(town, town_demand, "charging", Params(), piles=3)


def test_zero_ev_share_is_a_clear_error(town, town_demand):
    params = load_params(overrides={"charging.ev_share": 0.0, "charging.charging.poi_sessions_day": {}})
    with pytest.raises(PlanError, match="ev_share is 0"):
        plan_charging(town, town_demand, "charging", params, count=3)


def test_count_plan_has_that_many_stations_and_capacity_holds(town, town_demand):
    result = plan_charging(town, town_demand, "charging", Params(), count=4)
    sites = result.layers["sites"]
    assert len(sites) == 4 and result.summary["sites_existing"] == 1 and result.summary["request_met"]
    assert (sites["sessions"] <= sites["capacity"] + 1e-6).all()
    demand = result.layers["demand"]
    served = demand["served"].to_numpy()
    assert np.all(served <= demand["sessions"].to_numpy() + 1e-6)
    assert served.sum() == pytest.approx(sites["sessions"].sum(), rel=1e-6)


def test_river_without_bridge_needs_a_station_on_its_own_bank(town):
    west = demand_points([[800, 1500], [800, 1600]], residents=3000.0)
    straight = coverage_from_radius(np.array([[800.0, 1500.0]]), np.array([[1100.0, 1500.0]]), 2000.0)
    assert straight.nnz == 1  # the existing station is 300 m away as the crow flies ...
    result = plan_charging(town, west, "charging", Params(), target=0.9)
    demand = result.layers["demand"]
    assert not demand["covered_before"].iloc[:2].any()  # ... but 3.2 km by road over the bridge at y=0
    proposed = result.layers["sites"].query("status == 'proposed'")
    assert len(proposed) >= 1 and (proposed.geometry.x < 950).all()
    assert demand["covered_after"].iloc[:2].all()
    coverage = result.layers["coverage"]
    assert set(coverage["layer"]) == {"service_area"} and set(coverage["state"]) == {"before", "after"}
    west_area = coverage[coverage["site_id"].isin(proposed["site_id"])].union_all()
    assert west_area.contains(shapely.Point(800, 1500))
    assert not west_area.contains(shapely.Point(1000, 1600))  # 100 m across the river, 3 km by road


def test_disconnected_demand_is_reported_not_crashed_on():
    island = lambda x1, y1, x2, y2: (np.maximum(x1, x2) >= 700) & (np.minimum(x1, x2) <= 700)  # noqa: E731
    area = grid_area(10, 10, 100.0, drop=island, pois=pois([("node/1", "parking", 200, 200, {"capacity": 100.0})]))
    pts = demand_points([[100, 100], [800, 800], [900, 900]], residents=1000.0)
    no_roadside = load_params(overrides={"charging.charging.roadside_spacing_m": None})
    result = plan_charging(area, pts, "charging", no_roadside, target=0.9)
    s = result.summary
    assert s["unreachable_points"] == 2 and s["coverage_ratio"] == pytest.approx(1 / 3, rel=1e-3)
    assert s["request_met"] is False and len(result.layers["gaps"]) >= 1
    assert result.layers["gaps"]["population"].sum() == pytest.approx(2000.0)


def test_plan_is_deterministic(town, town_demand):
    a = plan_charging(town, town_demand, "charging", Params(), piles=30)
    b = plan_charging(town, town_demand, "charging", Params(), piles=30)
    pd.testing.assert_frame_equal(pd.DataFrame(a.layers["sites"]), pd.DataFrame(b.layers["sites"]))
    assert json.dumps(a.summary, sort_keys=True, default=str) == json.dumps(b.summary, sort_keys=True, default=str)


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def demo():
    from siting.demand import build_demand
    from siting.io.osm import load_area

    area = load_area("demo", cache_dir=None, processed_dir=None)
    return area, build_demand(area, Params().demand)


def test_demo_keeps_its_four_charging_stations_and_uses_its_car_parks(demo):
    area, demand = demo
    cands = candidates_charging(area, "charging", ChargingParams())
    assert int(cands["fixed"].sum()) == 4
    parking = area.pois[area.pois["category"] == "parking"]
    assert len(parking) == 43
    street = parking["parking"].astype(str).isin(["inline", "lane", "street_side"])
    unmerged = candidates_charging(area, "charging", ChargingParams(charging={"merge_distance_m": 0}))
    assert unmerged["source"].str.startswith("parking").sum() == 43 - street.sum()
    # car parks closer than 50 m merge, keeping their spaces; those at an existing station go
    new, old = unmerged[~unmerged["fixed"]], unmerged[unmerged["fixed"]]
    at_station = new.geometry.apply(lambda p: old.distance(p).min() < 50.0).to_numpy()
    merged = cands[~cands["fixed"]]
    assert merged["capacity"].sum() == pytest.approx(new.loc[~at_station, "capacity"].sum())
    assert len(merged) < len(new) and shapely.distance(*np.meshgrid(merged.geometry, merged.geometry))[
        ~np.eye(len(merged), dtype=bool)].min() >= 50.0
    result = plan_charging(area, demand, "charging", Params(), piles=80)
    sites = result.layers["sites"]
    assert sites["piles"].sum() == 80 and (sites["status"] == "existing").sum() == 4
    assert (sites["sessions"] <= sites["capacity"] + 1e-6).all()
    assert result.summary["demand_served"] == pytest.approx(sites["sessions"].sum(), rel=1e-6)
    proposed, existing = sites["status"] == "proposed", sites["status"] == "existing"
    assert sites.loc[proposed, "sessions"].sum() > sites.loc[existing, "capacity"].sum()


def test_nanjing_plans_for_every_kind(shared_data):
    from siting.demand import build_demand
    from siting.io.osm import load_area

    area = load_area(shared_data / "osm/nanjing_xinjiekou_osm/osm_bbox.osm.xml", cache_dir=None, processed_dir=None)
    demand = build_demand(area, Params().demand)
    charging = plan_charging(area, demand, "charging", Params(), target=0.5)
    assert charging.summary["served_ratio"] >= 0.5 and charging.summary["coverage_ratio"] > 0.9
    sites = charging.layers["sites"]
    assert (sites["sessions"] <= sites["capacity"] + 1e-6).all()
    hydrogen = plan_charging(area, demand, "hydrogen", Params(), count=1)
    assert hydrogen.layers["sites"]["source"].tolist() == ["fuel"]  # the one fuel station of Xinjiekou
    basic = plan_charging(area, demand, "basic", Params(), piles=150)
    assert basic.summary["piles_total"] == 150 and basic.summary["piles_fast"] == 0
    # issue 20: roadside nodes 9 m apart, a car park 32 m from a commercial plot were two stations
    for plan, kind in ((plan_charging(area, demand, "basic", Params(), count=40), "basic"),
                       (plan_charging(area, demand, "charging", Params(), piles=300), "charging")):
        proposed = plan.layers["sites"].query("status == 'proposed'").geometry
        apart = shapely.distance(*np.meshgrid(proposed, proposed))[~np.eye(len(proposed), dtype=bool)]
        assert len(proposed) > 1 and apart.min() >= Params().charging.kind(kind).merge_distance_m


def test_cli_refuses_fewer_piles_than_exist_with_exit_status_2(tmp_path, monkeypatch, capsys):
    from siting.cli import main

    monkeypatch.chdir(tmp_path)  # the area cache goes to tmp_path/data
    with pytest.raises(SystemExit) as exit_info:
        main(["plan", "demo", "--kind", "charging", "--piles", "3", "--out", str(tmp_path / "out"), "--quiet"])
    assert exit_info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # pyrosm may print a progress line before
    assert last.startswith("siting: error: --piles 3 is below the 8 piles at the 4 existing stations")
    assert not (tmp_path / "out" / "sites.geojson").exists()


def test_roads_without_car_parks_get_roadside_candidates():
    area = grid_area(20, 20, 100.0)  # roads only: no POIs at all
    pts = demand_points([[300, 300], [1600, 1700]], residents=2000.0)
    cands = candidates_charging(area, "charging", ChargingParams(), demand=pts)
    assert len(cands) >= 2 and set(cands["source"]) == {"roadside"}
    assert cands["candidate_id"].str.startswith("roadside/").all()
    node_xy = area.road_nodes[["x", "y"]].to_numpy()
    xy = np.column_stack([cands.geometry.x, cands.geometry.y])
    assert np.isin(xy[:, 0] + 1j * xy[:, 1], node_xy[:, 0] + 1j * node_xy[:, 1]).all()  # on road nodes
    # every demand point has a roadside candidate within the spacing (1 km)
    assert (coverage_from_radius(pts[["geometry"]].get_coordinates().to_numpy(), xy, 1000.0).sum(axis=1) > 0).all()
    result = plan_charging(area, pts, "charging", Params(), target=0.9)
    assert result.summary["served_ratio"] >= 0.9 and result.summary["request_met"]


def test_count_is_honoured_even_when_fewer_stations_would_serve_everything(town):
    one_block = demand_points([[1500, 1500]], residents=100.0)  # a couple of sessions a day
    result = plan_charging(town, one_block, "charging", Params(), count=4)
    sites = result.layers["sites"]
    assert len(sites) == 4 and result.summary["request_met"]
    assert (sites["piles"] >= 1).all() and (sites["sessions"] <= sites["capacity"] + 1e-6).all()


def test_summary_headline_is_the_share_of_sessions_the_piles_serve(demo):
    area, demand = demo
    s = plan_charging(area, demand, "charging", Params(), piles=60).summary
    assert s["piles_total"] == 60 == s["piles_existing"] + s["piles_proposed"]
    assert s["sessions_total"] == pytest.approx(s["demand_total"]) and s["sessions_served"] < s["sessions_total"]
    head = s["headline"]
    assert head["measure"] == "sessions_served" and head["target"] is None
    assert head["value"] == pytest.approx(s["sessions_served"] / s["sessions_total"], abs=1e-6)
    assert 0.1 < head["value"] < 0.3 < s["coverage_ratio"]  # 60 piles serve a fifth, not the 98 % covered
    assert head["value_before"] < head["value"]


def test_swap_target_is_a_share_of_swaps_served(demo):
    area, demand = demo
    s = plan_charging(area, demand, "swap", Params(), target=0.9).summary
    head = s["headline"]
    assert head["target"] == 0.9 and "90% of battery swaps" in head["label"]
    assert head["value"] == s["sessions_served_ratio"] and (head["value"] >= 0.9) == s["request_met"]
    assert head["value_before"] == 0.0 and s["sites_proposed"] >= 1  # no swap stations yet: from 0 to the target
