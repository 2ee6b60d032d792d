"""Learn where sites go from the sites that exist: features, a suitability model, spatial CV.

Operators do not tile a city evenly; their sites cluster where traffic concentrates.
Given the existing sites of an area, this module

1. computes **features** for any set of locations (demand points, candidates): building
   footprint and floor area, residents and workers, road length by class, road
   intersections, POI counts by category and landuse shares within several radii;
   distances to major roads and intersections; the environment class; for charging also
   car-park capacity and the distance to expressway exits;
2. fits a **presence/background model** (existing sites against demand points, as in
   species-distribution modelling): a logistic regression and a gradient-boosted model
   (scikit-learn), each scored by **spatial block cross-validation** (``GroupKFold`` on
   square blocks, never random splits: neighbouring cells leak);
3. turns the better model's relative suitability into a **multiplier on demand weights**
   and a **candidate score**, scaled by ``strength`` and by the model's skill
   (2 × AUC − 1), so a model no better than chance changes nothing.

Neighbourhood sums are disc convolutions of point sources binned on a fine raster (FFT):
the cost depends on the raster size, not on how many buildings or pairs there are, and
the error is at most one raster cell at the disc edge. Nearest distances use a KD-tree.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.signal import fftconvolve
from scipy.spatial import cKDTree

from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from siting.area import Area
from siting.buildings import tagged_floors, type_floors
from siting.config import LearnParams, Params
from siting.layers import points_xy
from siting.vocab import CHARGING_KINDS, ENV_CLASSES, ROAD_FEATURE_CLASSES, road_class

#: POI categories counted around each location (issue 11: hubs, malls, offices, ...)
POI_FEATURES: tuple[str, ...] = ("transport_hub", "mall", "office", "school", "hospital", "parking", "fuel", "shop")
#: landuse groups whose share of each disc is a feature
LANDUSE_GROUPS: dict[str, tuple[str, ...]] = {
    "residential": ("residential",),
    "commercial": ("commercial", "retail"),
    "industrial": ("industrial",),
    "green": ("grass", "park", "forest", "meadow", "village_green", "recreation_ground", "cemetery"),
}
#: distances are capped here so an area without, say, expressways gets one finite value [A]
FAR_M = 5000.0


@dataclass(frozen=True)
class Sources:
    """Point sources of one area: coordinates and one value column per summed feature."""

    xy: np.ndarray              # (n, 2)
    values: np.ndarray          # (n, k)
    names: tuple[str, ...]      # k feature stems


def _road_class(highway: pd.Series) -> np.ndarray:
    base = road_class(highway).to_numpy()
    out = np.full(len(base), "minor", dtype=object)
    for name, classes in ROAD_FEATURE_CLASSES.items():
        out[np.isin(base, classes)] = name
    return out


def _road_samples(edges: gpd.GeoDataFrame, step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Midpoints and lengths of the pieces of every road edge cut to at most ``step`` m."""
    if len(edges) == 0:
        return np.empty((0, 2)), np.empty(0), np.empty(0, dtype=int)
    lines = shapely.segmentize(edges.geometry.to_numpy(), step)
    coords, index = shapely.get_coordinates(lines, return_index=True)
    same = index[1:] == index[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    return (a + b) / 2.0, np.hypot(*(b - a).T), index[:-1][same]


def _floors(buildings: gpd.GeoDataFrame, params: Params) -> np.ndarray:
    """Floors from the tags (:func:`siting.buildings.tagged_floors`), else by building type."""
    dp = params.demand
    known = tagged_floors(buildings, dp.storey_height_m)
    return np.where(np.isfinite(known), known, type_floors(buildings["building"], dp.default_floors))


def intersections(area: Area, classes: tuple[str, ...] | None = None) -> np.ndarray:
    """Coordinates of road nodes where three or more distinct roads meet (degree ≥ 3);
    with ``classes``, only those on a road of one of these highway classes (``*_link``
    counts as its class)."""
    e = area.road_edges
    if len(e) == 0:
        return np.empty((0, 2))
    u, v = e["u"].to_numpy(), e["v"].to_numpy()
    pairs = np.unique(np.column_stack([np.minimum(u, v), np.maximum(u, v)]), axis=0)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    nodes, degree = np.unique(pairs.ravel(), return_counts=True)
    junctions = nodes[degree >= 3]
    if classes is not None:
        on = road_class(e["highway"]).isin(classes).to_numpy()
        junctions = np.intersect1d(junctions, np.r_[u[on], v[on]])
    rn = area.road_nodes.loc[area.road_nodes.index.intersection(junctions)]
    return rn[["x", "y"]].to_numpy(dtype=float)


def _link_nodes(area: Area, highway: str) -> np.ndarray:
    e = area.road_edges
    ends = np.unique(e.loc[e["highway"] == highway, ["u", "v"]].to_numpy().ravel())
    return area.road_nodes.loc[area.road_nodes.index.intersection(ends), ["x", "y"]].to_numpy(dtype=float)


def area_sources(area: Area, demand_points: gpd.GeoDataFrame, kind: str, params: Params) -> Sources:
    """Every summed feature of ``area`` as weighted points (one column per feature stem)."""
    parts: list[tuple[np.ndarray, dict[str, np.ndarray]]] = []
    b = area.buildings
    if len(b):
        footprint = b.geometry.area.to_numpy()
        parts.append((points_xy(gpd.GeoSeries(b.geometry.centroid)),
                      {"footprint_m2": footprint, "floor_area_m2": footprint * _floors(b, params)}))
    parts.append((points_xy(demand_points), {"residents": demand_points["residents"].to_numpy(float),
                                        "workers": demand_points["workers"].to_numpy(float)}))
    mid, length, edge = _road_samples(area.road_edges, params.learn.raster_m)
    cls = _road_class(area.road_edges["highway"])[edge] if len(edge) else np.empty(0, dtype=object)
    parts.append((mid, {f"road_m_{c}": np.where(cls == c, length, 0.0) for c in (*ROAD_FEATURE_CLASSES, "minor")}))
    junctions = intersections(area)
    parts.append((junctions, {"intersections": np.ones(len(junctions))}))
    pois = area.pois
    cat = pois["category"].to_numpy()
    poi_values = {f"poi_{c}": (cat == c).astype(float) for c in POI_FEATURES}
    if kind in CHARGING_KINDS:
        cap = pois["capacity"].to_numpy(dtype=float)
        default = params.charging.charging.default_capacity
        poi_values["parking_spaces"] = np.where(cat == "parking", np.where(np.isfinite(cap), cap, default), 0.0)
    parts.append((points_xy(pois), poi_values))
    names = tuple(k for _, vals in parts for k in vals)
    blocks = []
    for xy, vals in parts:
        block = np.zeros((len(xy), len(names)))
        for k, v in vals.items():
            block[:, names.index(k)] = v
        blocks.append(block)
    return Sources(np.vstack([xy for xy, _ in parts]).reshape(-1, 2), np.vstack(blocks), names)


@dataclass(frozen=True)
class _Raster:
    x0: float
    y0: float
    res: float
    shape: tuple[int, int]   # (rows, cols); row 0 at y0

    @classmethod
    def around(cls, xy: np.ndarray, margin: float, res: float) -> "_Raster":
        lo, hi = xy.min(axis=0) - margin, xy.max(axis=0) + margin
        cols, rows = np.ceil((hi - lo) / res).astype(int) + 1
        return cls(float(lo[0]), float(lo[1]), res, (int(rows), int(cols)))

    def index(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        col = np.floor((xy[:, 0] - self.x0) / self.res).astype(int)
        row = np.floor((xy[:, 1] - self.y0) / self.res).astype(int)
        ok = (row >= 0) & (row < self.shape[0]) & (col >= 0) & (col < self.shape[1])
        return row, col, ok

    def bin(self, xy: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Sum ``values`` (n, k) per raster cell: float32 array (k, rows, cols)."""
        row, col, ok = self.index(xy)
        flat = (row * self.shape[1] + col)[ok]
        i, j = np.nonzero(values[ok])
        k, n = values.shape[1], self.shape[0] * self.shape[1]
        summed = sparse.coo_matrix((values[ok][i, j].astype(np.float32), (j, flat[i])), shape=(k, n))
        return summed.toarray().reshape(k, *self.shape)

    def disc(self, radius: float) -> np.ndarray:
        r = int(np.ceil(radius / self.res))
        yy, xx = np.mgrid[-r:r + 1, -r:r + 1] * self.res
        return (np.hypot(xx, yy) <= radius).astype(float)


def _landuse_masks(area: Area, raster: _Raster) -> tuple[np.ndarray, tuple[str, ...]]:
    """Landuse group of each raster cell centre as 0/1 layers (k, rows, cols)."""
    from rasterio import features
    from rasterio.transform import Affine

    transform = Affine(raster.res, 0, raster.x0, 0, raster.res, raster.y0)
    lu = area.landuse
    names = tuple(f"landuse_{g}" for g in LANDUSE_GROUPS)
    layers = np.zeros((len(LANDUSE_GROUPS), *raster.shape), dtype=np.float32)
    for i, values in enumerate(LANDUSE_GROUPS.values()):
        geoms = lu.geometry[lu["landuse"].isin(values)] if len(lu) else []
        if len(geoms):
            layers[i] = features.rasterize(((g, 1) for g in geoms), out_shape=raster.shape, transform=transform,
                                           fill=0, dtype="uint8")
    return layers, names


def raster_cell_m(radius_m: float, params: LearnParams) -> float:
    """Raster cell of the sums within ``radius_m``: ``params.raster_m``, or a tenth of the
    radius when that is coarser (a 500 m disc on a 50 m raster)."""
    return max(params.raster_m, radius_m / 10.0)


def location_features(area: Area, demand_points: gpd.GeoDataFrame, xy: np.ndarray, kind: str,
                      params: Params) -> pd.DataFrame:
    """Features of the locations ``xy`` (n, 2, area CRS): one row per location.

    Columns: ``<stem>_<r>`` neighbourhood densities per km² (stems from
    :func:`area_sources`) and landuse shares (0..1) within each radius of
    ``params.learn.radii_m``; ``dist_major_road_m``, ``dist_intersection_m`` (and
    ``dist_expressway_exit_m`` for charging), capped at 5 km; ``env_<class>`` (0/1, the
    nearest demand point's environment class).
    """
    lp = params.learn
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    src = area_sources(area, demand_points, kind, params)
    extent = np.vstack([xy, points_xy(demand_points)]) if len(demand_points) else xy
    columns: dict[str, np.ndarray] = {}
    for r in lp.radii_m:
        res = raster_cell_m(r, lp)
        raster = _Raster.around(extent, r + res, res)
        landuse, lu_names = _landuse_masks(area, raster)
        row, col, _ = raster.index(xy)
        row, col = row.clip(0, raster.shape[0] - 1), col.clip(0, raster.shape[1] - 1)
        kernel = raster.disc(r).astype(np.float32)
        km2 = np.pi * r * r / 1e6
        for stack, names, scale in ((raster.bin(src.xy, src.values), src.names, 1.0 / km2),
                                    (landuse, lu_names, 1.0 / kernel.sum())):
            if len(names) == 0:
                continue
            smooth = fftconvolve(stack, kernel[None], mode="same", axes=(1, 2))
            for j, name in enumerate(names):
                columns[f"{name}_{int(r)}"] = np.maximum(smooth[j, row, col].astype(float) * scale, 0.0).round(6)
    mid, _, edge = _road_samples(area.road_edges, lp.raster_m)
    major = mid[_road_class(area.road_edges["highway"])[edge] == "major"] if len(edge) else mid
    targets = {"dist_major_road_m": major, "dist_intersection_m": intersections(area)}
    if kind in CHARGING_KINDS:
        targets["dist_expressway_exit_m"] = _link_nodes(area, "motorway_link")
    for name, pts in targets.items():
        columns[name] = _nearest(pts, xy)
    env = demand_points["env_class"].to_numpy() if len(demand_points) else np.empty(0)
    nearest_env = env[cKDTree(points_xy(demand_points)).query(xy)[1]] if len(env) else np.full(len(xy), "rural")
    for c in ENV_CLASSES:
        columns[f"env_{c}"] = (nearest_env == c).astype(float)
    return pd.DataFrame(columns)


def _nearest(points: np.ndarray, xy: np.ndarray) -> np.ndarray:
    if len(points) == 0:
        return np.full(len(xy), FAR_M)
    return np.minimum(cKDTree(points).query(xy, distance_upper_bound=FAR_M)[0], FAR_M)


# --- spatial cross-validation ------------------------------------------------------------

def spatial_blocks(xy: np.ndarray, block_m: float) -> np.ndarray:
    """Id of the square block (side ``block_m``, aligned to multiples of it) of each point."""
    cell = np.floor(np.asarray(xy, dtype=float) / block_m).astype(np.int64)
    return np.unique(cell, axis=0, return_inverse=True)[1].ravel()


def spatial_folds(groups: np.ndarray, n_splits: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``GroupKFold`` splits on block ids: no block is ever in both train and test."""
    from sklearn.model_selection import GroupKFold

    n = min(n_splits, len(np.unique(groups)))
    if n < 2:
        return []
    return list(GroupKFold(n_splits=n).split(np.zeros(len(groups)), groups=groups))


# --- the suitability model --------------------------------------------------------------

@dataclass(frozen=True)
class Suitability:
    """A fitted (or skipped) presence/background model.

    ``status`` is ``"fitted"`` or ``"skipped"`` (``reason`` says why); ``auc`` holds the
    mean spatial-CV AUC of each model tried and ``model`` the one kept; ``skill`` is
    2 × AUC − 1 clipped to [0, 1]: 0 when the model is no better than chance.
    """

    status: str
    reason: str
    presence: int
    background: int
    model: str | None = None
    auc: dict = field(default_factory=dict)
    auc_folds: dict = field(default_factory=dict)
    blocks: int = 0
    features: tuple[str, ...] = ()
    estimator: Any = None
    scale: float = 1.0        # mean predicted probability over the background
    threads: int = 1

    @property
    def skill(self) -> float:
        if self.status != "fitted":
            return 0.0
        return float(np.clip(2.0 * self.auc[self.model] - 1.0, 0.0, 1.0))

    def summary(self) -> dict:
        """JSON-ready description for ``summary.json``."""
        return {"status": self.status, "reason": self.reason, "presence": self.presence,
                "background": self.background, "model": self.model,
                "cv_auc": {k: round(v, 4) for k, v in self.auc.items()},
                "cv_auc_folds": {k: [round(x, 4) for x in v] for k, v in self.auc_folds.items()},
                "cv_blocks": self.blocks, "skill": round(self.skill, 4), "features": len(self.features)}


def _estimators(lp: LearnParams, seed: int) -> dict:
    """The two models tried. No class weights: AUC does not depend on them, predictions
    are used relative to their background mean, and weighted binning is slow."""
    return {
        "logistic": make_pipeline(FunctionTransformer(np.log1p), StandardScaler(),
                                  LogisticRegression(C=lp.logistic_c, max_iter=1000)),
        "gbm": HistGradientBoostingClassifier(max_iter=lp.gbm_iterations, learning_rate=0.1, max_leaf_nodes=15,
                                              min_samples_leaf=20, l2_regularization=1.0, early_stopping=False,
                                              random_state=seed),
    }


def fit_suitability(presence: pd.DataFrame, presence_xy: np.ndarray, background: pd.DataFrame,
                    background_xy: np.ndarray, params: LearnParams, seed: int = 0) -> Suitability:
    """Fit presence (existing sites) against background (uniform locations).

    Background rows beyond ``params.max_background`` are subsampled with ``seed``. Each
    model is scored by spatial block CV (``params.block_m`` blocks, ``params.folds``
    folds). The logistic model is kept unless boosting beats its AUC by more than
    ``params.simpler_model_margin`` (a boosted tree can split razor-sharp on one feature
    and score every other place alike); the kept model is refitted on everything.
    Fewer than ``params.min_sites`` presences, or too few blocks to validate, give a
    ``"skipped"`` result.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(params.threads):
        return _fit(presence, presence_xy, background, background_xy, params, seed)


def _fit(presence: pd.DataFrame, presence_xy: np.ndarray, background: pd.DataFrame, background_xy: np.ndarray,
         params: LearnParams, seed: int) -> Suitability:
    from sklearn.base import clone
    from sklearn.metrics import roc_auc_score

    n_p = len(presence)
    if n_p < params.min_sites:
        return Suitability("skipped", f"{n_p} existing sites in the area, fewer than the {params.min_sites} "
                           "needed to learn from", n_p, len(background))
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.permutation(len(background))[:params.max_background])
    X = pd.concat([presence, background.iloc[keep]], ignore_index=True)
    xy = np.vstack([presence_xy, np.asarray(background_xy)[keep]])
    y = np.r_[np.ones(n_p), np.zeros(len(keep))]
    groups = spatial_blocks(xy, params.block_m)
    folds = [(tr, te) for tr, te in spatial_folds(groups, params.folds) if 0 < y[te].sum() < len(te)
             and 0 < y[tr].sum()]
    if len(folds) < 2:
        return Suitability("skipped", f"the existing sites fall in too few {params.block_m:g} m blocks for spatial "
                           "cross-validation", n_p, len(keep), blocks=int(groups.max() + 1))
    auc, per_fold = {}, {}
    for name, est in _estimators(params, seed).items():
        scores = [roc_auc_score(y[te], clone(est).fit(X.iloc[tr], y[tr]).predict_proba(X.iloc[te])[:, 1])
                  for tr, te in folds]
        per_fold[name], auc[name] = scores, float(np.mean(scores))
    best = "gbm" if auc["gbm"] > auc["logistic"] + params.simpler_model_margin else "logistic"
    est = _estimators(params, seed)[best].fit(X, y)
    scale = float(est.predict_proba(X.iloc[n_p:])[:, 1].mean())
    return Suitability("fitted", f"spatial {len(folds)}-fold CV on {params.block_m:g} m blocks", n_p, len(keep),
                       best, auc, per_fold, int(groups.max() + 1), tuple(X.columns), est, scale, params.threads)


def relative_suitability(model: Suitability, features: pd.DataFrame) -> np.ndarray:
    """Predicted presence probability over its background mean (1 = an average place);
    ones when the model was skipped."""
    if model.status != "fitted":
        return np.ones(len(features))
    from threadpoolctl import threadpool_limits

    with threadpool_limits(model.threads):
        p = model.estimator.predict_proba(features[list(model.features)])[:, 1]
    return p / model.scale if model.scale > 0 else np.ones(len(features))


def suitability_multiplier(relative: np.ndarray, model: Suitability, strength: float,
                           params: LearnParams) -> np.ndarray:
    """Multiplier on demand weights (or candidate scores): ``relative ** (strength × skill)``,
    ``relative`` clipped to [1/max_multiplier, max_multiplier]; all ones when ``strength``
    is 0, the model was skipped, or its CV AUC is below ``params.min_auc``."""
    if strength <= 0 or model.status != "fitted" or model.auc[model.model] < params.min_auc:
        return np.ones(len(relative))
    lo = 1.0 / params.max_multiplier
    return np.clip(relative, lo, params.max_multiplier) ** (strength * model.skill)


# --- the whole step ---------------------------------------------------------------------

@dataclass(frozen=True)
class Learned:
    """What learning from the existing sites gives the planner."""

    model: Suitability
    multiplier: np.ndarray          # per demand point
    relative: np.ndarray            # relative suitability per demand point
    used: bool                      # whether the multiplier changes anything

    def summary(self) -> dict:
        out = self.model.summary()
        out["used"] = self.used
        if self.used:
            out["multiplier_range"] = [round(float(self.multiplier.min()), 4), round(float(self.multiplier.max()), 4)]
        return out


def sites_in_area(area: Area, existing: gpd.GeoDataFrame | None) -> np.ndarray:
    """Coordinates (area CRS) of the existing sites inside the area boundary."""
    if existing is None or len(existing) == 0:
        return np.empty((0, 2))
    xy = points_xy(existing.to_crs(area.crs))
    return xy[shapely.contains_xy(area.boundary, xy[:, 0], xy[:, 1])]


def background_locations(area: Area, demand) -> np.ndarray:
    """Where a site could be, uniformly: the centres of the demand grid cells inside the
    area (every cell, empty or not); the demand points when only points are given.

    Uniform background means a model of randomly placed sites scores AUC ≈ 0.5; a
    background of demand points would instead learn where demand points are."""
    grid = getattr(demand, "grid", None)
    if grid is None or len(grid) == 0:
        return points_xy(getattr(demand, "points", demand))
    c = shapely.centroid(grid.geometry.to_numpy())
    x, y = shapely.get_x(c), shapely.get_y(c)
    inside = shapely.contains_xy(area.boundary, x, y)
    return np.column_stack([x[inside], y[inside]])


def learn_from_existing(area: Area, demand, existing: gpd.GeoDataFrame | None, kind: str,
                        params: Params, strength: float | None = None) -> Learned:
    """Fit the suitability model on ``existing`` and weigh every demand point by it.

    ``demand`` is a :class:`siting.demand.Demand` (or its points); ``strength`` defaults
    to ``params.learn.strength``.
    """
    lp = params.learn
    points = getattr(demand, "points", demand)
    strength = lp.strength if strength is None else strength
    site_xy = sites_in_area(area, existing)
    point_xy = points_xy(points)
    back_xy = background_locations(area, demand)
    if strength <= 0 or len(site_xy) < lp.min_sites:
        reason = ("strength is 0 (learning off)" if strength <= 0 else
                  f"{len(site_xy)} existing sites in the area, fewer than the {lp.min_sites} needed to learn from")
        model = Suitability("skipped", reason, len(site_xy), len(points))
        return Learned(model, np.ones(len(points)), np.ones(len(points)), False)
    n_s, n_b = len(site_xy), len(back_xy)
    feats = location_features(area, points, np.vstack([site_xy, back_xy, point_xy]), kind, params)
    model = fit_suitability(feats.iloc[:n_s], site_xy, feats.iloc[n_s:n_s + n_b].reset_index(drop=True),
                            back_xy, lp, params.seed)
    relative = relative_suitability(model, feats.iloc[n_s + n_b:])
    multiplier = suitability_multiplier(relative, model, strength, lp)
    return Learned(model, multiplier, relative, bool(np.any(multiplier != 1.0)))


def weighted_demand(demand, learned: Learned, kind: str = "5g"):
    """``demand`` (a Demand or its points) with ``weight`` multiplied by the learned multiplier.

    Charging plans derive their sessions from ``residents``, ``workers`` and ``road_m``
    (:func:`siting.charging.charging_demand`), so for charging kinds those are scaled too:
    they then count intensity-weighted people, not head counts.
    """
    points = getattr(demand, "points", demand).copy()
    columns = ("weight", "residents", "workers", "road_m") if kind in CHARGING_KINDS else ("weight",)
    for column in columns:
        points[column] = points[column].to_numpy(dtype=float) * learned.multiplier
    return replace(demand, points=points) if hasattr(demand, "points") else points


def candidate_scores(area: Area, demand, candidates: gpd.GeoDataFrame, learned: Learned, kind: str,
                     params: Params) -> np.ndarray:
    """Suitability multiplier of each candidate (1 where the model is not used)."""
    if not learned.used or len(candidates) == 0:
        return np.ones(len(candidates))
    points = getattr(demand, "points", demand)
    feats = location_features(area, points, points_xy(candidates), kind, params)
    rel = relative_suitability(learned.model, feats)
    return suitability_multiplier(rel, learned.model, params.learn.strength, params.learn)


def suitability_layer(demand, learned: Learned, crs: str) -> gpd.GeoDataFrame:
    """Map layer: demand points with ``suitability`` (relative, 1 = average) and ``multiplier``."""
    points = getattr(demand, "points", demand)
    return gpd.GeoDataFrame({"demand_id": points["demand_id"].to_numpy(),
                             "suitability": np.round(learned.relative, 4),
                             "multiplier": np.round(learned.multiplier, 4)},
                            geometry=points.geometry.to_numpy(), crs=crs)


# --- the candidate score as a secondary objective -----------------------------------------

@dataclass(frozen=True)
class Preference:
    """Extra demand rows that make the optimiser prefer suitable candidates.

    One row per new candidate, covered by that candidate only, weighing ``bonus[j]``:
    choosing candidate ``j`` earns ``bonus[j]`` on top of the demand it covers. The
    bonuses of any ``budget`` new sites add up to at most ``share × skill`` of the demand
    weight, so an optimal plan gives up at most that share of covered demand for
    suitability, and among near-equivalent sites it takes the more suitable one.
    """

    rows: sparse.csr_matrix     # (new candidates, candidates) 0/1
    bonus: np.ndarray           # weight of each row
    per_candidate: np.ndarray   # bonus of each candidate (0 for fixed ones)
    cap: float                  # share × skill: the most demand share the bonuses can outweigh

    def extend(self, coverage: sparse.csr_matrix, weights: np.ndarray) -> tuple[sparse.csr_matrix, np.ndarray]:
        """``coverage`` and ``weights`` with the preference rows appended."""
        return sparse.vstack([coverage, self.rows], format="csr"), np.r_[weights, self.bonus]

    def strip(self, solution, n_demand: int):
        """``solution`` of the extended problem as a plan of the demand only: gains,
        objective and covered rows without the bonuses (the bound stays valid: the
        bonuses are non-negative)."""
        sel = np.asarray(solution.selected)
        gains = np.asarray(solution.gains, dtype=float) - self.per_candidate[sel]
        objective = float(solution.objective) - float(self.per_candidate[sel].sum())
        bound = float(solution.bound)
        return replace(solution, gains=gains, objective=objective, covered=np.asarray(solution.covered)[:n_demand],
                       gap=max(1.0 - objective / bound, 0.0) if bound > 0 else 0.0)


    def summary(self, selected: np.ndarray, total_weight: float, candidates: gpd.GeoDataFrame) -> dict:
        """JSON-ready: the cap and the bonus the plan earned, as shares of the demand
        weight, and the junction candidates offered and chosen."""
        sel = np.asarray(selected)
        junction = candidates["candidate_id"].astype(str).str.startswith("junction/").to_numpy()
        earned = float(self.per_candidate[sel].sum()) / total_weight if total_weight else 0.0
        return {"cap_share": round(self.cap, 6), "earned_share": round(earned, 6),
                "junction_candidates": int(junction.sum()), "junction_sites": int(junction[sel].sum())}


def candidate_preference(scores: np.ndarray, fixed: np.ndarray, total_weight: float, budget: int, skill: float,
                         share: float) -> Preference | None:
    """The preference rows of candidates with learned ``scores`` (see :class:`Preference`).

    Scores of the new candidates are rescaled to [0, 1]; the bonus of candidate ``j`` is
    ``share × skill × total_weight × s_j / budget``. ``None`` when nothing would change
    (no budget, share or skill 0, or all new candidates scored alike)."""
    fixed = np.asarray(fixed, dtype=bool)
    new = np.flatnonzero(~fixed)
    scores = np.asarray(scores, dtype=float)
    if budget <= 0 or share <= 0 or skill <= 0 or len(new) == 0 or np.ptp(scores[new]) == 0:
        return None
    s = (scores[new] - scores[new].min()) / np.ptp(scores[new])
    bonus = share * skill * total_weight * s / budget
    per_candidate = np.zeros(len(scores))
    per_candidate[new] = bonus
    rows = sparse.csr_matrix((np.ones(len(new), dtype=bool), (np.arange(len(new)), new)),
                             shape=(len(new), len(scores)))
    return Preference(rows, bonus, per_candidate, share * skill)


def with_junction_candidates(area: Area, demand, candidates: gpd.GeoDataFrame, params: Params) -> gpd.GeoDataFrame:
    """``candidates`` plus a new pole candidate (at grid height) at every road
    junction (:func:`intersections`) farther than ``params.candidates.dedup_m`` from all of them:
    operators favour junctions, so a learned preference needs candidates there to choose."""
    cp = params.candidates
    junctions = intersections(area)
    if len(junctions) == 0:
        return candidates
    zone = area.boundary if area.proposal_zone is None else area.proposal_zone
    junctions = junctions[shapely.contains_xy(zone, junctions[:, 0], junctions[:, 1])]
    if len(candidates) and len(junctions):
        junctions = junctions[cKDTree(points_xy(candidates)).query(junctions)[0] > cp.dedup_m]
    if len(junctions) == 0:
        return candidates
    order = np.lexsort((junctions[:, 1], junctions[:, 0]))
    junctions = junctions[order]
    points = getattr(demand, "points", demand)
    env = (points["env_class"].to_numpy()[cKDTree(points_xy(points)).query(junctions)[1]] if len(points)
           else np.full(len(junctions), "urban"))
    new = gpd.GeoDataFrame({"candidate_id": [f"junction/{i}" for i in range(len(junctions))], "source": "grid",
                            "height_m": cp.grid_height_m, "fixed": False,
                            "capacity": np.nan, "name": None, "env_class": env},
                           geometry=gpd.points_from_xy(junctions[:, 0], junctions[:, 1]), crs=candidates.crs)
    return pd.concat([candidates, new[candidates.columns]], ignore_index=True)
