"""Charging and 5G plans at district scale on a real road network (issue 16, items 1 and 2).

    .venv/bin/python benchmarks/bench_charging_scale.py [--skip-5g] [--skip-compare]

District: the Taipei major-road network of ``../shared/data/osm/taipei_major_roads_osm/``
(osmWebWizard export, gzip XML, 4,260 highway ways, roads only), copied with a ``<bounds>``
element of 121.455-121.622 E, 25.000-25.090 N (about 168 km²: the network's extent and
the hills around it) so that the plan covers a district-sized box. Existing stations: 150
seeded synthetic stations at road nodes, drawn with a Gaussian weight (sigma 3 km) around
the centre, as real stations cluster in the core, 2-11 piles each. Config: roadside
candidates every 500 m (``charging.charging.roadside_spacing_m``), since the 1 km default
leaves fewer than 100 new candidate sites in a roads-only box.

1. ``siting plan DISTRICT --kind charging --count 250 --existing stations.csv`` end to end
   (a fresh process; wall time and peak RSS);
2. ``siting plan DISTRICT --kind 5g --count 2000`` end to end, with a 130 m candidate grid
   (the default pitch leaves 1,812 candidates in this roads-only box);
3. served sessions of the max-flow assignment against the transportation LP that siting
   used before (kept below as ``lp_assignment``, SciPy ``linprog`` highs-ipm) on a smaller
   box where the LP rounds finish: the Taipei core 121.50-121.56 E, 25.02-25.06 N, 40 existing
   stations, ``--count 80`` and ``--piles 400``, in this process.

Prints a markdown table; figures go to ``benchmarks/RESULTS.md``.
"""
from __future__ import annotations

import argparse
import gzip
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TAIPEI = ROOT.parent / "shared" / "data" / "osm" / "taipei_major_roads_osm" / "osm_bbox.osm.xml.gz"
DISTRICT_BOUNDS = (121.455, 25.000, 121.622, 25.090)
CORE_BOUNDS = (121.50, 25.02, 121.56, 25.06)
CONFIG = "charging:\n  charging:\n    roadside_spacing_m: 500\n"
#: 5G: the default grid (indoor radius, 182 m here) gives 1,812 candidates, fewer than 2,000
CONFIG_5G = "candidates:\n  grid_spacing_m: 130\n"


def district_file(folder: Path) -> Path:
    """The Taipei extract with a ``<bounds>`` element of :data:`DISTRICT_BOUNDS`."""
    text = gzip.open(TAIPEI, "rt", encoding="utf-8").read()
    w, s, e, n = DISTRICT_BOUNDS
    at = text.index("<osm") + text[text.index("<osm"):].index(">") + 1
    out = folder / "taipei_district.osm.xml.gz"
    with gzip.open(out, "wt", encoding="utf-8") as f:
        f.write(text[:at] + f'\n  <bounds minlat="{s}" minlon="{w}" maxlat="{n}" maxlon="{e}"/>' + text[at:])
    return out


def existing_stations(area, n: int, seed: int = 0):
    """``n`` synthetic stations at road nodes, clustered around the area's centre."""
    import geopandas as gpd

    rng = np.random.default_rng(seed)
    nodes = area.road_nodes
    centre = area.boundary.centroid
    d2 = (nodes["x"].to_numpy() - centre.x) ** 2 + (nodes["y"].to_numpy() - centre.y) ** 2
    weight = np.exp(-d2 / (2 * 3000.0 ** 2))
    pick = nodes.iloc[rng.choice(len(nodes), n, replace=False, p=weight / weight.sum())]
    lonlat = gpd.GeoSeries(gpd.points_from_xy(pick["x"] + 15.0, pick["y"]), crs=area.crs).to_crs(4326)
    return gpd.GeoDataFrame({"site_id": [f"S{i:03d}" for i in range(n)], "name": None, "capacity": np.nan,
                             "piles": rng.integers(2, 12, n)}, geometry=lonlat.to_numpy(), crs=4326)


def lp_assignment(distance, sessions, capacity, radius, bands=None):
    """The transportation LP siting used before the max flow (``bands`` ignored)."""
    from scipy import sparse
    from scipy.optimize import linprog

    coo = distance.tocoo()
    n_pairs, (n_d, n_s) = coo.nnz, distance.shape
    if n_pairs == 0:
        return sparse.csr_matrix(distance.shape)
    cost = -(1.0 - 1e-3 * coo.data / np.maximum(radius[coo.row], 1.0))
    pair = np.arange(n_pairs)
    a_ub = sparse.csr_matrix((np.ones(2 * n_pairs), (np.r_[coo.row, n_d + coo.col], np.r_[pair, pair])),
                             shape=(n_d + n_s, n_pairs))
    result = linprog(cost, A_ub=a_ub, b_ub=np.r_[sessions, capacity], bounds=(0, None), method="highs-ipm")
    return sparse.csr_matrix((np.clip(result.x, 0.0, None), (coo.row, coo.col)), shape=distance.shape)


def cli_run(args: list[str]) -> dict:
    """Run ``siting`` in a fresh process (through a wrapper that reports its peak RSS)."""
    wrapper = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]).returncode; "
               "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
               "print(u.ru_maxrss, u.ru_utime + u.ru_stime); sys.exit(r)")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "siting", *args],
                          capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"siting {' '.join(args)} failed:\n{done.stderr}")
    rss, cpu = done.stdout.strip().splitlines()[-1].split()
    return {"seconds": seconds, "cpu_seconds": float(cpu), "peak_gb": int(rss) / 1024 ** 2}


def compare(folder: Path) -> list[dict]:
    """Served sessions and time of the max flow vs the LP, on the Taipei core."""
    from shapely.geometry import box

    import siting.charging as charging
    from siting.config import load_params
    from siting.io.osm import load_area
    from siting.pipeline import plan_area

    area = load_area(TAIPEI, cache_dir=None, processed_dir=folder / "processed", boundary=box(*CORE_BOUNDS))
    existing = existing_stations(area, 40, seed=1)
    (folder / "config.yaml").write_text(CONFIG)
    params = load_params(folder / "config.yaml")
    rows = []
    flow = charging.assign_sessions
    for request in ({"count": 80}, {"piles": 400}):
        for name, assign in (("max flow", flow), ("LP (before)", lp_assignment)):
            charging.assign_sessions = assign
            start = time.perf_counter()
            s = plan_area(area, "charging", params, existing=existing, **request).summary
            rows.append({"case": f"core {area.area_km2:.0f} km², 40 existing, {request}", "method": name,
                         "seconds": time.perf_counter() - start, "served": s["demand_served"],
                         "total": s["demand_total"], "stations": s["sites_total"], "piles": s["piles_total"]})
        charging.assign_sessions = flow
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-5g", action="store_true")
    parser.add_argument("--skip-compare", action="store_true")
    opts = parser.parse_args()
    if not TAIPEI.exists():
        raise SystemExit(f"{TAIPEI} is missing: this benchmark needs ../shared/data")
    from siting.io.osm import load_area

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        osm = district_file(folder)
        area = load_area(osm, cache_dir=None, processed_dir=folder / "processed")
        stations = folder / "stations.csv"
        sites = existing_stations(area, 150)
        sites.assign(lon=sites.geometry.x, lat=sites.geometry.y).drop(columns="geometry").to_csv(stations, index=False)
        (folder / "config.yaml").write_text(CONFIG)
        (folder / "config-5g.yaml").write_text(CONFIG_5G)
        print(f"district: {area.area_km2:.1f} km², {len(area.road_nodes):,} road nodes, "
              f"{area.road_edges['length_m'].sum() / 1000:,.0f} km of directed road edges")
        common = ["--tiles", "none", "-q"]
        print("| run | wall s | CPU s | peak RSS GB | load after |\n|---|---|---|---|---|")
        runs = [("charging --count 250, 150 existing",
                 ["plan", str(osm), "--kind", "charging", "--count", "250", "--existing", str(stations),
                  "--out", str(folder / "charging"), "--config", str(folder / "config.yaml"), *common])]
        if not opts.skip_5g:
            runs.append(("5g --count 2000", ["plan", str(osm), "--kind", "5g", "--count", "2000",
                                             "--out", str(folder / "5g"), "--config", str(folder / "config-5g.yaml"),
                                             *common]))
        for label, args in runs:
            r = cli_run(args)
            print(f"| {label} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['peak_gb']:.2f} | "
                  f"{os.getloadavg()[0]:.2f} |", flush=True)
        if not opts.skip_compare:
            print("\n| case | assignment | seconds | served sessions | of total | stations | piles |\n"
                  "|---|---|---|---|---|---|---|")
            for r in compare(folder):
                print(f"| {r['case']} | {r['method']} | {r['seconds']:.1f} | {r['served']:,.2f} | "
                      f"{r['total']:,.2f} | {r['stations']} | {r['piles']} |", flush=True)
    print(f"load after: {os.getloadavg()[0]:.2f}; peak RSS of this process "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2:.2f} GB")


if __name__ == "__main__":
    main()
