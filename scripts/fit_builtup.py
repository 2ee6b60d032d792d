"""Fit the built-up model shipped as ``siting/data/builtup_model.json`` (issue 17).

Run from the project root with the shared data beside it::

    python scripts/fit_builtup.py [--data ../shared/data] [--out siting/data/builtup_model.json]

Training cells are the cells of the extracts with mapped buildings (Nanjing Xinjiekou,
the Helsinki demo, Shenzhen Nanshan, Shanghai Baoshan) whose wider neighbourhood
(``--mapped-window-m``) has mapped buildings: the parts of those extracts where an empty
cell is really empty, not unmapped. Targets are the neighbourhood building cover and
floor-area ratio that :func:`siting.demand.neighbourhood` computes from the buildings;
features are :func:`siting.builtup.cell_features` of the same cells, so fitting and
planning use one code path. A ridge regression on sqrt targets is scored by spatial block
cross-validation (``GroupKFold`` on square blocks; never random splits) and by leaving
each extract out; the scores go into the JSON file with the coefficients, and a run
needs neither the training data nor scikit-learn's fitting code. Deterministic: the
same data give a byte-identical file.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from shapely.geometry import box
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

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
ALPHA = 1.0
BLOCK_M = 1000.0
FOLDS = 5


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
        f = hood.features[keep].reset_index(drop=True)
        f.insert(0, "area", name)
        f["x"], f["y"] = np.asarray(x), np.asarray(y)
        f["cover"], f["far"] = hood.cover_ctx[keep], hood.far_ctx[keep]
        f["road_density"] = hood.road_density_ctx[keep]
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def fit(cells: pd.DataFrame, columns, info: dict) -> builtup.BuiltupModel:
    """Ridge regressions of sqrt cover and sqrt floor-area ratio on the standardised design."""
    x = builtup.design(cells)[list(columns)].to_numpy(dtype=float)
    scaler = StandardScaler().fit(x)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    z = (x - scaler.mean_) / scale
    coef, intercept, smear = {}, {}, {}
    for t in builtup.TARGETS:
        y = np.maximum(cells[t].to_numpy(), 0.0)
        m = Ridge(alpha=ALPHA).fit(z, np.sqrt(y))
        squared = np.square(np.maximum(m.predict(z), 0.0))
        coef[t], intercept[t] = m.coef_, float(m.intercept_)
        smear[t] = float(y.sum() / squared.sum()) if squared.sum() > 0 else 1.0
    return builtup.BuiltupModel(tuple(columns), scaler.mean_, scale, coef, intercept, smear, info)


def scores(cells: pd.DataFrame, predicted: dict[str, np.ndarray], params: DemandParams) -> dict:
    """Errors of predicted against building-derived cover, floor-area ratio and class."""
    truth = _env_class(cells["cover"].to_numpy(), builtup.ratio(cells["far"].to_numpy(), cells["cover"].to_numpy()),
                       cells["road_density"].to_numpy(), params)
    guess = _env_class(predicted["cover"], builtup.ratio(predicted["far"], predicted["cover"]),
                       cells["road_density"].to_numpy(), params)
    far = cells["far"].to_numpy()
    return {"cells": int(len(cells)),
            "far_mae": round(float(np.abs(predicted["far"] - far).mean()), 4),
            "far_mean": round(float(far.mean()), 4),
            "floor_area_total_error": round(float(predicted["far"].sum() / far.sum() - 1.0), 4),
            "cover_mae": round(float(np.abs(predicted["cover"] - cells["cover"].to_numpy()).mean()), 4),
            "class_agreement": round(float(np.mean(truth == guess)), 4),
            "class_within_one": round(float(np.mean(np.abs(truth - guess) <= 1)), 4),
            "classes_true": {c: int((truth == 3 - i).sum()) for i, c in enumerate(reversed(ENV_CLASSES))}}


def cross_validate(cells: pd.DataFrame, folds, params: DemandParams) -> dict:
    columns = builtup.design(cells.head(1)).columns
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
    groups = spatial_blocks(cells[["x", "y"]].to_numpy(), BLOCK_M) * len(AREAS) + pd.factorize(cells["area"])[0]
    block = cross_validate(cells, spatial_folds(groups, FOLDS), params)
    names = cells["area"].to_numpy()
    columns = builtup.design(cells.head(1)).columns
    by_area = {}
    for name in dict.fromkeys(names):  # leave each extract out in turn
        test = names == name
        held = cells[test].reset_index(drop=True)
        model = fit(cells[~test], columns, {})
        by_area[name] = scores(held, model.predict(held), params)
    info = {"fitted_by": "scripts/fit_builtup.py", "estimator": f"ridge(alpha={ALPHA}) on sqrt targets",
            "training": {n: int((names == n).sum()) for n in dict.fromkeys(names)},
            "mapped_window_m": a.mapped_window_m, "mapped_cover": a.mapped_cover,
            "cross_validation": {"method": f"GroupKFold({FOLDS}) on {BLOCK_M:g} m blocks", **block},
            "leave_one_area_out": by_area}
    model = fit(cells, columns, info)
    a.out.write_text(json.dumps(model.to_json(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
