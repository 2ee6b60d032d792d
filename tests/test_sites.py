"""Existing-sites reader and the GCJ-02 / BD-09 datum transforms."""
from __future__ import annotations

import json
import math
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from siting.datums import bd09_to_wgs84, gcj02_to_wgs84, wgs84_to_bd09, wgs84_to_gcj02
from siting.errors import InputError
from siting.io.sites import read_sites


def _scalar_gcj(lon: float, lat: float) -> tuple[float, float]:
    """An independent, scalar transcription of eviltransform's wgs2gcj (Go source)."""
    a, ee = 6378245.0, 0.00669342162296594323
    if not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271):
        return lon, lat
    x, y = lon - 105.0, lat - 35.0
    ret_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret_lat += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret_lat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret_lat += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    ret_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret_lon += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret_lon += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret_lon += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * math.pi
    magic = 1 - ee * math.sin(rad) ** 2
    sm = math.sqrt(magic)
    d_lat = (ret_lat * 180.0) / ((a * (1 - ee)) / (magic * sm) * math.pi)
    d_lon = (ret_lon * 180.0) / (a / sm * math.cos(rad) * math.pi)
    return lon + d_lon, lat + d_lat


def _metres(dlon: np.ndarray, dlat: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return np.hypot(np.asarray(dlon) * 111_320.0 * np.cos(np.radians(lat)), np.asarray(dlat) * 110_574.0)


def test_gcj02_known_pair_tiananmen():
    lon, lat = wgs84_to_gcj02(116.397, 39.908)
    assert lon == pytest.approx(116.40324, abs=2e-5)
    assert lat == pytest.approx(39.90940, abs=2e-5)


def test_gcj02_matches_independent_scalar_implementation():
    rng = np.random.default_rng(7)
    lon = rng.uniform(73, 135, 200)
    lat = rng.uniform(18, 53, 200)
    glon, glat = wgs84_to_gcj02(lon, lat)
    expected = np.array([_scalar_gcj(a, b) for a, b in zip(lon, lat)])
    np.testing.assert_allclose(glon, expected[:, 0], atol=1e-12)
    np.testing.assert_allclose(glat, expected[:, 1], atol=1e-12)
    # the offset is what DOMAIN.md says: tens to hundreds of metres, never kilometres
    off = _metres(glon - lon, glat - lat, lat)
    assert off.min() > 1 and off.max() < 1500


def test_gcj02_inverse_is_exact_to_a_centimetre():
    rng = np.random.default_rng(1)
    lon = rng.uniform(73, 135, 500)
    lat = rng.uniform(18, 53, 500)
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert _metres(back_lon - lon, back_lat - lat, lat).max() < 0.01


def test_bd09_round_trip_and_offset():
    lon, lat = np.array([116.397, 119.296, 113.94]), np.array([39.908, 26.074, 22.54])
    blon, blat = wgs84_to_bd09(lon, lat)
    # Baidu adds about 0.0065 / 0.006 degrees on top of GCJ-02
    off = _metres(blon - lon, blat - lat, lat)
    assert np.all((off > 500) & (off < 1500))
    back = bd09_to_wgs84(blon, blat)
    assert _metres(back[0] - lon, back[1] - lat, lat).max() < 0.01


def test_outside_china_unchanged():
    lon, lat = np.array([24.94, -74.0, 151.2]), np.array([60.17, 40.7, -33.9])
    glon, glat = wgs84_to_gcj02(lon, lat)
    np.testing.assert_array_equal(glon, lon)
    np.testing.assert_array_equal(glat, lat)
    wlon, wlat = gcj02_to_wgs84(lon, lat)
    np.testing.assert_array_equal(wlon, lon)


# ----------------------------------------------------------------------------- read_sites

#: Nanjing Xinjiekou, WGS-84
NANJING = SimpleNamespace(boundary_wgs84=box(118.76, 32.02, 118.80, 32.07))


def write(tmp_path, name: str, text: str, encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_wgs84_columns_and_values(tmp_path):
    path = write(tmp_path, "sites.csv",
                 "site_id,name,lon,lat,height,capacity,piles,operator\n"
                 "A1,Xinjiekou,118.7843,32.0415,30 m,8,4,State Grid\n"
                 "A2,Gulou,118.7785,32.0598,,,2,\n")
    g = read_sites(path)
    assert g.crs.to_epsg() == 4326
    assert list(g.columns[:5]) == ["site_id", "name", "height_m", "capacity", "piles"]
    assert list(g["site_id"]) == ["A1", "A2"] and g["name"].iloc[0] == "Xinjiekou"
    assert g["height_m"].iloc[0] == 30 and np.isnan(g["height_m"].iloc[1])
    assert g["capacity"].iloc[0] == 8 and list(g["piles"]) == [4, 2]
    assert g["operator"].iloc[0] == "State Grid" and pd.isna(g["operator"].iloc[1])
    assert g.geometry.x.tolist() == [118.7843, 118.7785] and g.geometry.y.tolist() == [32.0415, 32.0598]
    assert "lon" not in g.columns


def test_chinese_headers_gbk_and_gcj02(tmp_path):
    # Amap (GCJ-02) coordinates of two points, in a GBK-encoded export with Chinese headers
    wgs = np.array([[118.7843, 32.0415], [118.7785, 32.0598]])
    gcj = np.column_stack(wgs84_to_gcj02(wgs[:, 0], wgs[:, 1]))
    rows = "\n".join(f"站{i},{lon:.9f},{lat:.9f}" for i, (lon, lat) in enumerate(gcj))
    path = write(tmp_path, "amap.csv", "名称,经度,纬度\n" + rows + "\n", encoding="gbk")
    g = read_sites(path, crs="gcj02")
    got = np.column_stack([g.geometry.x, g.geometry.y])
    assert _metres(got[:, 0] - wgs[:, 0], got[:, 1] - wgs[:, 1], wgs[:, 1]).max() < 0.01
    assert list(g["name"]) == ["站0", "站1"] and list(g["site_id"]) == ["site-1", "site-2"]
    assert g.attrs["sites"]["datum"] == "gcj02"


def test_bd09_input(tmp_path):
    blon, blat = wgs84_to_bd09(118.7843, 32.0415)
    path = write(tmp_path, "baidu.csv", f"lng,lat\n{float(blon):.10f},{float(blat):.10f}\n")
    g = read_sites(path, crs="BD-09")
    assert _metres(g.geometry.x.iloc[0] - 118.7843, g.geometry.y.iloc[0] - 32.0415, 32.04) < 0.01


def test_text_in_coordinates_names_row_and_column(tmp_path):
    path = write(tmp_path, "s.csv", "name,longitude,latitude\na,118.78,32.04\nb,118.79,北纬32度\n")
    with pytest.raises(InputError, match=r"row 2, column 'latitude': '北纬32度' is not a number"):
        read_sites(path)


def test_no_usable_coordinates(tmp_path):
    with pytest.raises(InputError, match="no longitude/latitude columns"):
        read_sites(write(tmp_path, "s.csv", "name,address\na,Zhongshan Road 1\n"))
    with pytest.raises(InputError, match="no rows with both longitude and latitude"):
        read_sites(write(tmp_path, "t.csv", "name,lon,lat\na,,\nb,118.7,\n"))


def test_rows_without_coordinates_skipped_with_warning(tmp_path):
    path = write(tmp_path, "s.csv", "name,lon,lat\na,118.78,32.04\nb,,\n")
    with pytest.warns(UserWarning, match="1 rows without coordinates skipped"):
        g = read_sites(path)
    assert list(g["name"]) == ["a"]


def test_swapped_by_range(tmp_path):
    path = write(tmp_path, "s.csv", "name,lat,lon\na,118.78,32.04\n")   # headers the wrong way round
    with pytest.warns(UserWarning, match="longitude and latitude look swapped"):
        g = read_sites(path)
    assert (g.geometry.x.iloc[0], g.geometry.y.iloc[0]) == (118.78, 32.04)
    assert g.attrs["sites"]["swapped"] is True


def test_swapped_by_area(tmp_path):
    # (lon, lat) = (30.5, 114.3) would be valid numbers, but only the swapped reading is in Wuhan
    wuhan = SimpleNamespace(boundary_wgs84=box(114.2, 30.4, 114.4, 30.6))
    path = write(tmp_path, "s.csv", "x,y\n30.5,114.3\n30.52,114.31\n")
    with pytest.warns(UserWarning, match="swapped"):
        g = read_sites(path, area=wuhan)
    assert g.geometry.x.tolist() == [114.3, 114.31]
    assert g.attrs["sites"]["outside_area"] == 0


def test_outside_area_warning_with_count(tmp_path):
    path = write(tmp_path, "s.csv", "lon,lat\n118.78,32.04\n118.90,32.04\n119.5,33.0\n")
    with pytest.warns(UserWarning, match="2 of 3 sites lie outside the area"):
        g = read_sites(path, area=NANJING)
    assert len(g) == 3 and g.attrs["sites"]["outside_area"] == 2


def test_out_of_range_coordinates(tmp_path):
    with pytest.raises(InputError, match="row 2 has longitude 500"):
        read_sites(write(tmp_path, "s.csv", "lon,lat\n118.78,32.04\n500,32\n"))


def test_geojson_points(tmp_path):
    path = write(tmp_path, "s.geojson", json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "mast 1", "height": 35, "id": "M1"},
         "geometry": {"type": "Point", "coordinates": [118.7843, 32.0415]}},
        {"type": "Feature", "properties": {"name": "mast 2", "height": None, "id": "M2"},
         "geometry": {"type": "Point", "coordinates": [118.7785, 32.0598]}}]}))
    g = read_sites(path, area=NANJING)
    assert list(g["site_id"]) == ["M1", "M2"] and g["height_m"].iloc[0] == 35
    assert g.geometry.x.tolist() == [118.7843, 118.7785]


def test_geojson_non_points_refused(tmp_path):
    path = write(tmp_path, "s.geojson", json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "LineString", "coordinates": [[118, 32], [118.1, 32]]}}]}))
    with pytest.raises(InputError, match="feature 1 is a LineString, not a point"):
        read_sites(path)


@pytest.mark.parametrize("name, content, kwargs, message", [
    ("missing.csv", None, {}, "does not exist"),
    ("sites.xls", b"\xd0\xcf", {}, "unsupported sites file type"),
    ("sites.xlsx", b"PK", {}, "sites.xlsx is not a readable .xlsx workbook"),
    ("empty.csv", b"", {}, "is empty"),
    ("s.csv", b"lon,lat\n1,2\n", {"crs": "utm"}, "unknown coordinate datum"),
    ("dup.csv", b"id,lon,lat\nA,118.7,32\nA,118.8,32\n", {}, "site id 'A' appears more than once"),
    ("bad.geojson", b"{not json", {}, "not readable GeoJSON"),
])
def test_bad_sites_files(tmp_path, name, content, kwargs, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_sites(path, **kwargs)


@pytest.mark.parametrize("sep", [";", "\t"])
def test_semicolon_and_tab_separated(tmp_path, sep):
    path = write(tmp_path, "s.csv", sep.join(["name", "lon", "lat"]) + "\n" + sep.join(["a", "118.78", "32.04"]) + "\n")
    g = read_sites(path)
    assert (g.geometry.x.iloc[0], g.geometry.y.iloc[0], g["name"].iloc[0]) == (118.78, 32.04, "a")


# ----------------------------------------------------------------------------- GIS exports (issue 20)

#: two sites in Xinjiekou, WGS-84
XJK = [(118.7843, 32.0415), (118.7785, 32.0598)]


def qgis_geojson(coords, crs_urn: str | None = "urn:ogc:def:crs:OGC:1.3:CRS84") -> str:
    """A FeatureCollection as QGIS exports it: a name, a crs member, every attribute as a property."""
    doc = {"type": "FeatureCollection", "name": "existing_sites", "features": [
        {"type": "Feature", "properties": {"fid": i + 1, "id": f"NJ00{i + 1}", "operator": op, "azimuth": az,
                                           "lon": lon, "lat": lat, "remark": None},
         "geometry": {"type": "Point", "coordinates": [x, y]}}
        for i, ((x, y), (lon, lat), op, az) in enumerate(zip(coords, XJK, ["China Mobile", None], [120, 240.5]))]}
    if crs_urn:
        doc["crs"] = {"type": "name", "properties": {"name": crs_urn}}
    return json.dumps(doc)


def test_qgis_geojson_with_extra_properties(tmp_path):
    g = read_sites(write(tmp_path, "sites.geojson", qgis_geojson(XJK)))
    assert list(g["site_id"]) == ["NJ001", "NJ002"]
    assert g["operator"].iloc[0] == "China Mobile" and pd.isna(g["operator"].iloc[1])
    assert list(g["azimuth"]) == [120, 240.5] and g["remark"].isna().all()
    assert g.geometry.x.tolist() == [118.7843, 118.7785]


def _gauss_kruger(coords, epsg: int = 4549):
    from pyproj import Transformer

    to = Transformer.from_crs(4326, epsg, always_xy=True)
    return [to.transform(lon, lat) for lon, lat in coords]


def test_geojson_in_cgcs2000_gauss_kruger_is_reprojected(tmp_path):
    xy = _gauss_kruger(XJK)
    assert 380_000 < xy[0][0] < 390_000                                     # the "longitude 384009" of the report
    g = read_sites(write(tmp_path, "gk.geojson", qgis_geojson(xy, "urn:ogc:def:crs:EPSG::4549")), area=NANJING)
    got = np.column_stack([g.geometry.x, g.geometry.y])
    want = np.array(XJK)
    assert _metres(got[:, 0] - want[:, 0], got[:, 1] - want[:, 1], want[:, 1]).max() < 0.01
    assert g.attrs["sites"]["reprojected_from"] == "EPSG:4549" and g["in_area"].all()


def test_projected_coordinates_without_crs_name_the_crs(tmp_path):
    path = write(tmp_path, "gk.geojson", qgis_geojson(_gauss_kruger(XJK), crs_urn=None))
    with pytest.raises(InputError, match=r"projected metres.*look like EPSG:4549 \(CGCS2000 / 3-degree Gauss-Kruger "
                                         r"CM 120E\): pass --existing-crs EPSG:4549"):
        read_sites(path, area=NANJING)
    with pytest.raises(InputError, match=r"x 385173, y 3547101 are projected metres.*--existing-crs \(e\.g\. EPSG:4549"):
        read_sites(path)
    # with a zone number in front of the easting (zone 40: CM 120E) the CRS is known without the area
    zoned = _gauss_kruger(XJK, 4528)
    assert 40e6 < zoned[0][0] < 41e6
    with pytest.raises(InputError, match=r"look like EPSG:4528 \(CGCS2000 / 3-degree Gauss-Kruger zone 40\)"):
        read_sites(write(tmp_path, "zoned.csv", "X,Y\n" + "\n".join(f"{x:.2f},{y:.2f}" for x, y in zoned) + "\n"))


def test_csv_in_a_named_projected_crs(tmp_path):
    rows = "\n".join(f"{x:.3f},{y:.3f}" for x, y in _gauss_kruger(XJK))
    g = read_sites(write(tmp_path, "gk.csv", "X,Y\n" + rows + "\n"), crs="EPSG:4549")
    assert g.geometry.x.to_numpy() == pytest.approx([118.7843, 118.7785], abs=1e-7)


# ----------------------------------------------------------------------------- city-wide lists (issue 20)

def test_city_wide_list_keeps_the_area_and_its_edge(tmp_path):
    """12 sites in the area, 6 within the buffer around it, 30 across the city up to 250 km away."""
    rng = np.random.default_rng(3)
    inside = np.column_stack([rng.uniform(118.765, 118.795, 12), rng.uniform(32.025, 32.065, 12)])
    ring = np.column_stack([np.full(6, 118.80 + 0.005), np.linspace(32.03, 32.06, 6)])  # ~470 m east of the edge
    far = np.column_stack([rng.uniform(118.9, 121.0, 30), rng.uniform(32.1, 33.5, 30)])
    pts = np.vstack([inside, ring, far])
    rows = "\n".join(f"NJ{i + 1:03d},{lon:.6f},{lat:.6f}" for i, (lon, lat) in enumerate(pts))
    path = write(tmp_path, "city.csv", "站号,经度,纬度\n" + rows + "\n")
    with pytest.warns(UserWarning, match=r"city.csv: 30 of 48 sites lie more than 1,500 m outside the area and were "
                                         r"left out; 6 closer to it are kept but not counted as the area's own"):
        g = read_sites(path, area=NANJING, buffer_m=1500)
    assert len(g) == 18 and int(g["in_area"].sum()) == 12
    assert list(g.loc[~g["in_area"], "site_id"]) == [f"NJ{i:03d}" for i in range(13, 19)]
    info = g.attrs["sites"]
    assert (info["in_area"], info["outside_area"], info["beyond_buffer"], info["buffer_m"]) == (12, 36, 30, 1500)
    # without a buffer nothing is left out; in_area still tells the area's own sites
    with pytest.warns(UserWarning, match="36 of 48 sites lie outside the area"):
        assert int(read_sites(path, area=NANJING)["in_area"].sum()) == 12


# ----------------------------------------------------------------------------- spreadsheets (issue 14)

@pytest.mark.parametrize("lon_header, lat_header", [
    ("Longitude (E)", "Latitude (N)"), ("经度", "纬度"), ("经度（°）", "纬度（°）"), ("lng", "lat"), ("X", "Y"),
    ("LONGITUDE", "LATITUDE"),
])
def test_xlsx_and_header_spellings(tmp_path, lon_header, lat_header):
    path = tmp_path / "sites.xlsx"
    pd.DataFrame({"站号": ["NJ001", "NJ002"], "名称": ["新街口", "鼓楼"], lon_header: [118.7843, 118.7785],
                  lat_header: [32.0415, 32.0598], "运营商": ["移动", ""]}).to_excel(path, index=False)
    g = read_sites(path, area=NANJING)
    assert list(g["site_id"]) == ["NJ001", "NJ002"] and list(g["name"]) == ["新街口", "鼓楼"]
    assert g.geometry.x.tolist() == [118.7843, 118.7785] and g.geometry.y.tolist() == [32.0415, 32.0598]
    assert g["运营商"].iloc[0] == "移动" and pd.isna(g["运营商"].iloc[1])


@pytest.mark.parametrize("alias, datum", [("amap", "gcj02"), ("Tencent", "gcj02"), ("gaode", "gcj02"),
                                          ("baidu", "bd09"), ("GCJ-02", "gcj02"), ("gps", "wgs84")])
def test_map_service_names_as_datums(tmp_path, alias, datum):
    forward = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09, "wgs84": lambda x, y: (x, y)}[datum]
    lon, lat = forward(118.7843, 32.0415)
    g = read_sites(write(tmp_path, "s.csv", f"lon,lat\n{float(lon):.10f},{float(lat):.10f}\n"), crs=alias)
    assert g.attrs["sites"]["datum"] == datum
    assert _metres(g.geometry.x.iloc[0] - 118.7843, g.geometry.y.iloc[0] - 32.0415, 32.04) < 0.01


# ----------------------------------------------------------------------------- datum check on real roads (issue 14)

@pytest.fixture(scope="module")
def nanjing(shared_data):
    from siting.io.osm import load_area

    return load_area(shared_data / "osm" / "nanjing_xinjiekou_osm" / "osm_bbox.derived.osm.pbf", processed_dir=None)


def _road_node_sites(area, n: int = 30) -> np.ndarray:
    nodes = area.road_nodes.to_crs(4326)
    pick = np.random.default_rng(5).choice(len(nodes), n, replace=False)
    return np.column_stack([nodes.geometry.x.to_numpy()[pick], nodes.geometry.y.to_numpy()[pick]])


def _datum_warnings(path, **kw) -> list[str]:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_sites(path, **kw)
    return [str(w.message) for w in caught if "look like" in str(w.message)]


def test_gcj02_points_declared_wgs84_are_named(tmp_path, nanjing):
    wgs = _road_node_sites(nanjing)
    gcj = np.column_stack(wgs84_to_gcj02(wgs[:, 0], wgs[:, 1]))
    rows = "\n".join(f"{lon:.7f},{lat:.7f}" for lon, lat in gcj)
    path = write(tmp_path, "amap.csv", "lng,lat\n" + rows + "\n")
    [message] = _datum_warnings(path, area=nanjing)
    assert re.search(r"amap.csv: the sites sit a median \d+ m from the nearest road as WGS-84 but 0 m as GCJ-02 "
                     r"\(Amap, Tencent\): they look like GCJ-02 \(Amap, Tencent\) coordinates; if so, pass "
                     r"--existing-crs gcj02", message), message
    assert _datum_warnings(path, area=nanjing, crs="gcj02") == []          # declared right: quiet
    plain = write(tmp_path, "gps.csv", "lng,lat\n" + "\n".join(f"{a:.7f},{b:.7f}" for a, b in wgs) + "\n")
    assert _datum_warnings(plain, area=nanjing) == []                      # true WGS-84: quiet
    # building centres (off the roads by nature) in WGS-84: no false alarm either
    centres = nanjing.buildings.to_crs(4326).representative_point().iloc[:60]
    off_road = write(tmp_path, "roofs.csv", "lng,lat\n" + "\n".join(
        f"{p.x:.7f},{p.y:.7f}" for p in centres) + "\n")
    assert _datum_warnings(off_road, area=nanjing) == []


# ----------------------------------------------------------------------------- the user's ids (issue 20)

def test_user_ids_reach_the_sites_layer_and_the_spreadsheet():
    import geopandas as gpd

    from siting.io.export import sites_table
    from siting.result import SITE_COLUMNS, sites_layer

    chosen = gpd.GeoDataFrame({"candidate_id": ["existing/NJ001", "existing/existing/7", "mast/node/5", "grid/12"],
                               "source": ["existing", "existing", "mast", "grid"], "height_m": [30.0] * 4,
                               "name": [None] * 4},
                              geometry=gpd.points_from_xy([0, 1, 2, 3], [0, 1, 2, 3]), crs="EPSG:32650")
    layer = sites_layer(chosen, [True, True, True, False], [1, 2, 3, 4], [1, 2, 3, 4])
    assert tuple(layer.columns[:len(SITE_COLUMNS)]) == SITE_COLUMNS
    for user_id in (layer["user_id"], sites_table(layer)["user_id"]):
        assert list(user_id[:2]) == ["NJ001", "existing/7"] and user_id[2:].isna().all()
    assert layer["site_id"].is_unique
