"""Plan registry, district files and quotas."""
from __future__ import annotations

import json
from fractions import Fraction

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from siting.cli import main
from siting.errors import ConfigError, InputError, PlanError
from siting.io.districts import districts_from_osm, read_districts
from siting.plans import (check_extent, check_plan_area, check_quotas_fit, demand_by_district, district_census,
                          district_pole_budgets, district_quotas, existing_by_district, with_census)
from siting.registry import Plan, get_plan, load_plans, read_plan


def grid_districts(n: int, size: float = 0.01) -> gpd.GeoDataFrame:
    """``n`` side-by-side square districts near Nanjing (lon/lat)."""
    return gpd.GeoDataFrame({"district": [f"d{i}" for i in range(n)]},
                            geometry=[shapely.box(118.78 + i * size, 32.04, 118.78 + (i + 1) * size, 32.04 + size)
                                      for i in range(n)], crs="EPSG:4326")


# --- registry --------------------------------------------------------------------------

def test_registry_carries_every_figure_of_plans_md():
    plans = load_plans()
    assert set(plans) == {"fuzhou-2020", "fuzhou-2022", "fujian-2022", "guangzhou-2022", "shiyan-2025",
                          "digital-fuzhou-2020"}
    assert plans["fuzhou-2020"].target("5g").count == 12000
    assert plans["fuzhou-2020"].target("5g").qualifier == "more_than"
    assert plans["fuzhou-2020"].target("charging").count == 7500
    assert plans["fuzhou-2022"].target("5g").count == 30000
    charging_2022 = plans["fuzhou-2022"].target("charging", category=None)
    assert charging_2022.count == 9500 and "read as 2022" in charging_2022.note
    assert plans["fujian-2022"].target("5g").count == 80000
    gz = plans["guangzhou-2022"]
    assert gz.target("5g", "site_locations").count == 67000
    assert gz.target("5g", "site_locations").unit == "site_locations"
    assert gz.target("charging").count == 55000 and gz.target("charging").unit == "piles"
    assert gz.target("hydrogen").count == 3 and gz.target("hydrogen").per_year
    assert gz.coverage[0].share == 0.95
    sy = plans["shiyan-2025"]
    assert sy.target("5g").count == 7000 and sy.target("5g").existing == 1702 and sy.target("5g").new == 5298
    assert sy.target("depot").count == 1268 and sy.target("charging", "public").count == 955
    assert sy.target("basic").count == 11600 and sy.target("charging", "all").count == 13800
    assert {"transport_hub", "scenic"} <= set(sy.priorities)
    assert plans["digital-fuzhou-2020"].coverage[0].technology == "4G+"


def test_guangzhous_34000_smart_poles_go_to_districts_as_their_new_sites_do():
    gz = load_plans()["guangzhou-2022"]
    assert gz.param_overrides()["candidates.smart_pole_budget"] == 34_000
    names = pd.Series(["Yuexiu", "Haizhu", "Tianhe", "Baiyun", "Huangpu", "Panyu", "Huadu", "Nansha", "Conghua",
                       "Zengcheng", "Liwan"]).to_numpy()
    quotas = pd.Series([2100, 3300, 4200, 5600, 3100, 4700, 3000, 2500, 1400, 2900, 1000]).to_numpy()
    budgets = district_pole_budgets(34_000, quotas, names)
    assert int(budgets.sum()) == 34_000
    ideal = 34_000 * quotas / quotas.sum()
    assert (abs(budgets - ideal) < 1).all()
    assert budgets[names == "Baiyun"][0] > budgets[names == "Liwan"][0]
    # no new sites anywhere: an even split, still summing to the budget (ties to the earlier name)
    even = dict(zip(names, district_pole_budgets(10, quotas * 0, names).tolist()))
    assert sum(even.values()) == 10 and even["Zengcheng"] == 0 and set(even.values()) == {0, 1}


def test_ambiguous_or_missing_target_asks_for_category_or_kind():
    gz = load_plans()["guangzhou-2022"]
    with pytest.raises(PlanError, match="several 5g targets.*--category"):
        gz.target("5g")
    with pytest.raises(PlanError, match="no swap target with a count"):
        gz.target("swap")


PLAN = """\
id: my-city
name: My city 5G plan
area: My city
year: 2024
source: council decision
targets:
  - kind: 5g
    unit: base_stations
    count: 12
  - kind: charging
    unit: piles
    count: {count}
"""


@pytest.mark.parametrize("count, message", [
    ("-5", "field 'targets.1.count' (line 12): Input should be greater than or equal to 0"),
    ("12.5", "field 'targets.1.count' (line 12): Input should be a valid integer"),
    ('"40"', "field 'targets.1.count' (line 12): Input should be a valid integer"),
])
def test_plan_file_with_bad_count_names_field_and_line(tmp_path, count, message):
    f = tmp_path / "bad.yaml"
    f.write_text(PLAN.format(count=count), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        read_plan(f)
    assert message in str(err.value)


def test_plan_file_unknown_key_and_missing_field(tmp_path):
    f = tmp_path / "typo.yaml"
    f.write_text(PLAN.format(count=3).replace("    count: 12\n", "    cuont: 12\n"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown field 'targets.0.cuont' \(line 9\)"):
        read_plan(f)
    f.write_text(PLAN.format(count=3).replace("year: 2024\n", ""), encoding="utf-8")
    with pytest.raises(ConfigError, match="field 'year': Field required"):
        read_plan(f)


def test_user_plans_dir_adds_plans_and_refuses_a_duplicate_id(tmp_path):
    (tmp_path / "mine.yaml").write_text(PLAN.format(count=40), encoding="utf-8")
    assert get_plan("my-city", tmp_path).target("charging").count == 40
    assert get_plan(tmp_path / "mine.yaml").target("5g").count == 12
    (tmp_path / "again.yaml").write_text(PLAN.format(count=41), encoding="utf-8")
    with pytest.raises(ConfigError, match="plan id 'my-city' is defined in both"):
        load_plans(tmp_path)
    with pytest.raises(InputError, match="no plan 'nowhere'.*siting plans list"):
        get_plan("nowhere")


def test_cli_plans_list_and_show(capsys, tmp_path):
    main(["plans", "list"])
    out = capsys.readouterr().out
    assert "guangzhou-2022" in out and "38,900" in out and "67,000" in out
    main(["plans", "show", "shiyan-2025", "--json"])
    shown = json.loads(capsys.readouterr().out)
    assert shown["targets"][0]["existing"] == 1702
    (tmp_path / "mine.yaml").write_text(PLAN.format(count="-1"), encoding="utf-8")
    with pytest.raises(SystemExit) as ex:
        main(["plans", "list", "--plans-dir", str(tmp_path)])
    assert ex.value.code == 2
    assert "siting: error: plan file" in capsys.readouterr().err


# --- quotas ----------------------------------------------------------------------------

def test_quotas_follow_demand_minus_existing_with_a_worked_example():
    d = grid_districts(3)
    demand = pd.DataFrame({"residents": [600.0, 300.0, 100.0], "workers": 0.0, "road_km": 0.0},
                          index=["d0", "d1", "d2"])
    q = district_quotas(d, demand, 20, {"d0": 10}, weights={"residents": 1.0})
    # city after building: 30 sites; due 18, 9, 3; d0 has 10 -> needs 8; 8 + 9 + 3 = 20
    assert q["quota"].tolist() == [8, 9, 3]
    assert q["due"].round(6).tolist() == [18.0, 9.0, 3.0]
    assert q["explanation"][0].startswith("60.0% of demand (residents 60.0%) -> due 18.0 of 30 sites; 10 existing -> 8 new")


def test_over_served_district_gets_nothing_and_minimum_is_honoured():
    d = grid_districts(3)
    demand = pd.DataFrame({"residents": [1.0, 1.0, 1.0], "workers": 0.0, "road_km": 0.0}, index=["d0", "d1", "d2"])
    q = district_quotas(d, demand, 6, {"d0": 50}, weights={"residents": 1.0})
    assert q["quota"].tolist() == [0, 3, 3]
    assert "already at or above its share" in q["explanation"][0]
    q = district_quotas(d, demand, 6, {"d0": 50}, weights={"residents": 1.0}, minimum=1)
    assert q["quota"].tolist() == [1, 3, 2]  # 5 left over split 2.5 / 2.5: the tie goes to d1
    assert q["quota"].sum() == 6 and "raised to the minimum" in q["explanation"][0]
    with pytest.raises(PlanError, match="minimum 3 per district x 3 districts = 9 exceeds the target 6"):
        district_quotas(d, demand, 6, minimum=3)


def test_largest_remainder_ties_go_to_the_earlier_name():
    d = grid_districts(3)
    demand = pd.DataFrame({"residents": [1.0, 1.0, 1.0], "workers": 0.0, "road_km": 0.0}, index=["d0", "d1", "d2"])
    assert district_quotas(d, demand, 4, weights={"residents": 1}).quota.tolist() == [2, 1, 1]
    assert district_quotas(d, demand, 5, weights={"residents": 1}).quota.tolist() == [2, 2, 1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 5_000), st.integers(0, 300), st.integers(0, 30)),
                min_size=1, max_size=12),
       st.integers(0, 5_000), st.integers(0, 3))
def test_quotas_sum_exactly_and_are_the_hamilton_apportionment(rows, target, minimum):
    n = len(rows)
    if sum(r[0] + r[1] + r[2] for r in rows) == 0 or minimum * n > target:
        return
    d = grid_districts(n)
    demand = pd.DataFrame([r[:3] for r in rows], columns=["residents", "workers", "road_km"],
                          index=d["district"]).astype(float)
    existing = pd.Series([r[3] for r in rows], index=d["district"])
    q = district_quotas(d, demand, target, existing, minimum=minimum)
    assert int(q["quota"].sum()) == target
    assert (q["quota"] >= minimum).all()
    if minimum == 0:  # independent exact-fraction Hamilton apportionment of the clipped needs
        w = {"residents": Fraction(1, 2), "workers": Fraction(3, 10), "road_km": Fraction(1, 5)}
        cols = [k for k, i in zip(w, range(3)) if sum(r[i] for r in rows) > 0]
        idx = {"residents": 0, "workers": 1, "road_km": 2}
        wsum = sum(w[k] for k in cols)
        share = [sum(w[k] / wsum * Fraction(r[idx[k]], sum(x[idx[k]] for x in rows)) for k in cols) for r in rows]
        total = target + sum(r[3] for r in rows)
        need = [max(total * s - r[3], Fraction(0)) for s, r in zip(share, rows)]
        if sum(need) == 0:
            need = share
        ideal = [x * target / sum(need) for x in need]
        floors = [int(x) for x in ideal]
        order = sorted(range(n), key=lambda i: (-(ideal[i] - floors[i]), d["district"][i]))
        for i in order[:target - sum(floors)]:
            floors[i] += 1
        assert q["quota"].tolist() == floors


def test_quota_weights_follow_the_chosen_measure():
    d = grid_districts(2)
    demand = pd.DataFrame({"residents": [900.0, 100.0], "workers": [100.0, 900.0], "road_km": [1.0, 1.0]},
                          index=["d0", "d1"])
    assert district_quotas(d, demand, 10, weights={"residents": 1}).quota.tolist() == [9, 1]
    assert district_quotas(d, demand, 10, weights={"workers": 1}).quota.tolist() == [1, 9]
    with pytest.raises(PlanError, match="unknown quota weight jobs"):
        district_quotas(d, demand, 10, weights={"jobs": 1})


# --- districts -------------------------------------------------------------------------

def test_districts_file_errors(tmp_path):
    d = grid_districts(3)
    f = tmp_path / "d.geojson"
    d.rename(columns={"district": "label"}).to_file(f)
    with pytest.raises(InputError, match="no district name column \\(columns: label\\): pass --name-column"):
        read_districts(f)
    assert read_districts(f, "label")["district"].tolist() == ["d0", "d1", "d2"]
    with pytest.raises(InputError, match="no column 'nom'"):
        read_districts(f, "nom")
    d.assign(district=["a", "b", "a"]).to_file(f)
    with pytest.raises(InputError, match="duplicate district names a"):
        read_districts(f)
    overlapping = d.copy()
    overlapping.loc[1, "geometry"] = shapely.box(118.785, 32.04, 118.80, 32.05)  # half inside d0
    overlapping.to_file(f)
    with pytest.raises(InputError, match="districts overlap \\(d0 / d1\\)"):
        read_districts(f)
    with pytest.raises(InputError, match="does not exist"):
        read_districts(tmp_path / "none.geojson")


def test_district_outside_the_osm_extent_is_refused():
    d = grid_districts(3)
    extent = shapely.box(118.78, 32.04, 118.80, 32.05)  # covers d0 and d1 only
    with pytest.raises(InputError, match="districts d2 lie outside the OSM extent"):
        check_extent(d, extent, 0.5)
    check_extent(d.iloc[:2], extent, 0.5)


def test_demand_road_km_and_existing_by_district():
    crs = "EPSG:32650"  # districts given in metres: two 1 km squares side by side
    d = gpd.GeoDataFrame({"district": ["d0", "d1"]},
                         geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000)], crs=crs)
    points = gpd.GeoDataFrame({"residents": [10.0, 5.0, 7.0, 3.0], "workers": [1.0, 0.0, 2.0, 4.0]},
                              geometry=shapely.points([(500, 500), (100, 900), (1500, 500), (1000, 500)]), crs=crs)
    edges = gpd.GeoDataFrame({"u": [1, 2]}, geometry=[shapely.LineString([(100, 500), (1900, 500)]),
                                                      shapely.LineString([(1200, 100), (1200, 400)])], crs=crs)
    out = demand_by_district(d, points, edges)
    # the point on the shared border counts once, in the first district
    assert out["residents"].tolist() == [18.0, 7.0] and out["workers"].tolist() == [5.0, 2.0]
    assert out["road_km"].tolist() == pytest.approx([0.9, 0.9 + 0.3])
    sites = gpd.GeoDataFrame(geometry=shapely.points([(1500, 500), (1600, 500), (500, 500)]), crs=crs)
    assert existing_by_district(d, sites.to_crs("EPSG:4326")).tolist() == [1, 2]
    assert existing_by_district(d, None).tolist() == [0, 0]


ADMIN_XML = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6">
  <node id="1" lat="32.00" lon="118.70"/><node id="2" lat="32.00" lon="118.72"/>
  <node id="3" lat="32.02" lon="118.72"/><node id="4" lat="32.02" lon="118.70"/>
  <node id="5" lat="32.00" lon="118.74"/><node id="6" lat="32.02" lon="118.74"/>
  <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>
    <tag k="boundary" v="administrative"/><tag k="admin_level" v="6"/><tag k="name" v="鼓楼区"/></way>
  <way id="11"><nd ref="2"/><nd ref="5"/><nd ref="6"/><nd ref="3"/><nd ref="2"/>
    <tag k="boundary" v="administrative"/><tag k="admin_level" v="6"/><tag k="name" v="玄武区"/></way>
  <way id="12"><nd ref="1"/><nd ref="5"/><tag k="boundary" v="administrative"/><tag k="admin_level" v="8"/></way>
</osm>
"""


def test_districts_from_osm_admin_boundaries(tmp_path):
    f = tmp_path / "admin.osm"
    f.write_text(ADMIN_XML, encoding="utf-8")
    d = districts_from_osm(f)
    assert d["district"].tolist() == ["玄武区", "鼓楼区"]
    assert d.geometry.iloc[1].symmetric_difference(shapely.box(118.70, 32.00, 118.72, 32.02)).area < 1e-12
    # level 8 has only an open boundary way (as in extracts cut from a bigger map, e.g. Nanjing's)
    with pytest.raises(InputError, match="admin.osm holds no closed administrative boundaries at admin_level 8"):
        districts_from_osm(f, "8")


# --- census ----------------------------------------------------------------------------

def test_registry_carries_the_2020_census_of_every_seed_plans_city():
    plans = load_plans()
    figures = {"fuzhou-2020": 8_291_268, "fuzhou-2022": 8_291_268, "digital-fuzhou-2020": 8_291_268,
               "fujian-2022": 41_540_086, "guangzhou-2022": 18_676_605, "shiyan-2025": 3_209_004}
    for plan_id, population in figures.items():
        census = plans[plan_id].census
        assert census.population == population and census.year == 2020
        assert "7th national population census" in census.source and census.area_km2 > 0
    assert plans["shiyan-2025"].census.households == 1_169_185
    # residents per km²: from a county-rich province to a metropolis
    assert 300 < plans["fujian-2022"].census.population / plans["fujian-2022"].census.area_km2 < 400
    assert 2400 < plans["guangzhou-2022"].census.population / plans["guangzhou-2022"].census.area_km2 < 2600


def census_plan(**census) -> Plan:
    return Plan.model_validate({"id": "c", "name": "c", "area": "My city", "year": 2024, "source": "s",
                                "targets": [{"kind": "5g", "unit": "base_stations", "count": 10}],
                                "census": {"year": 2020, "source": "test", **census}})


def test_census_comes_from_the_districts_file_then_the_registry_then_a_spread_city_total():
    d = grid_districts(3)
    modelled = pd.Series([100.0, 300.0, 600.0], index=["d0", "d1", "d2"])
    column = district_census(d.assign(population=[5, 6, 7]), census_plan(population=99), modelled, 1.0, 0.9)
    assert column["population"].tolist() == [5, 6, 7] and set(column["census_source"]) == {"districts file"}
    named = census_plan(population=99, districts={f"d{i}": {"population": 10 * i, "employment": i} for i in range(3)})
    by_name = district_census(d, named, modelled, 0.1, 0.9)
    assert by_name["population"].tolist() == [0, 10, 20] and by_name["employment"].tolist() == [0, 1, 2]
    spread = district_census(d, census_plan(population=1001, households=400), modelled, 0.95, 0.9)
    assert spread["population"].tolist() == [100, 300, 601]  # whole people, summing to the city total
    assert spread["households"].sum() == 400 and spread["employment"].isna().all()
    assert "spread by modelled residents" in spread["census_source"].iloc[0]
    # districts that are a small part of the city do not get its whole total
    assert district_census(d, census_plan(population=1001), modelled, 0.2, 0.9).empty
    assert district_census(d, None, modelled, 1.0, 0.9).empty
    demand = pd.DataFrame({"residents": [1.0, 1.0, 1.0], "workers": 2.0, "road_km": 3.0}, index=["d0", "d1", "d2"])
    used = with_census(demand, spread)
    assert used["residents"].tolist() == [100, 300, 601] and used["workers"].tolist() == [2.0, 2.0, 2.0]


@pytest.mark.parametrize("values, message", [
    (["12", "abc", "3"], "column 'population' holds 'abc' for district d1 (1 such rows)"),
    ([1, -4, 3], "column 'population' holds '-4' for district d1"),
    ([1, None, 3], "column 'population' is empty for district d1"),
])
def test_a_population_column_with_text_or_negative_numbers_is_refused(tmp_path, values, message):
    f = tmp_path / "d.geojson"
    grid_districts(3).assign(population=values).to_file(f)
    with pytest.raises(InputError) as err:
        read_districts(f)
    assert message in str(err.value) and "give every district a number of population >= 0" in str(err.value)


def test_districts_file_census_columns_are_read_as_whole_numbers(tmp_path):
    f = tmp_path / "d.geojson"
    grid_districts(2).assign(population=["1200", 800.4], households=[400, 300]).to_file(f)
    d = read_districts(f)
    assert d["population"].tolist() == [1200, 800] and d["households"].tolist() == [400, 300]


def test_plan_of_a_bigger_city_is_flagged_by_area_or_by_density():
    plan = census_plan(population=3_209_004, area_km2=23_666)
    note = check_plan_area(plan, "5g", 5298, 10.0, 100.0, 0.5)
    assert note.startswith("plan c is for My city (23,666 km²), but these districts cover 10.0 km²")
    assert "5,298 new 5g sites go to them (530 per km²)" in note and "pass --target N" in note
    assert check_plan_area(plan, "5g", 5298, 20_000.0, 100.0, 0.5) is None
    no_area = census_plan(population=10)
    assert "these districts cover 10.0 km²" in check_plan_area(no_area, "5g", 5298, 10.0, 100.0, 0.5)
    assert check_plan_area(no_area, "5g", 500, 10.0, 100.0, 0.5) is None


def test_quotas_beyond_the_candidates_are_refused_with_the_numbers():
    quotas = pd.DataFrame({"district": ["a", "b", "c"], "quota": [5, 40, 2]})
    check_quotas_fit(quotas.assign(quota=[5, 30, 2]), pd.Series({"a": 5, "b": 30, "c": 9}))
    with pytest.raises(PlanError) as err:
        check_quotas_fit(quotas, pd.Series({"a": 5, "b": 30, "c": 9}))
    assert str(err.value) == ("quotas exceed the candidate sites in 1 of 3 districts (b 40 > 30): these districts "
                              "hold 44 candidates for 47 new sites; pass a smaller --target, or a plan for this city")
