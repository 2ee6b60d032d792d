"""Fit the built-up model shipped as ``siting/data/builtup_model.json`` (issue 17).

Run from the project root with the shared data beside it::

    python scripts/fit_builtup.py [--data ../shared/data] [--out siting/data/builtup_model.json]

Training cells are the cells of the extracts with mapped buildings (Nanjing Xinjiekou,
the Helsinki demo, Shenzhen Nanshan, Shanghai Baoshan) whose wider neighbourhood
(``--mapped-window-m``) has mapped buildings: the parts of those extracts where an empty
cell is really empty, not unmapped. Targets are the neighbourhood building cover,
floor-area ratio, residents and workers per hectare that :func:`siting.demand.neighbourhood`
computes from the buildings; features are :func:`siting.builtup.cell_features` of the
same cells, so fitting and planning use one code path. Gradient-boosted trees (Poisson
loss) are scored by spatial block cross-validation (``GroupKFold`` on square blocks;
never random splits) and by leaving each extract out, always through the exported
:class:`siting.builtup.Forest`, so the scores are those of the shipped arithmetic. The
scores go into the JSON file with the trees; a run needs neither the training data nor
scikit-learn's fitting code. Deterministic: the same data give a byte-identical file.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from shapely.geometry import box
from sklearn.ensemble import HistGradientBoostingRegressor

from siting import builtup
from siting.config import DemandParams
from siting.demand import _env_class, neighbourhood
from siting.io.osm import load_area
from siting.learn import spatial_blocks, spatial_folds
from siting.vocab import ENV_CLASSES_SPARSEST_FIRST as ENV_CLASSES

#: (name, path under the shared data folder or "demo", lon/lat box or None)
AREAS = (
    ("nanjing_xinjiekou", "osm/nanjing_xinjiekou_osm/osm_bbox.osm.xml", None),
    ("helsinki_demo", "demo", None),
    ("shenzhen_nanshan", "osm/shenzhen_nanshan_kejiyuan_osm/osm_bbox.osm.xml", (113.92, 22.536, 114.0, 22.564)),
    ("shanghai_baoshan", "osm/shanghai_shu_baoshan_osm/map_1.osm", None),
)
#: gradient boosting settings (no early stopping, no subsampling: deterministic)
BOOSTING = {"loss": "poisson", "learning_rate": 0.05, "max_iter": 150, "max_leaf_nodes": 8, "min_samples_leaf": 20,
            "l2_regularization": 1.0, "early_stopping": False, "random_state": 0}
BLOCK_M = 1000.0
FOLDS = 5
#: feature prefixes along which more means more built-up (+1) or less (-1): monotone trees extrapolate
#: sensibly to areas denser or sparser than the training extracts
MONOTONE = {"road_km_per_km2": 1, "junctions_per_km2": 1, "block_m": -1, "shops_per_km2": 1, "offices_per_km2": 1,
            "hubs_per_km2": 1, "landuse_green": -1}


def training_cells(data: Path, mapped_window_m: float, mapped_cover: float, params: DemandParams) -> pd.DataFrame:
    """One row per training cell: area, x, y, features, targets, road density."""
    frames = []
    for name, rel, bbox in AREAS:
        area = load_area("demo" if rel == "demo" else str(data / rel), boundary=box(*bbox) if bbox else None,
                         processed_dir=None, cache_dir=None)
        hood = neighbourhood(area, params)
        wide = builtup.window_cells(mapped_window_m, params.cell_size_m)
        wide_cover = builtup.ratio(builtup.smooth(hood.buildings["footprint"], hood.spec, wide),
                                   builtup.smooth(hood.cell_area, hood.spec, wide))
        keep = hood.in_area & (wide_cover >= mapped_cover)
        rows, cols = np.divmod(np.flatnonzero(keep), hood.spec.shape[1])
        x, y = hood.spec.centres(rows, cols)
        window = builtup.window_cells(params.context_window_m, params.cell_size_m)
        land = builtup.smooth(hood.cell_area, hood.spec, window)
        f = hood.features[keep].reset_index(drop=True)
        f.insert(0, "area", name)
        f["x"], f["y"] = np.asarray(x), np.asarray(y)
        f["cover"], f["far"] = hood.cover_ctx[keep], hood.far_ctx[keep]
        for target, people in (("residents_per_ha", "residents"), ("workers_per_ha", "workers")):
            f[target] = 1e4 * builtup.ratio(builtup.smooth(hood.buildings[people], hood.spec, window), land)[keep]
        f["road_density"] = hood.road_density_ctx[keep]
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def export(est: HistGradientBoostingRegressor) -> builtup.Forest:
    """The fitted trees as one flat :class:`siting.builtup.Forest` (scikit-learn's node arrays, renumbered)."""
    parts: dict[str, list] = {k: [] for k in ("feature", "threshold", "left", "right", "value")}
    roots, offset, depth = [], 0, 0
    for (tree,) in est._predictors:
        n = tree.nodes
        leaf = n["is_leaf"].astype(bool)
        roots.append(offset)
        parts["feature"].append(np.where(leaf, -1, n["feature_idx"]).astype(np.int64))
        parts["threshold"].append(np.where(leaf, 0.0, n["num_threshold"]))
        parts["left"].append(np.where(leaf, 0, n["left"] + offset).astype(np.int64))
        parts["right"].append(np.where(leaf, 0, n["right"] + offset).astype(np.int64))
        parts["value"].append(np.where(leaf, n["value"], 0.0))
        depth, offset = max(depth, int(n["depth"].max())), offset + len(n)
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    return builtup.Forest(float(np.ravel(est._baseline_prediction)[0]), np.asarray(roots, np.int64), cat["feature"],
                          cat["threshold"], cat["left"], cat["right"], cat["value"], depth)


def fit(cells: pd.DataFrame, columns: list[str], info: dict) -> builtup.BuiltupModel:
    """One Poisson gradient-boosted regression per target, exported as forests."""
    x = cells[columns].to_numpy(dtype=float)
    monotone = [MONOTONE.get(c.rsplit("_", 1)[0], 0) for c in columns]
    forests = {}
    for t in builtup.TARGETS:
        est = HistGradientBoostingRegressor(**BOOSTING, monotonic_cst=monotone).fit(x, np.maximum(cells[t].to_numpy(), 0.0))
        forests[t] = export(est)
        assert np.allclose(forests[t].predict(x), est.predict(x), rtol=1e-9, atol=1e-12)
    return builtup.BuiltupModel(tuple(columns), forests, info)


def env_classes(cover: np.ndarray, far: np.ndarray, road_density: np.ndarray, params: DemandParams) -> np.ndarray:
    return _env_class(cover, builtup.ratio(far, cover), road_density, params)


def scores(cells: pd.DataFrame, predicted: dict[str, np.ndarray], params: DemandParams) -> dict:
    """Errors of predicted against building-derived cover, floor-area ratio, people and class."""
    road = cells["road_density"].to_numpy()
    truth = env_classes(cells["cover"].to_numpy(), cells["far"].to_numpy(), road, params)
    guess = env_classes(predicted["cover"], predicted["far"], road, params)
    far = cells["far"].to_numpy()
    out = {"cells": int(len(cells)),
           "far_mae": round(float(np.abs(predicted["far"] - far).mean()), 4),
           "far_mean": round(float(far.mean()), 4),
           "floor_area_total_error": round(float(predicted["far"].sum() / far.sum() - 1.0), 4),
           "cover_mae": round(float(np.abs(predicted["cover"] - cells["cover"].to_numpy()).mean()), 4)}
    for t in ("residents_per_ha", "workers_per_ha"):
        y = cells[t].to_numpy()
        out[f"{t}_mean"] = round(float(y.mean()), 2)
        out[f"{t}_mae"] = round(float(np.abs(predicted[t] - y).mean()), 2)
        out[f"{t.split('_')[0]}_total_error"] = round(float(predicted[t].sum() / max(y.sum(), 1e-9) - 1.0), 4)
    out.update({"class_agreement": round(float(np.mean(truth == guess)), 4),
                "class_within_one": round(float(np.mean(np.abs(truth - guess) <= 1)), 4),
                "classes_true": {c: int((truth == i).sum()) for i, c in enumerate(ENV_CLASSES)},
                "classes_predicted": {c: int((guess == i).sum()) for i, c in enumerate(ENV_CLASSES)}})
    return out


def cross_validate(cells: pd.DataFrame, folds, columns: list[str], params: DemandParams) -> dict:
    pred = {t: np.zeros(len(cells)) for t in builtup.TARGETS}
    for train, test in folds:
        model = fit(cells.iloc[train], columns, {})
        for t, v in model.predict(cells.iloc[test]).items():
            pred[t][test] = v
    return scores(cells, pred, params)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("siting/data") / builtup.MODEL_FILE)
    ap.add_argument("--mapped-window-m", type=float, default=900.0)
    ap.add_argument("--mapped-cover", type=float, default=0.05)
    a = ap.parse_args()
    params = DemandParams()
    cells = training_cells(a.data, a.mapped_window_m, a.mapped_cover, params)
    columns = [c for c in cells.columns if c.endswith("m") and c not in ("area",) and "_" in c and c[-2].isdigit()]
    groups = spatial_blocks(cells[["x", "y"]].to_numpy(), BLOCK_M) * len(AREAS) + pd.factorize(cells["area"])[0]
    block = cross_validate(cells, spatial_folds(groups, FOLDS), columns, params)
    names = cells["area"].to_numpy()
    by_area = {}
    for name in dict.fromkeys(names):  # leave each extract out in turn
        test = names == name
        held = cells[test].reset_index(drop=True)
        by_area[name] = scores(held, fit(cells[~test], columns, {}).predict(held), params)
    info = {"fitted_by": "scripts/fit_builtup.py",
            "estimator": "HistGradientBoostingRegressor per target, " + ", ".join(f"{k}={v}" for k, v in BOOSTING.items()),
            "training": {n: int((names == n).sum()) for n in dict.fromkeys(names)},
            "mapped_window_m": a.mapped_window_m, "mapped_cover": a.mapped_cover,
            "cross_validation": {"method": f"GroupKFold({FOLDS}) on {BLOCK_M:g} m blocks", **block},
            "leave_one_area_out": by_area}
    model = fit(cells, columns, info)
    info["in_sample"] = scores(cells, model.predict(cells), params)
    a.out.write_text(json.dumps(model.to_json(), sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
