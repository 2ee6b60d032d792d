"""The :class:`Area`: everything siting knows about one place, in one metric CRS.

An Area is plain data produced by :func:`siting.io.osm.load_area` and consumed by
every later stage. All GeoDataFrames are in ``area.crs`` (the UTM zone of the area);
only ``boundary`` is kept in WGS-84 (lon/lat) as well as projected.

Column contracts (every stage may rely on these):

``buildings``
    ``osm_id`` (str, e.g. ``"way/123"``), ``building`` (str, OSM value, ``"yes"`` if
    untyped), ``levels`` (float, NaN if unknown), ``height_m`` (float, NaN if
    unknown), ``name`` (str or None), ``geometry`` (Polygon/MultiPolygon, valid).
``road_nodes``
    index ``osmid`` (int); ``x``, ``y`` (float, metric), ``geometry`` (Point).
``road_edges``
    ``u``, ``v`` (int node ids), ``key`` (int), ``highway`` (str, first value when
    OSM has a list), ``length_m`` (float), ``oneway`` (bool), ``maxspeed_kmh``
    (float, NaN if unknown), ``name`` (str or None), ``geometry`` (LineString).
``pois``
    ``osm_id`` (str), ``category`` (str, one of :data:`siting.vocab.POI_CATEGORIES`), ``name``,
    ``parking`` (str or None: surface, multi-storey, underground, street_side,
    rooftop), ``capacity`` (float, NaN if unknown), ``height_m`` (float, NaN),
    ``operator`` (str or None), ``sockets`` (float: total charging sockets, NaN),
    ``output_kw`` (float: maximum charging output, NaN), ``geometry`` (Point:
    the feature's representative point).
``landuse``
    ``osm_id``, ``landuse`` (str: residential, commercial, retail, industrial, ...),
    ``geometry`` (Polygon/MultiPolygon).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd
from shapely.geometry.base import BaseGeometry

def slug(name: str, max_len: int = 60) -> str:
    """A folder name for ``name``: lowercase letters and digits of any script joined by ``-``.

    Chinese names stay readable ("南京 新街口" → "南京-新街口"); Latin accents fold
    ("São Paulo" → "sao-paulo"); anything else, including path separators, becomes ``-``.
    Empty when ``name`` has no letter or digit."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    text = re.sub(r"[\W_]+", "-", unicodedata.normalize("NFKC", folded).lower())
    return text.strip("-")[:max_len].strip("-")


BoundaryOrigin = Literal["bounds", "polygon", "bbox", "place", "extent"]


@dataclass(frozen=True)
class Area:
    """One planning area: boundary, buildings, road network and points of interest."""

    name: str
    slug: str
    crs: str                      # metric CRS, e.g. "EPSG:32650"
    boundary: BaseGeometry        # in ``crs``
    boundary_wgs84: BaseGeometry  # lon/lat
    boundary_origin: BoundaryOrigin
    buildings: gpd.GeoDataFrame
    road_nodes: gpd.GeoDataFrame
    road_edges: gpd.GeoDataFrame
    pois: gpd.GeoDataFrame
    landuse: gpd.GeoDataFrame
    source: str                   # what the user passed (file path, place name, "demo")
    source_hash: str              # sha256 of the input bytes (or of the Overpass query)
    info: dict = field(default_factory=dict)  # free-form notes for summary.json
    proposal_zone: BaseGeometry | None = None  # in ``crs``: where new sites may go (None: no limit)

    @property
    def area_km2(self) -> float:
        """Boundary area in square kilometres."""
        return float(self.boundary.area) / 1e6

    def graph(self):
        """The drivable road network as a projected osmnx MultiDiGraph."""
        from siting.io.osm_adapter import graph_from_gdfs  # osmnx, version-checked

        nodes = self.road_nodes.copy()
        edges = self.road_edges.set_index(["u", "v", "key"]).copy()
        edges["length"] = edges["length_m"]
        nodes.index.name = "osmid"
        return graph_from_gdfs(nodes, edges, self.crs)
