"""Benchmark: a whole city on Dask from real road networks, each district reading its own OSM window.

    .venv/bin/python benchmarks/bench_city.py                 # build, 5G with 1 and 2 workers, charging, memory
    .venv/bin/python benchmarks/bench_city.py --only 5g --workers 2
    .venv/bin/python benchmarks/bench_city.py --only memory   # client peak with 5, 10 and 20 districts

The city (built once into ``--cache``, default ``<tmp>/siting-bench-city``, not committed): a
grid of tiles, 5 a row, each tile a real road network cut from a shared extract and moved to
its cell of the grid (longitudes and latitudes shifted, OSM ids offset, so the tiles stay
apart and join into one file): in turn the Taipei major-road network
(``../shared/data/osm/taipei_major_roads_osm/``, 121.455-121.622 E, 25.000-25.090 N) and the
Shenzhen Nanshan network (``../shared/data/osm/shenzhen_nanshan_kejiyuan_osm/``,
113.87-114.05 E, 22.50-22.59 N). Neither maps buildings (Shenzhen a few hundred), so each tile
gets ``--buildings`` synthetic buildings: rectangles of 12-30 m beside random points of its
roads (25-120 m off), 2-25 levels, residential or commercial (seeded). One district per
grid cell (0.18° × 0.09°, about 183 km²); ``districts.geojson``, a plan file and the config
(``batch.windows: true``) sit beside ``city.osm.xml.gz``.

The window files and their parsed layers are made once, by ``siting quotas`` before the timed
runs (the prepare-time index), so that the 1- and 2-worker runs find the same caches. Each
run is ``siting batch`` in a fresh process, its client's and its workers' resident memory
sampled every 0.2 s (psutil); per-district times come from ``manifest.json``. The machine load
(``os.getloadavg``) is printed with every row: on a shared machine 2 workers cannot be faster
than the free cores allow.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "osm"
SOURCES = [  # (file, tile box west, south, east, north)
    (SHARED / "taipei_major_roads_osm" / "osm_bbox.osm.xml.gz", (121.455, 25.000, 121.622, 25.090)),
    (SHARED / "shenzhen_nanshan_kejiyuan_osm" / "osm_bbox.osm.xml", (113.870, 22.500, 114.050, 22.590)),
]
CELL = (0.18, 0.09)         # grid cell, degrees lon × lat
ORIGIN = (121.0, 24.0)      # south-west corner of the grid (UTM 51N)
COLUMNS = 5
ID_STEP = 10**10            # OSM id offset per tile
SITING = Path(sys.executable).with_name("siting")


def _tile_elements(source: Path, box: tuple[float, float, float, float], folder: Path) -> tuple[list, list]:
    """The nodes and ways of ``source`` in ``box`` (ways whole), via the window splitter."""
    from siting.io.osm_window import split_windows

    win = split_windows(source, {"tile": box}, folder / f"tile-{source.stem.split('.')[0]}-{abs(hash(box)) % 10**8}",
                        "EPSG:4326")
    root = ET.parse(gzip.open(win.files["tile"])).getroot()
    return root.findall("node"), root.findall("way")


def _buildings(rng: np.random.Generator, road_xy: np.ndarray, n: int, lat: float) -> list[np.ndarray]:
    """``n`` rectangles (lon/lat rings) beside random road points."""
    m_lon, m_lat = 1 / (111_320 * np.cos(np.radians(lat))), 1 / 110_540
    at = road_xy[rng.integers(0, len(road_xy), n)]
    angle = rng.uniform(0, 2 * np.pi, n)
    off = rng.uniform(25, 120, n)
    cx, cy = at[:, 0] + off * np.cos(angle) * m_lon, at[:, 1] + off * np.sin(angle) * m_lat
    w, h = rng.uniform(12, 30, n) / 2, rng.uniform(12, 30, n) / 2
    return [np.array([(x - a * m_lon, y - b * m_lat), (x + a * m_lon, y - b * m_lat), (x + a * m_lon, y + b * m_lat),
                      (x - a * m_lon, y + b * m_lat)]) for x, y, a, b in zip(cx, cy, w, h)]


def build_city(folder: Path, tiles: int, buildings: int, seed: int = 0) -> Path:
    """``city.osm.xml.gz`` and ``districts.geojson`` of ``tiles`` tiles in ``folder`` (kept when built)."""
    import geopandas as gpd
    import shapely

    osm = folder / "city.osm.xml.gz"
    if osm.is_file() and (folder / "districts.geojson").is_file():
        return osm
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cache = {i: _tile_elements(src, box, folder / "tiles") for i, (src, box) in enumerate(SOURCES)}
    cells, names = [], []
    with gzip.open(osm.with_suffix(".part"), "wt", encoding="utf-8", compresslevel=1) as out:
        out.write("<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\" generator=\"siting bench_city\">\n")
        ways_text = []
        for k in range(tiles):
            nodes, ways = cache[k % len(SOURCES)]
            w0, s0, _, _ = SOURCES[k % len(SOURCES)][1]
            col, row = k % COLUMNS, k // COLUMNS
            west, south = ORIGIN[0] + col * CELL[0], ORIGIN[1] + row * CELL[1]
            dx, dy, base = west + 0.005 - w0, south + 0.0 - s0, (k + 1) * ID_STEP
            road_xy = []
            for n in nodes:
                lon, lat = float(n.get("lon")) + dx, float(n.get("lat")) + dy
                road_xy.append((lon, lat))
                tags = "".join(f'<tag k="{t.get("k")}" v="{_esc(t.get("v"))}"/>' for t in n.findall("tag"))
                out.write(f'<node id="{int(n.get("id")) + base}" lat="{lat:.7f}" lon="{lon:.7f}">{tags}</node>\n')
            for wy in ways:
                refs = "".join(f'<nd ref="{int(nd.get("ref")) + base}"/>' for nd in wy.findall("nd"))
                tags = "".join(f'<tag k="{t.get("k")}" v="{_esc(t.get("v"))}"/>' for t in wy.findall("tag"))
                ways_text.append(f'<way id="{int(wy.get("id")) + base}">{refs}{tags}</way>\n')
            next_id = base + ID_STEP // 2
            for ring in _buildings(rng, np.array(road_xy), buildings, south + CELL[1] / 2):
                refs = []
                for lon, lat in ring:
                    out.write(f'<node id="{next_id}" lat="{lat:.7f}" lon="{lon:.7f}"/>\n')
                    refs.append(next_id)
                    next_id += 1
                kind = "residential" if rng.random() < 0.7 else "commercial"
                nds = "".join(f'<nd ref="{r}"/>' for r in [*refs, refs[0]])
                ways_text.append(f'<way id="{next_id}">{nds}<tag k="building" v="{kind}"/>'
                                 f'<tag k="building:levels" v="{int(rng.integers(2, 26))}"/></way>\n')
                next_id += 1
            cells.append(shapely.box(west, south, west + CELL[0], south + CELL[1]))
            names.append(f"D{k + 1:02d}")
        out.writelines(ways_text)
        out.write("</osm>\n")
    osm.with_suffix(".part").rename(osm)
    gpd.GeoDataFrame({"district": names}, geometry=cells, crs="EPSG:4326").to_file(folder / "districts.geojson")
    return osm


def _esc(text: str | None) -> str:
    return (text or "").replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def write_inputs(folder: Path, sites_5g: int, stations: int) -> tuple[Path, Path]:
    """The plan (5G and charging targets) and the batch config beside the city."""
    plan = folder / "plan.yaml"
    plan.write_text(f"id: bench-city\nname: benchmark city\narea: benchmark city\nyear: 2026\nsource: benchmark\n"
                    f"targets:\n  - kind: 5g\n    unit: base_stations\n    count: {sites_5g}\n"
                    f"  - kind: charging\n    unit: facilities\n    count: {stations}\n", encoding="utf-8")
    config = folder / "config.yaml"
    config.write_text("batch:\n  windows: true\n  buffer_m: 500\n  max_sites_per_km2: 1000\n"
                      "candidates:\n  grid_spacing_m: 110\n"
                      "charging:\n  charging:\n    roadside_spacing_m: 300\n", encoding="utf-8")
    return plan, config


def run(folder: Path, kind: str, target: int, workers: int, out: Path) -> dict:
    """``siting batch`` in a fresh process and a fresh output folder (a batch resumes an old one); wall time,
    client and worker peak RSS, the manifest."""
    import psutil

    shutil.rmtree(out, ignore_errors=True)

    plan, config = folder / "plan.yaml", folder / "config.yaml"
    cmd = [str(SITING), "batch", str(plan), "--districts", str(folder / "districts.geojson"),
           "--osm", str(folder / "city.osm.xml.gz"), "--kind", kind, "--target", str(target),
           "--config", str(config), "--workers", str(workers), "--out", str(out), "--quiet"]
    load0 = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peaks: dict[int, float] = {}
    client = psutil.Process(proc.pid)
    loads = []

    def sample() -> None:
        while proc.poll() is None:
            try:
                for p in [client, *client.children(recursive=True)]:
                    peaks[p.pid] = max(peaks.get(p.pid, 0.0), p.memory_info().rss / 2**30)
            except psutil.Error:
                pass
            loads.append(os.getloadavg()[0])
            time.sleep(0.2)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    watcher.join()
    manifest = json.loads((out / "manifest.json").read_text()) if (out / "manifest.json").is_file() else {}
    districts = manifest.get("districts", {})
    worker_peaks = sorted((v for pid, v in peaks.items() if pid != proc.pid), reverse=True)
    return {"kind": kind, "workers": workers, "wall_s": wall, "rc": proc.returncode,
            "client_gb": peaks.get(proc.pid, 0.0), "worker_gb": worker_peaks[:workers],
            "runtimes": {d: r.get("runtime_s") for d, r in districts.items()},
            "ok": sum(r["status"] == "ok" for r in districts.values()), "n": len(districts),
            "proposed": sum(int(r.get("proposed") or 0) for r in districts.values()),
            "piles": _piles(out, districts) if kind != "5g" else None,
            "load": (load0, max(loads) if loads else load0), "error": stderr.strip().splitlines()[-1:] if
            proc.returncode else []}


def _piles(out: Path, districts: dict) -> int:
    total = 0
    for rec in districts.values():
        summary = out / rec["slug"] / "summary.json"
        if rec["status"] == "ok" and summary.is_file():
            s = json.loads(summary.read_text())
            total += int(s.get("piles_proposed") or s.get("charging", {}).get("piles_proposed") or 0)
    return total


def row(r: dict) -> str:
    times = [t for t in r["runtimes"].values() if t]
    per = f"{min(times):.0f}-{max(times):.0f} (sum {sum(times):.0f})" if times else "-"
    workers = ", ".join(f"{g:.2f}" for g in r["worker_gb"])
    piles = f" / {r['piles']:,} piles" if r["piles"] is not None else ""
    return (f"| {r['kind']} | {r['n']} | {r['workers']} | {r['wall_s']:.0f} | {per} | {r['client_gb']:.2f} | {workers} | "
            f"{r['ok']}/{r['n']} | {r['proposed']:,}{piles} | {r['load'][0]:.1f} / {r['load'][1]:.1f} |")


HEADER = ("| kind | districts | workers | wall (s) | district task (s): min-max (sum) | client peak RSS (GiB) | "
          "worker peak RSS (GiB) | ok | proposed | load start / max |\n|---|---:|---:|---:|---|---:|---|---:|---:|---|")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "siting-bench-city")
    ap.add_argument("--districts", type=int, default=12, help="tiles = districts of the city (5 a row)")
    ap.add_argument("--buildings", type=int, default=6000, help="synthetic buildings per tile")
    ap.add_argument("--sites", type=int, default=30_000, help="new 5G sites of the city")
    ap.add_argument("--stations", type=int, default=2_600, help="new charging stations of the city")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--only", choices=["5g", "charging", "memory"], action="append")
    args = ap.parse_args()
    only = set(args.only or ["5g", "charging", "memory"])
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs; load {os.getloadavg()}")
    rows = []
    city = args.cache / f"city-{args.districts}x{args.buildings}"
    t = time.perf_counter()
    build_city(city, args.districts, args.buildings)
    write_inputs(city, args.sites, args.stations)
    print(f"city: {city} ({(city / 'city.osm.xml.gz').stat().st_size / 1e6:.0f} MB gzip), "
          f"built or found in {time.perf_counter() - t:.0f} s")
    t = time.perf_counter()
    subprocess.run([str(SITING), "quotas", str(city / "plan.yaml"), "--districts", str(city / "districts.geojson"),
                    "--osm", str(city / "city.osm.xml.gz"), "--target", str(args.sites), "--config",
                    str(city / "config.yaml"), "--out", str(city / "quotas")], cwd=city, check=True,
                   stdout=subprocess.DEVNULL)
    print(f"windows split and cached, survey on a LocalCluster (`siting quotas`, once, before the timed runs): "
          f"{time.perf_counter() - t:.0f} s, load {os.getloadavg()[0]:.1f}")
    print(HEADER)
    for kind, target in (("5g", args.sites), ("charging", args.stations)):
        if kind not in only:
            continue
        for w in [int(x) for x in args.workers.split(",")]:
            r = run(city, kind, target, w, city / f"out-{kind}-{w}")
            rows.append(r)
            print(row(r), *r["error"], flush=True)
    if "memory" in only:  # the client's peak with 5, 10, 20 districts (a small target: the client does no planning)
        for n in (5, 10, 20):
            small = args.cache / f"city-{n}x{args.buildings}"
            build_city(small, n, args.buildings)
            write_inputs(small, 10 * n, 2 * n)
            r = run(small, "5g", 10 * n, 2, small / "out-memory")
            rows.append(r)
            print(row(r), *r["error"], flush=True)
    (args.cache / "results.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
