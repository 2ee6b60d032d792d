"""One planning run from files to files: read inputs, plan, add provenance, write.

This is the edge where paths become data and data become files; the planning itself
is :func:`siting.pipeline.plan_area`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siting.config import load_params
from siting.provenance import provenance

PROCESSED = Path("data/processed")
MAPS = Path("maps")
#: DEM read beyond the area boundary so that profiles near the edge have ground [A]
DEM_MARGIN_M = 1000.0


@dataclass(frozen=True)
class Outcome:
    """Where a run wrote its outputs, and its summary."""

    summary: dict
    out_dir: Path
    map_path: Path


def run_plan(source: str, kind: str = "5g", count: int | None = None, target: float | None = None,
             piles: int | None = None, existing: Path | None = None, existing_crs: str = "wgs84",
             dem: list[Path] | None = None, raster: Path | None = None, config: Path | None = None,
             overrides: dict[str, Any] | None = None, tiles: str = "osm", out: Path | None = None,
             plan_id: str | None = None, phases: str | None = None, reserve: str | float | None = None) -> Outcome:
    """Plan ``kind`` for ``source`` and write every output; see ``siting plan --help``.

    With ``plan_id`` the plan's 5G users drive capacity (``Plan.capacity_overrides``)."""
    from siting.io.osm import load_area
    from siting.io.export import write_plan
    from siting.demand import build_demand
    from siting.io.raster import write_population_tif
    from siting.pipeline import plan_area

    from siting.maps import tile_source

    if plan_id is not None:
        from siting.plans import get_plan

        overrides = {**get_plan(plan_id).capacity_overrides(), **(overrides or {})}
    params = load_params(config, overrides)
    tile_source(tiles, params.map)  # a bad base-map request fails before the work
    area = load_area(source)
    existing_sites = _read_existing(existing, existing_crs, area)
    dem_grid = _read_dem(dem, area, params) if dem else None
    demand = build_demand(area, params.demand, raster=raster)
    result = plan_area(area, kind, params, existing=existing_sites, count=count, target=target, piles=piles,
                       dem=dem_grid, demand=demand, phases=phases, reserve=reserve)
    # the OSM input was hashed when it was read: record that digest instead of reading the file again
    osm = {"sha256": area.source_hash}
    if Path(area.source).is_file():
        osm["file"] = Path(area.source).name
    inputs: dict[str, Any] = {"osm": osm}
    for role, path in (("existing", existing), ("raster", raster)):
        if path is not None:
            inputs[role] = path
    for i, path in enumerate(dem or []):
        inputs[f"dem{i}"] = path
    result.summary["request"] = {"kind": kind, "count": count, "target": target, "piles": piles,
                                 "existing_crs": existing_crs if existing else None, "source": _source_name(source)}
    result.summary["request"].update({k: v for k, v in (("phases", phases), ("reserve", reserve)) if v is not None})
    result.summary["ingest"] = area.info
    if existing_sites is not None:
        result.summary["existing_sites"] = existing_sites.attrs.get("sites", {})
    result.summary["provenance"] = provenance(inputs, params.model_dump(mode="json"), plan_id)
    out_dir = Path(out) if out else PROCESSED / area.slug / kind
    map_path = out_dir / "map.html"
    extra = {"map.html": _map_html(result, tiles, params, dem_grid)}
    write_plan(result, out_dir, extra_files=extra)
    write_population_tif(out_dir / "population.tif", demand)
    if out is None:  # the planners' copy of the map beside the others
        from siting.io.export import write_text

        map_path = MAPS / f"{area.slug}-{kind}.html"
        write_text(map_path, extra["map.html"])
    return Outcome(summary=result.summary, out_dir=out_dir, map_path=map_path)


def _source_name(source: str) -> str:
    """The input as recorded: a file's name (never a machine path), else the text."""
    path = Path(source)
    return path.name if path.exists() else source


def _read_existing(path: Path | None, crs: str, area):
    if path is None:
        return None
    from siting.io.sites import read_sites

    return read_sites(path, crs=crs, area=area)


def _read_dem(paths: list[Path], area, params):
    from siting.io.dem import read_dem

    return read_dem(list(paths), area.crs, tuple(area.boundary.buffer(DEM_MARGIN_M).bounds),
                    params.terrain.resolution_m)


def _map_html(result, tiles: str, params, dem=None) -> str:
    from siting.maps import plan_map, render_html

    images = None
    if dem is not None:
        from siting.terrain import hillshade

        images = {"Hillshade (DEM)": hillshade(dem)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return render_html(plan_map(result.layers, result.summary, tiles=tiles, params=params.map, images=images))
