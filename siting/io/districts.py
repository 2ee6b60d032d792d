"""District polygons for batch planning: from a GeoJSON/GeoPackage, or the administrative
boundaries inside an OSM file; both validated by :func:`siting.plans.validate_districts`."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import shapely

from siting.errors import InputError
from siting.io import one_line
from siting.io.osm import PBF_SUFFIXES
from siting.io.osm_readers import read_admin_boundaries
from siting.plans import validate_districts


def read_districts(path: str | Path, name_column: str | None = None,
                   overlap_tolerance: float = 0.001) -> gpd.GeoDataFrame:
    """District polygons from GeoJSON/GPKG as ``district`` (name) + geometry in EPSG:4326."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"districts file {p} does not exist: check --districts")
    try:
        gdf = gpd.read_file(p, engine="pyogrio")
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InputError(f"districts file {p} cannot be read ({one_line(exc)}): "
                         "pass a GeoJSON or GeoPackage of polygons") from None
    return validate_districts(gdf, name_column, source=str(p), overlap_tolerance=overlap_tolerance)


def districts_from_osm(osm: str | Path, admin_level: str = "6") -> gpd.GeoDataFrame:
    """District polygons from the administrative boundaries inside an OSM file.

    ``admin_level`` 6 is a Chinese city district or county (区/县) [A] (OSMW Tag:boundary=administrative).
    Only closed boundaries count: an extract cut from a bigger map often holds
    boundary ways without their whole ring, and then there are no districts to read.
    """
    p = Path(osm)
    if not p.is_file():
        raise InputError(f"OSM file {p} does not exist: check --osm")
    found = read_admin_boundaries(p, p.name.lower().endswith(PBF_SUFFIXES))
    if found is None or "admin_level" not in found or "name" not in found:
        found = gpd.GeoDataFrame({"name": [], "admin_level": []}, geometry=[], crs="EPSG:4326")
    kinds = shapely.get_type_id(found.geometry.values)
    polys = found[((kinds == 3) | (kinds == 6)) & (found["admin_level"].astype(str) == str(admin_level))
                  & found["name"].notna()]
    if polys.empty:
        raise InputError(f"{p.name} holds no closed administrative boundaries at admin_level {admin_level}: "
                         "pass --districts FILE with district polygons, or another --admin-level")
    gdf = gpd.GeoDataFrame({"district": polys["name"].astype(str).to_numpy()},
                           geometry=polys.geometry.to_numpy(), crs=found.crs or "EPSG:4326")
    return validate_districts(gdf.sort_values("district", kind="stable"), "district", source=f"{p.name} boundaries")
