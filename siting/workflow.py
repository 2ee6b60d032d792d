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
from siting.errors import InputError
from siting.io.outputs import read_summary
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

    With ``plan_id`` the plan's 5G users and smart poles set parameters (``Plan.param_overrides``)."""
    from siting.io.osm import load_area
    from siting.io.export import write_plan
    from siting.demand import build_demand, demand_grid
    from siting.io.raster import population_samples, write_population_tif
    from siting.pipeline import plan_area

    from siting.map_style import tile_source

    if plan_id is not None:
        from siting.registry import get_plan

        overrides = {**get_plan(plan_id).param_overrides(), **(overrides or {})}
    params = load_params(config, overrides)
    tile_source(tiles, params.map)  # a bad base-map request fails before the work
    check_files([("--existing", existing), ("--raster", raster), *(("--dem", p) for p in dem or [])])
    progress = StageProgress(4 if out is not None else 5)
    progress.next("reading OSM")
    area = load_area(source)
    _check_population(params, area)
    existing_sites = _read_existing(existing, existing_crs, area, params, kind)
    dem_grid = _read_dem(dem, area, params) if dem else None
    progress.next("estimating demand")
    population = population_samples(raster, demand_grid(area, params.demand), area.boundary) if raster else None
    demand = build_demand(area, params.demand, population=population)
    progress.next(f"planning {kind}")
    result = plan_area(area, kind, params, existing=existing_sites, count=count, target=target, piles=piles,
                       dem=dem_grid, demand=demand, phases=phases, reserve=reserve)
    inputs: dict[str, Any] = {"osm": osm_input(area)}
    for role, path in (("existing", existing), ("raster", raster)):
        if path is not None:
            inputs[role] = path
    for i, path in enumerate(dem or []):
        inputs[f"dem{i}"] = path
    request = {"kind": kind, "count": count, "target": target, "piles": piles,
               "existing_crs": existing_crs if existing else None, "source": _source_name(source)}
    request.update({k: v for k, v in (("phases", phases), ("reserve", reserve)) if v is not None})
    record_run(result, area, params, inputs, request, existing_sites, plan_id)
    out_dir = Path(out) if out else PROCESSED / area.slug / kind
    if out is None:
        _warn_replacing(out_dir, result.summary["request"])
    map_path = out_dir / "map.html"
    progress.next("writing outputs")
    extra = {"map.html": _map_html(result, tiles, params, dem_grid)}
    write_plan(result, out_dir, extra_files=extra)
    write_population_tif(out_dir / "population.tif", demand)
    if out is None:  # the planners' copy of the map beside the others
        from siting.io.export import write_text

        progress.next("writing the planners' map")
        map_path = MAPS / f"{area.slug}-{kind}.html"
        write_text(map_path, extra["map.html"])
    progress.close()
    return Outcome(summary=result.summary, out_dir=out_dir, map_path=map_path)


class StageProgress:
    """The stages of a run on stderr, one progress bar; silent when stderr is not a terminal."""

    def __init__(self, total: int) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc="siting", unit="stage", leave=False, disable=None,
                         bar_format="{desc}: {n_fmt}/{total_fmt} stages [{elapsed}]")
        self._started = False

    def next(self, what: str) -> None:
        if self._started:
            self._bar.update(1)
        self._started = True
        self._bar.set_description_str(f"siting: {what}")

    def close(self) -> None:
        self._bar.update(1)
        self._bar.close()


def check_files(paths: list[tuple[str, Path | None]]) -> None:
    """Refuse missing input files before any work, naming the option that gave them."""
    for option, path in paths:
        if path is not None and not Path(path).is_file():
            raise InputError(f"{option} {path}: no such file: check the path")


def _check_population(params, area) -> None:
    total = params.demand.population
    if total and area.area_km2 > 0 and total / area.area_km2 > params.demand.plausible_density_per_km2:
        warnings.warn(f"--population {total:,.0f} on {area.area_km2:.1f} km² is {total / area.area_km2:,.0f} "
                      f"residents per km², denser than any Chinese district: is the total for a larger area?")


def _warn_replacing(out_dir: Path, request: dict) -> None:
    """Say so when the default output folder holds a different earlier plan of this area."""
    earlier = read_summary(out_dir)
    if earlier is not None and earlier.get("request") != request:
        asked = ", ".join(f"{k} {v}" for k, v in (earlier.get("request") or {}).items()
                          if k in ("count", "target", "piles") and v is not None)
        warnings.warn(f"replacing the earlier plan in {out_dir} ({asked or 'another request'}): "
                      "use --out to keep both")


def osm_input(area) -> dict[str, str]:
    """The OSM input as provenance records it: the digest taken at ingest (the file is not read again)."""
    osm = {"sha256": area.source_hash}
    if Path(area.source).is_file():
        osm["file"] = Path(area.source).name
    return osm


def record_run(result, area, params, inputs: dict[str, Any], request: dict[str, Any], existing_sites=None,
               plan_id: str | None = None) -> None:
    """Write what made ``result`` into its summary: the request, the ingest notes, the existing
    sites read and the provenance block (``siting.provenance``); ``siting batch`` does the same per district."""
    result.summary["request"] = request
    result.summary["ingest"] = area.info
    if existing_sites is not None:
        result.summary["existing_sites"] = existing_sites.attrs.get("sites", {})
    result.summary["provenance"] = provenance(inputs, params.model_dump(mode="json"), plan_id)


def _source_name(source: str) -> str:
    """The input as recorded: a file's name (never a machine path), else the text."""
    path = Path(source)
    return path.name if path.exists() else source


def _read_existing(path: Path | None, crs: str, area, params, kind: str):
    if path is None:
        return None
    from siting.io.sites import read_sites

    return read_sites(path, crs=crs, area=area, buffer_m=existing_buffer_m(params, kind), params=params.sites)


def existing_buffer_m(params, kind: str) -> float | None:
    """How far outside the area an existing site can still cover or serve demand in it:
    ``sites.buffer_m``, else the kind's largest reach (None for an unknown kind)."""
    from siting.vocab import CHARGING_KINDS

    if params.sites.buffer_m is not None:
        return params.sites.buffer_m
    if kind == "5g":
        from siting import radio

        budget = radio.link_budget(params.radio)
        return max(radio.max_reach_m(budget, params=params.radio),
                   radio.max_reach_m(budget, h_bs_m=params.candidates.existing_height_m, params=params.radio))
    if kind in CHARGING_KINDS:
        return max(params.charging.kind(kind).radius_m.model_dump().values())
    return None


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
