"""Many districts on Dask: one task per district, resumable, fault-isolated, merged.

The Area is read once and clipped per district to the district plus a buffer (so sites
across a border count), with the district itself as the area boundary (so only demand
inside the district is counted); each Dask task receives only its clip, plans its quota
and writes ``<out>/<district>/``. ``manifest.json`` records per district the status, quota,
proposed and existing sites, coverage, runtime, input and parameter hashes and the
error text; a rerun skips districts whose hashes are unchanged and whose outputs exist.
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
from siting.provenance import sha256_text
from siting.plans import (Plan, check_extent, demand_by_district, district_quotas, districts_from_osm,
                          existing_by_district, get_plan, read_districts)

PROCESSED = Path("data/processed")


class BatchFailed(SitingError):
    """Some districts failed (the others finished): exit status 1, the summary as the message."""

    exit_code = 1


@dataclass(frozen=True)
class Stages:
    """The pipeline functions a batch calls; tests inject light ones."""

    load_area: Callable[..., Area]
    build_demand: Callable[[Area, Params], gpd.GeoDataFrame]
    plan_area: Callable[..., Any]
    write_plan: Callable[..., Any]
    district_map: Callable[[Any, Params], str] | None = None  # (PlanResult, params) -> HTML

    @classmethod
    def default(cls) -> "Stages":
        from siting.io.export import write_plan
        from siting.io.osm import load_area
        from siting.pipeline import plan_area

        return cls(load_area=load_area, build_demand=_demand_points, plan_area=plan_area, write_plan=write_plan,
                   district_map=_district_map)


def _district_map(result: Any, params: Params) -> str:
    """A district's ``map.html`` (``siting.maps``)."""
    import warnings

    from siting.maps import plan_map, render_html

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return render_html(plan_map(result.layers, result.summary, tiles="osm", params=params.map))


def _demand_points(area: Area, params: Params) -> gpd.GeoDataFrame:
    from siting.demand import build_demand

    return build_demand(area, params.demand).points


@dataclass(frozen=True)
class DistrictTask:
    """What one Dask task needs besides the (shared) Area."""

    plan_id: str
    district: str
    slug: str
    geometry_wkb: bytes      # district polygon in the area CRS
    quota: int
    existing: int            # existing sites inside the district
    kind: str
    out_dir: str
    input_hash: str
    params_hash: str


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
    quotas: gpd.GeoDataFrame      # district_quotas output (EPSG:4326)
    existing: gpd.GeoDataFrame | None  # existing sites (area CRS) or None


def prepare(plan_ref: str | Path, districts_path: str | Path, osm: str | Path, *, kind: str = "5g",
            category: str | None = None, target: int | None = None, name_column: str | None = None,
            existing: gpd.GeoDataFrame | None = None, params: Params | None = None,
            plans_dir: str | Path | None = None, stages: Stages | None = None,
            admin_level: str = "6") -> Prepared:
    """Read the plan, districts and OSM data, check them, and compute the quotas.

    ``districts_path`` ``"osm"`` takes the districts from the administrative boundaries
    (``admin_level``) in the OSM file. Every user error is raised here, before any
    district runs.
    """
    params = params or Params()
    bp = params.batch
    plan = get_plan(plan_ref, plans_dir)
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
    sites = existing_sites(area, kind, params, existing)
    demand = demand_by_district(districts, stages.build_demand(area, params), area.road_edges)
    quotas = district_quotas(districts, demand, int(target), existing_by_district(districts, sites),
                             weights={"residents": bp.weight_residents, "workers": bp.weight_workers,
                                      "road_km": bp.weight_road_km},
                             minimum=bp.minimum_quota)
    return Prepared(plan, int(target), area, districts, quotas, None if existing is None else existing.to_crs(area.crs))


def existing_sites(area: Area, kind: str, params: Params, existing: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """The sites a plan of ``kind`` keeps fixed, as the pipeline counts them.

    The user's sites (``existing``), plus for charging kinds the OSM POIs of the kind's
    ``existing_categories`` (existing charging stations). OSM masts are 5G candidates
    (shared towers to reuse), not existing 5G sites.
    """
    parts = [] if existing is None else [existing.to_crs(area.crs)[[existing.geometry.name]]]
    if kind != "5g" and len(area.pois):
        cats = params.charging.kind(kind).existing_categories
        parts.append(area.pois[area.pois["category"].isin(cats)][[area.pois.geometry.name]])
    parts = [gpd.GeoDataFrame(geometry=p.geometry.to_numpy(), crs=area.crs) for p in parts]
    if not parts:
        return gpd.GeoDataFrame(geometry=[], crs=area.crs)
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=area.crs)


def write_quotas(prepared: Prepared, out_dir: str | Path) -> list[Path]:
    """``quotas.csv`` and ``quotas.geojson`` in ``out_dir``."""
    from siting.io.export import write_csv, write_geojson

    out = Path(out_dir)
    q = prepared.quotas
    write_csv(out / "quotas.csv", pd.DataFrame(q.drop(columns=q.geometry.name)))
    write_geojson(out / "quotas.geojson", q)
    return [out / "quotas.csv", out / "quotas.geojson"]


# --- one district (runs on a worker) ---------------------------------------------------

def district_slug(name: str) -> str:
    """A folder name for a district: lowercase ASCII, plus a short hash if anything was lost."""
    ascii_part = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if ascii_part and ascii_part == name.lower().replace(" ", "-"):
        return ascii_part
    digest = sha256_text(name)[:8]
    return f"{ascii_part}-{digest}" if ascii_part else f"d-{digest}"


def clip_area(area: Area, district: shapely.Geometry, buffer_m: float, name: str, slug: str) -> Area:
    """The Area's layers within ``buffer_m`` of ``district`` (area CRS); boundary = the district.

    Whole features are kept (a building crossing the buffer edge stays whole); road nodes
    are the ends of the kept edges, so the road graph stays consistent.
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
    return replace(area, name=f"{area.name} / {name}", slug=f"{area.slug}-{slug}", boundary=district,
                   boundary_wgs84=boundary_wgs84, boundary_origin="polygon", buildings=near(area.buildings),
                   road_nodes=nodes, road_edges=edges, pois=near(area.pois), landuse=near(area.landuse), info=info)


def district_input(area: Area, existing: gpd.GeoDataFrame | None, task: DistrictTask,
                   buffer_m: float) -> tuple[Area, gpd.GeoDataFrame | None]:
    """A task's data: the Area clipped to the district + buffer, and the existing sites within it."""
    district = shapely.from_wkb(task.geometry_wkb)
    clipped = clip_area(area, district, buffer_m, task.district, task.slug)
    if existing is None:
        return clipped, None
    return clipped, existing.iloc[np.unique(existing.sindex.query(district.buffer(buffer_m), predicate="intersects"))]


def run_district(task: DistrictTask, area: Area, existing: gpd.GeoDataFrame | None, params: Params,
                 stages: Stages) -> dict:
    """Plan and write one district (``area`` from :func:`district_input`).

    Never raises: a failure becomes the record's error.
    """
    start = time.perf_counter()
    record = _record(task, "failed")
    try:
        fixed = len(existing_sites(area, task.kind, params, existing))
        result = stages.plan_area(area, task.kind, params, existing=existing, count=task.quota + fixed)
        result.summary["district"] = {"name": task.district, "quota": task.quota, "plan": task.plan_id,
                                      "clip_buffer_m": params.batch.buffer_m}
        extra = {"map.html": stages.district_map(result, params)} if stages.district_map else None
        stages.write_plan(result, Path(task.out_dir) / task.slug, extra_files=extra)
        record.update(_district_figures(result, area.boundary), status="ok")
    except Exception as exc:  # fault isolation: one district's failure is recorded, never raised
        record["error"] = _one_line(exc)
    record["runtime_s"] = round(time.perf_counter() - start, 3)
    return record


def _record(task: DistrictTask, status: str, error: str | None = None) -> dict[str, Any]:
    return {"district": task.district, "slug": task.slug, "quota": task.quota, "existing": task.existing,
            "input_hash": task.input_hash, "params_hash": task.params_hash, "status": status, "error": error,
            "runtime_s": None}


def _district_figures(result: Any, district: shapely.Geometry) -> dict:
    """Proposed sites and demand-weighted coverage before/after, demand inside the district only."""
    sites = result.layers["sites"]
    new = (sites["status"] == "proposed").to_numpy()
    outside = ~shapely.contains_xy(district, sites.geometry.x.to_numpy(), sites.geometry.y.to_numpy())
    demand = result.layers.get("demand")
    if demand is not None and len(demand):
        inside = shapely.contains_xy(district, demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy())
        w = demand["weight"].to_numpy(float)[inside]
        total = float(w.sum())
        before = float(w[demand["covered_before"].to_numpy(bool)[inside]].sum())
        after = float(w[demand["covered_after"].to_numpy(bool)[inside]].sum())
    else:
        total = float(result.summary.get("demand_total", 0.0))
        before = total * float(result.summary.get("coverage_ratio_before", 0.0))
        after = total * float(result.summary.get("coverage_ratio", 0.0))
    figures = {"proposed": int(new.sum()), "proposed_outside": int((new & outside).sum()),
               "demand_total": round(total, 3),
               "coverage_before": round(before / total, 6) if total else 0.0,
               "coverage_after": round(after / total, 6) if total else 0.0}
    count = result.summary.get("capacity", {}).get("count")
    if count:  # why the district needs this many sites (capacity: {enabled: true} in the config)
        figures.update(count_driver=count["driver"], coverage_sites=count["coverage_sites"],
                       capacity_sites=count["capacity_sites"])
    return figures


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


def _input_hash(area: Area, geometry_wkb: bytes, kind: str, quota: int, existing: gpd.GeoDataFrame | None) -> str:
    h = hashlib.sha256()
    for part in (area.source_hash, geometry_wkb.hex(), kind, str(quota)):
        h.update(part.encode() + b"\0")
    if existing is not None and len(existing):
        h.update(b"".join(shapely.to_wkb(existing.geometry.values, output_dimension=2)))
    return h.hexdigest()


def _done(record: dict | None, task: DistrictTask) -> bool:
    return (record is not None and record.get("status") == "ok" and record.get("input_hash") == task.input_hash
            and record.get("params_hash") == task.params_hash
            and (Path(task.out_dir) / task.slug / "summary.json").is_file())


def read_manifest(path: Path) -> dict:
    """The manifest of an earlier run, or an empty one (a damaged manifest reruns everything)."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data.get("districts"), dict) else {"districts": {}}
    except (OSError, ValueError, AttributeError):
        return {"districts": {}}


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
    manifest = {"plan": prepared.plan.id, "kind": kind, "target": prepared.target,
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
    phash = params_hash(params)
    tasks = []
    for name, geom, quota, existing in zip(q["district"], q.geometry.values, q["quota"], q["existing"]):
        wkb = shapely.to_wkb(shapely.set_precision(geom, 0.01), output_dimension=2)
        tasks.append(DistrictTask(prepared.plan.id, str(name), district_slug(str(name)), wkb, int(quota),
                                  int(existing), kind, str(out),
                                  _input_hash(area, wkb, kind, int(quota), prepared.existing), phash))
    return tasks


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
                area, existing = district_input(prepared.area, prepared.existing, t, params.batch.buffer_m)
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

    Existing sites are kept only in the district that contains them (each district
    also sees its neighbours' through the buffer); proposed sites all count.
    """
    from siting.io.export import write_csv, write_geojson, write_json

    districts = prepared.districts.set_index("district").geometry
    sites, gaps = [], []
    for name, rec in manifest["districts"].items():
        if rec["status"] != "ok":
            continue
        folder = out / rec["slug"]
        s = _read_layer(folder / "sites.geojson")
        if len(s):
            inside = s.within(districts[name]) | (s["status"] == "proposed")
            s = s[inside.to_numpy()]
            s.insert(0, "district", name)
            sites.append(s)
        g = _read_layer(folder / "gaps.geojson")
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
    write_json(out / "summary.json", {"plan": manifest["plan"], "kind": manifest["kind"],
                                      "target": manifest["target"], "districts": summary.to_dict("records")})
    files += [out / "summary.csv", out / "summary.json"]
    if sites:
        files += _city_map(prepared.districts, summary, manifest, out)
    return summary, files


def _read_layer(path: Path) -> gpd.GeoDataFrame:
    if not path.is_file():
        return gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    return gpd.read_file(path, engine="pyogrio")


def summary_table(manifest: dict) -> pd.DataFrame:
    """Quota vs proposed vs existing and coverage before/after per district, then a total row."""
    rows = [{"district": name, "status": r["status"], "quota": r["quota"], "proposed": r.get("proposed"),
             "existing": r["existing"], "demand_total": r.get("demand_total"),
             "coverage_before": r.get("coverage_before"), "coverage_after": r.get("coverage_after")}
            for name, r in manifest["districts"].items()]
    table = pd.DataFrame(rows, columns=["district", "status", "quota", "proposed", "existing", "demand_total",
                                        "coverage_before", "coverage_after"])
    ok = table[table["status"] == "ok"]
    demand = ok["demand_total"].astype(float)
    total_demand = float(demand.sum())

    def weighted(col: str) -> float | None:
        return round(float((ok[col].astype(float) * demand).sum() / total_demand), 6) if total_demand else None

    total = {"district": "TOTAL", "status": f"{len(ok)}/{len(table)} ok", "quota": int(table["quota"].sum()),
             "proposed": int(ok["proposed"].sum()) if len(ok) else 0, "existing": int(table["existing"].sum()),
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
    sites = _read_layer(out / "sites.geojson")
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
    sites = None
    if existing is not None:
        from siting.io.sites import read_sites

        sites = read_sites(existing, crs=existing_crs)
    prepared = prepare(plan_ref, districts, osm, kind=kind, category=category, target=target,
                       name_column=name_column, existing=sites, params=params, plans_dir=plans_dir, stages=stages,
                       admin_level=admin_level)
    return prepared, params


def default_out(plan_id: str) -> Path:
    """``data/processed/<plan>/``."""
    return PROCESSED / plan_id
