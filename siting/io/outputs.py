"""Reading back what siting wrote: a plan's ``summary.json`` and layers, a batch manifest."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio

from siting.errors import InputError


def read_summary(out_dir: Path) -> dict[str, Any] | None:
    """The ``summary.json`` of an earlier plan in ``out_dir``; None when there is none or it is unreadable."""
    path = Path(out_dir) / "summary.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_layer(path: Path) -> gpd.GeoDataFrame:
    """A GeoJSON layer siting wrote; an empty lon/lat layer when the file is absent."""
    if not path.is_file():
        return gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    return gpd.read_file(path, engine="pyogrio")


def read_outputs(out_dir: str | Path) -> tuple[dict[str, gpd.GeoDataFrame], dict]:
    """Layers and summary from a plan's output folder (``layers.gpkg`` first, then ``*.geojson``)."""
    out = Path(out_dir)
    summary_path = out / "summary.json"
    if not summary_path.is_file():
        raise InputError(f"{out} holds no summary.json: give the --out folder of a finished 'siting plan' run")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{summary_path} is not valid JSON ({exc.__class__.__name__}): re-run 'siting plan'") from None
    layers: dict[str, gpd.GeoDataFrame] = {}
    gpkg = out / "layers.gpkg"
    if gpkg.is_file():
        for name, _ in pyogrio.list_layers(gpkg):
            layers[str(name)] = gpd.read_file(gpkg, layer=str(name), engine="pyogrio")
    for path in sorted(out.glob("*.geojson")):
        if path.stem not in layers:
            layers[path.stem] = read_layer(path)
    if not {"sites", "coverage", "gaps"} & set(layers):
        raise InputError(f"{out} holds no sites, coverage or gaps layer: give the --out folder of a 'siting plan' run")
    return layers, summary


def read_manifest(path: Path) -> dict:
    """The manifest of an earlier run, or an empty one (a damaged manifest reruns everything)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data.get("districts"), dict) else {"districts": {}}
    except (OSError, ValueError, AttributeError):
        return {"districts": {}}
