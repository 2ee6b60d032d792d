"""The ``siting`` command line: parses arguments and calls the library, nothing more.

Every command turns a :class:`~siting.errors.SitingError` into one line on stderr and
exit status 2; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Optional

import typer

from siting.errors import SitingError
from siting.words import counted

app = typer.Typer(
    name="siting",
    help="Plan where a city should put its next 5G base stations and EV charging facilities.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click usage errors: no boxes on the terminal
)
area_app = typer.Typer(help="Inspect an area read from OSM.", no_args_is_help=True)
app.add_typer(area_app, name="area")


@area_app.command("info")
def area_info(
    source: str = typer.Argument(..., metavar="SOURCE", help="'demo', an .osm/.osm.xml/.osm.bz2/.osm.pbf file, or a place name"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Area km², buildings, road km by class, POI counts, boundary origin and CRS."""
    from siting.io.osm import area_summary, load_area
    from siting.io.export import dumps_json

    summary = area_summary(load_area(source))
    if as_json:
        typer.echo(dumps_json(summary), nl=False)
        return
    typer.echo(f"{summary['name']}: {summary['area_km2']:.2f} km² ({summary['boundary_origin']}), CRS {summary['crs']}")
    typer.echo(f"buildings: {summary['buildings']} ({summary['buildings_with_levels']} with levels, "
               f"{summary['buildings_with_height']} with height)")
    typer.echo(f"drivable road km: {summary['road_km_total']:.1f} ("
               + ", ".join(f"{k} {v:.1f}" for k, v in summary["road_km"].items()) + ")")
    typer.echo("POIs: " + (", ".join(f"{k} {v}" for k, v in summary["pois"].items()) or "none"))
    for key, note in summary["notes"].items():
        typer.echo(f"note: {key}: {note}")


@app.command("plan")
def plan(
    source: str = typer.Argument(..., metavar="SOURCE", help="'demo', an OSM file (.osm, .osm.xml, .osm.bz2, .osm.pbf) or a place name"),
    kind: str = typer.Option("5g", "--kind", help="5g, charging, basic, depot, swap or hydrogen"),
    count: Optional[int] = typer.Option(None, "--count", help="sites in total, existing included"),
    target: Optional[float] = typer.Option(None, "--target", help="coverage share to reach, e.g. 0.98"),
    piles: Optional[int] = typer.Option(None, "--piles", help="charging piles in total (charging kinds)"),
    phases: Optional[str] = typer.Option(None, "--phases", help="5G: nested phases YEAR:COUNT,YEAR:COUNT (sites "
                                         "in total by each year), or a plan id whose phases give them"),
    reserve: Optional[str] = typer.Option(None, "--reserve", help="5G: reserve sites per proposed site, e.g. 0.72, "
                                          "or a plan id (site locations / base stations - 1)"),
    plan_id: Optional[str] = typer.Option(None, "--plan", help="plan id or plan YAML this plan serves: its 5G users "
                                          "drive capacity, summary.json records it (phases and reserve ratio: "
                                          "give the id to --phases / --reserve)"),
    existing: Optional[Path] = typer.Option(None, "--existing", help="existing sites: CSV with lon/lat or GeoJSON points"),
    existing_crs: str = typer.Option("wgs84", "--existing-crs", help="wgs84, gcj02 (Amap, Tencent) or bd09 (Baidu)"),
    band: Optional[str] = typer.Option(None, "--band", help="5G band preset: n78, n41 or n28"),
    los: bool = typer.Option(False, "--los/--no-los", help="line of sight from building heights"),
    learn_existing: bool = typer.Option(True, "--learn-from-existing/--no-learn-from-existing",
                                        help="weigh demand by a suitability model fitted on the existing sites "
                                             "(used with 20 or more existing sites)"),
    capacity: bool = typer.Option(False, "--capacity/--no-capacity",
                                  help="5G: serve busy-hour traffic within site capacity, not only cover it"),
    metric: Optional[str] = typer.Option(None, "--metric", help="charging: service radius in road 'distance' "
                                                                "or drive 'time' (speed by road class)"),
    dem: Optional[list[Path]] = typer.Option(None, "--dem", help="elevation GeoTIFF or SRTM .hgt (repeatable)"),
    raster: Optional[Path] = typer.Option(None, "--raster", help="population GeoTIFF (WorldPop, GHS-POP)"),
    population: Optional[float] = typer.Option(None, "--population", help="calibrate residents to this total"),
    cell_size: Optional[float] = typer.Option(None, "--cell-size", help="demand grid cell size in metres"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file of parameters"),
    seed: Optional[int] = typer.Option(None, "--seed", help="random seed"),
    tiles: str = typer.Option("osm", "--tiles", help="map base layer: osm, none, tianditu, amap or tencent"),
    out: Optional[Path] = typer.Option(None, "--out", help="output folder (default data/processed/<area>/<kind>/)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="print nothing but errors"),
) -> None:
    """Plan sites for one area and write GeoJSON, CSV, GeoPackage, summary.json and map.html."""
    from siting.request import PlanRequest
    from siting.workflow import plan_files

    request = PlanRequest(kind=kind, count=count, target=target, piles=piles, phases=phases, reserve=reserve,
                          plan_id=plan_id, existing=existing, existing_crs=existing_crs, raster=raster,
                          dem=tuple(dem or ()))
    overrides = {"radio.band": band, "radio.los_from_buildings": los or None, "capacity.enabled": capacity or None,
                 "learn.strength": None if learn_existing else 0.0, "charging.metric": metric,
                 "demand.population": population,
                 "demand.cell_size_m": cell_size, "seed": seed}
    outcome = plan_files(source, request, config=config,
                         overrides={k: v for k, v in overrides.items() if v is not None}, tiles=tiles, out=out)
    if not quiet:
        _report(outcome)


@app.command("demo")
def demo(out: Optional[Path] = typer.Option(None, "--out", help="output folder")) -> None:
    """Plan 5G sites and public charging on the embedded Helsinki extract."""
    from siting.request import PlanRequest
    from siting.workflow import plan_files

    for request in (PlanRequest(kind="5g", target=0.95), PlanRequest(kind="charging", piles=60)):
        _report(plan_files("demo", request, out=(out / request.kind) if out else None))


def _report(outcome) -> None:
    s = outcome.summary
    sites = f"{s['sites_existing']} existing + {s['sites_proposed']} proposed sites"
    if s.get("piles_total") is not None:
        sites += f", {s['piles_total']} piles"
    head = s.get("headline")
    if head:  # what the request measures, first
        target = f" (target {head['target']:.0%})" if head.get("target") is not None else ""
        measure = f"{head['label']} {head['value']:.1%}{target}"
    else:
        measure = f"coverage {s['coverage_ratio_before']:.1%} -> {s['coverage_ratio']:.1%}"
    typer.echo(f"{s['area']['name']} {s['kind']}: {sites}; {measure} ({_optimality(s)}); "
               f"{counted(s['gaps'], 'gap area')}")
    if s.get("gap_areas", {}).get("text"):
        typer.echo(s["gap_areas"]["text"])
    learning = s.get("learning")
    if learning:
        typer.echo(f"learning from existing sites: {learning.get('status')} ({learning.get('reason', '')})")
    count = s.get("capacity", {}).get("count")
    if count:
        typer.echo(f"count: {count['driver']}: coverage alone needs {count['coverage_sites']} sites, serving "
                   f"{count['target']:.0%} of busy-hour traffic needs {count['capacity_sites']}")
    typer.echo(f"outputs: {outcome.out_dir}  map: {outcome.map_path}")


# --- plans, quotas and batch runs (siting.plans, siting.batch) -------------------------
plans_app = typer.Typer(help="Plan targets: the packaged registry and your own plan YAML files.",
                        no_args_is_help=True)
app.add_typer(plans_app, name="plans")
_PLANS_DIR = typer.Option(None, "--plans-dir", help="folder of your own plan YAML files")


@plans_app.command("list")
def plans_list(plans_dir: Optional[Path] = _PLANS_DIR) -> None:
    """Every known plan with its counted targets."""
    from siting.registry import format_target, load_plans

    for p in load_plans(plans_dir).values():
        targets = "; ".join(format_target(t) for t in p.targets if t.count is not None) or "targets in words only"
        typer.echo(f"{p.id}  {p.area} {p.year}: {targets}")


@plans_app.command("show")
def plans_show(plan: str = typer.Argument(..., metavar="PLAN", help="plan id or a plan YAML file"), plans_dir: Optional[Path] = _PLANS_DIR,
               as_json: bool = typer.Option(False, "--json", help="print one JSON object")) -> None:
    """A plan's targets, coverage requirements and notes."""
    from siting.io.export import dumps_json
    from siting.registry import format_plan, get_plan

    p = get_plan(plan, plans_dir)
    typer.echo(dumps_json(p.model_dump(mode="json")) if as_json else format_plan(p), nl=not as_json)


def _batch_inputs(plan, districts, osm, kind, category, target, name_column, existing, existing_crs, config,
                  plans_dir, minimum, admin_level, scheduler="local", workers=None):
    from siting.districts import prepare_from_files

    overrides = {"batch.minimum_quota": minimum} if minimum is not None else None
    return prepare_from_files(plan, districts, osm, kind=kind, category=category, target=target,
                              name_column=name_column, existing=existing, existing_crs=existing_crs, config=config,
                              overrides=overrides, plans_dir=plans_dir, admin_level=admin_level,
                              scheduler=scheduler, workers=workers)


_B_DISTRICTS = typer.Option(..., "--districts", help="GeoJSON/GPKG of district polygons with a name column, "
                            "or 'osm' for the administrative boundaries in the OSM file")
_B_ADMIN = typer.Option("6", "--admin-level", help="with --districts osm: OSM admin_level of districts (6: 区/县)")
_B_OSM = typer.Option(..., "--osm", help="OSM file covering every district (.osm, .osm.xml, .osm.bz2, .osm.pbf)")
_B_KIND = typer.Option("5g", "--kind", help="5g, charging, basic, depot, swap or hydrogen")
_B_CATEGORY = typer.Option(None, "--category", help="target category when the plan has several for the kind")
_B_TARGET = typer.Option(None, "--new-sites", "--target", help="number of new sites for these districts, a whole "
                         "number (default: the plan's count minus existing)")
_B_NAME = typer.Option(None, "--name-column", help="column holding district names (default: district, name, ...)")
_B_EXISTING = typer.Option(None, "--existing", help="existing sites: CSV with lon/lat or GeoJSON points")
_B_EXISTING_CRS = typer.Option("wgs84", "--existing-crs", help="wgs84, gcj02 (Amap, Tencent) or bd09 (Baidu)")
_B_CONFIG = typer.Option(None, "--config", help="YAML file of parameters (batch: buffer_m, weights, ...)")
_B_MINIMUM = typer.Option(None, "--minimum", help="least new sites per district")


@app.command("quotas")
def quotas(plan: str = typer.Argument(..., metavar="PLAN", help="plan id or plan YAML file"), districts: Path = _B_DISTRICTS,
           osm: str = _B_OSM, kind: str = _B_KIND, category: Optional[str] = _B_CATEGORY,
           target: Optional[int] = _B_TARGET, name_column: Optional[str] = _B_NAME,
           existing: Optional[Path] = _B_EXISTING, existing_crs: str = _B_EXISTING_CRS,
           config: Optional[Path] = _B_CONFIG, plans_dir: Optional[Path] = _PLANS_DIR,
           minimum: Optional[int] = _B_MINIMUM, admin_level: str = _B_ADMIN,
           out: Optional[Path] = typer.Option(None, "--out", help="output folder (default data/processed/<plan>/)")) -> None:
    """Split a plan's target over districts by demand minus existing sites: quotas.csv, quotas.geojson."""
    from siting.districts import default_out, write_quotas

    prepared, _ = _batch_inputs(plan, districts, osm, kind, category, target, name_column, existing, existing_crs,
                                config, plans_dir, minimum, admin_level)
    paths = write_quotas(prepared, out or default_out(prepared.plan.id))
    for row in prepared.quotas.itertuples():
        typer.echo(f"{row.district}: {row.quota} ({row.explanation})")
    typer.echo(f"total {prepared.target}; written {', '.join(str(p) for p in paths)}")


@app.command("batch")
def batch(plan: str = typer.Argument(..., metavar="PLAN", help="plan id or plan YAML file"), districts: Path = _B_DISTRICTS,
          osm: str = _B_OSM, kind: str = _B_KIND, category: Optional[str] = _B_CATEGORY,
          target: Optional[int] = _B_TARGET, name_column: Optional[str] = _B_NAME,
          existing: Optional[Path] = _B_EXISTING, existing_crs: str = _B_EXISTING_CRS,
          config: Optional[Path] = _B_CONFIG, plans_dir: Optional[Path] = _PLANS_DIR,
          minimum: Optional[int] = _B_MINIMUM, admin_level: str = _B_ADMIN,
          scheduler: str = typer.Option("local", "--scheduler", help="'local' (a LocalCluster) or tcp://host:8786"),
          workers: Optional[int] = typer.Option(None, "--workers", help="LocalCluster workers (default: CPU count)"),
          out: Optional[Path] = typer.Option(None, "--out", help="output folder (default data/processed/<plan>/)"),
          quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar")) -> None:
    """Plan every district as one Dask task, resumably; merge sites, gaps and a summary for the city."""
    from siting.batch import BatchFailed, run_batch
    from siting.districts import default_out

    prepared, params = _batch_inputs(plan, districts, osm, kind, category, target, name_column, existing,
                                     existing_crs, config, plans_dir, minimum, admin_level, scheduler, workers)
    report = run_batch(prepared, params, out or default_out(prepared.plan.id), kind=kind, scheduler=scheduler,
                       workers=workers, progress=None if not quiet else False,
                       log=None if quiet else (lambda line: typer.echo(f"siting: {line}", err=True)))
    if not quiet:
        typer.echo(report.summary.to_string(index=False))
    if not report.ok:
        raise BatchFailed(report.message())
    typer.echo(report.message(), err=quiet)


@app.command("evaluate")
def evaluate_command(
    source: str = typer.Argument(..., metavar="SOURCE", help="'demo', an OSM file (.osm, .osm.xml, .osm.bz2, .osm.pbf) or a place name"),
    existing: Path = typer.Option(..., "--existing", help="existing sites: CSV with lon/lat or GeoJSON points"),
    holdout: float = typer.Option(0.4, "--holdout", help="share of the existing sites to hide"),
    seed: int = typer.Option(0, "--seed", help="random seed of the split, the model and the baselines"),
    kind: str = typer.Option("5g", "--kind", help="5g, charging, basic, depot, swap or hydrogen"),
    radius: Optional[float] = typer.Option(None, "--radius", help="metres within which a hidden site counts as "
                                           "found (default 150 for 5g, 300 for charging)"),
    existing_crs: str = typer.Option("wgs84", "--existing-crs", help="wgs84, gcj02 (Amap, Tencent) or bd09 (Baidu)"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file of parameters"),
    out: Optional[Path] = typer.Option(None, "--out", help="output folder (default data/processed/<area>/<kind>/)"),
) -> None:
    """Hide a share of the existing sites, plan with the rest, and count the hidden sites found,
    against random locations and random road nodes: evaluation.json."""
    from siting.evaluate import describe, run_evaluation

    report, path = run_evaluation(source, existing, kind=kind, holdout=holdout, radius_m=radius,
                                  existing_crs=existing_crs, config=config, overrides={"seed": seed}, out=out)
    typer.echo(describe(report))
    typer.echo(f"written: {path}")


@app.command("map")
def map_command(
    out_dir: Path = typer.Argument(..., metavar="OUT_DIR", help="output folder of a 'siting plan' run (summary.json, *.geojson, layers.gpkg)"),
    tiles: str = typer.Option("osm", "--tiles", help="base map: osm, none (fully offline), tianditu (needs "
                              "SITING_TIANDITU_KEY), amap or tencent (data drawn in GCJ-02)"),
    out: Optional[Path] = typer.Option(None, "--out", help="HTML file to write (default OUT_DIR/map.html)"),
) -> None:
    """Redraw the HTML map from a plan's written outputs, without planning again."""
    from siting.io.outputs import read_outputs
    from siting.maps import plan_map, write_map

    layers, summary = read_outputs(out_dir)
    path = write_map(plan_map(layers, summary, tiles=tiles), out or out_dir / "map.html")
    typer.echo(f"map written: {path}")


def _optimality(s: dict) -> str:

    if s.get("min_sites_bound") is not None:
        return f"no plan reaching the target has fewer than {counted(s['min_sites_bound'], 'site')}"
    if s.get("optimality_gap") is not None:
        return f"within {s['optimality_gap']:.2%} of the optimum"
    return f"solver {s.get('solver')}"


def main(argv: Optional[list[str]] = None) -> None:
    """Console entry point: usage errors as click prints them (exit 2), user errors as
    one ``siting: error:`` line (exit 2), warnings as ``siting: warning:`` lines."""
    formatted, warnings.formatwarning = warnings.formatwarning, _format_warning
    try:
        app(args=argv, prog_name="siting")  # standalone: click prints usage errors and exits 2
    except SitingError as exc:
        print(f"siting: error: {exc.worded(FLAGS)}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except SystemExit as exc:
        if exc.code in (0, None):  # success: return to the caller (tests call main() directly)
            return
        if exc.code == 130:  # typer turns Ctrl-C into exit status 130
            print("siting: interrupted; earlier outputs are left as they were", file=sys.stderr)
        raise
    finally:
        warnings.formatwarning = formatted


#: parameter names in the library's messages -> the flags that set them
FLAGS = {"kind": "--kind", "count": "--count", "target": "--target", "piles": "--piles", "phases": "--phases",
         "reserve": "--reserve", "plan_id": "--plan", "existing": "--existing", "existing_crs": "--existing-crs",
         "raster": "--raster", "dem": "--dem", "holdout": "--holdout", "radius_m": "--radius"}

_PACKAGE_DIR = str(Path(__file__).resolve().parent)


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """siting's own warnings as one ``siting: warning:`` line each; other libraries' warnings
    are not the user's business and print nothing."""
    if str(Path(filename).resolve()).startswith(_PACKAGE_DIR):
        return f"siting: warning: {' '.join(str(message).split())}\n"
    return ""


if __name__ == "__main__":
    main()
