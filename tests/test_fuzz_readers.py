"""Fuzzing the OSM XML and existing-sites readers (issue 7).

The property: a reader returns a valid result or raises a :class:`SitingError`, never any
other exception. Bounded (hypothesis, fixed example counts, no deadline) so the whole
file runs in well under 20 s; crashes found are kept as named regression tests below.
"""
from __future__ import annotations

import re
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siting.area import Area
from siting.errors import SitingError
from siting.io.osm import load_area
from siting.io.sites import read_sites

TINY = (Path(__file__).parent / "data" / "tiny.osm").read_text(encoding="utf-8")
LINES = TINY.splitlines()


def fuzz(max_examples: int) -> settings:
    """Bounded, repeatable hypothesis settings: fixed examples, no deadline, no database."""
    return settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

NASTY = st.sampled_from(["", "nan", "inf", "-inf", "1e999", "-1", "五", "<", "&amp;", "\"", "'", "0x1F",
                         "99999999999999999999999", "-180.0000001", "90.5", "1e-320", " 12 ", "3;4",
                         "way", "relation", "node", "\x00", "\ud7ff", "yes"])
_ATTR = re.compile(r'(\b(?:id|lat|lon|ref|k|v|type|role|minlat|maxlon)=")([^"]*)(")')


def _load_xml(data: bytes) -> Area | None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.osm"
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return load_area(path, processed_dir=None, cache_dir=None)
            except SitingError:
                return None


def _check_area(area: Area | None) -> None:
    if area is None:
        return
    assert len(area.road_edges) > 0
    assert area.buildings.geometry.is_valid.all()
    assert area.road_edges["length_m"].ge(0).all()


@fuzz(60)
@given(st.binary(max_size=2000))
def test_fuzz_xml_random_bytes(data):
    _check_area(_load_xml(data))


@st.composite
def mutated_osm(draw) -> bytes:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "duplicate", "attribute", "attribute", "attribute", "swap", "truncate"]))
        i = draw(st.integers(0, len(lines) - 1))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "attribute":
            matches = list(_ATTR.finditer(lines[i]))
            if matches:
                m = matches[draw(st.integers(0, len(matches) - 1))]
                value = draw(st.one_of(NASTY, st.text(max_size=8)))
                lines[i] = lines[i][: m.start(2)] + value + lines[i][m.end(2):]
        else:
            cut = draw(st.integers(0, len(lines[i])))
            lines = lines[:i] + [lines[i][:cut]]
        if not lines:
            break
    return "\n".join(lines).encode("utf-8", "surrogatepass")


@fuzz(25)
@given(mutated_osm())
def test_fuzz_xml_structured_mutations(data):
    _check_area(_load_xml(data))


def _read_csv(data: bytes):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sites.csv"
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                sites = read_sites(path)
            except SitingError:
                return None
    assert sites.crs.to_epsg() == 4326
    assert sites.geometry.x.abs().le(180).all() and sites.geometry.y.abs().le(90).all()
    assert sites["site_id"].is_unique
    return sites


@fuzz(60)
@given(st.binary(max_size=500))
def test_fuzz_sites_random_bytes(data):
    _read_csv(data)


CELL = st.one_of(NASTY, st.text(max_size=6), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                 st.integers(-400, 400).map(str))


@fuzz(80)
@given(st.lists(st.sampled_from(["lon", "lat", "经度", "纬度", "x", "y", "name", "id", "height", "piles",
                                 "capacity", "", "lon"]), min_size=1, max_size=6),
       st.lists(st.lists(CELL, min_size=0, max_size=7), max_size=6),
       st.sampled_from([",", ";", "\t"]))
def test_fuzz_sites_structured_csv(header, rows, sep):
    text = sep.join(header) + "\n" + "\n".join(sep.join(r) for r in rows) + "\n"
    _read_csv(text.encode("utf-8", "surrogatepass"))


# ----------------------------------------------------------------------------- regressions found by fuzzing
# Each of these once escaped as a raw exception from osmnx's SAX handler or produced an
# unreadable message (found by the mutations above or while writing them).

def _xml(body: str) -> bytes:
    return f'<?xml version="1.0"?><osm version="0.6">{body}</osm>'.encode()


@pytest.mark.parametrize("body, message", [
    ('<tag k="building" v="yes"/>', "<tag> outside a node, way or relation"),          # was TypeError
    ('<node id="1" lat="1" lon="1"><nd ref="2"/></node>', "<nd> inside a <node>"),     # was KeyError 'nodes'
    ('<way id="1"><member type="node" ref="1"/></way>', "<member> inside a <way>"),   # was KeyError 'members'
    ('<node id="x" lat="1" lon="1"/>', "ValueError"),                                 # int('x')
    ('<node id="1" lat="north" lon="1"/>', "ValueError"),                             # float('north')
    ('<tag k="a"/>', "outside"),                                                      # missing v
])
def test_regression_malformed_elements(tmp_path, body, message):
    path = tmp_path / "bad.osm"
    path.write_bytes(_xml(body))
    with pytest.raises(SitingError, match=re.escape(message)):
        load_area(path, processed_dir=None)


def test_regression_sax_error_names_the_line_not_the_temp_path(tmp_path):
    path = tmp_path / "cut.osm"
    path.write_text(TINY[:500])
    with pytest.raises(SitingError) as exc:
        load_area(path, processed_dir=None)
    assert "line " in str(exc.value) and str(tmp_path) not in str(exc.value)


@pytest.mark.parametrize("body", [
    '<node lat="26.08" lon="119.30"/><way><nd ref="1"/></way>',              # elements without ids
    '<node id="1" lat="26.08"/><way id="2"><nd ref="1"/><nd ref="1"/><tag k="highway" v="primary"/></way>',
    '<way id="2"><tag k="highway" v="primary"/></way>',                       # a way with no nodes
    '<relation id="3"><member type="way" role="outer"/><tag k="building" v="yes"/></relation>',
])
def test_regression_incomplete_elements_are_a_clear_error(tmp_path, body):
    path = tmp_path / "partial.osm"
    path.write_bytes(_xml(body))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(SitingError, match="holds no roads|no drivable roads"):
            load_area(path, processed_dir=None)


@fuzz(40)
@given(st.lists(st.tuples(st.floats(-200, 200), st.floats(-200, 200)), min_size=1, max_size=5),
       st.sampled_from(["wgs84", "gcj02", "bd09"]))
def test_fuzz_sites_datums_and_area(points, datum):
    from types import SimpleNamespace

    from shapely.geometry import box

    text = "lon,lat\n" + "\n".join(f"{x!r},{y!r}" for x, y in points) + "\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.csv"
        path.write_text(text)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                sites = read_sites(path, crs=datum, area=SimpleNamespace(boundary_wgs84=box(110, 20, 120, 30)))
            except SitingError:
                return
    assert len(sites) == len(points)
    assert sites.geometry.x.abs().le(180).all() and sites.geometry.y.abs().le(90).all()


PROPERTY = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
                     st.text(max_size=8), NASTY)


@fuzz(20)
@given(st.lists(st.tuples(st.floats(118.70, 118.85), st.floats(32.00, 32.10),
                          st.dictionaries(st.sampled_from(["id", "name", "operator", "azimuth", "height", "lon", "lat",
                                                           "piles", "备注", "in_area", "site_id"]), PROPERTY,
                                          max_size=6)),
                min_size=1, max_size=6),
       st.sampled_from(["wgs84", "amap", "baidu", "EPSG:4326"]))
def test_fuzz_sites_geojson_properties(features, crs):
    """GIS exports carry any properties (issue 20: one extra property crashed the reader)."""
    import json
    from types import SimpleNamespace

    from shapely.geometry import box

    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": {"type": "Point", "coordinates": [x, y]}}
        for x, y, props in features]}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.geojson"
        path.write_text(json.dumps(doc), encoding="utf-8")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                sites = read_sites(path, crs=crs, area=SimpleNamespace(boundary_wgs84=box(118.76, 32.02, 118.80, 32.07)),
                                   buffer_m=3000.0)
            except SitingError:
                return
    assert sites["site_id"].is_unique and sites["in_area"].dtype == bool
    assert sites.geometry.x.between(118.6, 118.9).all()
