"""Plans as the plans are written (issue 18): exact counts, phases, reserve sites, registry."""
from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest

from siting import radio
from siting.candidates import candidates_5g
from siting.cli import main
from siting.config import CapacityParams, Params, load_params
from siting.demand import build_demand
from siting.io.osm import load_area
from siting.solve import solve_mclp
from siting.pipeline import plan_area
from siting.registry import get_plan

REASONS = {"existing", "coverage", "capacity", "redundancy"}


@pytest.fixture(scope="module")
def demo():
    return load_area("demo")


@pytest.fixture(scope="module")
def nanjing(shared_data):
    return load_area(str(shared_data / "osm" / "nanjing_xinjiekou_osm" / "osm_bbox.osm.xml"))


@pytest.fixture(scope="module")
def roads(shared_data):
    return load_area(str(shared_data / "osm" / "shanghai_fengxian_roads_osm" / "map.osm"))


def _existing(area, n: int, ring: int = 0) -> gpd.GeoDataFrame:
    """``n`` existing sites at building-free demand points inside the area, and ``ring``
    more marked outside it (``in_area`` False), as ``read_sites`` gives them."""
    points = build_demand(area, Params().demand).points
    inside = points.iloc[np.linspace(0, len(points) - 1, n + ring).astype(int)].to_crs("EPSG:4326")
    return gpd.GeoDataFrame({"site_id": [f"s{i}" for i in range(n + ring)], "name": None,
                             "height_m": np.nan, "capacity": np.nan, "piles": np.nan,
                             "in_area": np.arange(n + ring) < n},
                            geometry=inside.geometry.to_numpy(), crs="EPSG:4326")


def _check_exact(result, count: int, existing_in_area: int = 0) -> None:
    s, sites = result.summary, result.layers["sites"]
    inside = sites[sites["in_area"]]
    assert s["sites_total"] == len(inside) == count
    assert s["sites_existing"] == existing_in_area
    assert set(sites["reason"]) <= REASONS
    assert sum(s["sites_by_reason"].values()) == count
    assert (inside["status"] == "existing").sum() == s["sites_by_reason"]["existing"] == existing_in_area
    assert sites["site_id"].is_unique


@pytest.mark.parametrize("with_existing", [False, True])
def test_demo_count_above_saturation_is_exact(demo, with_existing):
    existing = _existing(demo, 4) if with_existing else None
    result = plan_area(demo, "5g", Params(), existing=existing, count=45)
    _check_exact(result, 45, 4 if with_existing else 0)
    fill = result.summary["fill"]
    assert fill["coverage_saturated_at"] < 45  # the optimiser alone stops short
    assert result.summary["sites_by_reason"]["capacity"] + result.summary["sites_by_reason"]["redundancy"] > 0
    cap = fill["capacity"]
    assert cap["peak_load_bound"] <= cap["peak_load_after"] <= cap["peak_load_before"]
    red = fill["redundancy"]
    assert red["value_before"] <= red["value"] <= red["bound"] + 1e-6


@pytest.mark.parametrize("with_existing", [False, True])
def test_roads_only_extract_count_is_exact(roads, with_existing):
    existing = _existing(roads, 3, ring=2) if with_existing else None
    result = plan_area(roads, "5g", Params(), existing=existing, count=30)
    _check_exact(result, 30, 3 if with_existing else 0)
    sites = result.layers["sites"]
    if with_existing:  # ring sites stand as fixed coverage but are not counted
        assert result.summary["sites_existing_outside_area"] == 2
        assert ((sites["status"] == "existing") & ~sites["in_area"]).sum() == 2
    assert result.summary["sites_by_reason"]["redundancy"] > 0


def test_roads_only_capacity_count_is_exact(roads):
    result = plan_area(roads, "5g", load_params(overrides={"capacity.enabled": True}), count=25)
    _check_exact(result, 25)
    assert result.summary["headline"]["measure"] == "traffic_served"
    assert len(result.layers["sites"]["load"]) == 25


@pytest.mark.parametrize("with_existing", [False, True])
def test_nanjing_count_is_exact(nanjing, with_existing):
    existing = _existing(nanjing, 5) if with_existing else None
    result = plan_area(nanjing, "5g", Params(), existing=existing, count=120)
    _check_exact(result, 120, 5 if with_existing else 0)
    assert result.summary["fill"]["coverage_saturated_at"] < 120
    headline = result.summary["headline"]
    assert headline == {"label": "demand covered with the service it needs",
                        "value": result.summary["coverage_ratio"], "target": None, "measure": "demand_covered"}


def _matrix(area, params: Params):
    """Required-service coverage of every demo demand point by every candidate, computed
    densely from the link budget (not the planner's sparse pairs)."""
    demand = build_demand(area, params.demand)
    points = demand.points
    cands = candidates_5g(area, demand, params)
    rp = params.radio
    d = np.hypot(points.geometry.x.to_numpy()[:, None] - cands.geometry.x.to_numpy()[None, :],
                 points.geometry.y.to_numpy()[:, None] - cands.geometry.y.to_numpy()[None, :])
    scenario = radio.scenarios_for(cands["source"].to_numpy(), cands["env_class"].to_numpy())
    indoor = radio.indoor_required(points["env_class"].to_numpy(), rp)
    margin = radio.link_margin_db(d, np.broadcast_to(scenario, d.shape),
                                  np.broadcast_to(cands["height_m"].to_numpy(dtype=float), d.shape),
                                  budget=radio.link_budget(rp), indoor=np.broadcast_to(indoor[:, None], d.shape),
                                  params=rp)
    index = {cid: i for i, cid in enumerate(cands["candidate_id"])}
    return margin >= 0, points["weight"].to_numpy(dtype=float), index


def _covered(matrix, weights, sites) -> float:
    return float(weights[matrix[:, list(sites)].any(axis=1)].sum()) if len(sites) else 0.0


def test_phases_are_nested_and_each_at_least_greedy_from_the_previous(demo):
    result = plan_area(demo, "5g", Params(), phases="2020:8,2021:15,2022:24")
    sites = result.layers["sites"]
    assert sorted(sites["phase"].unique()) == [2020, 2021, 2022]
    assert [int((sites["phase"] <= y).sum()) for y in (2020, 2021, 2022)] == [8, 15, 24]
    matrix, weights, index = _matrix(demo, Params())
    previous: list[int] = []
    for row in result.summary["phases"]:
        phase = [index[s] for s in sites.loc[sites["phase"] <= row["year"], "site_id"]]
        assert set(previous) <= set(phase)  # nothing built earlier is un-built
        got = _covered(matrix, weights, phase)
        assert row["coverage_ratio"] == pytest.approx(got / weights.sum(), abs=1e-6)
        greedy = solve_mclp(matrix, weights, row["sites_total"], fixed=np.array(previous, dtype=int),
                            method="greedy")
        assert got >= greedy.objective - 1e-6
        assert row["gap_to_unnested"] >= 0 and row["unnested_bound_ratio"] >= row["unnested_coverage_ratio"]
        previous = phase


def test_registry_phases_scale_to_the_count(demo):
    result = plan_area(demo, "5g", Params(), phases="shiyan-2025", count=28)
    rows = result.summary["phases"]
    assert [r["year"] for r in rows] == [2020, 2025]
    assert [r["sites_total"] for r in rows] == [round(1702 * 28 / 7000), 28]


def test_reserve_sites_keep_the_stated_share_when_swapped_in(demo):
    params = Params()
    result = plan_area(demo, "5g", params, count=20, reserve=0.72)
    sites, reserves = result.layers["sites"], result.layers["reserve_sites"]
    summary = result.summary["reserve"]
    assert summary["reserve_sites"] == len(reserves) == round(0.72 * summary["sites_proposed"])
    assert reserves["site_id"].is_unique and not reserves["site_id"].isin(sites["site_id"]).any()
    matrix, weights, index = _matrix(demo, params)
    chosen = [index[s] for s in sites["site_id"]]
    whole = _covered(matrix, weights, chosen)
    checked = 0
    for row in reserves.itertuples():
        s = index[row.reserve_for]
        others = [j for j in chosen if j != s]
        marginal = whole - _covered(matrix, weights, others)
        if marginal > 0:  # a coverage site: the swap keeps 90 % of what it alone covers
            kept = _covered(matrix, weights, others + [index[row.site_id]]) - _covered(matrix, weights, others)
            assert kept >= 0.9 * marginal - 1e-6
            assert row.kept_share == pytest.approx(kept / marginal, abs=1e-3)
            checked += 1
    assert checked > 0
    rings = result.layers["search_rings"]
    assert set(rings["site_id"]) == set(sites.loc[sites["status"] == "proposed", "site_id"])
    for ring in rings.itertuples():  # every reserve stands inside its site's ring
        mine = reserves[reserves["reserve_for"] == ring.site_id]
        assert mine.within(ring.geometry).all()


def test_plan_writes_reserve_and_phase_layers(tmp_path):
    out = tmp_path / "plan"
    main(["plan", "demo", "--phases", "2020:5,2022:10", "--reserve", "guangzhou-2022", "--out", str(out), "--quiet"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reserve"]["ratio"] == pytest.approx(67000 / 38900 - 1, abs=1e-6)
    assert summary["sites_total"] == 10 and summary["headline"]["measure"] == "demand_covered"
    assert len(gpd.read_file(out / "reserve_sites.geojson")) == summary["reserve"]["reserve_sites"]
    rings = gpd.read_file(out / "layers.gpkg", layer="search_rings")
    assert len(rings) == 10 and set(rings.geom_type) <= {"Polygon", "MultiPolygon"}
    sites = gpd.read_file(out / "sites.geojson")
    assert set(sites["phase"]) == {2020, 2022} and "reason" in sites


@pytest.mark.parametrize("args, words", [
    (["--phases", "2022:30,2020:12"], "increasing order"),
    (["--phases", "2020:30,2022:12"], "decrease"),
    (["--phases", "2020 12"], "YEAR:COUNT"),
    (["--reserve", "-0.5", "--count", "10"], "negative"),
    (["--reserve", "40", "--count", "30"], "lower --reserve"),
    (["--count", "100000"], "exceeds"),
])
def test_bad_phases_reserve_and_count_are_one_line_errors(tmp_path, capsys, args, words):
    with pytest.raises(SystemExit) as exc:
        main(["plan", "demo", *args, "--out", str(tmp_path / "bad"), "--quiet"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and words in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()


def test_phase_below_the_existing_sites_is_refused(demo):
    from siting.errors import PlanError

    with pytest.raises(PlanError, match="fewer than the 4 existing"):
        plan_area(demo, "5g", Params(), existing=_existing(demo, 4), phases="2020:3,2022:10")


def test_charging_pile_counts_stay_exact(demo):
    result = plan_area(demo, "charging", Params(), piles=60)
    assert result.summary["piles_total"] == 60


def test_registry_carries_poles_users_phases_and_reserve_ratio():
    guangzhou = get_plan("guangzhou-2022")
    assert guangzhou.smart_poles == 34000 and guangzhou.subscribers.users_5g == 15_000_000
    assert guangzhou.reserve_ratio() == pytest.approx(0.7224, abs=1e-4)
    assert [(p.year, p.count) for p in get_plan("fuzhou-2022").phases] == [(2020, 12000), (2022, 30000)]
    shiyan = get_plan("shiyan-2025")
    assert shiyan.phases[0].count == shiyan.target("5g").existing == 1702


def test_plan_users_set_the_share_of_traffic():
    points = gpd.GeoDataFrame({"residents": [1000.0], "workers": [0.0], "road_m": [0.0], "priority": [1.0]},
                              geometry=gpd.points_from_xy([0.0], [0.0]))
    from siting.capacity import traffic_mbps

    users = get_plan("guangzhou-2022").param_overrides()
    full = traffic_mbps(points, CapacityParams())
    share = traffic_mbps(points, CapacityParams(users=users["capacity.users"],
                                                users_population=users["capacity.users_population"]))
    assert share[0] == pytest.approx(full[0] * 15_000_000 / 18_676_605)


def test_a_plan_id_brings_its_5g_users_into_the_capacity_parameters(tmp_path):
    from siting.request import PlanRequest
    from siting.workflow import plan_files

    outcome = plan_files("demo", PlanRequest(count=6, plan_id="guangzhou-2022"), tiles="none", out=tmp_path / "gz")
    capacity = outcome.summary["provenance"]["parameters"]["capacity"]
    assert capacity["users"] == 15_000_000 and capacity["users_population"] == 18_676_605
    assert outcome.summary["provenance"]["plan_id"] == "guangzhou-2022"
