"""The city after its districts ran: merged sites and gaps, the summary table and the city map.

Every figure is of the **district proper** (:data:`FIGURES`), as each district's
``summary.json`` and the batch's ``manifest.json`` carry it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.io.outputs import read_layer

#: what the batch figures count (``summary.json``'s ``district`` block, ``manifest.json``, ``summary.csv``)
FIGURES = ("district proper: demand points and existing sites inside the district polygon; existing sites within "
           "the clip buffer outside it count for coverage (existing_nearby) but belong to their own district")


def plain(value: Any) -> Any:
    """A NumPy scalar as a plain int, float or str (for JSON)."""
    if isinstance(value, (np.integer, np.floating)) and float(value).is_integer():
        return int(value)
    return value.item() if isinstance(value, np.generic) else value


def merge_city(districts: gpd.GeoDataFrame, manifest: dict, out: Path) -> tuple[pd.DataFrame, list[Path]]:
    """City ``sites.geojson``, ``gaps.geojson``, ``summary.csv``, ``summary.json`` and ``map.html``
    from the districts' folders (``districts``: their polygons, EPSG:4326).

    A district's sites layer holds its own existing sites and its proposals only
    (:func:`district_proper`), so every site is listed once.
    """
    from siting.io.export import write_csv, write_geojson, write_json

    sites, gaps = [], []
    for name, rec in manifest["districts"].items():
        if rec["status"] != "ok":
            continue
        folder = out / rec["slug"]
        s = read_layer(folder / "sites.geojson")
        if len(s):
            s.insert(0, "district", name)
            sites.append(s)
        g = read_layer(folder / "gaps.geojson")
        if len(g):
            g.insert(0, "district", name)
            gaps.append(g)
    files = []
    for fname, parts in (("sites.geojson", sites), ("gaps.geojson", gaps)):
        layer = (gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326") if parts
                 else gpd.GeoDataFrame({"district": []}, geometry=[], crs="EPSG:4326"))
        write_geojson(out / fname, layer)
        files.append(out / fname)
    summary = summary_table(manifest)
    write_csv(out / "summary.csv", summary)
    write_json(out / "summary.json", {"plan": manifest["plan"], "kind": manifest["kind"], "target": manifest["target"],
                                      "figures": FIGURES, "districts": summary.to_dict("records")})
    files += [out / "summary.csv", out / "summary.json"]
    if sites:
        files += _city_map(districts, summary, manifest, out)
    return summary, files


#: columns of ``summary.csv``, each a figure of the manifest's district records (:data:`FIGURES`)
SUMMARY_COLUMNS = ("district", "status", "quota", "proposed", "existing", "existing_nearby", "population",
                   "demand_total", "coverage_before", "coverage_after")


def summary_table(manifest: dict) -> pd.DataFrame:
    """Quota vs proposed vs existing and coverage before/after per district, then a total row."""
    rows = [{"district": name, **{c: r.get(c) for c in SUMMARY_COLUMNS[1:]}} for name, r in manifest["districts"].items()]
    table = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    ok = table[table["status"] == "ok"]
    demand = ok["demand_total"].astype(float)
    total_demand = float(demand.sum())

    def weighted(col: str) -> float | None:
        return round(float((ok[col].astype(float) * demand).sum() / total_demand), 6) if total_demand else None

    def summed(col: str, rows: pd.DataFrame = ok) -> float | int | None:
        values = rows[col].dropna().astype(float)
        return plain(np.float64(round(float(values.sum()), 3))) if len(values) else None

    total = {"district": "TOTAL", "status": f"{len(ok)}/{len(table)} ok", "quota": int(table["quota"].sum()),
             "proposed": summed("proposed") or 0, "existing": summed("existing", table) or 0,
             "existing_nearby": summed("existing_nearby"), "population": summed("population"),
             "demand_total": round(total_demand, 3), "coverage_before": weighted("coverage_before"),
             "coverage_after": weighted("coverage_after")}
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


def _city_map(districts: gpd.GeoDataFrame, summary: pd.DataFrame, manifest: dict, out: Path) -> list[Path]:
    """``map.html``: the city overview from ``siting.maps.city_map`` when the maps module has it."""
    try:
        from siting.maps import city_map, write_map
    except ImportError:
        return []
    links = {name: f"{r['slug']}/map.html" for name, r in manifest["districts"].items()
             if (out / r["slug"] / "map.html").is_file()}
    sites = read_layer(out / "sites.geojson")
    write_map(city_map(districts, summary[summary["district"] != "TOTAL"], links, sites=sites), out / "map.html")
    return [out / "map.html"]
