"""The Overpass/Nominatim path, offline: a local server replays recorded responses."""
from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from shapely.geometry import box

import pandas as pd

from siting.errors import InputError
from siting.io.osm import area_summary, load_area
from siting.io.osm_readers import DRIVE_FILTER, drivable

DATA = Path(__file__).parent / "data"
OVERPASS = (DATA / "overpass_tiny.json").read_bytes()
NOMINATIM = (DATA / "nominatim_tiny.json").read_bytes()
BOUNDS = (119.2998, 26.0798, 119.3032, 26.0832)


def _roads_only(recorded: bytes) -> bytes:
    """What Overpass answers to the drive network query: the drivable ways and their nodes."""
    elements = json.loads(recorded)["elements"]
    ways = [e for e in elements if e["type"] == "way"]
    keep = drivable(pd.DataFrame.from_records([w.get("tags", {}) for w in ways]))
    ways = [w for w, k in zip(ways, keep) if k]
    used = {n for w in ways for n in w["nodes"]}
    return json.dumps({"elements": [e for e in elements if e["type"] == "node" and e["id"] in used] + ways}).encode()


ROADS = _roads_only(OVERPASS)


class _Replay(http.server.BaseHTTPRequestHandler):
    """Overpass ``/api/interpreter`` (POST) and Nominatim ``/search`` (GET), recorded."""

    requests: list[str] = []

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        query = parse_qs(self.rfile.read(length).decode()).get("data", [""])[0]
        type(self).requests.append("overpass:" + query[:40])
        self._reply(ROADS if DRIVE_FILTER in query else OVERPASS)

    def do_GET(self):  # noqa: N802
        url = urlparse(self.path)
        type(self).requests.append("nominatim:" + url.path)
        unknown = "nowhere" in parse_qs(url.query).get("q", [""])[0].lower()
        self._reply(b"[]" if unknown else NOMINATIM)

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def replay_server(monkeypatch):
    """Start the replay server and point osmnx at it; yields a function that stops it."""
    import osmnx as ox

    _Replay.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Replay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setattr(ox.settings, "overpass_url", base + "/api")
    monkeypatch.setattr(ox.settings, "nominatim_url", base + "/")
    monkeypatch.setattr(ox.settings, "overpass_rate_limit", False)
    monkeypatch.setattr(ox.settings, "requests_timeout", 5)
    stopped = []

    def stop():
        if not stopped:
            server.shutdown()
            server.server_close()
            stopped.append(True)

    yield stop
    stop()


@pytest.fixture(scope="module")
def from_xml():
    return load_area(DATA / "tiny.osm", processed_dir=None)


def test_bbox_via_overpass_then_offline_from_cache(tmp_path, replay_server, from_xml):
    raw = tmp_path / "raw"
    area = load_area(BOUNDS, cache_dir=raw, processed_dir=None)
    assert sum(r.startswith("overpass:") for r in _Replay.requests) == 2   # network + features
    s, x = area_summary(area), area_summary(from_xml)
    assert s["boundary_origin"] == "bbox"
    assert s["buildings"] == x["buildings"] == 2
    assert s["road_km"] == x["road_km"] and s["pois"] == x["pois"]
    assert area.crs == "EPSG:32650" and area.area_km2 == pytest.approx(from_xml.area_km2, rel=1e-6)
    cached = list((raw / area.slug).glob("*.json"))
    assert len(cached) == 2
    # the server is gone: the second run reads osmnx's cache under data/raw/<slug>/
    replay_server()
    again = load_area(BOUNDS, cache_dir=raw, processed_dir=None)
    assert area_summary(again) == s


def test_place_name_via_nominatim_and_overpass(tmp_path, replay_server, from_xml):
    raw, processed = tmp_path / "raw", tmp_path / "processed"
    area = load_area("Tiny District, Fuzhou", cache_dir=raw, processed_dir=processed)
    assert any(r == "nominatim:/search" for r in _Replay.requests)
    assert area.boundary_origin == "place" and area.slug == "tiny-district-fuzhou"
    assert area.name == "Tiny District, Fuzhou"
    assert area.boundary_wgs84.equals(box(*BOUNDS))
    assert area_summary(area)["road_km"] == area_summary(from_xml)["road_km"]
    assert (processed / "tiny-district-fuzhou" / "area.gpkg").is_file()
    replay_server()
    # offline: from the raw cache (processed cache bypassed) and from the processed cache
    assert area_summary(load_area("Tiny District, Fuzhou", cache_dir=raw, processed_dir=None)) == area_summary(area)
    assert area_summary(load_area("Tiny District, Fuzhou", cache_dir=raw, processed_dir=processed)) == area_summary(area)


def test_polygon_source(tmp_path, replay_server):
    area = load_area(box(*BOUNDS), cache_dir=tmp_path / "raw", processed_dir=None)
    assert area.boundary_origin == "polygon" and area.slug.startswith("polygon-")
    assert len(area.buildings) == 2


def test_offline_without_cache_says_what_to_do(tmp_path, replay_server):
    replay_server()
    with pytest.raises(InputError, match="pass an OSM file, or go online"):
        load_area(BOUNDS, cache_dir=tmp_path / "raw", processed_dir=tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_polar_polygon_refused_before_download(tmp_path, replay_server):
    with pytest.raises(InputError, match="beyond ±84°"):
        load_area((10.0, 84.5, 10.1, 84.6), cache_dir=tmp_path / "raw", processed_dir=None)
    assert _Replay.requests == []


def test_unknown_place_is_a_clear_error(tmp_path, replay_server):
    with pytest.raises(InputError, match="cannot find 'Nowhere Town' as an area"):
        load_area("Nowhere Town", cache_dir=tmp_path / "raw", processed_dir=None)
    assert not any(r.startswith("overpass:") for r in _Replay.requests)


def test_no_cache_dir_means_no_cache_files(tmp_path, monkeypatch, replay_server):
    monkeypatch.chdir(tmp_path)
    area = load_area(BOUNDS, cache_dir=None, processed_dir=None)
    assert len(area.buildings) == 2
    assert list(tmp_path.iterdir()) == []
