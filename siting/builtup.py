"""Built-up density from roads, POIs and landuse, where buildings are not mapped.

Most Chinese districts in OSM have roads but few buildings (issue 17). Road density,
intersection density, the road-class mix, block size, POI density and landuse say how
built-up a place is, and a cell's character depends on its surroundings. This module

- computes those **features** per demand cell over neighbourhoods of several sizes
  (:data:`SCALES_M`; :func:`cell_features`, the same code at fitting and at run time), and
- applies a **fitted model** (:meth:`BuiltupModel.predict`) that gives the neighbourhood's
  building cover, floor-area ratio, residents and workers per hectare; :mod:`siting.demand`
  derives the environment class from cover and floors with the same rule as for mapped
  buildings.

The model is gradient-boosted trees (scikit-learn's ``HistGradientBoostingRegressor``,
Poisson loss, so predictions are non-negative and fitted totals match the training
data's), fitted by ``scripts/fit_builtup.py`` on the cells of the shared extracts where
buildings are mapped, scored by spatial block cross-validation and by leaving each
extract out, and shipped as ``siting/data/builtup_model.json``: the trees as flat
arrays (:class:`Forest`), so a run is offline, needs no training data and is
deterministic. The file also carries its cross-validated errors, which
:mod:`siting.demand` copies into ``demand_info``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
import shapely
from scipy import ndimage

from siting.area import Area
from siting.grid import GridSpec, polygon_cell_areas

#: the fitted model shipped with the package (written by ``scripts/fit_builtup.py``)
MODEL_FILE = "builtup_model.json"
#: the model's targets: neighbourhood building cover (m²/m²), floor-area ratio (floor m² per m²),
#: residents and workers per hectare of land
TARGETS: tuple[str, ...] = ("cover", "far", "residents_per_ha", "workers_per_ha")
#: neighbourhood widths (m) over which every feature is computed: a cell, a block, a quarter, a district
SCALES_M: tuple[float, ...] = (100.0, 300.0, 900.0, 2100.0)
#: the scale whose roads and POIs decide whether the model is applied at all
SEEN_SCALE_M = 300.0
#: POI kinds counted separately (activity of different sorts)
POI_KINDS: dict[str, tuple[str, ...]] = {
    "shops": ("mall", "shop"),
    "offices": ("office", "industrial"),
    "hubs": ("transport_hub",),
    "parking": ("parking", "fuel"),
    "services": ("school", "hospital", "public_place"),
}
#: landuse groups whose share of the neighbourhood is a feature
LANDUSE_GROUPS: dict[str, tuple[str, ...]] = {
    "residential": ("residential",),
    "commercial": ("commercial", "retail"),
    "industrial": ("industrial",),
    "green": ("grass", "park", "forest", "meadow", "farmland", "orchard", "village_green", "recreation_ground",
              "cemetery"),
}
#: block side (m) of a neighbourhood without roads [A]
BLOCK_CAP_M = 2000.0
#: rows per chunk when walking the trees (bounds memory to chunk × trees node indices)
PREDICT_CHUNK = 4096


def window_cells(window_m: float, cell_size: float) -> int:
    """Odd neighbourhood width in cells (at least 1)."""
    k = max(int(round(window_m / cell_size)), 1)
    return k if k % 2 else k + 1


def smooth(values: np.ndarray, spec: GridSpec, window: int) -> np.ndarray:
    """Neighbourhood sum over ``window × window`` cells (zero outside the grid), flattened."""
    if window <= 1:
        return np.asarray(values, dtype=float)
    grid = np.asarray(values, dtype=float).reshape(spec.shape)
    return ndimage.uniform_filter(grid, size=window, mode="constant", cval=0.0).ravel() * window * window


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den`` is (nearly) 0."""
    return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 1e-9)


def _count_per_cell(xy: np.ndarray, spec: GridSpec, boundary: shapely.Geometry) -> np.ndarray:
    ncell = spec.shape[0] * spec.shape[1]
    if len(xy) == 0:
        return np.zeros(ncell)
    cell = spec.cell_of(xy[:, 0], xy[:, 1])
    keep = (cell >= 0) & shapely.contains_xy(boundary, xy[:, 0], xy[:, 1])
    return np.bincount(cell[keep], minlength=ncell).astype(float)


def _per_cell_sources(area: Area, spec: GridSpec, boundary: shapely.Geometry, cell_area: np.ndarray,
                      road_by_group: np.ndarray) -> dict[str, np.ndarray]:
    """Per-cell amounts that the features smooth: road metres by class, junctions, POIs by kind, landuse m²."""
    from siting.learn import intersections  # junctions: road nodes where three or more roads meet

    ncell = spec.shape[0] * spec.shape[1]
    out = {"road": road_by_group.sum(axis=1), "major": road_by_group[:, :3].sum(axis=1),
           "middle": road_by_group[:, 3:5].sum(axis=1),
           "junctions": _count_per_cell(intersections(area), spec, boundary)}
    cat = area.pois["category"].to_numpy() if len(area.pois) else np.empty(0, dtype=object)
    xy = (np.column_stack([area.pois.geometry.x.to_numpy(), area.pois.geometry.y.to_numpy()])
          if len(area.pois) else np.empty((0, 2)))
    for kind, cats in POI_KINDS.items():
        out[f"poi_{kind}"] = _count_per_cell(xy[np.isin(cat, cats)], spec, boundary)
    lu = area.landuse
    li, cell, share = polygon_cell_areas(lu.geometry.to_numpy(), spec)
    kinds = lu["landuse"].astype(str).to_numpy()[li]
    for name, values in LANDUSE_GROUPS.items():
        out[f"landuse_{name}"] = np.minimum(np.bincount(cell, share * np.isin(kinds, values), minlength=ncell),
                                            cell_area)
    return out


def cell_features(area: Area, spec: GridSpec, boundary: shapely.Geometry, cell_area: np.ndarray,
                  road_by_group: np.ndarray) -> pd.DataFrame:
    """Features of every grid cell (flat order) from roads, POIs and landuse only, over each of :data:`SCALES_M`.

    ``road_by_group``: road metres per cell and class group (:data:`siting.demand.ROAD_GROUPS`:
    motorway, trunk, primary, secondary, tertiary, minor).
    """
    src = _per_cell_sources(area, spec, boundary, cell_area, road_by_group)
    features: dict[str, np.ndarray] = {}
    for scale in SCALES_M:
        w = window_cells(scale, spec.cell_size)
        s = {k: smooth(v, spec, w) for k, v in src.items()}
        land = smooth(cell_area, spec, w)
        density = 1000.0 * ratio(s["road"], land)  # km per km²
        tag = f"_{scale:g}m"
        features["road_km_per_km2" + tag] = density
        features["junctions_per_km2" + tag] = 1e6 * ratio(s["junctions"], land)
        features["major_share" + tag] = ratio(s["major"], s["road"])
        features["middle_share" + tag] = ratio(s["middle"], s["road"])
        # a grid of streets d km/km² apart has blocks about 2/d km wide
        features["block_m" + tag] = np.where(density > 0, np.minimum(ratio(np.full_like(density, 2000.0), density),
                                                                     BLOCK_CAP_M), BLOCK_CAP_M)
        for kind in POI_KINDS:
            features[f"{kind}_per_km2" + tag] = 1e6 * ratio(s[f"poi_{kind}"], land)
        for name in LANDUSE_GROUPS:
            features[f"landuse_{name}" + tag] = ratio(s[f"landuse_{name}"], land).clip(0, 1)
    return pd.DataFrame(features)


def seen(features: pd.DataFrame) -> np.ndarray:
    """Cells with roads or POIs in their :data:`SEEN_SCALE_M` neighbourhood (where the model has something to go on)."""
    tag = f"_{SEEN_SCALE_M:g}m"
    pois = sum(features[f"{kind}_per_km2" + tag].to_numpy() for kind in POI_KINDS)
    return (features["road_km_per_km2" + tag].to_numpy() > 0) | (pois > 0)


@dataclass(frozen=True)
class Forest:
    """A boosted tree ensemble as flat node arrays (all trees in one), log link.

    Node ``i`` sends a row left when ``x[feature[i]] <= threshold[i]``; leaves have
    ``feature == -1`` and carry ``value`` (learning rate included). A prediction is
    ``exp(baseline + sum of the leaves reached)``.
    """

    baseline: float
    roots: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    depth: int

    def predict(self, x: np.ndarray) -> np.ndarray:
        out = np.empty(len(x))
        for start in range(0, len(x), PREDICT_CHUNK):
            chunk = x[start:start + PREDICT_CHUNK]
            node = np.broadcast_to(self.roots, (len(chunk), len(self.roots))).copy()
            rows = np.arange(len(chunk))[:, None]
            for _ in range(self.depth):
                f = self.feature[node]
                go_left = chunk[rows, np.maximum(f, 0)] <= self.threshold[node]
                node = np.where(f < 0, node, np.where(go_left, self.left[node], self.right[node]))
            out[start:start + PREDICT_CHUNK] = np.exp(self.baseline + self.value[node].sum(axis=1))
        return out

    def to_json(self) -> dict:
        return {"baseline": self.baseline, "roots": self.roots.tolist(), "feature": self.feature.tolist(),
                "threshold": self.threshold.tolist(), "left": self.left.tolist(), "right": self.right.tolist(),
                "value": self.value.tolist(), "depth": self.depth}

    @classmethod
    def from_json(cls, d: dict) -> "Forest":
        return cls(float(d["baseline"]), np.asarray(d["roots"], np.int64), np.asarray(d["feature"], np.int64),
                   np.asarray(d["threshold"], float), np.asarray(d["left"], np.int64), np.asarray(d["right"], np.int64),
                   np.asarray(d["value"], float), int(d["depth"]))


@dataclass(frozen=True)
class BuiltupModel:
    """One :class:`Forest` per target over the :func:`cell_features` ``columns``, and the model's CV errors."""

    columns: tuple[str, ...]
    forests: dict[str, Forest]
    info: dict

    def predict(self, features: pd.DataFrame) -> dict[str, np.ndarray]:
        """Neighbourhood cover (0-1), floor-area ratio (≥ cover), residents and workers per hectare per row."""
        x = np.nan_to_num(features[list(self.columns)].to_numpy(dtype=float))
        out = {t: self.forests[t].predict(x) for t in TARGETS}
        out["cover"] = out["cover"].clip(0.0, 1.0)
        out["far"] = np.maximum(out["far"], out["cover"])
        return out

    def reported_errors(self) -> dict:
        """The errors a plan reports: spatial block CV, and per training extract the scores when that
        extract was left out of the fit (how well the model transfers to an area it has not seen)."""
        keys = ("class_agreement", "floor_area_total_error", "residents_total_error")
        return {"cross_validation": self.info["cross_validation"],
                "leave_one_area_out": {a: {k: v[k] for k in keys} for a, v in self.info["leave_one_area_out"].items()}}

    def to_json(self) -> dict:
        return {"columns": list(self.columns), "forests": {t: f.to_json() for t, f in self.forests.items()},
                "info": self.info}

    @classmethod
    def from_json(cls, data: dict) -> "BuiltupModel":
        return cls(tuple(data["columns"]), {t: Forest.from_json(f) for t, f in data["forests"].items()}, data["info"])


@lru_cache(maxsize=1)
def shipped_model() -> BuiltupModel:
    """The model in ``siting/data/builtup_model.json``."""
    text = resources.files("siting").joinpath("data", MODEL_FILE).read_text(encoding="utf-8")
    return BuiltupModel.from_json(json.loads(text))
