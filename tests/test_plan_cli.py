"""`siting plan` end to end: the files a planner gets, checked against independent recomputation."""
from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from siting import radio
from siting.cli import main
from siting.config import Params
from siting.datums import wgs84_to_gcj02


def plan(*args: str) -> None:
    main(["plan", *args, "--quiet"])


@pytest.fixture(scope="module")
def demo_plan(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "5g"
    plan("demo", "--kind", "5g", "--count", "8", "--out", str(out))
    return out


def test_demo_plan_writes_every_output(demo_plan):
    names = {p.name for p in demo_plan.iterdir()}
    assert {"sites.geojson", "sites.csv", "coverage.geojson", "gaps.geojson", "summary.json", "layers.gpkg",
            "map.html", "population.tif"} <= names
    sites = json.loads((demo_plan / "sites.geojson").read_text())
    assert sites["type"] == "FeatureCollection" and "crs" not in sites
    props = [f["properties"] for f in sites["features"]]
    assert len(props) == 8
    assert sorted(p["rank"] for p in props if p["status"] == "proposed") == list(range(1, 9))
    assert all(p["marginal_gain"] > 0 for p in props)
    summary = json.loads((demo_plan / "summary.json").read_text())
    assert summary["sites_total"] == 8
    assert 0 < summary["coverage_ratio"] <= summary["bound"] / summary["demand_total"] + 1e-5


def test_coverage_ratio_matches_a_brute_force_recomputation(demo_plan):
    """Every demand point against every chosen site with dense distances: the sparse
    KD-tree pairs, the matrix and the optimiser's bookkeeping must agree with it."""
    demand = gpd.read_file(demo_plan / "layers.gpkg", layer="demand")
    sites = gpd.read_file(demo_plan / "layers.gpkg", layer="sites")
    rp = Params().radio
    budget = radio.link_budget(rp)
    d = np.hypot(demand.geometry.x.to_numpy()[:, None] - sites.geometry.x.to_numpy()[None, :],
                 demand.geometry.y.to_numpy()[:, None] - sites.geometry.y.to_numpy()[None, :])
    env_at_site = demand["env_class"].to_numpy()[np.argmin(d, axis=0)]
    scenario = radio.scenarios_for(sites["source"].to_numpy(), env_at_site)
    indoor = radio.indoor_required(demand["env_class"].to_numpy(), rp)
    margin = radio.link_margin_db(d, np.broadcast_to(scenario, d.shape), np.broadcast_to(sites["height_m"], d.shape),
                                  budget=budget, indoor=np.broadcast_to(indoor[:, None], d.shape), params=rp)
    covered = (margin >= 0).any(axis=1)
    assert np.array_equal(covered, demand["covered_after"].to_numpy(dtype=bool))
    w = demand["weight"].to_numpy()
    summary = json.loads((demo_plan / "summary.json").read_text())
    assert summary["coverage_ratio"] == pytest.approx(w[covered].sum() / w.sum(), abs=1e-6)


def test_nanjing_plan_keeps_existing_sites_given_in_gcj02(tmp_path, shared_data):
    osm = shared_data / "osm" / "nanjing_xinjiekou_osm" / "osm_bbox.osm.xml"
    wgs = np.array([[118.7790, 32.0420], [118.7850, 32.0390], [118.7760, 32.0360]])
    lon, lat = wgs84_to_gcj02(wgs[:, 0], wgs[:, 1])
    existing = tmp_path / "existing.csv"
    existing.write_text("name,lng,lat\n" + "".join(f"s{i},{x:.6f},{y:.6f}\n" for i, (x, y) in enumerate(zip(lon, lat))),
                        encoding="utf-8")
    out = tmp_path / "nj"
    plan(str(osm), "--kind", "5g", "--count", "12", "--existing", str(existing), "--existing-crs", "gcj02",
         "--out", str(out))
    sites = gpd.read_file(out / "sites.geojson")
    kept = sites[sites["status"] == "existing"]
    assert len(kept) == 3 and len(sites) == 12
    # converted back to WGS-84 on import: within a metre of where they really are
    got = np.column_stack([kept.geometry.x, kept.geometry.y])
    err_m = np.hypot((got[:, 0] - wgs[:, 0]) * 94_500, (got[:, 1] - wgs[:, 1]) * 111_000)
    assert err_m.max() < 1.0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["coverage_ratio"] >= summary["coverage_ratio_before"] > 0
    assert summary["area"]["crs"] == "EPSG:32650"


def ridge_dem(path: Path, lon0: float, lat0: float, height_m: float) -> Path:
    """A north-south ridge across the middle of a 0.06° × 0.04° window."""
    cols, rows = 240, 160
    lon = lon0 + (np.arange(cols) + 0.5) * 0.00025
    z = np.where(np.abs(lon - lon.mean()) < 0.001, height_m, 10.0).astype("float32")
    with rasterio.open(path, "w", driver="GTiff", width=cols, height=rows, count=1, dtype="float32",
                       crs="EPSG:4326", transform=from_origin(lon0, lat0 + rows * 0.00025, 0.00025, 0.00025)) as dst:
        dst.write(np.tile(z, (rows, 1)), 1)
    return path


def test_a_ridge_in_the_dem_removes_coverage_and_is_reported(tmp_path, demo_plan):
    dem = ridge_dem(tmp_path / "ridge.tif", 24.914, 60.150, 400.0)
    out = tmp_path / "dem"
    plan("demo", "--kind", "5g", "--count", "8", "--dem", str(dem), "--out", str(out))
    with_dem = json.loads((out / "summary.json").read_text())
    flat = json.loads((demo_plan / "summary.json").read_text())
    assert with_dem["terrain"]["pairs_terrain_blocked"] > 0
    assert with_dem["terrain"]["dem_files"] == ["ridge.tif"]
    assert with_dem["coverage_ratio"] < flat["coverage_ratio"]
    assert "Hillshade" in (out / "map.html").read_text()


def test_capacity_plan_explains_the_count_and_respects_capacity(tmp_path, shared_data):
    osm = shared_data / "osm" / "nanjing_xinjiekou_osm" / "osm_bbox.osm.xml"
    out = tmp_path / "cap"
    plan(str(osm), "--kind", "5g", "--target", "0.8", "--capacity", "--out", str(out))
    summary = json.loads((out / "summary.json").read_text())
    count = summary["capacity"]["count"]
    # a dense business district: busy-hour traffic, not reach, sets the number of sites
    assert count["driver"] == "capacity-led"
    assert count["capacity_sites"] > count["coverage_sites"]
    assert summary["sites_total"] == count["capacity_sites"]
    sites = gpd.read_file(out / "sites.geojson")
    assert (sites["load"] <= Params().capacity.max_load + 1e-9).all()
    assert summary["capacity"]["served_ratio"] >= 0.8 - 1e-6
    assert (out / "capacity_gaps.geojson").exists()


def test_charging_by_drive_time_is_recorded_and_bad_metric_refused(tmp_path, capsys):
    out = tmp_path / "time"
    plan("demo", "--kind", "charging", "--count", "6", "--metric", "time", "--out", str(out))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["provenance"]["parameters"]["charging"]["metric"] == "time"
    assert summary["sites_total"] <= 6
    with pytest.raises(SystemExit) as exc:
        plan("demo", "--kind", "charging", "--count", "6", "--metric", "hours", "--out", str(tmp_path / "bad"))
    assert exc.value.code == 2 and "charging.metric" in capsys.readouterr().err
