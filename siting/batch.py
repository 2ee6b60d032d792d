"""Many districts on Dask: one task per district, resumable, fault-isolated, merged.

Each district is planned on its own data: the district plus a buffer (so sites across a
border count), with the district itself as the area boundary. Either the client clips the
whole Area and ships each task its clip, or (``batch.windows``) each task reads its own
window of the OSM file (:mod:`siting.districts`). A task plans its quota and writes
``<out>/<district>/`` (the folder is named after the district, :func:`district_slugs`).
Tasks are submitted longest first (by quota), so that the last to finish are short.

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
must be on a file system that the workers and the client share, and its scheduler should
run with ``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=0`` (as the LocalCluster does) so
that a district that kills its worker fails at once instead of being handed on to others.
"""
from __future__ import annotations

import contextlib
import hashlib
import re
import sys
import time
import traceback
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.area import Area
from siting.city import FIGURES, merge_city, plain
from siting.config import Params
from siting.cluster import dashboard_address, dask_client
from siting.districts import Prepared, Stages, existing_sites, fixed_categories, near, proposal_zones, write_quotas
from siting.errors import SitingError
from siting.io.outputs import read_manifest
from siting.plans import CENSUS_COLUMNS, district_pole_budgets
from siting.provenance import sha256_text


class BatchFailed(SitingError):
    """Some districts failed (the others finished): exit status 1, the summary as the message."""

    exit_code = 1


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
    smart_poles: int | None = None               # its share of the plan's smart-pole budget (5G)


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

    edges = near(area.road_edges, zone)
    ends = np.union1d(edges["u"].to_numpy(), edges["v"].to_numpy())
    nodes = area.road_nodes[area.road_nodes.index.isin(ends)]
    boundary_wgs84 = gpd.GeoSeries([district], crs=area.crs).to_crs("EPSG:4326").iloc[0]
    info = dict(area.info, district=name, clip_buffer_m=buffer_m, parent_area=area.slug)
    pois = near(area.pois, zone)
    if buffer_pois is not None and len(pois):
        inside = shapely.contains_xy(district, pois.geometry.x.to_numpy(), pois.geometry.y.to_numpy())
        pois = pois[inside | pois["category"].isin(buffer_pois).to_numpy()]
    return replace(area, name=f"{area.name} / {name}", slug=f"{area.slug}-{slug}", boundary=district,
                   boundary_wgs84=boundary_wgs84, boundary_origin="polygon", buildings=near(area.buildings, zone),
                   road_nodes=nodes, road_edges=edges, pois=pois, landuse=near(area.landuse, zone), info=info,
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
    return clipped, near(existing, district.buffer(buffer_m))


def _plan_clip(task: DistrictTask, area: Area, existing: gpd.GeoDataFrame | None, params: Params,
               stages: Stages) -> dict:
    """A Dask task: :func:`run_district` on the client's clip, within the worker's memory."""
    return run_district(task, area, existing, within_worker_memory(params), stages)


def _plan_window(task: DistrictTask, window: Path, crs: str, existing: gpd.GeoDataFrame | None, params: Params,
                 stages: Stages) -> dict:
    """A Dask task: :func:`run_district` on the district's own window of the OSM file (``batch.windows``)."""
    from siting.io.osm_window import read_window

    try:
        area, mine = district_input(read_window(window, crs), existing, task, params)
    except Exception as exc:  # an unreadable window fails its district alone
        return _record(task, "failed", _one_line(exc))
    return run_district(task, area, mine, within_worker_memory(params), stages)


def within_worker_memory(params: Params) -> Params:
    """``params`` with the memory budget no larger than this Dask worker's share for the coverage
    matrix (``batch.worker_memory_share`` of its memory limit), so that a district too large for its
    worker is refused with a suggestion instead of the worker being killed."""
    try:
        from distributed import get_worker

        limit = get_worker().memory_manager.memory_limit
    except (ImportError, ValueError, AttributeError):  # not on a worker, or no limit
        return params
    if not limit:
        return params
    budget = min(params.solver.memory_budget_gb, params.batch.worker_memory_share * limit / 1e9)
    return params.model_copy(update={"solver": params.solver.model_copy(update={"memory_budget_gb": budget})})


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
        if task.smart_poles is not None:
            params = params.model_copy(update={"candidates": params.candidates.model_copy(
                update={"smart_pole_budget": task.smart_poles})})
        demand = district_demand(stages.build_demand(area, params), district, population)
        request = PlanRequest(kind=task.kind, count=task.quota + len(existing_sites(area, task.kind, params, existing)),
                              plan_id=task.plan_id, source=osm_input(area).get("file", area.source),
                              district=task.district, quota=task.quota)
        result = stages.run_plan(area, request, params, existing=existing, demand=demand, inputs=task.inputs)
        figures = district_proper(result, district)
        result.summary["district"] = {"name": task.district, "plan": task.plan_id, "quota": task.quota,
                                      "figures": FIGURES, **figures, "clip_buffer_m": params.batch.buffer_m,
                                      "border_spacing_m": params.batch.border_spacing_m, "census": task.census,
                                      "smart_pole_budget": task.smart_poles}
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


def _input_hash(source_hash: str, task: DistrictTask, existing: gpd.GeoDataFrame | None) -> str:
    from siting.io.export import dumps_json

    h = hashlib.sha256()
    for part in (source_hash, task.geometry_wkb.hex(), task.zone_wkb.hex(), task.kind, str(task.quota),
                 dumps_json(task.census), str(task.smart_poles)):
        h.update(part.encode() + b"\0")
    if existing is not None and len(existing):
        h.update(b"".join(shapely.to_wkb(existing.geometry.values, output_dimension=2)))
    return h.hexdigest()


def _done(record: dict | None, task: DistrictTask) -> bool:
    return (record is not None and record.get("status") == "ok" and record.get("input_hash") == task.input_hash
            and record.get("params_hash") == task.params_hash
            and (Path(task.out_dir) / task.slug / "summary.json").is_file())


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
    manifest: dict[str, Any] = {"plan": prepared.plan.id, "kind": kind, "target": prepared.target, "figures": FIGURES,
                "area_source_hash": prepared.source_hash, "params_hash": tasks[0].params_hash if tasks else "",
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
    summary, files = merge_city(prepared.districts, manifest, out)
    failed = tuple(d for d, r in manifest["districts"].items() if r["status"] != "ok")
    return BatchReport(out, manifest, summary, failed, skipped, dashboard, tuple([manifest_path, *files]))


def _tasks(prepared: Prepared, params: Params, kind: str, out: Path) -> list[DistrictTask]:
    q = prepared.quotas.to_crs(prepared.crs)
    geoms = shapely.set_precision(q.geometry.values, 0.01)
    zones = proposal_zones(q.set_geometry(geoms), params.batch.border_spacing_m, q["demand_share"].to_numpy())
    slugs = district_slugs([str(n) for n in q["district"]])
    census_cols = [c for c in (*CENSUS_COLUMNS, "census_source") if c in q]
    phash = params_hash(params)
    budget = params.candidates.smart_pole_budget
    poles: list[int | None] = [None] * len(q)
    if kind == "5g" and budget is not None:
        poles = [int(b) for b in district_pole_budgets(budget, q["quota"].to_numpy(), q["district"].astype(str).to_numpy())]
    tasks = []
    for i, (name, quota, existing) in enumerate(zip(q["district"], q["quota"], q["existing"])):
        census = {c: plain(q[c].iloc[i]) for c in census_cols if not pd.isna(q[c].iloc[i])}
        task = DistrictTask(prepared.plan.id, str(name), slugs[i], shapely.to_wkb(geoms[i], output_dimension=2),
                            shapely.to_wkb(zones[i], output_dimension=2), int(quota), int(existing), kind, str(out),
                            "", phash, census, prepared.inputs, poles[i])
        tasks.append(replace(task, input_hash=_input_hash(prepared.source_hash, task, prepared.existing)))
    return tasks


def _run_tasks(client: Any, todo: list[DistrictTask], prepared: Prepared, params: Params, stages: Stages,
               progress: bool | None) -> Iterator[dict]:
    """Submit each district as one task, longest (largest quota) first, one per worker thread at a
    time; yield each record as it finishes.

    Without windows the client clips each district and ships each worker only its
    districts' data, never the whole Area; tasks start as soon as they are clipped. With
    windows each task reads its own window.
    """
    from distributed import as_completed
    from tqdm.auto import tqdm

    show = sys.stderr.isatty() if progress is None else progress
    order = sorted(todo, key=lambda t: (-t.quota, t.district))
    with tqdm(total=len(todo), unit="district", disable=not show, file=sys.stderr) as bar:
        def done(task: DistrictTask, record: dict) -> dict:
            bar.set_postfix_str(f"{task.district}: {record['status']}")
            bar.update()
            return record

        queue, futures, owner = list(order), as_completed(), {}

        def fill() -> list[dict]:
            """Submit districts until every worker thread has one (a worker that dies takes one
            district with it, no queued others); the failed submissions' records."""
            failed = []
            while queue and futures.count() < max(1, sum(client.nthreads().values())):
                t = queue.pop(0)
                try:
                    fut = _submit(client, t, prepared, params, stages, priority=len(queue))
                except Exception as exc:  # a district that cannot even be clipped fails alone
                    failed.append(done(t, _record(t, "failed", _one_line(exc))))
                    continue
                owner[fut.key] = t
                futures.add(fut)
            return failed

        yield from fill()
        for fut in futures:
            task = owner[fut.key]
            try:
                record = fut.result()
            except Exception as exc:  # a worker died or the task could not run at all
                record = _record(task, "failed", _one_line(exc))
            yield done(task, record)
            yield from fill()


def _submit(client: Any, task: DistrictTask, prepared: Prepared, params: Params, stages: Stages,
            priority: int) -> Any:
    """One district's Dask task: on its own window, or on the client's clip of the whole Area."""
    key = f"district-{task.slug}-{task.input_hash[:12]}"
    if prepared.windows is not None:
        existing = None if prepared.existing is None else near(
            prepared.existing, shapely.from_wkb(task.geometry_wkb).buffer(params.batch.buffer_m))
        return client.submit(_plan_window, task, prepared.windows.files[task.district], prepared.crs, existing,
                             params, stages, key=key, priority=priority, pure=False)
    if prepared.area is None:
        raise ValueError("a Prepared batch holds either the whole Area or the windows")
    area, existing = district_input(prepared.area, prepared.existing, task, params)
    return client.submit(_plan_clip, task, client.scatter(area, hash=False), existing, params, stages,
                         key=key, priority=priority, pure=False)


def _ordered(manifest: dict, tasks: list[DistrictTask]) -> dict:
    districts = manifest["districts"]
    return dict(manifest, districts={t.district: districts[t.district] for t in tasks if t.district in districts})

