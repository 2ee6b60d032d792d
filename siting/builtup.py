"""Built-up density from roads, POIs and landuse, where buildings are not mapped.

Most Chinese districts in OSM have roads but few buildings (issue 17). Road density,
intersection density, the road-class mix, block size, POI density and landuse say how
built-up a neighbourhood is. This module

- computes those **features** per demand cell over its neighbourhood
  (:func:`cell_features`; the same code at fitting time and at run time), and
- applies a **fitted model** (:func:`predict`) that gives the neighbourhood's building
  cover and floor-area ratio, from which :mod:`siting.demand` derives residents,
  workers and the environment class with the same rules as for mapped buildings.

The model is a ridge regression on standardised features, fitted with scikit-learn by
``scripts/fit_builtup.py`` on the cells of the shared extracts where buildings are
mapped (Nanjing Xinjiekou, the Helsinki demo, the mapped parts of Shenzhen Nanshan and
Shanghai Baoshan), scored by spatial block cross-validation, and shipped as
``siting/data/builtup_model.json``: coefficients only, so a run is offline, needs no
training data and is deterministic. The file also carries its cross-validated errors,
which :mod:`siting.demand` copies into ``demand_info``.
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
#: the model's targets: neighbourhood building cover (m²/m²) and floor-area ratio (floor m² per m²)
TARGETS: tuple[str, ...] = ("cover", "far")
#: POI categories that mark activity (shops, offices, hubs, public places, ...)
ACTIVITY_POIS: tuple[str, ...] = ("mall", "shop", "office", "transport_hub", "school", "hospital", "public_place",
                                  "parking", "fuel")
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


def cell_features(area: Area, spec: GridSpec, boundary: shapely.Geometry, cell_area: np.ndarray,
                  road_by_group: np.ndarray, window: int) -> pd.DataFrame:
    """Neighbourhood features of every grid cell (flat order), from roads, POIs and landuse only.

    ``road_by_group``: road metres per cell and class group (:data:`siting.vocab.ROAD_GROUPS`:
    motorway, trunk, primary, secondary, tertiary, minor); ``window``: neighbourhood width in cells.
    """
    from siting.learn import intersections  # junctions: road nodes where three or more roads meet

    land = smooth(cell_area, spec, window)
    road = smooth(road_by_group.sum(axis=1), spec, window)
    major = smooth(road_by_group[:, :3].sum(axis=1), spec, window)
    middle = smooth(road_by_group[:, 3:5].sum(axis=1), spec, window)
    density = 1000.0 * ratio(road, land)  # km per km²
    junctions = smooth(_count_per_cell(intersections(area), spec, boundary), spec, window)
    cat = area.pois["category"].to_numpy() if len(area.pois) else np.empty(0, dtype=object)
    xy = (np.column_stack([area.pois.geometry.x.to_numpy(), area.pois.geometry.y.to_numpy()])
          if len(area.pois) else np.empty((0, 2)))
    activity = smooth(_count_per_cell(xy[np.isin(cat, ACTIVITY_POIS)], spec, boundary), spec, window)
    features = {
        "road_km_per_km2": density,
        "junctions_per_km2": 1e6 * ratio(junctions, land),
        "major_share": ratio(major, road),
        "middle_share": ratio(middle, road),
        # a grid of streets d km/km² apart has blocks about 2/d km wide
        "block_m": np.where(density > 0, np.minimum(ratio(np.full_like(density, 2000.0), density), BLOCK_CAP_M),
                            BLOCK_CAP_M),
        "pois_per_km2": 1e6 * ratio(activity, land),
    }
    ncell = spec.shape[0] * spec.shape[1]
    lu = area.landuse
    li, cell, share = polygon_cell_areas(lu.geometry.to_numpy(), spec)
    kind = lu["landuse"].astype(str).to_numpy()[li]
    for name, values in LANDUSE_GROUPS.items():
        per_cell = np.bincount(cell, share * np.isin(kind, values), minlength=ncell)
        features[f"landuse_{name}"] = ratio(smooth(np.minimum(per_cell, cell_area), spec, window), land).clip(0, 1)
    return pd.DataFrame(features)


def design(features: pd.DataFrame) -> pd.DataFrame:
    """The regression's inputs: features with log transforms of the skewed densities and two products."""
    out = pd.DataFrame({
        "log_road": np.log1p(features["road_km_per_km2"]),
        "log_junctions": np.log1p(features["junctions_per_km2"]),
        "major_share": features["major_share"],
        "middle_share": features["middle_share"],
        "log_block": np.log(np.maximum(features["block_m"], 10.0)),
        "log_pois": np.log1p(features["pois_per_km2"]),
        **{c: features[c] for c in features.columns if c.startswith("landuse_")},
    })
    out["log_road_x_pois"] = out["log_road"] * out["log_pois"]
    out["log_road_x_junctions"] = out["log_road"] * out["log_junctions"]
    return out


@dataclass(frozen=True)
class BuiltupModel:
    """Fitted coefficients per target on standardised :func:`design` columns, and their CV errors."""

    columns: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: dict[str, np.ndarray]
    intercept: dict[str, float]
    smear: dict[str, float]        # retransformation factor: training total / total of squared predictions
    info: dict

    def predict(self, features: pd.DataFrame) -> dict[str, np.ndarray]:
        """Neighbourhood building cover (0-1) and floor-area ratio (≥ cover) per row."""
        x = (design(features)[list(self.columns)].to_numpy(dtype=float) - self.mean) / self.scale
        # targets are fitted as sqrt (squares are non-negative, zero stays reachable); the smearing
        # factor undoes the bias of squaring a mean, so totals match the training data's
        out = {t: self.smear[t] * np.square(np.maximum(x @ self.coef[t] + self.intercept[t], 0.0)) for t in TARGETS}
        out["cover"] = out["cover"].clip(0.0, 1.0)
        out["far"] = np.maximum(out["far"], out["cover"])
        return out

    def to_json(self) -> dict:
        return {"columns": list(self.columns), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": {t: v.tolist() for t, v in self.coef.items()}, "intercept": self.intercept, "smear": self.smear,
                "info": self.info}

    @classmethod
    def from_json(cls, data: dict) -> "BuiltupModel":
        return cls(tuple(data["columns"]), np.asarray(data["mean"], float), np.asarray(data["scale"], float),
                   {t: np.asarray(v, float) for t, v in data["coef"].items()},
                   {t: float(v) for t, v in data["intercept"].items()}, {t: float(v) for t, v in data["smear"].items()},
                   data["info"])


@lru_cache(maxsize=1)
def shipped_model() -> BuiltupModel:
    """The model in ``siting/data/builtup_model.json``."""
    text = resources.files("siting").joinpath("data", MODEL_FILE).read_text(encoding="utf-8")
    return BuiltupModel.from_json(json.loads(text))
