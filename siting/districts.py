"""A batch's districts before any of them runs: the survey, the quotas, the proposal zones.

:func:`prepare` reads the plan and the districts, surveys each district's demand, existing
sites and new candidate sites, and splits the plan's target into quotas
(:func:`siting.plans.district_quotas`). The survey reads the city's OSM data one of two ways:

- whole (the default): the client loads the whole Area once; tasks get clips of it;
- windows (``batch.windows: true``): the OSM XML file is split once into one window file per
  district (:mod:`siting.io.osm_window`), and one Dask task per district reads its window,
  surveys it and returns a few figures and its candidate points; the plan tasks read their
  windows again (a GeoPackage cached beside the window). The client holds the districts
  and these figures only, never the city's layers, so its memory does not grow with the
  number of districts.
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.area import Area
from siting.config import Params
from siting.errors import ConfigError
from siting.io.osm_window import Windows
from siting.io.districts import districts_from_osm, read_districts
from siting.plans import (CENSUS_COLUMNS, check_extent, check_plan_area, check_quotas_fit, demand_by_district,
                          district_census, district_quotas, existing_by_district, with_census)
from siting.provenance import sha256_file, sha256_text
from siting.registry import Plan, get_plan

PROCESSED = Path("data/processed")
#: OSM files that :mod:`siting.io.osm_window` can split
WINDOW_SUFFIXES = (".osm", ".osm.xml", ".osm.gz", ".osm.xml.gz", ".osm.bz2", ".osm.xml.bz2")


@dataclass(frozen=True)
class Stages:
    """The functions a batch calls (the planner is :func:`siting.pipeline.run_plan`); tests inject light ones."""

    load_area: Callable[..., Area]
    build_demand: Callable[[Area, Params], Any]  # -> siting.demand.Demand
    run_plan: Callable[..., Any]  # (area, PlanRequest, params, *, existing, demand, inputs) -> PlanResult
    write_plan: Callable[..., Any]
    district_map: Callable[[Any, Params], str] | None = None  # (PlanResult, params) -> HTML

    @classmethod
    def default(cls) -> "Stages":
        from siting.io.export import write_plan
        from siting.io.osm import load_area
        from siting.pipeline import run_plan
        from siting.workflow import plan_html

        return cls(load_area=load_area, build_demand=_demand, run_plan=run_plan, write_plan=write_plan,
                   district_map=plan_html)


def _demand(area: Area, params: Params):
    from siting.demand import build_demand

    return build_demand(area, params.demand)


def near(gdf: gpd.GeoDataFrame, zone: shapely.Geometry) -> gpd.GeoDataFrame:
    """The rows of ``gdf`` whose geometry intersects ``zone``, whole."""
    if gdf.empty:
        return gdf
    return gdf.iloc[np.unique(gdf.sindex.query(zone, predicate="intersects"))]


@dataclass(frozen=True)
class Prepared:
    """Everything decided before any district runs."""

    plan: Plan
    target: int
    area: Area | None              # the whole Area, or None when each district reads its window
    districts: gpd.GeoDataFrame   # district, geometry (EPSG:4326)
    quotas: gpd.GeoDataFrame      # district_quotas output (EPSG:4326), census columns included
    existing: gpd.GeoDataFrame | None  # existing sites (city CRS) or None
    inputs: dict = field(default_factory=dict)  # provenance inputs: role -> {"file", "sha256"}
    windows: Windows | None = None  # the districts' window files (batch.windows)

    @property
    def crs(self) -> str:
        """The city's metric CRS."""
        return self.area.crs if self.area is not None else self._windows.crs

    @property
    def source_hash(self) -> str:
        """SHA-256 of the city's OSM data."""
        return self.area.source_hash if self.area is not None else self._windows.source_hash

    @property
    def _windows(self) -> Windows:
        if self.windows is None:
            raise ValueError("a Prepared batch holds either the whole Area or the windows")
        return self.windows


@dataclass(frozen=True)
class Survey:
    """What the quotas need of the city: per district figures and the new candidate points."""

    crs: str
    modelled: pd.DataFrame        # residents, workers, road_km by district
    existing: pd.Series           # existing sites by district (user's and fixed POIs)
    candidates_xy: np.ndarray     # new candidate sites (n × 2, city CRS)
    area: Area | None = None
    windows: Windows | None = None


def prepare(plan_ref: str | Path, districts_path: str | Path, osm: str | Path, *, kind: str = "5g",
            category: str | None = None, target: int | None = None, name_column: str | None = None,
            existing: gpd.GeoDataFrame | None = None, params: Params,
            plans_dir: str | Path | None = None, stages: Any = None,
            admin_level: str = "6", inputs: dict | None = None, scheduler: str = "local",
            workers: int | None = None, client: Any = None, windows_dir: Path | None = None) -> Prepared:
    """Read the plan, districts and OSM data, check them, and compute the quotas.

    ``districts_path`` ``"osm"`` takes the districts from the administrative boundaries
    (``admin_level``) in the OSM file. Census figures (:func:`siting.plans.district_census`)
    replace the modelled residents and workers of the quota shares and calibrate each
    district's demand. A plan's whole target on districts too small to be its city is
    warned about; quotas beyond the districts' candidate sites are refused. Every user
    error is raised here, before any district runs. ``inputs``: provenance entries
    (role -> ``{"file", "sha256"}``) of files read by the caller. ``stages``: a
    :class:`Stages`. With ``batch.windows`` the survey runs as one Dask task
    per district on ``client`` (else one made from ``scheduler`` and ``workers``); the window
    files go to ``windows_dir`` (default ``data/processed/windows/<hash of the OSM path>/``),
    which every worker must be able to read.
    """
    bp = params.batch
    plan = get_plan(plan_ref, plans_dir)
    whole_plan = target is None
    if target is None:
        target = int(plan.target(kind, category).new or 0)
    elif target < 0:
        raise ConfigError(f"--target {target} is negative: give a number of new sites >= 0")
    if str(districts_path) == "osm":
        districts = districts_from_osm(osm, admin_level)
    else:
        districts = read_districts(districts_path, name_column, bp.overlap_tolerance)
    stages = stages or Stages.default()
    if bp.windows:
        folder = windows_dir or PROCESSED / "windows" / sha256_text(str(Path(osm).resolve()))[:16]
        survey = survey_windows(Path(osm), Path(folder).resolve(), districts, kind, existing, params, stages,
                                scheduler, workers, client)
    else:
        survey = survey_area(stages.load_area(osm), districts, kind, existing, params, stages)
    km2 = float(districts.to_crs(survey.crs).area.sum()) / 1e6
    if whole_plan:
        note = check_plan_area(plan, kind, target, km2, bp.max_sites_per_km2, bp.min_plan_area_share)
        if note:
            warnings.warn(note, stacklevel=2)
    modelled = survey.modelled
    city_km2 = plan.census.area_km2 if plan.census is not None else None
    census = district_census(districts, plan, modelled["residents"], km2 / city_km2 if city_km2 else 0.0,
                             bp.census_cover_share)
    quotas = district_quotas(districts, with_census(modelled, census), target, survey.existing,
                             weights={"residents": bp.weight_residents, "workers": bp.weight_workers,
                                      "road_km": bp.weight_road_km},
                             minimum=bp.minimum_quota)
    quotas = quotas.drop(columns=[c for c in CENSUS_COLUMNS if c in quotas])
    if len(census):
        for col in [*CENSUS_COLUMNS, "census_source"]:
            quotas[col] = census[col].reindex(quotas["district"]).to_numpy()
    zones = proposal_zones(quotas.to_crs(survey.crs), bp.border_spacing_m, quotas["demand_share"].to_numpy())
    check_quotas_fit(quotas, candidates_in_zones(survey.candidates_xy, zones, districts["district"]))
    files = dict(inputs or {})
    if Path(districts_path).is_file():
        files["districts"] = {"file": Path(districts_path).name, "sha256": sha256_file(districts_path)}
    if Path(plan_ref).is_file():
        files["plan"] = {"file": Path(plan_ref).name, "sha256": sha256_file(plan_ref)}
    return Prepared(plan, target, survey.area, districts, quotas,
                    None if existing is None else existing.to_crs(survey.crs), files, survey.windows)


def survey_area(area: Area, districts: gpd.GeoDataFrame, kind: str, existing: gpd.GeoDataFrame | None,
                params: Params, stages: Any) -> Survey:
    """The survey of the whole Area, on the client."""
    check_extent(districts, area.boundary_wgs84, params.batch.min_inside_share)
    demand = stages.build_demand(area, params)
    return Survey(area.crs, demand_by_district(districts, demand.points, area.road_edges),
                  existing_by_district(districts, existing_sites(area, kind, params, existing)),
                  new_candidates(area, demand, kind, params, existing), area=area)


def window_boxes(districts: gpd.GeoDataFrame, crs: str,
                 buffer_m: float) -> dict[str, tuple[float, float, float, float]]:
    """Each district's window: the lon/lat bounds of its bounding box in ``crs`` grown by ``buffer_m``."""
    metric = districts.to_crs(crs).geometry.values
    boxes = gpd.GeoSeries(shapely.box(*shapely.bounds(shapely.buffer(metric, buffer_m)).T), crs=crs)
    bounds = boxes.to_crs("EPSG:4326").bounds.to_numpy()
    return {str(n): (float(b[0]), float(b[1]), float(b[2]), float(b[3])) for n, b in zip(districts["district"], bounds)}


def survey_windows(osm: Path, folder: Path, districts: gpd.GeoDataFrame, kind: str,
                   existing: gpd.GeoDataFrame | None, params: Params, stages: Any, scheduler: str,
                   workers: int | None, client: Any) -> Survey:
    """Split ``osm`` into the districts' windows in ``folder`` (once) and survey each on Dask."""
    from siting.cluster import dask_client
    from siting.io.osm_window import split_windows

    if not osm.is_file() or not osm.name.lower().endswith(WINDOW_SUFFIXES):
        raise ConfigError(f"batch.windows needs an OSM XML file as --osm (.osm, .osm.xml, .osm.gz, .osm.bz2), "
                          f"not {osm.name}: convert it (osmium cat in.osm.pbf -o out.osm.gz) or set batch.windows "
                          "false")
    crs = districts.estimate_utm_crs().to_string()
    boxes = window_boxes(districts, crs, params.batch.buffer_m)
    windows = split_windows(osm, boxes, folder, crs)
    check_extent(districts, shapely.box(*windows.extent_wgs84), params.batch.min_inside_share)
    user = None if existing is None else existing.to_crs(crs)
    metric = districts.to_crs(crs)
    names = [str(n) for n in metric["district"]]
    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(dask_client(scheduler, workers))
        futures = []
        for name, geom in zip(names, metric.geometry.values):
            mine = None if user is None else near(user, geom.buffer(params.batch.buffer_m))
            size = windows.files[name].stat().st_size
            futures.append(client.submit(survey_district, name, windows.files[name], crs,
                                         shapely.to_wkb(geom, output_dimension=2), kind, mine, params, stages,
                                         key=f"survey-{sha256_text(name)[:12]}-{windows.source_hash[:12]}",
                                         priority=size, pure=False))
        results = client.gather(futures)
    modelled = pd.DataFrame([r["modelled"] for r in results], index=pd.Index(names, name="district"))
    fixed = pd.Series([r["fixed"] for r in results], index=modelled.index, name="existing")
    counts = existing_by_district(districts, user) + fixed
    xy = np.concatenate([r["candidates_xy"] for r in results]) if results else np.zeros((0, 2))
    return Survey(crs, modelled, counts, xy, windows=windows)


def survey_district(name: str, window: Path, crs: str, district_wkb: bytes, kind: str,
                    existing: gpd.GeoDataFrame | None, params: Params, stages: Any) -> dict:
    """One district's survey in its window (a Dask task): its demand measures, fixed POI sites
    inside it, and its new candidate points (``existing``: the user's sites near it)."""
    from siting.io.osm_window import read_window

    area = read_window(window, crs)
    district = shapely.from_wkb(district_wkb)
    one = gpd.GeoDataFrame({"district": [name]}, geometry=[district], crs=crs)
    demand = stages.build_demand(area, params)
    modelled = demand_by_district(one, demand.points, area.road_edges).iloc[0]
    xy = new_candidates(area, demand, kind, params, existing)
    inside = shapely.contains_xy(district, xy[:, 0], xy[:, 1]) if len(xy) else np.zeros(0, bool)
    return {"modelled": {k: float(v) for k, v in modelled.items()},
            "fixed": int(existing_by_district(one, existing_sites(area, kind, params, None)).iloc[0]),
            "candidates_xy": xy[inside]}


def proposal_zones(districts: gpd.GeoDataFrame, spacing_m: float, demand_share: np.ndarray) -> list[shapely.Geometry]:
    """Where each district's new sites may go (metric CRS): its polygon, less ``spacing_m``
    along every border shared with a neighbour that comes first (more of the demand, then
    the earlier name). The first keeps its side of the border, so new sites of two
    neighbours always stand at least ``spacing_m`` apart."""
    geoms = districts.geometry.values
    if spacing_m <= 0 or len(geoms) < 2:
        return list(geoms)
    names = districts["district"].astype(str).to_numpy()
    rank = np.empty(len(geoms), dtype=int)
    rank[np.lexsort((names, -np.asarray(demand_share, dtype=float)))] = np.arange(len(geoms))
    tree = shapely.STRtree(geoms)
    zones = []
    for i, geom in enumerate(geoms):
        first = [j for j in tree.query(geom, predicate="dwithin", distance=spacing_m) if rank[j] < rank[i]]
        zones.append(shapely.difference(geom, shapely.buffer(shapely.union_all(geoms[first]), spacing_m))
                     if first else geom)
    return zones


def new_candidates(area: Area, demand: Any, kind: str, params: Params,
                   existing: gpd.GeoDataFrame | None) -> np.ndarray:
    """The new candidate sites of ``area`` (n × 2, area CRS), by the candidate rules of a district run."""
    if kind == "5g":
        from siting.candidates import candidates_5g

        cands = candidates_5g(area, demand, params, existing=existing)
    else:
        from siting.candidates import candidates_charging
        from siting.charging import charging_demand, kind_config

        cp = params.charging
        points = charging_demand(demand.points, area.pois, kind_config(cp, kind), cp)
        cands = candidates_charging(area, kind, cp, existing=existing, demand=points)
    new = cands[~cands["fixed"].to_numpy(dtype=bool)]
    return np.column_stack([new.geometry.x.to_numpy(), new.geometry.y.to_numpy()]).reshape(-1, 2)


def candidates_in_zones(xy: np.ndarray, zones: list[shapely.Geometry], names: pd.Series) -> pd.Series:
    """New candidate sites per district in its proposal zone: the count a district's quota
    cannot exceed (about: a district's own grid fill may add a few)."""
    counts = [int(shapely.contains_xy(zone, xy[:, 0], xy[:, 1]).sum()) if len(xy) else 0 for zone in zones]
    return pd.Series(counts, index=names.astype(str).to_numpy(), name="candidates")


def existing_sites(area: Area, kind: str, params: Params, existing: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """The sites a plan of ``kind`` keeps fixed, as the pipeline counts them.

    The user's sites (``existing``), plus for charging kinds the OSM POIs of the kind's
    ``existing_categories`` (existing charging stations). OSM masts are 5G candidates
    (shared towers to reuse), not existing 5G sites.
    """
    parts = [] if existing is None else [existing.to_crs(area.crs)[[existing.geometry.name]]]
    if len(area.pois):
        parts.append(area.pois[area.pois["category"].isin(fixed_categories(kind, params))][[area.pois.geometry.name]])
    parts = [gpd.GeoDataFrame(geometry=p.geometry.to_numpy(), crs=area.crs) for p in parts]
    if not parts:
        return gpd.GeoDataFrame(geometry=[], crs=area.crs)
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=area.crs)


def fixed_categories(kind: str, params: Params) -> tuple[str, ...]:
    """The POI categories that are existing sites of ``kind`` (none for 5G)."""
    return () if kind == "5g" else tuple(params.charging.kind(kind).existing_categories)


def write_quotas(prepared: Prepared, out_dir: str | Path) -> list[Path]:
    """``quotas.csv`` and ``quotas.geojson`` in ``out_dir``."""
    from siting.io.export import write_csv, write_geojson

    out = Path(out_dir)
    q = prepared.quotas
    write_csv(out / "quotas.csv", pd.DataFrame(q.drop(columns=q.geometry.name)))
    write_geojson(out / "quotas.geojson", q)
    return [out / "quotas.csv", out / "quotas.geojson"]


# --- from files (the command line's entry points) --------------------------------------

def prepare_from_files(plan_ref: str, districts: Path, osm: str, *, kind: str = "5g", category: str | None = None,
                       target: int | None = None, name_column: str | None = None, existing: Path | None = None,
                       existing_crs: str = "wgs84", config: Path | None = None,
                       overrides: dict[str, Any] | None = None, plans_dir: Path | None = None,
                       stages: Any = None, admin_level: str = "6", scheduler: str = "local",
                       workers: int | None = None) -> tuple[Prepared, Params]:
    """Read parameters (the plan's own, :meth:`siting.registry.Plan.param_overrides`, under
    ``overrides``), the existing sites, and :func:`prepare` the batch."""
    from siting.config import load_params

    params = load_params(config, {**get_plan(plan_ref, plans_dir).param_overrides(), **(overrides or {})})
    sites, inputs = None, {}
    if existing is not None:
        from siting.io.sites import read_sites

        sites = read_sites(existing, crs=existing_crs)
        inputs["existing"] = {"file": Path(existing).name, "sha256": sha256_file(existing)}
    prepared = prepare(plan_ref, districts, osm, kind=kind, category=category, target=target,
                       name_column=name_column, existing=sites, params=params, plans_dir=plans_dir, stages=stages,
                       admin_level=admin_level, inputs=inputs, scheduler=scheduler, workers=workers)
    return prepared, params


def default_out(plan_id: str) -> Path:
    """``data/processed/<plan>/``."""
    return PROCESSED / plan_id