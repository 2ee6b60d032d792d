"""Terrain benchmark (issue 10): coverage terrain removes, profile speed, agreement with a per-pair loop.

    .venv/bin/python benchmarks/bench_terrain.py [--quick]

1. Coverage: 30 sites (25 m, 6 x 5 grid) over a 10 x 10 km window, n78 UMa NLOS outdoor
   link budget (90 % edge, -105 dBm, DOMAIN §1.8), demand points every 100 m at 1.5 m:
   share covered on flat ground vs with the SRTM terrain (P.526 Deygout excess over
   smooth Earth subtracted from the link margin), in Fuzhou and Shenzhen; the DEM as
   is and with the bare-earth filter (``bare_earth_m`` = 100 m) that strips building
   returns and speckle from SRTM's surface model.
2. Speed: 1,000,000 site-receiver pairs within the NLOS radius over the Shenzhen DEM
   at 30 m, each method.
3. Peer: the same pairs through the independent per-pair loop of ``tests/test_terrain.py``
   (scipy bilinear, plain math) on a subset: largest difference and speed ratio.
4. Peer: SPLAT! 1.4.2 (Debian ``splat``, KD2BD) point-to-point path analysis on the
   Fuzhou SRTM3 tile (``srtm2sdf``), k = 4/3, 3.5 GHz: its "no obstructions" and "60 % of
   the first Fresnel zone is clear" verdicts against ``terrain_loss_db``'s geometric
   clearance >= 0 and LOS (0.6 F1). Skipped when SPLAT! is not installed.

Needs ``../shared/data/dem`` beside the project.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from pyproj import Transformer

from siting.config import RadioParams, TerrainParams
from siting.io.dem import read_dem
from siting.radio import coverage_radius_m, link_margin_db
from siting.terrain import bare_earth, pair_terrain, terrain_loss_db

ROOT = Path(__file__).resolve().parents[1]
DEM_DIR = ROOT.parent / "shared" / "data" / "dem"
CRS = "EPSG:32650"
FC = 3.5
H_BS, H_UT = 25.0, 1.5
BARE_EARTH_M = 100.0
SPLAT_FRESNEL_TIMEOUT_S = 5.0

#: 10 x 10 km windows: (name, DEM file, centre lon, centre lat)
WINDOWS = [
    ("Fuzhou centre + Gushan (SRTM3, 90 m)", "N26E119.hgt", 119.35, 26.07),
    ("Fuzhou west, Minjiang valley (SRTM3)", "N26E119.hgt", 119.22, 26.08),
    ("Shenzhen Luohu + Wutongshan (SRTM 1\", 30 m)", "shenzhen_srtmgl1_1as.tif", 114.18, 22.59),
    ("Shenzhen Futian/Nanshan (SRTM 1\")", "shenzhen_srtmgl1_1as.tif", 114.02, 22.56),
]


def window_bounds(lon: float, lat: float, half_m: float = 5000.0) -> tuple[float, float, float, float]:
    x, y = Transformer.from_crs("EPSG:4326", CRS, always_xy=True).transform(lon, lat)
    return (x - half_m, y - half_m, x + half_m, y + half_m)


def coverage_case(name: str, tile: str, lon: float, lat: float, radius: float, spacing: float) -> dict:
    minx, miny, maxx, maxy = window_bounds(lon, lat)
    dem = read_dem([DEM_DIR / tile], CRS, (minx, miny, maxx, maxy))
    gx = np.arange(minx + spacing / 2, maxx, spacing)
    gy = np.arange(miny + spacing / 2, maxy, spacing)
    demand = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
    sx = minx + (np.arange(6) + 0.5) * (maxx - minx) / 6
    sy = miny + (np.arange(5) + 0.5) * (maxy - miny) / 5
    sites = np.stack(np.meshgrid(sx, sy), axis=-1).reshape(-1, 2)
    d = np.hypot(demand[:, None, 0] - sites[None, :, 0], demand[:, None, 1] - sites[None, :, 1])
    rows, cols = np.nonzero(d <= radius)
    margin = link_margin_db(np.maximum(d[rows, cols], 10.0), "UMa", H_BS, H_UT, params=RadioParams())

    def covered(extra_db: np.ndarray) -> float:
        ok = np.zeros(len(demand), bool)
        ok[rows[margin - extra_db >= 0]] = True
        return float(ok.mean())

    t0 = time.perf_counter()
    extra, los = pair_terrain(dem, demand[rows], sites[cols], H_BS, H_UT, FC, TerrainParams(), storey_height_m=3.0)
    seconds = time.perf_counter() - t0
    extra_be, los_be = pair_terrain(bare_earth(dem, BARE_EARTH_M), demand[rows], sites[cols], H_BS, H_UT, FC, TerrainParams(), storey_height_m=3.0)
    z = dem.elevation
    return {"window": name, "relief": f"{z.min():.0f}-{z.max():.0f} m", "demand": len(demand),
            "pairs": len(rows), "blocked": float((~los).mean()), "flat": covered(np.zeros(len(rows))),
            "terrain": covered(extra), "blocked_be": float((~los_be).mean()), "terrain_be": covered(extra_be),
            "seconds": seconds}


def speed_case(n_pairs: int, radius: float, peer_pairs: int) -> list[dict]:
    dem = read_dem([DEM_DIR / "shenzhen_srtmgl1_1as.tif"], CRS, window_bounds(114.2, 22.65, 20_000.0),
                   resolution_m=30.0)
    rng = np.random.default_rng(0)
    minx, miny, maxx, maxy = dem.bounds
    sites = rng.uniform((minx + radius, miny + radius), (maxx - radius, maxy - radius), (n_pairs, 2))
    ang, r = rng.uniform(0, 2 * np.pi, n_pairs), radius * np.sqrt(rng.uniform(0, 1, n_pairs))
    demand = sites + np.c_[r * np.cos(ang), r * np.sin(ang)]
    out = []
    for method in ("deygout", "bullington", "single"):
        t0 = time.perf_counter()
        res = terrain_loss_db(dem, sites, H_BS, demand, H_UT, FC, method)
        out.append({"what": f"terrain_loss_db {method}", "pairs": n_pairs, "seconds": time.perf_counter() - t0,
                    "blocked": float((~res.los).mean())})
    t0 = time.perf_counter()
    _, los = pair_terrain(dem, demand, sites, H_BS, H_UT, FC, TerrainParams(), storey_height_m=3.0)
    out.append({"what": "pair_terrain (deygout, excess over smooth Earth)", "pairs": n_pairs,
                "seconds": time.perf_counter() - t0, "blocked": float((~los).mean())})
    peer = _load_peer()
    sub = slice(0, peer_pairs)
    for method in ("deygout", "bullington", "single"):
        t0 = time.perf_counter()
        ref = peer(dem, sites[sub], np.full(peer_pairs, H_BS), demand[sub], np.full(peer_pairs, H_UT), method)
        t_peer = time.perf_counter() - t0
        t0 = time.perf_counter()
        got = terrain_loss_db(dem, sites[sub], H_BS, demand[sub], H_UT, FC, method)
        t_vec = time.perf_counter() - t0
        out.append({"what": f"peer per-pair loop {method}", "pairs": peer_pairs, "seconds": t_peer,
                    "blocked": float((ref[:, 1] < 0.6).mean()),
                    "max_diff_db": float(np.abs(got.loss_db - ref[:, 0]).max()),
                    "los_agree": float((got.los == (ref[:, 1] >= 0.6)).mean()), "speedup": t_peer / t_vec})
    return out


def splat_case(n_pairs: int, fresnel: bool = True) -> dict | None:
    """LOS (and 60 % Fresnel) verdicts of SPLAT! and of siting on random Fuzhou paths of 0.3-5 km."""
    if not (shutil.which("splat") and shutil.which("srtm2sdf")):
        return None
    rng = np.random.default_rng(1)
    node = 1 / 1200                                          # SRTM3 grid: ends on samples, as SPLAT! reads them
    tx = np.round(rng.uniform((119.22, 26.03), (119.45, 26.15), (n_pairs, 2)) / node) * node
    ang, dist = rng.uniform(0, 2 * np.pi, n_pairs), rng.uniform(300, 5000, n_pairs)
    rx = tx + np.c_[dist * np.cos(ang) / (111_195 * np.cos(np.radians(26.1))), dist * np.sin(ang) / 111_195]
    rx = np.round(np.clip(rx, (119.01, 26.01), (119.99, 26.99)) / node) * node   # inside the tile
    splat_los, splat_f60 = [], []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(DEM_DIR / "N26E119.hgt", work)
        subprocess.run(["srtm2sdf", "N26E119.hgt"], cwd=work, check=True, capture_output=True)
        for (tlon, tlat), (rlon, rlat) in zip(tx, rx):
            (work / "tx.qth").write_text(f"TX\n{tlat:.6f}\n{-tlon:.6f}\n{H_BS:g}m\n")
            (work / "rx.qth").write_text(f"RX\n{rlat:.6f}\n{-rlon:.6f}\n{H_UT:g}m\n")
            splat_los.append("No obstructions to LOS path" in _splat(work, None))
            # with a frequency (.lrp file) SPLAT! also reports the Fresnel zone, but its
            # antenna-raising loop can run for minutes on deep obstructions: bounded here
            report = _splat(work, SPLAT_FRESNEL_TIMEOUT_S) if fresnel else None
            splat_f60.append(None if report is None else "60% of the first Fresnel zone is clear" in report)
    t_splat = time.perf_counter() - t0
    to_utm = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    txy, rxy = np.c_[to_utm.transform(*tx.T)], np.c_[to_utm.transform(*rx.T)]
    lo, hi = np.minimum(txy, rxy).min(0) - 500, np.maximum(txy, rxy).max(0) + 500
    dem = read_dem([DEM_DIR / "N26E119.hgt"], CRS, (lo[0], lo[1], hi[0], hi[1]))
    t0 = time.perf_counter()
    ours = terrain_loss_db(dem, txy, H_BS, rxy, H_UT, FC)
    t_ours = time.perf_counter() - t0
    splat_los = np.array(splat_los)
    done = np.array([v is not None for v in splat_f60])
    f60 = np.array([bool(v) for v in splat_f60])
    share = (lambda x: float(x[done].mean())) if done.any() else (lambda x: float("nan"))
    return {"pairs": n_pairs, "splat_los": splat_los.mean(), "ours_los": (ours.clearance >= 0).mean(),
            "los_agree": (splat_los == (ours.clearance >= 0)).mean(), "f60_done": int(done.sum()),
            "splat_f60": share(f60), "ours_f60": share(ours.los), "f60_agree": share(f60 == ours.los),
            "t_splat": t_splat, "t_ours": t_ours}


def _splat(work: Path, fresnel_timeout_s: float | None) -> str | None:
    """SPLAT!'s path report for tx.qth -> rx.qth in ``work`` (k = 4/3); with a timeout, at 3.5 GHz."""
    lrp = work / "tx.lrp"
    if fresnel_timeout_s is None:
        lrp.unlink(missing_ok=True)
    else:
        lrp.write_text("15.0\n0.005\n301.0\n3500.0\n5\n1\n0.5\n0.5\n")
    try:
        subprocess.run(["splat", "-t", "tx.qth", "-r", "rx.qth", "-metric", "-m", f"{4 / 3:.4f}", "-d", str(work)],
                       cwd=work, check=True, capture_output=True, timeout=fresnel_timeout_s)
    except subprocess.TimeoutExpired:
        return None
    return (work / "TX-to-RX.txt").read_text(errors="replace")


def _load_peer():
    spec = importlib.util.spec_from_file_location("test_terrain", ROOT / "tests" / "test_terrain.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._peer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100,000 pairs instead of 1,000,000")
    args = ap.parse_args()
    if not DEM_DIR.is_dir():
        raise SystemExit("bench_terrain: ../shared/data/dem is not present")
    radius = coverage_radius_m("n78", "UMa", indoor=False, los=False, h_bs_m=H_BS, h_ut_m=H_UT)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"n78 UMa NLOS outdoor radius {radius:.0f} m (h_BS {H_BS:g} m, h_UT {H_UT:g} m)\n")
    print("| window (10 x 10 km, 30 sites) | relief | demand pts | pairs | covered flat "
          "| terrain: pairs blocked | terrain: covered | bare earth: pairs blocked | bare earth: covered | terrain s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for case in WINDOWS:
        r = coverage_case(*case, radius=radius, spacing=100.0)
        print(f"| {r['window']} | {r['relief']} | {r['demand']:,} | {r['pairs']:,} | {100 * r['flat']:.1f} % "
              f"| {100 * r['blocked']:.1f} % | {100 * r['terrain']:.1f} % | {100 * r['blocked_be']:.1f} % "
              f"| {100 * r['terrain_be']:.1f} % | {r['seconds']:.2f} |")
    n_pairs = 100_000 if args.quick else 1_000_000
    print(f"\n| speed over Shenzhen at 30 m, pairs within {radius:.0f} m | pairs | seconds | blocked "
          "| max diff vs loop | LOS agreement | speed-up |")
    print("|---|---|---|---|---|---|---|")
    for r in speed_case(n_pairs, radius, peer_pairs=500 if args.quick else 2000):
        extra = (f"{r['max_diff_db']:.1e} dB | {100 * r['los_agree']:.2f} % | {r['speedup']:.0f}x"
                 if "max_diff_db" in r else " | | ")
        print(f"| {r['what']} | {r['pairs']:,} | {r['seconds']:.2f} | {100 * r['blocked']:.1f} % | {extra} |")
    r = splat_case(40 if args.quick else 200)
    if r is None:
        print("\nSPLAT! is not installed (Debian: apt-get install splat): peer check skipped")
        return
    print(f"\n| Fuzhou SRTM3, {r['pairs']} paths 0.3-5 km, 25 m / 1.5 m, k = 4/3, 3.5 GHz | SPLAT! 1.4.2 | siting "
          "| agreement |")
    print("|---|---|---|---|")
    print(f"| no terrain above the direct ray | {100 * r['splat_los']:.1f} % | {100 * r['ours_los']:.1f} % "
          f"| {100 * r['los_agree']:.1f} % |")
    print(f"| 60 % of the first Fresnel zone clear ({r['f60_done']} paths SPLAT! finished in "
          f"{SPLAT_FRESNEL_TIMEOUT_S:g} s) | {100 * r['splat_f60']:.1f} % | {100 * r['ours_f60']:.1f} % "
          f"| {100 * r['f60_agree']:.1f} % |")
    print(f"| seconds | {r['t_splat']:.1f} (one process per path) | {r['t_ours']:.3f} | |")


if __name__ == "__main__":
    main()
