"""Many districts on Dask: one task per district, resumable, fault-isolated, merged.

The Area is read once and clipped per district to the district plus a buffer (so sites
across a border count), with the district itself as the area boundary; each Dask task
receives only its clip, plans its quota and writes ``<out>/<district>/`` (the folder is
named after the district, :func:`district_slugs`).

Every figure a batch writes is of the **district proper** (:data:`FIGURES`): demand
points and existing sites inside the district polygon. Existing sites within the buffer
outside it still count for the district's coverage (``existing_nearby``) but are not
the district's, and are listed in their own district. New sites go only inside the
district, and of two neighbours only the one with more demand proposes within
``batch.border_spacing_m`` of their border, so their proposals never stand closer than that. The
district's ``summary.json`` (block ``district``), ``manifest.json`` and the city's
``summary.csv`` carry the same figures.

``manifest.json`` records per district the status, quota, those figures, runtime, input
and parameter hashes and the error text; a rerun skips districts whose hashes are
unchanged and whose outputs exist.
``--scheduler local`` starts a :class:`distributed.LocalCluster`; ``tcp://host:port``
connects to a running cluster: the same code path. With a remote cluster, ``--out``
must be on a file system that the workers and the client share.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
import time
import traceback
import unicodedata
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.area import Area
from siting.config import Params
from siting.errors import ConfigError, InputError, SitingError
from siting.provenance import sha256_file, sha256_text
from siting.io.districts import districts_from_osm, read_districts
from siting.io.outputs import read_layer, read_manifest
from siting.plans import (CENSUS_COLUMNS, check_extent, check_plan_area, check_quotas_fit, demand_by_district,
                          district_census, district_quotas, existing_by_district, with_census)
from siting.registry import Plan, get_plan

PROCESSED = Path("data/processed")

#: what the batch figures count (``summary.json``'s ``district`` block, ``manifest.json``, ``summary.csv``)
FIGURES = ("district proper: demand points and existing sites inside the district polygon; existing sites within "
           "the clip buffer outside it count for coverage (existing_nearby) but belong to their own district")


class BatchFailed(SitingError):
    """Some districts failed (the others finished): exit status 1, the summary as the message."""

    exit_code = 1


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


@dataclass(frozen=True)
class DistrictTask:
    """What one Dask task needs besides the (shared) Area."""

    plan_id: str
    district: str
    slug: str
    geometry_wkb: bytes      # district polygon in the area CRS
    zone_wkb: bytes          # where its new sites may go (area CRS): :func:`proposal_zones`
    quota: int
    existing: int            # existing sites inside the district
    kind: str
    out_dir: str
    input_hash: str
    params_hash: str
    census: dict = field(default_factory=dict)   # population/households/employment, census_source
    inputs: dict = field(default_factory=dict)   # provenance inputs: role -> {"file", "sha256"}


@dataclass(frozen=True)
class BatchReport:
    """The outcome of a batch: the manifest, the merged summary table and the failures."""

    out_dir: Path
    manifest: dict
    summary: pd.DataFrame
    failed: tuple[str, ...]
    skipped: tuple[str, ...]
    dashboard: str | None = None
    files: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.failed

    def message(self) -> str:
        """One line for the end of a run."""
        n = len(self.manifest["districts"])
        text = (f"{n - len(self.failed)} of {n} districts planned ({len(self.skipped)} unchanged and skipped); "
                f"outputs in {self.out_dir}")
        if self.failed:
            errs = "; ".join(f"{d}: {self.manifest['districts'][d]['error']}" for d in self.failed[:3])
            text += f"; {len(self.failed)} failed ({errs}): see manifest.json, fix and rerun (finished ones are skipped)"
        return text


# --- preparation: plan, districts, area, quotas ----------------------------------------

@dataclass(frozen=True)
class Prepared:
    """Everything decided before any district runs."""

    plan: Plan
    target: int
    area: Area
    districts: gpd.GeoDataFrame   # district, geometry (EPSG:4326)
    quotas: gpd.GeoDataFrame      # district_quotas output (EPSG:4326), census columns included
    existing: gpd.GeoDataFrame | None  # existing sites (area CRS) or None
    inputs: dict = field(default_factory=dict)  # provenance inputs: role -> {"file", "sha256"}


def prepare(plan_ref: str | Path, districts_path: str | Path, osm: str | Path, *, kind: str = "5g",
            category: str | None = None, target: int | None = None, name_column: str | None = None,
            existing: gpd.GeoDataFrame | None = None, params: Params,
            plans_dir: str | Path | None = None, stages: Stages | None = None,
            admin_level: str = "6", inputs: dict | None = None) -> Prepared:
    """Read the plan, districts and OSM data, check them, and compute the quotas.

    ``districts_path`` ``"osm"`` takes the districts from the administrative boundaries
    (``admin_level``) in the OSM file. Census figures (:func:`siting.plans.district_census`)
    replace the modelled residents and workers of the quota shares and calibrate each
    district's demand. A plan's whole target on districts too small to be its city is
    warned about; quotas beyond the districts' candidate sites are refused. Every user
    error is raised here, before any district runs. ``inputs``: provenance entries
    (role -> ``{"file", "sha256"}``) of files read by the caller.
    """
    bp = params.batch
    plan = get_plan(plan_ref, plans_dir)
    whole_plan = target is None
    if target is None:
        target = plan.target(kind, category).new
    elif target < 0:
        raise ConfigError(f"--target {target} is negative: give a number of new sites >= 0")
    if str(districts_path) == "osm":
        districts = districts_from_osm(osm, admin_level)
    else:
        districts = read_districts(districts_path, name_column, bp.overlap_tolerance)
    stages = stages or Stages.default()
    area = stages.load_area(osm)
    check_extent(districts, area.boundary_wgs84, bp.min_inside_share)
    km2 = float(districts.to_crs(area.crs).area.sum()) / 1e6
    if whole_plan:
        note = check_plan_area(plan, kind, int(target), km2, bp.max_sites_per_km2, bp.min_plan_area_share)
        if note:
            warnings.warn(note, stacklevel=2)
    sites = existing_sites(area, kind, params, existing)
    demand = stages.build_demand(area, params)
    modelled = demand_by_district(districts, demand.points, area.road_edges)
    city_km2 = plan.census.area_km2 if plan.census is not None else None
    census = district_census(districts, plan, modelled["residents"], km2 / city_km2 if city_km2 else 0.0,
                             bp.census_cover_share)
    quotas = district_quotas(districts, with_census(modelled, census), int(target),
                             existing_by_district(districts, sites),
                             weights={"residents": bp.weight_residents, "workers": bp.weight_workers,
                                      "road_km": bp.weight_road_km},
                             minimum=bp.minimum_quota)
    quotas = quotas.drop(columns=[c for c in CENSUS_COLUMNS if c in quotas])
    if len(census):
        for col in [*CENSUS_COLUMNS, "census_source"]:
            quotas[col] = census[col].reindex(quotas["district"]).to_numpy()
    zones = proposal_zones(quotas.to_crs(area.crs), bp.border_spacing_m, quotas["demand_share"].to_numpy())
    check_quotas_fit(quotas, candidates_by_district(area, demand, kind, params, existing, zones,
                                                    districts["district"]))
    files = dict(inputs or {})
    if Path(districts_path).is_file():
        files["districts"] = {"file": Path(districts_path).name, "sha256": sha256_file(districts_path)}
    if Path(plan_ref).is_file():
        files["plan"] = {"file": Path(plan_ref).name, "sha256": sha256_file(plan_ref)}
    return Prepared(plan, int(target), area, districts, quotas, None if existing is None else existing.to_crs(area.crs),
                    files)


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


def candidates_by_district(area: Area, demand: Any, kind: str, params: Params, existing: gpd.GeoDataFrame | None,
                           zones: list[shapely.Geometry], names: pd.Series) -> pd.Series:
    """New candidate sites per district (in its proposal zone), from the candidates of the whole area.

    The same candidate rules as a district run, over the whole area at once: the count a
    district's quota cannot exceed (about: a district's own grid fill may add a few).
    """
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
    x, y = new.geometry.x.to_numpy(), new.geometry.y.to_numpy()
    counts = [int(shapely.contains_xy(zone, x, y).sum()) if len(x) else 0 for zone in zones]
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


# --- one district (runs on a worker) ---------------------------------------------------

#: characters that some file system refuses in a name (control characters included)
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|\s]+')
#: names Windows reserves for devices, whatever the extension
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
#: longest folder name kept whole, in UTF-8 bytes (file systems allow 255) [A]
MAX_SLUG_BYTES = 80


def district_slug(name: str) -> str:
    """A folder name after the district: its name in lower case, runs of spaces and of
    characters a file system refuses as one ``-``; Chinese and other letters are kept.
    A short hash of the name is added when the name is a reserved device name or too
    long, and is all that is left (``d-<hash>``) when nothing usable remains."""
    text = unicodedata.normalize("NFKC", name).lower()
    slug = re.sub(r"-{2,}", "-", _UNSAFE.sub("-", text)).strip("-. ")
    digest = sha256_text(name)[:8]
    if not slug:
        return f"d-{digest}"
    if len(slug.encode("utf-8")) > MAX_SLUG_BYTES:
        slug = slug.encode("utf-8")[:MAX_SLUG_BYTES].decode("utf-8", errors="ignore").rstrip("-. ")
        return f"{slug}-{digest}"
    return f"{slug}-{digest}" if slug.split(".")[0] in _RESERVED else slug


def district_slugs(names: list[str]) -> list[str]:
    """:func:`district_slug` of every name; names that would share a folder each get a short hash."""
    slugs = [district_slug(n) for n in names]
    taken = pd.Series(slugs).str.casefold()
    clash = taken.duplicated(keep=False).to_numpy()
    return [f"{s}-{sha256_text(n)[:8]}" if c else s for s, n, c in zip(slugs, names, clash)]


def clip_area(area: Area, district: shapely.Geometry, buffer_m: float, name: str, slug: str,
              proposal_zone: shapely.Geometry | None = None, buffer_pois: tuple[str, ...] | None = None) -> Area:
    """The Area's layers within ``buffer_m`` of ``district`` (area CRS); boundary = the district,
    new sites only inside ``proposal_zone`` (default: the district).

    Whole features are kept (a building crossing the buffer edge stays whole); road nodes
    are the ends of the kept edges, so the road graph stays consistent. ``buffer_pois``:
    the only POI categories kept outside the district (existing sites; None keeps all),
    so that no demand or candidate of the neighbours' comes in with the buffer.
    """
    zone = district.buffer(buffer_m) if buffer_m > 0 else district

    def near(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        if gdf.empty:
            return gdf
        idx = np.unique(gdf.sindex.query(zone, predicate="intersects"))
        return gdf.iloc[idx]

    edges = near(area.road_edges)
    ends = np.union1d(edges["u"].to_numpy(), edges["v"].to_numpy())
    nodes = area.road_nodes[area.road_nodes.index.isin(ends)]
    boundary_wgs84 = gpd.GeoSeries([district], crs=area.crs).to_crs("EPSG:4326").iloc[0]
    info = dict(area.info, district=name, clip_buffer_m=buffer_m, parent_area=area.slug)
    pois = near(area.pois)
    if buffer_pois is not None and len(pois):
        inside = shapely.contains_xy(district, pois.geometry.x.to_numpy(), pois.geometry.y.to_numpy())
        pois = pois[inside | pois["category"].isin(buffer_pois).to_numpy()]
    return replace(area, name=f"{area.name} / {name}", slug=f"{area.slug}-{slug}", boundary=district,
                   boundary_wgs84=boundary_wgs84, boundary_origin="polygon", buildings=near(area.buildings),
                   road_nodes=nodes, road_edges=edges, pois=pois, landuse=near(area.landuse), info=info,
                   proposal_zone=district if proposal_zone is None else proposal_zone)


def district_input(area: Area, existing: gpd.GeoDataFrame | None, task: DistrictTask,
                   params: Params) -> tuple[Area, gpd.GeoDataFrame | None]:
    """A task's data: the Area clipped to the district + buffer, and the existing sites within it."""
    district = shapely.from_wkb(task.geometry_wkb)
    buffer_m = params.batch.buffer_m
    clipped = clip_area(area, district, buffer_m, task.district, task.slug, shapely.from_wkb(task.zone_wkb),
                        fixed_categories(task.kind, params))
    if existing is None:
        return clipped, None
    return clipped, existing.iloc[np.unique(existing.sindex.query(district.buffer(buffer_m), predicate="intersects"))]


def run_district(task: DistrictTask, area: Area, existing: gpd.GeoDataFrame | None, params: Params,
                 stages: Stages) -> dict:
    """Plan and write one district (``area`` from :func:`district_input`).

    The demand is the district proper's (:func:`district_demand`, calibrated to its census
    population when there is one); ``summary.json`` gets the district figures, the
    request and the provenance block of a single ``siting plan``. Never raises: a
    failure becomes the record's error.
    """
    from siting.provenance import osm_input
    from siting.request import PlanRequest

    start = time.perf_counter()
    record = _record(task, "failed")
    try:
        district = shapely.from_wkb(task.geometry_wkb)
        population = task.census.get("population")
        if population is not None:
            params = params.model_copy(update={"demand": params.demand.model_copy(update={"population": population})})
        demand = district_demand(stages.build_demand(area, params), district, population)
        request = PlanRequest(kind=task.kind, count=task.quota + len(existing_sites(area, task.kind, params, existing)),
                              plan_id=task.plan_id, source=osm_input(area).get("file", area.source),
                              district=task.district, quota=task.quota)
        result = stages.run_plan(area, request, params, existing=existing, demand=demand, inputs=task.inputs)
        figures = district_proper(result, district)
        result.summary["district"] = {"name": task.district, "plan": task.plan_id, "quota": task.quota,
                                      "figures": FIGURES, **figures, "clip_buffer_m": params.batch.buffer_m,
                                      "border_spacing_m": params.batch.border_spacing_m, "census": task.census}
        extra = {"map.html": stages.district_map(result, params)} if stages.district_map else None
        stages.write_plan(result, Path(task.out_dir) / task.slug, extra_files=extra)
        record.update(figures, status="ok")
    except Exception as exc:  # fault isolation: one district's failure is recorded, never raised
        record["error"] = _one_line(exc)
    record["runtime_s"] = round(time.perf_counter() - start, 3)
    return record


def district_demand(demand: Any, district: shapely.Geometry, population: float | None = None) -> Any:
    """The district proper's demand: the points inside ``district``; with a census ``population``,
    their residents scaled to it (the weights follow: weight = (residents + share x workers) x priority)."""
    pts = demand.points
    inside = shapely.contains_xy(district, pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy())
    pts = pts[inside].reset_index(drop=True)
    pts["demand_id"] = np.arange(len(pts), dtype=np.int64)
    info = dict(demand.info, district_points_outside=int((~inside).sum()))
    residents = pts["residents"].to_numpy(float)
    if population is not None and residents.sum() > 0:
        factor = float(population) / float(residents.sum())
        pts["weight"] = pts["weight"].to_numpy(float) + (factor - 1.0) * residents * pts["priority"].to_numpy(float)
        pts["residents"] = residents * factor
        info.update(residents_total=float(population), census_factor=factor)
    return replace(demand, points=pts, info=info)


def district_proper(result: Any, district: shapely.Geometry) -> dict:
    """The district's figures (:data:`FIGURES`), written into ``result``'s summary too.

    The demand is the district's own already (:func:`district_demand`; counted again here
    from the points inside, so the figures hold whatever a planner adds). Existing sites
    outside the district leave its sites layer (they belong to their own district); the
    summary counts them apart as ``sites_existing_nearby``.
    """
    sites = result.layers["sites"]
    inside = shapely.contains_xy(district, sites.geometry.x.to_numpy(), sites.geometry.y.to_numpy())
    status = sites["status"].to_numpy()
    nearby = (status == "existing") & ~inside
    result.layers["sites"] = sites[~nearby].reset_index(drop=True)
    demand = result.layers["demand"]
    mine = shapely.contains_xy(district, demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy())
    w = demand["weight"].to_numpy(float)[mine]
    total = float(w.sum())
    s = result.summary
    existing, proposed = int(((status == "existing") & inside).sum()), int((status == "proposed").sum())
    s.update(sites_existing=existing, sites_existing_nearby=int(nearby.sum()), sites_total=existing + proposed,
             demand_total=round(total, 3), population_total=round(float(demand["residents"].to_numpy(float)[mine].sum()), 1),
             **{key: round(float(w[demand[col].to_numpy(bool)[mine]].sum()) / total, 6) if total else 0.0
                for key, col in (("coverage_ratio_before", "covered_before"), ("coverage_ratio", "covered_after"))})
    figures = {"existing": existing, "existing_nearby": int(nearby.sum()), "proposed": proposed,
               "proposed_outside": int(((status == "proposed") & ~inside).sum()),
               "demand_total": s["demand_total"], "population": s["population_total"],
               "coverage_before": s["coverage_ratio_before"], "coverage_after": s["coverage_ratio"]}
    count = s.get("capacity", {}).get("count")
    if count:  # why the district needs this many sites (capacity: {enabled: true} in the config)
        figures.update(count_driver=count["driver"], coverage_sites=count["coverage_sites"],
                       capacity_sites=count["capacity_sites"])
    return figures


def _record(task: DistrictTask, status: str, error: str | None = None) -> dict[str, Any]:
    return {"district": task.district, "slug": task.slug, "quota": task.quota, "existing": task.existing,
            "input_hash": task.input_hash, "params_hash": task.params_hash, "status": status, "error": error,
            "runtime_s": None}


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, SitingError):
        return str(exc)
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
    return " ".join(f"{type(exc).__name__}: {exc}{where}".split())[:500]


# --- hashes and the manifest -----------------------------------------------------------

def params_hash(params: Params) -> str:
    """SHA-256 of every parameter (JSON, sorted keys)."""
    from siting.io.export import dumps_json

    return sha256_text(dumps_json(params.model_dump(mode="json")))


def _input_hash(area: Area, task: DistrictTask, existing: gpd.GeoDataFrame | None) -> str:
    from siting.io.export import dumps_json

    h = hashlib.sha256()
    for part in (area.source_hash, task.geometry_wkb.hex(), task.zone_wkb.hex(), task.kind, str(task.quota),
                 dumps_json(task.census)):
        h.update(part.encode() + b"\0")
    if existing is not None and len(existing):
        h.update(b"".join(shapely.to_wkb(existing.geometry.values, output_dimension=2)))
    return h.hexdigest()


def _done(record: dict | None, task: DistrictTask) -> bool:
    return (record is not None and record.get("status") == "ok" and record.get("input_hash") == task.input_hash
            and record.get("params_hash") == task.params_hash
            and (Path(task.out_dir) / task.slug / "summary.json").is_file())


# --- the cluster -----------------------------------------------------------------------

@contextlib.contextmanager
def dask_client(scheduler: str = "local", workers: int | None = None) -> Iterator[Any]:
    """A ``distributed.Client``: a LocalCluster sized to the machine, or a running scheduler."""
    import logging

    from distributed import Client, LocalCluster

    if scheduler == "local":
        n = workers or os.cpu_count() or 1
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                          silence_logs=logging.CRITICAL) as cluster, Client(cluster) as client:
            yield client
        return
    if not re.match(r"^(tcp|tls|ucx|inproc)://", scheduler):
        raise ConfigError(f"--scheduler '{scheduler}' is neither 'local' nor an address like tcp://host:8786")
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {scheduler} ({_one_line(exc)}): start one with "
                         "'dask scheduler' and 'dask worker', or use --scheduler local") from None
    with client:
        yield client


def dashboard_address(client: Any) -> str | None:
    """The Dask dashboard URL when the scheduler runs one (it needs bokeh), else None."""
    services = client.scheduler_info().get("services", {})
    return client.dashboard_link if "dashboard" in services else None


# --- the batch -------------------------------------------------------------------------

def run_batch(prepared: Prepared, params: Params, out_dir: str | Path, *, kind: str = "5g",
              scheduler: str = "local", workers: int | None = None, client: Any = None,
              stages: Stages | None = None, progress: bool | None = None,
              log: Callable[[str], None] | None = None) -> BatchReport:
    """Plan every district of ``prepared`` as one Dask task each; merge; write the manifest.

    ``client``: an existing ``distributed.Client`` (else one is made from ``scheduler``).
    ``progress``: a tqdm bar per finished district (default: when stderr is a terminal).
    ``log``: receives one-line notes (the dashboard address).
    """
    from siting.io.export import write_json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stages = stages or Stages.default()
    write_quotas(prepared, out)
    tasks = _tasks(prepared, params, kind, out)
    manifest_path = out / "manifest.json"
    old = read_manifest(manifest_path)["districts"]
    manifest = {"plan": prepared.plan.id, "kind": kind, "target": prepared.target, "figures": FIGURES,
                "area_source_hash": prepared.area.source_hash, "params_hash": tasks[0].params_hash if tasks else "",
                "districts": {}}
    todo = [t for t in tasks if not _done(old.get(t.district), t)]
    skipped = tuple(t.district for t in tasks if t not in todo)
    for t in tasks:
        if t.district in skipped:
            manifest["districts"][t.district] = dict(old[t.district], skipped=True)
    dashboard = None
    if todo:
        with contextlib.ExitStack() as stack:
            if client is None:
                client = stack.enter_context(dask_client(scheduler, workers))
            dashboard = dashboard_address(client)
            if log is not None:
                log(f"Dask dashboard: {dashboard}" if dashboard else
                    "Dask dashboard: none (install bokeh to get one)")
            for record in _run_tasks(client, todo, prepared, params, stages, progress):
                manifest["districts"][record["district"]] = dict(record, skipped=False)
                write_json(manifest_path, _ordered(manifest, tasks))
    manifest = _ordered(manifest, tasks)
    write_json(manifest_path, manifest)
    summary, files = merge_city(prepared, manifest, out)
    failed = tuple(d for d, r in manifest["districts"].items() if r["status"] != "ok")
    return BatchReport(out, manifest, summary, failed, skipped, dashboard, tuple([manifest_path, *files]))


def _tasks(prepared: Prepared, params: Params, kind: str, out: Path) -> list[DistrictTask]:
    area = prepared.area
    q = prepared.quotas.to_crs(area.crs)
    geoms = shapely.set_precision(q.geometry.values, 0.01)
    zones = proposal_zones(q.set_geometry(geoms), params.batch.border_spacing_m, q["demand_share"].to_numpy())
    slugs = district_slugs([str(n) for n in q["district"]])
    census_cols = [c for c in (*CENSUS_COLUMNS, "census_source") if c in q]
    phash = params_hash(params)
    tasks = []
    for i, (name, quota, existing) in enumerate(zip(q["district"], q["quota"], q["existing"])):
        census = {c: _plain(q[c].iloc[i]) for c in census_cols if not pd.isna(q[c].iloc[i])}
        task = DistrictTask(prepared.plan.id, str(name), slugs[i], shapely.to_wkb(geoms[i], output_dimension=2),
                            shapely.to_wkb(zones[i], output_dimension=2), int(quota), int(existing), kind, str(out),
                            "", phash, census, prepared.inputs)
        tasks.append(replace(task, input_hash=_input_hash(area, task, prepared.existing)))
    return tasks


def _plain(value: Any) -> Any:
    """A NumPy scalar as a plain int, float or str (for JSON)."""
    if isinstance(value, (np.integer, np.floating)) and float(value).is_integer():
        return int(value)
    return value.item() if isinstance(value, np.generic) else value


def _run_tasks(client: Any, todo: list[DistrictTask], prepared: Prepared, params: Params, stages: Stages,
               progress: bool | None) -> Iterator[dict]:
    """Clip each district here and submit it as one task; yield each record as it finishes.

    Clipping on the client ships each worker only its districts' data, never the whole
    Area (a province would not fit in every worker); tasks start as soon as they are clipped.
    """
    from distributed import as_completed
    from tqdm.auto import tqdm

    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=len(todo), unit="district", disable=not show, file=sys.stderr) as bar:
        def done(task: DistrictTask, record: dict) -> dict:
            bar.set_postfix_str(f"{task.district}: {record['status']}")
            bar.update()
            return record

        futures = as_completed()
        owner = {}
        for t in todo:
            try:
                area, existing = district_input(prepared.area, prepared.existing, t, params)
            except Exception as exc:  # a district that cannot even be clipped fails alone
                yield done(t, _record(t, "failed", _one_line(exc)))
                continue
            fut = client.submit(run_district, t, client.scatter(area, hash=False), existing, params, stages,
                                key=f"district-{t.slug}-{t.input_hash[:12]}", pure=False)
            owner[fut.key] = t
            futures.add(fut)
        for fut in futures:
            task = owner[fut.key]
            try:
                record = fut.result()
            except Exception as exc:  # a worker died or the task could not run at all
                record = _record(task, "failed", _one_line(exc))
            yield done(task, record)


def _ordered(manifest: dict, tasks: list[DistrictTask]) -> dict:
    districts = manifest["districts"]
    return dict(manifest, districts={t.district: districts[t.district] for t in tasks if t.district in districts})


# --- city merge ------------------------------------------------------------------------

def merge_city(prepared: Prepared, manifest: dict, out: Path) -> tuple[pd.DataFrame, list[Path]]:
    """City ``sites.geojson``, ``gaps.geojson``, ``summary.csv`` and ``summary.json`` from the districts.

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
        files += _city_map(prepared.districts, summary, manifest, out)
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
        return _plain(np.float64(round(float(values.sum()), 3))) if len(values) else None

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


# --- from files (the command line's entry points) --------------------------------------

def prepare_from_files(plan_ref: str, districts: Path, osm: str, *, kind: str = "5g", category: str | None = None,
                       target: int | None = None, name_column: str | None = None, existing: Path | None = None,
                       existing_crs: str = "wgs84", config: Path | None = None,
                       overrides: dict[str, Any] | None = None, plans_dir: Path | None = None,
                       stages: Stages | None = None, admin_level: str = "6") -> tuple[Prepared, Params]:
    """Read parameters, the existing sites, and :func:`prepare` the batch."""
    from siting.config import load_params

    params = load_params(config, overrides)
    sites, inputs = None, {}
    if existing is not None:
        from siting.io.sites import read_sites

        sites = read_sites(existing, crs=existing_crs)
        inputs["existing"] = {"file": Path(existing).name, "sha256": sha256_file(existing)}
    prepared = prepare(plan_ref, districts, osm, kind=kind, category=category, target=target,
                       name_column=name_column, existing=sites, params=params, plans_dir=plans_dir, stages=stages,
                       admin_level=admin_level, inputs=inputs)
    return prepared, params


def default_out(plan_id: str) -> Path:
    """``data/processed/<plan>/``."""
    return PROCESSED / plan_id
