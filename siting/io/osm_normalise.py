"""OSM features and roads -> the layers of an :class:`~siting.area.Area` (lon/lat in, metres out).

Numbers are parsed from tag text (units converted, ``;`` lists reduced to their
maximum, implausible values unknown); polygons are repaired and put in one canonical
form whatever the reader; points of interest get one :data:`~siting.vocab.POI_CATEGORIES`
value; the drivable graph is simplified and projected. Every layer keeps the columns
and dtypes of the Area contract, empty or not.
"""
from __future__ import annotations

import re
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from siting.vocab import POI_CATEGORIES
from siting.errors import InputError
from siting.io.osm_adapter import simplified_gdfs

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


def strings(values: Any) -> pd.api.extensions.ExtensionArray:
    """Values as pandas text (``str`` dtype), missing where a value is missing."""
    arr = np.asarray(values, dtype=object)
    missing = pd.isna(arr)
    out = arr.astype(str).astype(object)
    out[missing] = None
    return pd.array(out, dtype="str")


def tag_text(df: pd.DataFrame, key: str) -> pd.Series:
    """Column ``key`` as strings (None where absent), all-None if the column is missing."""
    if key not in df.columns:
        return pd.Series(None, index=df.index, dtype="str")
    return pd.Series(strings(df[key]), index=df.index)


def _single(values: pd.Series) -> pd.Series:
    """One value where osmnx merged several into a list: the smallest, so runs repeat exactly."""
    return values.map(lambda v: min(v, key=str) if isinstance(v, list) and v else v)


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
    return np.where(poly, _canonical(out), np.array(None, dtype=object))


def _canonical(geoms: np.ndarray) -> np.ndarray:
    """Polygons in one form whatever the reader: parts, rings and first vertices in GEOS's
    normal order, exterior rings counter-clockwise (RFC 7946). The XML and PBF readers
    hand over the same rings in different directions and orders, and areas clipped from
    them differ in the last bits, which is enough to tip a threshold in the demand
    surface (issue 20: the same extract gave two plans)."""
    return shapely.orient_polygons(shapely.normalize(geoms))


def in_osm_order(features: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Features sorted by element type and id, as every reader gives them the same way."""
    if features.empty:
        return features
    parts = features["osm_id"].astype(str).str.split("/", n=1, expand=True)
    order = np.lexsort((pd.to_numeric(parts[1], errors="coerce").to_numpy(), parts[0].to_numpy(dtype=str)))
    return features.iloc[order]


def check_boundary(boundary_wgs84: BaseGeometry, what: str) -> None:
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


def utm_zone(lon: float) -> int:
    return int(np.clip(np.floor((lon + 180.0) / 6.0) + 1, 1, 60))


#: numeric columns of the Area layers (everything else is text); used for empty layers and reloads
FLOAT_COLUMNS = {"levels", "height_m", "capacity", "sockets", "output_kw", "length_m", "maxspeed_kmh", "x", "y"}


def _empty(columns: list[str], crs: str) -> gpd.GeoDataFrame:
    """A layer with no rows but the contract's columns and dtypes."""
    return gpd.GeoDataFrame({c: pd.Series(dtype=float if c in FLOAT_COLUMNS else "str") for c in columns},
                            geometry=gpd.GeoSeries([], crs=crs))


def buildings_layer(features: gpd.GeoDataFrame, crs: str) -> tuple[gpd.GeoDataFrame, dict]:
    columns = ["osm_id", "building", "levels", "height_m", "name"]
    if "building" not in features.columns or features.empty:
        return _empty(columns, crs), {}
    b = features[features["building"].notna() & (tag_text(features, "building") != "no")]
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
        "building": tag_text(b, "building").fillna("yes").array,
        "levels": parse_levels(tag_text(b, "building:levels")).to_numpy(),
        "height_m": parse_height_m(tag_text(b, "height")).to_numpy(),
        "name": tag_text(b, "name").array,
    }, geometry=gpd.GeoSeries(geoms[keep], crs=crs))
    return out, notes


def _categories(f: pd.DataFrame) -> np.ndarray:
    """One :data:`POI_CATEGORIES` value per feature (first rule that matches), else None."""
    t = {k: tag_text(f, k).fillna("") for k in ("amenity", "highway", "man_made", "tower:type", "shop", "office",
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
    return np.select([r.to_numpy() for r in rules.values()], list(rules), default=np.array(None, dtype=object))


def pois_layer(features: gpd.GeoDataFrame, crs: str) -> gpd.GeoDataFrame:
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
    sockets = pd.concat([_parse_numbers(tag_text(f, c), {"": 1.0}, 1e4) for c in socket_cols], axis=1).sum(axis=1, min_count=1) \
        if socket_cols else pd.Series(np.nan, index=f.index)
    output = pd.concat([_parse_numbers(tag_text(f, c), _POWER_UNITS, 1e4) for c in output_cols], axis=1).max(axis=1) \
        if output_cols else pd.Series(np.nan, index=f.index)
    projected = f.to_crs(crs).geometry
    points = shapely.point_on_surface(shapely.make_valid(projected.to_numpy()))
    return gpd.GeoDataFrame({
        "osm_id": f["osm_id"].astype(str).to_numpy(),
        "category": category.astype(str),
        "name": tag_text(f, "name").array,
        "parking": strings(tag_text(f, "parking").str.lower()),
        "capacity": _parse_numbers(tag_text(f, "capacity"), {"": 1.0}, 1e5).to_numpy(),
        "height_m": parse_height_m(tag_text(f, "height")).to_numpy(),
        "operator": tag_text(f, "operator").array,
        "sockets": sockets.to_numpy(dtype=float),
        "output_kw": output.to_numpy(dtype=float),
    }, geometry=gpd.GeoSeries(points, crs=crs))


def landuse_layer(features: gpd.GeoDataFrame, crs: str) -> gpd.GeoDataFrame:
    if "landuse" not in features.columns or features.empty:
        return _empty(["osm_id", "landuse"], crs)
    f = features[features["landuse"].notna()]
    geoms = _polygonal(f.to_crs(crs).geometry.to_numpy())
    keep = pd.notna(geoms)
    return gpd.GeoDataFrame({"osm_id": f["osm_id"].astype(str).to_numpy()[keep],
                             "landuse": tag_text(f, "landuse").array[keep]},
                            geometry=gpd.GeoSeries(geoms[keep], crs=crs))


def road_layers(graph: Any, crs: str, clip: BaseGeometry | None) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Simplified, projected drivable network as (nodes, edges) per the Area contract."""
    nodes, edges = simplified_gdfs(graph, crs, ["highway", "oneway", "maxspeed"])
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
        "name": strings(_single(edges["name"]) if "name" in edges else np.full(len(edges), None)),
    }, geometry=gpd.GeoSeries(edges.geometry.to_numpy(), crs=crs))
    out_edges = out_edges.sort_values(["u", "v", "key"], ignore_index=True)
    out_nodes = gpd.GeoDataFrame({"x": nodes["x"].astype(float), "y": nodes["y"].astype(float)},
                                 geometry=gpd.GeoSeries(nodes.geometry.to_numpy(), index=nodes.index, crs=crs))
    out_nodes.index = out_nodes.index.astype("int64")
    out_nodes.index.name = "osmid"
    return out_nodes.sort_index(), out_edges
