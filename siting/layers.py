"""Turn per-demand-point results into the polygon layers people look at.

Each demand point stands for a square: its grid cell (``kind == "cell"``) or a short
stretch of road (``kind == "road"``). Covered areas and gaps are the union of those
squares, dissolved per group, so a planner sees "this block is uncovered, 6,200
people", not thousands of points.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely


def points_xy(frame: gpd.GeoDataFrame) -> np.ndarray:
    """(n, 2) metric coordinates of a point layer (an empty (0, 2) array when empty)."""
    if len(frame) == 0:
        return np.empty((0, 2))
    return np.column_stack([frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()])


def demand_squares(points: gpd.GeoDataFrame, cell_size_m: float, road_spacing_m: float) -> np.ndarray:
    """Square footprint of each demand point (shapely geometry array)."""
    half = np.where(points["kind"].to_numpy() == "road", road_spacing_m, cell_size_m) / 2.0
    x = points.geometry.x.to_numpy()
    y = points.geometry.y.to_numpy()
    return shapely.box(x - half, y - half, x + half, y + half)


def dissolve(points: gpd.GeoDataFrame, mask: np.ndarray, cell_size_m: float, road_spacing_m: float,
             simplify_m: float = 0.0) -> shapely.Geometry | None:
    """Union of the squares of the demand points where ``mask`` is true (None if none)."""
    if not mask.any():
        return None
    squares = demand_squares(points[mask], cell_size_m, road_spacing_m)
    merged = shapely.union_all(squares, grid_size=0.01)
    return merged.simplify(simplify_m) if simplify_m > 0 else merged


def gap_polygons(points: gpd.GeoDataFrame, covered: np.ndarray, cell_size_m: float,
                 road_spacing_m: float, crs: str) -> gpd.GeoDataFrame:
    """Uncovered demand dissolved into connected polygons, largest demand first.

    Columns: ``gap_id`` (1 = the gap with the most demand), ``population`` (residents),
    ``workers``, ``demand`` (optimiser weight), ``points``, ``area_km2``, geometry.
    """
    columns = ["gap_id", "population", "workers", "demand", "points", "area_km2", "geometry"]
    uncovered = ~np.asarray(covered, dtype=bool)
    merged = dissolve(points, uncovered, cell_size_m, road_spacing_m)
    if merged is None:
        return gpd.GeoDataFrame({c: [] for c in columns}, geometry="geometry", crs=crs)
    parts = gpd.GeoDataFrame(geometry=list(shapely.get_parts(merged)), crs=crs)
    gap_points = points[uncovered]
    # each uncovered point lies inside exactly one part (its own square is in it)
    part_of = parts.sindex.query(gap_points.geometry, predicate="intersects")
    owner = np.full(len(gap_points), -1)
    owner[part_of[0]] = part_of[1]
    frame = pd.DataFrame({
        "part": owner,
        "population": gap_points["residents"].to_numpy(),
        "workers": gap_points["workers"].to_numpy(),
        "demand": gap_points["weight"].to_numpy(),
        "points": 1,
    }).groupby("part").sum()
    parts = parts.join(frame).fillna({"population": 0.0, "workers": 0.0, "demand": 0.0, "points": 0})
    parts["area_km2"] = parts.geometry.area / 1e6
    parts = parts.sort_values(["demand", "area_km2"], ascending=False, kind="mergesort").reset_index(drop=True)
    parts["gap_id"] = np.arange(1, len(parts) + 1)
    parts["points"] = parts["points"].astype(int)
    return parts[columns]


def coverage_polygons(points: gpd.GeoDataFrame, masks: dict[tuple[str, str], np.ndarray],
                      cell_size_m: float, road_spacing_m: float, crs: str) -> gpd.GeoDataFrame:
    """One covered-area polygon per (layer, state) mask, e.g. ("outdoor", "after").

    Columns: ``layer``, ``state``, ``population`` (residents covered), ``demand``,
    ``area_km2``, geometry. Empty masks give no row.
    """
    rows = []
    for (layer, state), mask in masks.items():
        geom = dissolve(points, mask, cell_size_m, road_spacing_m)
        if geom is None:
            continue
        rows.append({"layer": layer, "state": state,
                     "population": float(points["residents"].to_numpy()[mask].sum()),
                     "demand": float(points["weight"].to_numpy()[mask].sum()),
                     "area_km2": geom.area / 1e6, "geometry": geom})
    cols = ["layer", "state", "population", "demand", "area_km2", "geometry"]
    return gpd.GeoDataFrame(rows or {c: [] for c in cols}, columns=cols, geometry="geometry", crs=crs)


def map_coverage(coverage: gpd.GeoDataFrame, simplify_m: float) -> gpd.GeoDataFrame:
    """Coverage as a map or a GeoJSON needs it: one polygon per (``layer``, ``state``), simplified.

    Per-site layers (a charging station's service area per row) are dissolved into the area
    their group covers; each group's outline is then simplified by ``simplify_m`` metres
    (topology kept), so a district's layer stays a few MB. ``area_km2`` is the dissolved
    full-resolution area; ``population``, ``demand`` and ``area_km2`` are kept where a group was
    one row already (so a drawn layer passes through with its figures) and ``population`` and
    ``demand`` left empty where per-site figures overlap (they cannot be summed).
    Columns: ``layer``, ``state``, ``population``, ``demand``, ``area_km2``, geometry, in a metric CRS (the layer's, or its UTM zone when geographic).
    """
    cols = ["layer", "state", "population", "demand", "area_km2", "geometry"]
    if coverage.crs is not None and coverage.crs.is_geographic:
        coverage = coverage.to_crs(coverage.estimate_utm_crs())
    coverage = coverage[~(coverage.geometry.isna() | coverage.geometry.is_empty)]
    rows = []
    for (layer, state), group in coverage.groupby(["layer", "state"], sort=True):
        one = len(group) == 1
        merged = group.geometry.iloc[0] if one else shapely.union_all(group.geometry.to_numpy())
        simple = shapely.simplify(merged, simplify_m, preserve_topology=True) if simplify_m > 0 else merged

        def kept(column: str) -> float | None:  # a one-row group's own figure (a drawn layer's too)
            value = group[column].iloc[0] if one and column in group else None
            return None if value is None or pd.isna(value) else float(value)

        area = kept("area_km2")
        rows.append({"layer": layer, "state": state, "population": kept("population"), "demand": kept("demand"),
                     "area_km2": round(float(merged.area) / 1e6 if area is None else area, 6), "geometry": simple})
    return gpd.GeoDataFrame(rows or {c: [] for c in cols}, columns=cols, geometry="geometry", crs=coverage.crs)
