"""One planning run from files to files: read the inputs, plan, write.

This is the edge where paths become data and data become files; which stages run
is decided by :func:`siting.pipeline.run_plan` alone.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
from tqdm import tqdm

from siting import radio
from siting.area import Area
from siting.config import Params, load_params
from siting.demand import build_demand, demand_grid
from siting.elevation import Dem
from siting.errors import InputError
from siting.io.dem import read_dem
from siting.io.export import write_plan, write_text
from siting.io.osm import load_area
from siting.io.outputs import read_summary
from siting.io.raster import population_samples, write_population_tif
from siting.io.sites import read_sites
from siting.map_style import tile_source
from siting.maps import plan_map, render_html
from siting.pipeline import run_plan
from siting.registry import get_plan
from siting.request import PlanRequest
from siting.result import PlanResult
from siting.terrain import hillshade
from siting.vocab import CHARGING_KINDS

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


def plan_files(source: str, request: PlanRequest, *, config: Path | None = None,
               overrides: dict[str, Any] | None = None, tiles: str = "osm", out: Path | None = None) -> Outcome:
    """Read the inputs of ``request``, plan them with :func:`siting.pipeline.run_plan`, write every output.

    Parameters
    ----------
    source
        ``"demo"``, an OSM file or a place name (:func:`siting.load_area`).
    request
        What to plan; its ``existing``, ``raster`` and ``dem`` files are read here. With
        ``plan_id`` (an id or a plan YAML, recorded by its id) the plan's 5G users and smart poles
        set parameters (:meth:`siting.registry.Plan.param_overrides`; ``overrides`` win over them).
    config, overrides
        A YAML file of parameters and dotted overrides (:func:`siting.load_params`).
    tiles
        The map's base layer.
    out
        Output folder (default ``data/processed/<area>/<kind>/``, plus the planners' copy
        of the map in ``maps/``).

    Returns
    -------
    Outcome
        The summary and where the outputs and the map were written.

    Raises
    ------
    siting.errors.SitingError
        For a missing input file (before any work), bad parameters or a request the area cannot meet.
    """
    inputs: dict[str, Path] = {}
    if request.plan_id is not None:
        plan = get_plan(request.plan_id)
        overrides = {**plan.param_overrides(), **(overrides or {})}
        if Path(request.plan_id).is_file():  # a plan YAML: hashed, and recorded by its id, not its path
            inputs["plan"] = Path(request.plan_id)
        request = request.model_copy(update={"plan_id": plan.id})
    params = load_params(config, overrides)
    tile_source(tiles, params.map)  # a bad base-map request fails before the work
    check_files([("existing", request.existing), ("raster", request.raster), *(("dem", p) for p in request.dem)])
    progress = StageProgress(4 if out is not None else 5)
    progress.next("reading OSM")
    area = load_area(source)
    request = request.model_copy(update={"source": _source_name(source)})
    _check_population(params, area)
    existing = _read_existing(request, area, params)
    dem = _read_dem(list(request.dem), area, params) if request.dem else None
    progress.next("estimating demand")
    population = (population_samples(request.raster, demand_grid(area, params.demand), area.boundary)
                  if request.raster else None)
    demand = build_demand(area, params.demand, population=population)
    progress.next(f"planning {request.kind}")
    result = run_plan(area, request, params, existing=existing, demand=demand, dem=dem, inputs=inputs)
    out_dir = Path(out) if out else PROCESSED / area.slug / request.kind
    if out is None:
        _warn_replacing(out_dir, result.summary["request"])
    map_path = out_dir / "map.html"
    progress.next("writing outputs")
    html = plan_html(result, params, tiles=tiles, dem=dem)
    extra: dict[str, str | bytes] = {"map.html": html}
    write_plan(result, out_dir, extra_files=extra)
    write_population_tif(out_dir / "population.tif", demand)
    if out is None:  # the planners' copy of the map beside the others
        progress.next("writing the planners' map")
        map_path = MAPS / f"{area.slug}-{request.kind}.html"
        write_text(map_path, html)
    progress.close()
    return Outcome(summary=result.summary, out_dir=out_dir, map_path=map_path)


class StageProgress:
    """The stages of a run on stderr, one progress bar; silent when stderr is not a terminal."""

    def __init__(self, total: int) -> None:
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
    """Refuse missing input files before any work, naming the parameter that gave them."""
    for name, path in paths:
        if path is not None and not Path(path).is_file():
            raise InputError(f"`{name}` {path}: no such file: check the path")


def _check_population(params: Params, area: Area) -> None:
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


def _source_name(source: str) -> str:
    """The input as recorded: a file's name (never a machine path), else the text."""
    path = Path(source)
    return path.name if path.exists() else source


def _read_existing(request: PlanRequest, area: Area, params: Params) -> gpd.GeoDataFrame | None:
    if request.existing is None:
        return None
    return read_sites(request.existing, crs=request.existing_crs, area=area,
                      buffer_m=existing_buffer_m(params, request.kind), params=params.sites)


def existing_buffer_m(params: Params, kind: str) -> float | None:
    """How far outside the area an existing site can still cover or serve demand in it:
    ``sites.buffer_m``, else the kind's largest reach (None for an unknown kind)."""
    if params.sites.buffer_m is not None:
        return params.sites.buffer_m
    if kind == "5g":
        budget = radio.link_budget(params.radio)
        return max(radio.max_reach_m(budget, params=params.radio),
                   radio.max_reach_m(budget, h_bs_m=params.candidates.existing_height_m, params=params.radio))
    if kind in CHARGING_KINDS:
        return max(params.charging.kind(kind).radius_m.model_dump().values())
    return None


def _read_dem(paths: list[Path], area: Area, params: Params) -> Dem:
    return read_dem(list(paths), area.crs, tuple(area.boundary.buffer(DEM_MARGIN_M).bounds),
                    params.terrain.resolution_m)


def plan_html(result: PlanResult, params: Params, *, tiles: str = "osm", dem: Dem | None = None) -> str:
    """A plan's ``map.html`` (:mod:`siting.maps`), with the DEM's hillshade when there is one.

    Parameters
    ----------
    result
        The plan.
    params
        Its parameters (``params.map``).
    tiles
        The base layer.
    dem
        Elevation planned with, drawn as a hillshade.

    Returns
    -------
    str
        Self-contained HTML.
    """
    images = {"Hillshade (DEM)": hillshade(dem)} if dem is not None else None
    layers = {**result.layers, "coverage": result.coverage_dissolved} if "coverage" in result.layers else result.layers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return render_html(plan_map(layers, result.summary, tiles=tiles, params=params.map, images=images))
