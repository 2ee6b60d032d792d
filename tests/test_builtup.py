"""Built-up model from roads, POIs and landuse where buildings are unmapped (issue 17)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from shapely.geometry import LineString, Point, box

from siting import builtup
from siting.demand import ENV_SOURCES, build_demand, environment_layer
from siting.vocab import ENV_CLASSES_SPARSEST_FIRST as ENV_CLASSES
from siting.errors import InputError
from affine import Affine
from test_demand import CRS, P, X0, Y0, make_area, persons, raster_demand, write_raster


def _street_grid(size: float, pitch: float, highway: str = "residential"):
    lines = [LineString([(X0, Y0 + y), (X0 + size, Y0 + y)]) for y in np.arange(pitch / 2, size, pitch)]
    lines += [LineString([(X0 + x, Y0), (X0 + x, Y0 + size)]) for x in np.arange(pitch / 2, size, pitch)]
    return [(line, highway) for line in lines]


def test_shipped_model_carries_its_spatial_cross_validation():
    model = builtup.shipped_model()
    cv = model.info["cross_validation"]
    assert "GroupKFold" in cv["method"] and "blocks" in cv["method"]
    assert 0.5 < cv["class_agreement"] <= 1 and cv["class_within_one"] > 0.9
    assert set(model.info["training"]) >= {"nanjing_xinjiekou", "helsinki_demo"}


def test_denser_street_grids_with_shops_are_more_built_up():
    sparse = make_area(size=2000, roads=_street_grid(2000, 500))
    dense = make_area(size=2000, roads=_street_grid(2000, 100),
                      pois=[(Point(X0 + x, Y0 + y), "shop") for x in range(50, 2000, 200) for y in range(50, 2000, 200)])
    a, b = build_demand(sparse, P), build_demand(dense, P)
    assert b.info["residents_total"] > 2 * a.info["residents_total"] > 0
    rank = {c: i for i, c in enumerate(ENV_CLASSES)}
    assert b.grid["env_class"].map(rank).mean() > a.grid["env_class"].map(rank).mean()


def test_roads_only_area_is_populated_and_classed_by_the_model_and_says_so():
    d = build_demand(make_area(size=1500, roads=_street_grid(1500, 150)), P)
    assert d.info["demand_source"] == "model"
    assert set(d.grid["env_source"]) == {"model"}
    assert d.info["residents_total"] > 0
    assert d.info["residents_by_source"]["model"] == pytest.approx(d.info["residents_total"])
    by_class = d.info["by_class"]
    assert sum(v["cells"] for v in by_class.values()) == d.info["cells"] == len(d.grid)
    assert sum(v["env_source"]["model"] for v in by_class.values()) == d.info["builtup_model"]["cells"] == len(d.grid)
    assert d.info["builtup_model"]["residents_share"] == pytest.approx(1.0)
    assert "class_agreement" in d.info["builtup_model"]["cross_validation"]
    transfer = d.info["builtup_model"]["leave_one_area_out"]   # the honest figure for an unseen area
    assert {"nanjing_xinjiekou", "shenzhen_nanshan"} <= set(transfer)
    assert all(0 <= v["class_agreement"] <= 1 for v in transfer.values())
    layer = environment_layer(d)
    assert list(layer.columns[:4]) == ["row", "col", "env_class", "env_source"] and len(layer) == len(d.grid)
    assert set(layer["env_class"]) <= set(ENV_CLASSES) and set(layer["env_source"]) <= set(ENV_SOURCES)


def test_census_total_goes_where_the_model_puts_floor_area():
    area = make_area(size=2000, roads=_street_grid(1000, 100) + _street_grid(2000, 1000))
    d = build_demand(area, P.model_copy(update={"population": 50_000}))
    assert d.grid["residents"].sum() == pytest.approx(50_000)
    west = d.grid.geometry.centroid.x < X0 + 1000
    south = d.grid.geometry.centroid.y < Y0 + 1000
    quarter = west & south
    assert d.grid.loc[quarter, "residents"].mean() > 2 * d.grid.loc[~quarter, "residents"].mean()


def _residents_per_km2_within_1km(grid) -> np.ndarray:
    """Brute force, cell by cell: residents per km² of the cells inside the area within 5 cells (an 11-cell,
    1.1 km window: 1 km rounded to an odd number of 100 m cells), every cell a full 100 m x 100 m."""
    row, col, res = (grid[c].to_numpy() for c in ("row", "col", "residents"))
    out = np.empty(len(grid))
    for k in range(len(grid)):
        near = (np.abs(row - row[k]) <= 5) & (np.abs(col - col[k]) <= 5)
        out[k] = res[near].sum() / (near.sum() * 0.01)
    return out


def test_a_city_census_density_makes_unmapped_cells_urban_and_says_so():
    # issue 17: roads-only cells the model calls rural or suburban, where a census puts a city's density
    area = make_area(size=2000, roads=_street_grid(2000, 400))
    rank = {c: i for i, c in enumerate(ENV_CLASSES)}
    plain = build_demand(area, P)
    assert plain.info["env_classes"]["urban"] + plain.info["env_classes"]["dense_urban"] == 0
    d = build_demand(area, P.model_copy(update={"population": 15_000 * 4.0}))   # a Chinese core: 15,000 per km²
    density = _residents_per_km2_within_1km(d.grid)
    populated = d.grid["residents"].to_numpy() > 0
    classes = d.grid["env_class"].map(rank).to_numpy()
    assert (populated & (density >= 1500)).sum() > 0.9 * len(d.grid)
    assert (classes[populated & (density >= 1500)] >= rank["urban"]).all()
    lifted = d.grid["env_source"].to_numpy() == "census"
    assert lifted.sum() > 0.9 * len(d.grid) and (classes[lifted] == rank["urban"]).all()
    assert d.info["by_class"]["urban"]["env_source"]["census"] == lifted.sum()
    assert d.info["env_classes"]["dense_urban"] == 0   # density alone never makes dense urban


def test_a_rural_census_density_and_mapped_buildings_keep_their_classes():
    area = make_area(size=2000, roads=_street_grid(2000, 400))
    village = build_demand(area, P.model_copy(update={"population": 250 * 4.0}))   # below DEGURBA's 300 per km²
    assert (village.grid["env_class"] == build_demand(area, P).grid["env_class"]).all()
    assert "census" not in set(village.grid["env_source"])
    houses = make_area(buildings=[(box(X0 + x, Y0 + y, X0 + x + 20, Y0 + y + 20), "house", 2, np.nan)
                                  for x in range(0, 1000, 100) for y in range(0, 1000, 100)])
    crowded = build_demand(houses, P.model_copy(update={"population": 30_000}))   # 30,000 per km² in two-floor houses
    mapped = crowded.grid["env_source"].to_numpy() == "buildings"
    assert mapped.all()
    assert (crowded.grid["env_class"] == build_demand(houses, P).grid["env_class"]).all()


def test_a_raster_density_raises_classes_where_it_counts_a_city_and_not_where_it_counts_fields(tmp_path):
    # two 1.5 km pixels: 5,000 residents per km² west, 100 east, over one roads-only street grid
    tif = write_raster(tmp_path / "pop.tif", np.array([[7500.0, 150.0]]), Affine(1500, 0, X0, 0, -1500, Y0 + 1500), CRS)
    area = make_area(size=3000, boundary=box(X0, Y0, X0 + 3000, Y0 + 1500), roads=_street_grid(3000, 400))
    plain, d = build_demand(area, P), raster_demand(area, P, tif)
    x = d.grid.geometry.centroid.x.to_numpy() - X0
    west, east = x < 900, x > 2100   # farther than the 550 m half-window from the pixels' border
    assert (d.grid.loc[west, "env_class"] == "urban").all() and (d.grid.loc[west, "env_source"] == "raster").all()
    assert (d.grid.loc[east, "env_class"] == plain.grid.loc[east, "env_class"]).all()
    assert (d.grid.loc[east, "env_source"] == plain.grid.loc[east, "env_source"]).all()


def test_model_off_keeps_road_demand_only():
    d = build_demand(make_area(size=1500, roads=_street_grid(1500, 150)), P.model_copy(update={"builtup_model": False}))
    assert d.info["demand_source"] == "roads" and d.info["residents_total"] == 0
    assert d.info["builtup_model"] == {"used": False, "cells": 0, "cell_share": 0.0, "residents_share": 0.0}


def test_census_far_below_the_mapped_buildings_is_refused_in_one_line():
    towers = [(box(X0 + x, Y0 + y, X0 + x + 40, Y0 + y + 40), "apartments", 20, np.nan)
              for x in range(0, 1000, 100) for y in range(0, 1000, 100)]
    area = make_area(buildings=towers)
    held = 100 * persons(1600, 20)
    with pytest.raises(InputError, match="far below") as exc:
        build_demand(area, P.model_copy(update={"population": 0.05 * held}))
    assert "\n" not in str(exc.value) and exc.value.exit_code == 2
    assert build_demand(area, P.model_copy(update={"population": 0.5 * held})).info["residents_total"] == pytest.approx(0.5 * held)


def test_area_without_usable_roads_or_buildings_is_refused():
    paths = [(LineString([(X0, Y0 + 500), (X0 + 1000, Y0 + 500)]), "footway")]
    with pytest.raises(InputError, match="no buildings, landuse or usable roads") as exc:
        build_demand(make_area(roads=paths), P)
    assert exc.value.exit_code == 2


# ------------------------------------------------------------------ validation by removal on shared data

def _load(source):
    osm = pytest.importorskip("siting.io.osm")
    return osm.load_area(source)


def _stripped(area):
    return replace(area, buildings=area.buildings.iloc[:0])


@pytest.mark.parametrize("rel, dense", [("osm/nanjing_xinjiekou_osm/osm_bbox.osm.xml", 100), ("demo", 50)])
def test_well_mapped_extract_without_buildings_keeps_its_classes_and_residents(shared_data, rel, dense):
    # issue 17: at least 80 % of cells keep their class, residents within 20 % (measured: Nanjing 85 %, -4 %;
    # Helsinki 90 %, +3 %; these extracts are in the model's training data, see benchmarks/RESULTS.md)
    area = _load("demo" if rel == "demo" else shared_data / rel)
    full, bare = build_demand(area, P), build_demand(_stripped(area), P)
    agree = (full.grid["env_class"].to_numpy() == bare.grid["env_class"].to_numpy()).mean()
    assert agree >= 0.8
    assert bare.info["residents_total"] == pytest.approx(full.info["residents_total"], rel=0.2)
    assert bare.info["env_classes"]["dense_urban"] > dense


@pytest.mark.parametrize("rel", ["osm/shanghai_fengxian_roads_osm/map.osm", "osm/fujian_ninghua_osm/map.osm"])
def test_roads_only_suburbs_and_county_towns_do_not_turn_dense(shared_data, rel):
    area = _load(shared_data / rel)
    d = build_demand(_stripped(area), P)
    assert d.info["env_classes"]["dense_urban"] == 0
    assert d.info["env_classes"]["urban"] < 0.2 * d.info["cells"]
    assert d.info["residents_total"] / area.area_km2 < 10_000   # not a city core


def test_plan_command_refuses_a_census_far_below_the_buildings_with_exit_status_2(tmp_path, capsys):
    cli = pytest.importorskip("siting.cli")
    with pytest.raises(SystemExit) as exc:
        cli.main(["plan", "demo", "--count", "3", "--population", "100", "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "far below" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


ONLY_FOOTWAYS = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="test">
 <bounds minlat="31.2000" minlon="121.4000" maxlat="31.2100" maxlon="121.4100"/>
 <node id="1" lat="31.2010" lon="121.4010"/><node id="2" lat="31.2050" lon="121.4050"/>
 <node id="3" lat="31.2090" lon="121.4090"/>
 <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="footway"/></way>
</osm>
"""


@pytest.mark.parametrize("kind", ["5g", "charging"])
def test_plan_command_refuses_a_roads_only_area_without_usable_roads(tmp_path, capsys, kind):
    cli = pytest.importorskip("siting.cli")
    osm = tmp_path / "paths.osm"
    osm.write_text(ONLY_FOOTWAYS, encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        cli.main(["plan", str(osm), "--kind", kind, "--count", "3", "--population", "5000",
                  "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "no drivable roads" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
