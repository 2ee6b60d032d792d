"""The three OSM readers, each giving lon/lat features and the unsimplified drivable graph.

* OSM XML (``.osm``, ``.osm.xml``, bzip2- or gzip-compressed): one SAX pass reads the
  elements and the ``<bounds>``; elements that would crash a builder (bad coordinates,
  duplicate ids, references to missing nodes) are dropped; the clean elements are
  written to a scratch OSM file that ``osmnx.features_from_xml`` and (drivable ways
  only) ``osmnx.graph_from_xml`` read;
* PBF (``.osm.pbf``, ``demo``) through pyrosm, its road segments made into an osmnx
  graph with the same drive and one-way rules;
* Overpass (place name, polygon, bbox) through ``osmnx.features_from_polygon`` and
  ``osmnx.graph_from_polygon``, cached by osmnx under ``cache_dir/<slug>/``.

All osmnx and pyrosm calls go through :mod:`siting.io.osm_adapter`.
"""
from __future__ import annotations

import bz2
import dataclasses
import gzip
import json
import tempfile
import warnings
import xml.sax
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from siting.errors import InputError
from siting.io import one_line
from siting.io import osm_adapter as adapter
from siting.io.osm_normalise import check_boundary, tag_text

#: OSM tags of the features siting reads (buildings, POIs, landuse)
FEATURE_TAGS: adapter.Tags = {
    "building": True,
    "amenity": True,
    "landuse": True,
    "shop": True,
    "office": True,
    "man_made": ["mast", "tower", "works"],
    "highway": ["services", "rest_area", "street_lamp"],
    "railway": ["station", "halt"],
    "public_transport": ["station"],
    "aeroway": ["aerodrome", "terminal"],
    "leisure": ["stadium", "sports_centre", "park"],
    "tourism": ["attraction", "viewpoint", "theme_park", "zoo"],
    "industrial": ["depot", "logistics"],
}

#: osmnx ``network_type="drive"`` (osmnx 2.1 ``_overpass._get_network_filter``), plus
#: ``highway=trail`` (not drivable; pyrosm's ``driving`` filter drops it too) [A]:
#: OSM key -> regex (searched anywhere in the value, as Overpass `!~` does) that excludes a way
DRIVE_EXCLUDE: dict[str, str] = {
    "area": "yes",
    "access": "private",
    "highway": ("abandoned|bridleway|bus_guideway|construction|corridor|cycleway|elevator|"
                "escalator|footway|no|path|pedestrian|planned|platform|proposed|raceway|razed|"
                "rest_area|service|services|steps|track|trail"),
    "motor_vehicle": "no",
    "motorcar": "no",
    "service": "alley|driveway|emergency_access|parking|parking_aisle|private",
}
#: :data:`DRIVE_EXCLUDE` as the Overpass QL way filter that Overpass applies itself
DRIVE_FILTER = '["highway"]' + "".join(f'["{key}"!~"{pattern}"]' for key, pattern in DRIVE_EXCLUDE.items())
#: osmnx ``settings.oneway_values`` and reversed values (``graph._is_path_one_way``)
ONEWAY_VALUES = {"yes", "true", "1", "-1", "reverse", "T", "F"}
REVERSED_VALUES = {"-1", "reverse", "T"}


@dataclasses.dataclass(frozen=True)
class RawOsm:
    """A reader's output, lon/lat: tagged features and the unsimplified drivable graph."""

    features: gpd.GeoDataFrame     # osm_id + one column per tag
    graph: Any                     # networkx.MultiDiGraph (osmnx form, EPSG:4326) or None
    bounds: BaseGeometry | None    # the file's <bounds>, if any
    notes: dict


def drivable(tags: pd.DataFrame) -> np.ndarray:
    """Which ways (rows of tag columns) osmnx's ``network_type="drive"`` keeps."""
    keep = tag_text(tags, "highway").notna().to_numpy().copy()
    for key, pattern in DRIVE_EXCLUDE.items():
        col = tag_text(tags, key).fillna("")
        keep &= ~col.str.contains(pattern, regex=True).to_numpy()
    return keep


def valid_box(b: tuple[float, ...]) -> bool:
    """Whether (west, south, east, north) is a finite box with a positive extent."""
    return bool(np.all(np.isfinite(b)) and b[0] < b[2] and b[1] < b[3])


# ----------------------------------------------------------------------------- OSM XML

class _Handler(xml.sax.ContentHandler):
    """SAX handler: OSM XML -> Overpass-style elements (as osmnx reads them) and ``<bounds>``."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[dict[str, Any]] = []
        self.bounds: tuple[float, ...] | None = None
        self._element: dict[str, Any] | None = None

    def startElement(self, name: str, attrs: Any) -> None:  # noqa: N802  (SAX API)
        el = self._element
        if name == "bounds" and self.bounds is None:
            self.bounds = tuple(float(attrs[k]) for k in ("minlon", "minlat", "maxlon", "maxlat"))
        elif name in {"node", "way", "relation"}:
            el = {"type": name, "tags": {}, **attrs, **{k: int(attrs[k]) for k in ("id",) if k in attrs}}
            el.update({k: float(attrs[k]) for k in ("lat", "lon") if k in attrs})
            if name == "way":
                el["nodes"] = []
            elif name == "relation":
                el["members"] = []
            self._element = el
        elif name in {"tag", "nd", "member"}:
            if el is None:
                raise ValueError(f"<{name}> outside a node, way or relation")
            if (name, el["type"]) in {("nd", "node"), ("nd", "relation"), ("member", "node"), ("member", "way")}:
                raise ValueError(f"<{name}> inside a <{el['type']}>")
            if name == "tag":
                el["tags"][attrs["k"]] = attrs["v"]
            elif name == "nd":
                el["nodes"].append(int(attrs["ref"]))
            else:
                el["members"].append({k: (int(v) if k == "ref" else v) for k, v in attrs.items()})

    def endElement(self, name: str) -> None:  # noqa: N802  (SAX API)
        if name in {"node", "way", "relation"}:
            self.elements.append(self._element)  # type: ignore[arg-type]


def _open(path: Path) -> IO[bytes] | gzip.GzipFile:
    name = path.name.lower()
    if name.endswith(".bz2"):
        return bz2.open(path, "rb")
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def _parse_xml(path: Path) -> tuple[list[dict[str, Any]], BaseGeometry | None]:
    """OSM XML -> Overpass-style elements and the ``<bounds>`` box."""
    handler = _Handler()
    try:
        with _open(path) as f:
            xml.sax.parse(f, handler)
    except xml.sax.SAXParseException as exc:
        raise InputError(f"{path.name} is not a readable OSM XML file (line {exc.getLineNumber()}: "
                         f"{exc.getMessage()}): re-export or re-download it") from None
    except (xml.sax.SAXException, ValueError, KeyError, TypeError, AttributeError,
            OSError, EOFError, UnicodeError) as exc:
        raise InputError(f"{path.name} is not a readable OSM XML file ({type(exc).__name__}: "
                         f"{one_line(exc)}): re-export or re-download it") from None
    bounds = box(*handler.bounds) if handler.bounds and valid_box(handler.bounds) else None
    return handler.elements, bounds


def _sanitise(elements: list[dict], notes: dict) -> list[dict]:
    """Drop what would crash osmnx: bad coordinates, duplicate ids, refs to missing nodes."""
    nodes: dict[int, dict] = {}
    ways: dict[int, dict] = {}
    relations: dict[int, dict] = {}
    bad_coords = duplicates = 0
    for el in elements:
        kind, eid = el.get("type"), el.get("id")
        if not isinstance(eid, int):
            continue
        target = {"node": nodes, "way": ways, "relation": relations}.get(kind)  # type: ignore[arg-type]
        if target is None:
            continue
        if kind == "node":
            lat, lon = el.get("lat"), el.get("lon")
            if not (isinstance(lat, float) and isinstance(lon, float)
                    and abs(lat) <= 90 and abs(lon) <= 180):
                bad_coords += 1
                continue
        duplicates += eid in target
        target[eid] = el
    missing_refs = dropped_ways = 0
    for wid, way in list(ways.items()):
        refs = [r for r in way.get("nodes", []) if r in nodes]
        missing_refs += len(way.get("nodes", [])) - len(refs)
        if len(refs) < 2:
            del ways[wid]
            dropped_ways += 1
        elif len(refs) != len(way["nodes"]):
            ways[wid] = {**way, "nodes": refs}
    for rid, rel in list(relations.items()):
        members = [m for m in rel.get("members", [])
                   if isinstance(m, dict) and "ref" in m and "type" in m
                   and (m["type"] != "way" or m["ref"] in ways) and (m["type"] != "node" or m["ref"] in nodes)]
        relations[rid] = {**rel, "members": members}
    for key, count in (("nodes_with_bad_coordinates", bad_coords), ("duplicate_ids", duplicates),
                       ("way_refs_to_missing_nodes", missing_refs), ("ways_dropped", dropped_ways)):
        if count:
            notes[key] = count
    if bad_coords or missing_refs:  # stacklevel: the caller of load_area
        warnings.warn(f"OSM data: dropped {bad_coords} nodes with impossible coordinates and "
                      f"{missing_refs} way references to missing nodes", stacklevel=5)
    return [*nodes.values(), *ways.values(), *relations.values()]


def _write_osm(path: Path, elements: list[dict]) -> None:
    """Elements as an OSM XML file (ids, coordinates, tags, node refs and members only)."""
    def tags(el: dict) -> str:
        return "".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in el["tags"].items())

    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="siting">']
    for el in elements:
        if el["type"] == "node":
            lines.append(f'<node id="{el["id"]}" lat="{el["lat"]!r}" lon="{el["lon"]!r}">{tags(el)}</node>')
        elif el["type"] == "way":
            nds = "".join(f'<nd ref="{r}"/>' for r in el["nodes"])
            lines.append(f'<way id="{el["id"]}">{nds}{tags(el)}</way>')
        else:
            members = "".join(f'<member type={quoteattr(str(m["type"]))} ref="{m["ref"]}" '
                              f'role={quoteattr(str(m.get("role", "")))}/>' for m in el["members"])
            lines.append(f'<relation id="{el["id"]}">{members}{tags(el)}</relation>')
    lines.append("</osm>\n")
    path.write_text("\n".join(lines), encoding="utf-8")


def _drive_elements(elements: list[dict]) -> list[dict]:
    """The drivable ways of ``elements`` and the nodes they use (nodes first, in element order)."""
    ways = [e for e in elements if e["type"] == "way" and "highway" in e.get("tags", {})]
    if not ways:
        return []
    ways = [w for w, keep in zip(ways, drivable(pd.DataFrame.from_records([w["tags"] for w in ways]))) if keep]
    used = {n for w in ways for n in w["nodes"]}
    return [e for e in elements if e["type"] == "node" and e["id"] in used] + ways


def _clean_xml(path: Path, notes: dict) -> tuple[list[dict], BaseGeometry | None]:
    """The elements of an OSM XML file that the builders can use, and its ``<bounds>``."""
    elements, bounds = _parse_xml(path)
    if not elements:
        raise InputError(f"{path.name} holds no OSM nodes, ways or relations: export a non-empty area")
    return _sanitise(elements, notes), bounds


def read_xml(path: Path) -> RawOsm:
    """An OSM XML file (plain, ``.bz2`` or ``.gz``)."""
    notes: dict = {}
    clean, bounds = _clean_xml(path, notes)
    drive = _drive_elements(clean)
    with tempfile.TemporaryDirectory(prefix="siting-osm-") as scratch:
        features_file, roads_file = Path(scratch) / "features.osm", Path(scratch) / "roads.osm"
        _write_osm(features_file, clean)
        graph = None
        if any(e["type"] == "way" for e in drive):
            _write_osm(roads_file, drive)
            graph = adapter.graph_from_xml(roads_file)
        features = adapter.features_from_xml(features_file, FEATURE_TAGS)
    return RawOsm(features, graph, bounds, notes)


def read_admin_boundaries(path: Path, pbf: bool) -> gpd.GeoDataFrame | None:
    """The ``boundary=administrative`` features of an OSM XML or PBF file, lon/lat; None if none."""
    if pbf:
        return adapter.pbf_admin_boundaries(path)
    clean, _ = _clean_xml(path, {})
    with tempfile.TemporaryDirectory(prefix="siting-osm-") as scratch:
        _write_osm(Path(scratch) / "boundaries.osm", clean)
        found = adapter.features_from_xml(Path(scratch) / "boundaries.osm", {"boundary": "administrative"})
    return found if len(found) else None


# ----------------------------------------------------------------------------- PBF

def _expand_pyrosm_tags(df: pd.DataFrame) -> pd.DataFrame:
    """pyrosm keeps uncommon tags as a JSON string in ``tags``: make them columns."""
    if "tags" not in df.columns:
        return df
    records = [json.loads(t) if isinstance(t, str) and t else {} for t in df["tags"]]
    extra = pd.DataFrame.from_records(records, index=df.index) if records else pd.DataFrame(index=df.index)
    extra = extra[[c for c in extra.columns if c not in df.columns]]
    return pd.concat([df.drop(columns=["tags"]), extra], axis=1)


def read_pbf(path: Path) -> RawOsm:
    """An OSM PBF file."""
    try:
        parts, network, header = adapter.read_pbf(path, FEATURE_TAGS)
    except Exception as exc:  # pyrosm raises many types on corrupt input
        raise InputError(f"{path.name} is not a readable OSM PBF file ({type(exc).__name__}: "
                         f"{one_line(exc)}): re-export or re-download it") from None
    frames = [_expand_pyrosm_tags(pd.DataFrame(p)) for p in parts if p is not None and len(p)]
    if not frames:
        features = gpd.GeoDataFrame({"osm_id": []}, geometry=gpd.GeoSeries([], crs="EPSG:4326"))
    else:
        found = pd.concat(frames, ignore_index=True).drop_duplicates(["osm_type", "id"], ignore_index=True)
        found.insert(0, "osm_id", found["osm_type"].astype(str) + "/" + found["id"].astype("int64").astype(str))
        drop = ["id", "osm_type", "lon", "lat", "visible", "version", "timestamp", "changeset"]
        features = gpd.GeoDataFrame(found.drop(columns=[c for c in drop if c in found.columns]),
                                    geometry="geometry", crs="EPSG:4326")
    graph = None
    if network is not None and network[1] is not None and len(network[1]):
        graph = _graph_from_segments(network[0], _expand_pyrosm_tags(pd.DataFrame(network[1])))
    bounds = header if header is not None and valid_box(header.bounds) else None
    return RawOsm(features, graph, bounds, {})


def _graph_from_segments(nodes: pd.DataFrame, segments: pd.DataFrame) -> Any:
    """An osmnx graph from pyrosm's per-segment edges, with osmnx's drive and one-way rules."""
    segments = segments[drivable(segments)]
    if segments.empty:
        return None
    oneway = tag_text(segments, "oneway").fillna("")
    junction = tag_text(segments, "junction").fillna("")
    is_oneway = oneway.isin(ONEWAY_VALUES) | junction.eq("roundabout")
    reverse = oneway.isin(REVERSED_VALUES)
    attrs = pd.DataFrame({
        "osmid": segments["id"].astype("int64").to_numpy(),
        "highway": tag_text(segments, "highway").to_numpy(),
        "maxspeed": tag_text(segments, "maxspeed").to_numpy(),
        "name": tag_text(segments, "name").to_numpy(),
        "oneway": is_oneway.to_numpy(),
        "reversed": False,
    })
    u = segments["u"].astype("int64").to_numpy()
    v = segments["v"].astype("int64").to_numpy()
    fwd = attrs.assign(u=np.where(reverse, v, u), v=np.where(reverse, u, v))
    back = attrs[~is_oneway.to_numpy()].assign(u=v[~is_oneway.to_numpy()], v=u[~is_oneway.to_numpy()], reversed=True)
    edges = pd.concat([fwd, back], ignore_index=True)
    edges["key"] = edges.groupby(["u", "v"]).cumcount()
    used = np.unique(np.concatenate([edges["u"].to_numpy(), edges["v"].to_numpy()]))
    nd = pd.DataFrame(nodes).drop_duplicates("id").set_index("id")
    nd = nd.loc[nd.index.intersection(used)]
    node_gdf = gpd.GeoDataFrame({"x": nd["lon"].astype(float), "y": nd["lat"].astype(float)},
                                geometry=gpd.points_from_xy(nd["lon"], nd["lat"]), crs="EPSG:4326")
    node_gdf.index = node_gdf.index.astype("int64")
    edges = edges[edges["u"].isin(node_gdf.index) & edges["v"].isin(node_gdf.index)]
    return adapter.graph_from_segments(node_gdf, gpd.GeoDataFrame(edges.set_index(["u", "v", "key"]), geometry=None))


# ----------------------------------------------------------------------------- Overpass

def read_overpass(text: str, polygon: BaseGeometry | None, origin: str, cache: Path | None) -> RawOsm:
    """Download (or reuse osmnx's cached) Overpass data for a place name (``polygon`` None:
    geocoded by Nominatim), or a polygon or bbox; ``cache``: osmnx's cache folder, None: none."""
    settings: dict[str, Any] = {"use_cache": cache is not None}
    if cache is not None:
        settings["cache_folder"] = str(cache)
    with adapter.osmnx_settings(**settings):
        if polygon is None:
            with adapter.online(text):
                polygon, origin = adapter.geocode(text), "place"
            if polygon is None:
                raise InputError(f"cannot find '{text}' as an area in OpenStreetMap: "
                                 "check the spelling, or pass a polygon, bbox or OSM file")
            check_boundary(polygon, text)
        with adapter.online(text):
            graph = adapter.graph_from_polygon(polygon, DRIVE_FILTER)
            features = adapter.features_from_polygon(polygon, FEATURE_TAGS)
    return RawOsm(features, graph, polygon, {"boundary_origin": origin})
