"""Map size and build time: siting's offline map against a plain Folium map of the same layers.

    .venv/bin/python benchmarks/bench_maps.py [--quick] [--plan-dir DIR ...]

    .venv/bin/python benchmarks/bench_maps.py --coverage DIR [DIR ...]

``--coverage``: for each plan output folder, the size of ``coverage.geojson`` written at full
resolution (one polygon per row of ``layers.gpkg``'s coverage, as before issue 16.6) and as
written now (dissolved per layer and state, simplified by ``map.simplify_m``), the time to
build it, and the relative area difference per layer and state.

Cases: synthetic plans (tests/test_maps.py ``synthetic_layers``) of growing size and, unless
``--quick``, the Nanjing Xinjiekou extract planned with ``siting plan --kind 5g --count 30``
(when ``../shared/data`` is present), plus any ``--plan-dir`` output folders. The peer is what
a Folium user writes by hand: one ``folium.GeoJson`` per layer in WGS-84 and a LayerControl;
its page also loads Leaflet, jQuery, Bootstrap and Font Awesome from CDNs (counted below).
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import folium

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from siting.io.outputs import read_outputs  # noqa: E402
from siting.maps import plan_map, render_html  # noqa: E402
from test_maps import SUMMARY, synthetic_layers  # noqa: E402

NANJING = ROOT.parent / "shared" / "data" / "osm" / "nanjing_xinjiekou_osm" / "osm_bbox.osm.xml"


def folium_peer(layers: dict) -> str:
    """The hand-written Folium map: every layer as GeoJSON, CDN assets."""
    m = folium.Map(tiles="OpenStreetMap")
    for name, gdf in layers.items():
        gdf = gdf.to_crs("EPSG:4326")
        for column in gdf.columns:  # folium cannot serialise bools/objects in some versions
            if column != gdf.geometry.name and gdf[column].dtype == bool:
                gdf[column] = gdf[column].astype(int)
        folium.GeoJson(gdf, name=name).add_to(m)
    folium.LayerControl().add_to(m)
    return m.get_root().render()


def external(text: str) -> int:
    """Scripts and stylesheets the page loads from the network."""
    return len(re.findall(r'<(?:script|link)[^>]+(?:src|href)="https?://', text))


def measure(case: str, layers: dict, summary: dict) -> dict:
    features = sum(len(v) for v in layers.values())
    t0 = time.perf_counter()
    ours = render_html(plan_map(layers, summary, tiles="osm"))
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    peer = folium_peer(layers)
    t_peer = time.perf_counter() - t0
    assets = len(render_html(plan_map({}, {}, tiles="none")).encode())
    return {"case": case, "features": features, "siting_kb": len(ours.encode()) / 1024,
            "data_kb": (len(ours.encode()) - assets) / 1024, "siting_s": t_ours, "siting_ext": external(ours),
            "folium_kb": len(peer.encode()) / 1024, "folium_s": t_peer, "folium_ext": external(peer)}


def nanjing_plan(tmp: Path) -> Path | None:
    if not NANJING.exists():
        return None
    out = tmp / "nanjing"
    run = subprocess.run([str(ROOT / ".venv" / "bin" / "siting"), "plan", str(NANJING), "--kind", "5g", "--count", "30",
                          "--out", str(out), "--quiet"], capture_output=True, text=True)
    if run.returncode != 0:
        print(f"(Nanjing plan failed, case skipped: {run.stderr.strip().splitlines()[-1]})", file=sys.stderr)
        return None
    return out


def coverage_sizes(dirs: list[Path]) -> None:
    """Full-resolution against dissolved-and-simplified coverage.geojson, per plan folder."""
    import geopandas as gpd
    import shapely

    from siting.config import MapParams
    from siting.io.export import write_geojson
    from siting.layers import map_coverage

    print("| plan | coverage rows | full GeoJSON (MB) | written GeoJSON (MB) | build (s) | largest area difference |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for d in dirs:
            full = gpd.read_file(d / "layers.gpkg", layer="coverage", engine="pyogrio")
            write_geojson(Path(tmp) / "full.geojson", full)
            t0 = time.perf_counter()
            drawn = map_coverage(full, MapParams().simplify_m)
            write_geojson(Path(tmp) / "drawn.geojson", drawn)
            seconds = time.perf_counter() - t0
            back = gpd.read_file(Path(tmp) / "drawn.geojson").to_crs(full.crs)
            worst = 0.0
            for (layer, state), group in full.groupby(["layer", "state"]):
                exact = shapely.union_all(group.geometry.to_numpy()).area
                got = back[(back["layer"] == layer) & (back["state"] == state)].geometry.area.sum()
                worst = max(worst, abs(got - exact) / exact)
            mb = [(Path(tmp) / f).stat().st_size / 2**20 for f in ("full.geojson", "drawn.geojson")]
            print(f"| {d.name} | {len(full):,} | {mb[0]:.2f} | {mb[1]:.2f} | {seconds:.2f} | {worst:.3%} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small synthetic cases only")
    ap.add_argument("--plan-dir", action="append", default=[], type=Path, help="a 'siting plan' output folder")
    ap.add_argument("--coverage", nargs="+", type=Path, help="only compare coverage.geojson sizes of these folders")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    if args.coverage:
        coverage_sizes(args.coverage)
        return
    cases = [("synthetic 3 km, 15 sites", synthetic_layers(12), SUMMARY)]
    if not args.quick:
        cases.append(("synthetic 12 km, 315 sites", synthetic_layers(300, 15, extent_m=12_000.0), SUMMARY))
    with tempfile.TemporaryDirectory() as tmp:
        dirs = list(args.plan_dir)
        if not args.quick:
            nj = nanjing_plan(Path(tmp))
            if nj is not None:
                dirs.insert(0, nj)
        for d in dirs:
            layers, summary = read_outputs(d)
            name = "Nanjing Xinjiekou 5G, 30 sites" if d.name == "nanjing" else d.name
            cases.append((name, layers, summary))
        rows = [measure(*c) for c in cases]
    print("| case | features | siting HTML (KB) | of which data (KB) | build (s) | network assets | "
          "plain Folium HTML (KB) | build (s) | network assets |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['case']} | {r['features']:,} | {r['siting_kb']:,.0f} | {r['data_kb']:,.0f} | {r['siting_s']:.2f} | "
              f"{r['siting_ext']} | {r['folium_kb']:,.0f} | {r['folium_s']:.2f} | {r['folium_ext']} |")


if __name__ == "__main__":
    main()
