"""Named gap areas: uncovered demand grouped with DBSCAN, so a report can say
"12 gap areas; the most uncovered demand in Gap 1 (near Xinjiekou): 0.8 km², 6,200 people"
instead of listing cells.

Uncovered demand points closer than ``eps`` (about 1.5 demand cells) chain into one
gap area (DBSCAN, scikit-learn); points DBSCAN calls noise become gap areas of their
own, so every uncovered person is in exactly one area. Each area is the union of its
points' squares and is named after the nearest named POI or road.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sklearn.cluster import DBSCAN

from siting.layers import demand_squares
from siting.words import counted

COLUMNS = ["gap_id", "name", "population", "workers", "demand", "points", "area_km2", "geometry"]


def cluster_labels(xy: np.ndarray, eps_m: float, min_samples: int) -> np.ndarray:
    """DBSCAN labels 0..k-1 of points ``xy``; noise points get labels of their own after those."""
    if len(xy) == 0:
        return np.empty(0, dtype=int)
    labels = DBSCAN(eps=eps_m, min_samples=min_samples).fit_predict(xy)
    noise = labels < 0
    labels[noise] = labels.max() + 1 + np.arange(noise.sum())
    return labels


def _named_features(area) -> tuple[np.ndarray, np.ndarray]:
    """Geometries and names of the area's named POIs and roads."""
    geoms, names = [], []
    for frame in (area.pois, area.road_edges):
        if len(frame) and "name" in frame:
            named = frame["name"].notna() & (frame["name"].astype(str).str.strip() != "")
            geoms.append(frame.geometry[named].to_numpy())
            names.append(frame["name"][named].astype(str).to_numpy())
    if not geoms:
        return np.empty(0, dtype=object), np.empty(0, dtype=object)
    return np.concatenate(geoms), np.concatenate(names)


def nearest_names(area, xy: np.ndarray) -> np.ndarray:
    """Name of the nearest named POI or road of each location (None where nothing is named)."""
    geoms, names = _named_features(area) if area is not None else (np.empty(0), np.empty(0))
    out = np.full(len(xy), None, dtype=object)
    if len(geoms) == 0 or len(xy) == 0:
        return out
    query, hit = shapely.STRtree(geoms).query_nearest(shapely.points(xy), all_matches=False)
    out[query] = names[hit]
    return out


def gap_areas(points: gpd.GeoDataFrame, covered: np.ndarray, cell_size_m: float, road_spacing_m: float,
              crs: str, area=None, eps_factor: float = 1.5, min_samples: int = 2) -> gpd.GeoDataFrame:
    """Uncovered demand points clustered into named gap areas, most demand first.

    Columns: ``gap_id`` (1 = most demand), ``name`` ("Gap 1 (near <name>)"),
    ``population`` (residents), ``workers``, ``demand`` (weight), ``points``,
    ``area_km2`` (union of the points' squares), geometry. ``eps`` is ``eps_factor`` ×
    ``cell_size_m``; ``area`` (optional) supplies POI and road names.
    """
    gap = points[~np.asarray(covered, dtype=bool)]
    if len(gap) == 0:
        return gpd.GeoDataFrame({c: [] for c in COLUMNS}, geometry="geometry", crs=crs)
    xy = np.column_stack([gap.geometry.x.to_numpy(), gap.geometry.y.to_numpy()])
    labels = cluster_labels(xy, eps_factor * cell_size_m, min_samples)
    w = gap["weight"].to_numpy(dtype=float)
    frame = pd.DataFrame({"label": labels, "population": gap["residents"].to_numpy(float),
                          "workers": gap["workers"].to_numpy(float), "demand": w, "points": 1,
                          "wx": xy[:, 0] * (w + 1e-9), "wy": xy[:, 1] * (w + 1e-9), "w": w + 1e-9})
    sums = frame.groupby("label").sum()
    squares = gpd.GeoDataFrame({"label": labels}, geometry=demand_squares(gap, cell_size_m, road_spacing_m), crs=crs)
    shapes = squares.dissolve(by="label").geometry.reindex(sums.index)
    out = gpd.GeoDataFrame(sums[["population", "workers", "demand", "points"]].reset_index(drop=True),
                           geometry=shapely.set_precision(shapes.to_numpy(), 0.01), crs=crs)
    out["area_km2"] = out.geometry.area / 1e6
    centre = np.column_stack([sums["wx"] / sums["w"], sums["wy"] / sums["w"]])
    out["near"] = nearest_names(area, centre)
    out = out.sort_values(["demand", "area_km2"], ascending=False, kind="mergesort").reset_index(drop=True)
    out["gap_id"] = np.arange(1, len(out) + 1)
    out["points"] = out["points"].astype(int)
    out["name"] = [f"Gap {i} (near {n})" if n else f"Gap {i}" for i, n in zip(out["gap_id"], out["near"])]
    return out[COLUMNS]


def area_text(km2: float) -> str:
    """An area in km², whatever its size (one unit, so areas compare at a glance): two significant
    digits below 1 km² (``0.09 km²``, ``0.0025 km²``), one decimal below 10, whole km² above."""
    if km2 >= 10:
        return f"{km2:,.0f} km²"
    return f"{km2:.1f} km²" if km2 >= 1 else f"{km2:.2g} km²"


def _gap_text(gap: pd.Series) -> str:
    people = int(round(gap["population"], -2 if gap["population"] >= 1000 else 0))
    return f"{gap['name']}: {area_text(gap['area_km2'])}, {counted(people, 'person', 'people')}"


def describe_gaps(gaps: gpd.GeoDataFrame) -> str:
    """One sentence: how many gap areas; the one with the most uncovered demand (Gap 1), and the
    largest by area when that is another one, each named with its size and residents."""
    if len(gaps) == 0:
        return "no gap areas"
    first = gaps.loc[gaps["gap_id"].idxmin()]
    text = f"{counted(len(gaps), 'gap area')}; the most uncovered demand in {_gap_text(first)}"
    big = gaps.loc[gaps["area_km2"].idxmax()]
    if big["gap_id"] != first["gap_id"] and big["area_km2"] > first["area_km2"]:
        text += f"; the largest is {_gap_text(big)}"
    return text


def gap_summary(gaps: gpd.GeoDataFrame) -> dict:
    """JSON-ready figures for ``summary.json``."""
    return {"gap_areas": int(len(gaps)), "text": describe_gaps(gaps),
            "largest_km2": round(float(gaps["area_km2"].max()), 4) if len(gaps) else 0.0,
            "population_uncovered": round(float(gaps["population"].sum()), 1) if len(gaps) else 0.0}


def plan_gaps(area, points: gpd.GeoDataFrame, covered: np.ndarray, params) -> tuple[gpd.GeoDataFrame, dict]:
    """The ``gaps`` layer of a plan and its ``summary.json`` figures: the demand left
    uncovered as named gap areas, with the run's demand squares and DBSCAN settings
    (``params``: the run's :class:`~siting.config.Params`)."""
    gaps = gap_areas(points, covered, params.demand.cell_size_m, params.demand.road_point_spacing_m, area.crs,
                     area=area, eps_factor=params.learn.gap_eps_factor, min_samples=params.learn.gap_min_samples)
    return gaps, gap_summary(gaps)
