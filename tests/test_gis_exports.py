"""GIS exports: RFC 7946 GeoJSON layers, a GeoPackage in the metric CRS, sites.csv with lon/lat."""
from __future__ import annotations

import csv
import json
import re

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import CRS as ProjCRS

from siting.io.export import write_plan
from siting.result import PlanResult
from test_maps import CRS, SUMMARY, X0, Y0, synthetic_layers


def ring_area(ring) -> float:
    """Shoelace signed area of a lon/lat ring: > 0 counter-clockwise."""
    xy = np.asarray(ring, dtype=float)
    return 0.5 * float(np.sum(xy[:-1, 0] * xy[1:, 1] - xy[1:, 0] * xy[:-1, 1]))


def polygons(geometry: dict) -> list:
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"]]
    if geometry["type"] == "MultiPolygon":
        return geometry["coordinates"]
    return []


def positions(coords) -> list:
    if isinstance(coords[0], (int, float)):
        return [coords]
    return [p for c in coords for p in positions(c)]


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory):
    layers = synthetic_layers(6)
    # a clockwise exterior with a counter-clockwise hole: the exporter must turn both around
    outer = shapely.Polygon([(X0, Y0), (X0, Y0 + 900), (X0 + 900, Y0 + 900), (X0 + 900, Y0)],
                            holes=[[(X0 + 300, Y0 + 300), (X0 + 600, Y0 + 300), (X0 + 600, Y0 + 600), (X0 + 300, Y0 + 600)]])
    gaps = layers["gaps"].copy()
    gaps.loc[len(gaps)] = [3, 50.0, 5.0, 60.0, 0.72, outer]
    layers["gaps"] = gaps
    out = tmp_path_factory.mktemp("plan")
    write_plan(PlanResult(kind="5g", area_slug="test", crs=CRS, layers=layers, summary=SUMMARY), out)
    return out, layers


@pytest.mark.parametrize("name", ["sites", "coverage", "gaps"])
def test_geojson_layers_follow_rfc7946(plan_dir, name):
    out, layers = plan_dir
    text = (out / f"{name}.geojson").read_text(encoding="utf-8")
    doc = json.loads(text)
    assert doc["type"] == "FeatureCollection" and "crs" not in doc  # RFC 7946 §4: no crs member
    assert len(doc["features"]) == len(layers[name])
    pts = np.array([p for f in doc["features"] for p in positions(f["geometry"]["coordinates"])])
    assert pts.shape[1] == 2
    assert np.all(np.abs(pts[:, 0]) <= 180) and np.all(np.abs(pts[:, 1]) <= 90)
    assert np.all((pts[:, 0] > 118) & (pts[:, 0] < 119.5) & (pts[:, 1] > 31.5) & (pts[:, 1] < 32.5))  # lon, lat order
    decimals = [len(m) for m in re.findall(r"-?\d+\.(\d+)", json.dumps([f["geometry"] for f in doc["features"]]))]
    assert max(decimals) <= 7  # RFC 7946 §11.2: precision that matches the data
    for f in doc["features"]:
        assert f["type"] == "Feature" and isinstance(f["properties"], dict)
        for poly in polygons(f["geometry"]):
            assert ring_area(poly[0]) > 0  # §3.1.6: exterior rings counter-clockwise
            assert all(ring_area(h) < 0 for h in poly[1:])  # holes clockwise
            assert all(r[0] == r[-1] and len(r) >= 4 for r in poly)


def test_hole_survives_and_keeps_its_area(plan_dir):
    out, _ = plan_dir
    doc = json.loads((out / "gaps.geojson").read_text(encoding="utf-8"))
    holed = [f for f in doc["features"] if f["properties"]["gap_id"] == 3][0]["geometry"]
    assert holed["type"] == "Polygon" and len(holed["coordinates"]) == 2
    area = gpd.GeoSeries([shapely.geometry.shape(holed)], crs="EPSG:4326").to_crs(CRS).area.iloc[0]
    assert area == pytest.approx(900 * 900 - 300 * 300, rel=1e-3)


def test_geojson_points_match_the_metric_sites(plan_dir):
    out, layers = plan_dir
    doc = json.loads((out / "sites.geojson").read_text(encoding="utf-8"))
    got = np.array([f["geometry"]["coordinates"] for f in doc["features"]])
    back = gpd.GeoSeries(shapely.points(got), crs="EPSG:4326").to_crs(CRS)
    dist = back.distance(layers["sites"].geometry.reset_index(drop=True))
    assert dist.max() < 0.2  # 6 decimals of a degree: about 0.1 m
    assert [f["properties"]["site_id"] for f in doc["features"]] == list(layers["sites"]["site_id"])


def test_geopackage_keeps_every_layer_in_the_metric_crs(plan_dir):
    out, layers = plan_dir
    listed = {str(n) for n, _ in pyogrio.list_layers(out / "layers.gpkg")}
    assert set(layers) <= listed
    for name in layers:
        crs = ProjCRS.from_user_input(pyogrio.read_info(out / "layers.gpkg", layer=name)["crs"])
        assert crs.is_projected and crs.to_epsg() == 32650
        back = gpd.read_file(out / "layers.gpkg", layer=name)
        assert len(back) == len(layers[name])
    sites = gpd.read_file(out / "layers.gpkg", layer="sites")
    assert np.allclose(sites.geometry.x, layers["sites"].geometry.x)


def test_sites_csv_has_lon_lat_for_spreadsheets(plan_dir):
    out, layers = plan_dir
    with open(out / "sites.csv", newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:2] == ["lon", "lat"]
    wgs = layers["sites"].to_crs("EPSG:4326")
    np.testing.assert_allclose([float(r["lon"]) for r in rows], wgs.geometry.x, atol=1e-6)
    np.testing.assert_allclose([float(r["lat"]) for r in rows], wgs.geometry.y, atol=1e-6)
    assert [r["status"] for r in rows] == list(layers["sites"]["status"])


def test_csv_opens_with_a_byte_order_mark_and_keeps_chinese_names(tmp_path):
    """Excel on Chinese Windows reads a CSV as UTF-8 only when it starts with the BOM."""
    import pandas as pd

    from siting.io.export import write_csv
    from siting.io.sites import read_sites

    table = pd.DataFrame({"id": ["NJ001", "NJ002"], "name": ["新街口 站", "鼓楼区"], "lon": [118.78, 118.79],
                          "lat": [32.04, 32.05]})
    write_csv(tmp_path / "sites.csv", table)
    data = (tmp_path / "sites.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and data.count(b"\xef\xbb\xbf") == 1
    assert data[3:].decode("utf-8").splitlines()[1] == "NJ001,新街口 站,118.780000,32.040000"
    back = pd.read_csv(tmp_path / "sites.csv")
    assert list(back.columns) == ["id", "name", "lon", "lat"] and list(back["name"]) == ["新街口 站", "鼓楼区"]
    assert len(read_sites(tmp_path / "sites.csv")) == 2  # siting reads its own CSV back as existing sites


def test_coverage_geojson_is_dissolved_simplified_and_keeps_its_area(tmp_path):
    """Per-station service areas: one simplified polygon per state in GeoJSON, every full one in the GeoPackage."""
    from siting.io.export import write_geojson

    rng = np.random.default_rng(3)
    n = 40
    centres = shapely.points(X0 + rng.uniform(0, 4000, n), Y0 + rng.uniform(0, 4000, n))
    areas = shapely.buffer(centres, rng.uniform(300, 700, n), quad_segs=64)  # detailed outlines, as road reaches
    fixed = np.arange(n) < 10
    coverage = gpd.GeoDataFrame({
        "layer": "service_area", "state": np.r_[np.full(fixed.sum(), "before"), np.full(n, "after")],
        "site_id": [f"s{i}" for i in np.r_[np.flatnonzero(fixed), np.arange(n)]],
        "population": 100.0, "demand": 10.0, "radius_m": 500.0, "area_km2": 0.5},
        geometry=np.r_[areas[fixed], areas], crs=CRS)
    layers = {**synthetic_layers(3), "coverage": coverage}
    out = tmp_path / "plan"
    write_plan(PlanResult(kind="charging", area_slug="t", crs=CRS, layers=layers, summary=SUMMARY), out)
    write_geojson(tmp_path / "full.geojson", coverage)  # what coverage.geojson used to be
    doc = json.loads((out / "coverage.geojson").read_text(encoding="utf-8"))
    assert "crs" not in doc and [f["properties"]["state"] for f in doc["features"]] == ["after", "before"]
    for f in doc["features"]:
        for poly in polygons(f["geometry"]):
            assert ring_area(poly[0]) > 0 and all(ring_area(h) < 0 for h in poly[1:])  # RFC 7946 §3.1.6
        assert all(-180 <= x <= 180 and -90 <= y <= 90 for x, y in positions(f["geometry"]["coordinates"]))
    assert (out / "coverage.geojson").stat().st_size < (tmp_path / "full.geojson").stat().st_size / 5
    drawn = gpd.read_file(out / "coverage.geojson").to_crs(CRS).set_index("state")
    full = gpd.read_file(out / "layers.gpkg", layer="coverage")
    assert len(full) == len(coverage)  # the GeoPackage keeps every station's full-resolution service area
    for state in ("before", "after"):
        exact = shapely.union_all(full[full["state"] == state].geometry.to_numpy()).area
        assert drawn.geometry[state].area == pytest.approx(exact, rel=0.005)  # stated tolerance: 0.5 %
        assert drawn["area_km2"][state] == pytest.approx(exact / 1e6, rel=1e-4)
