"""Reproducible runs, no lost outputs, provenance, and clear errors for bad requests."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from siting.cli import main
from siting.provenance import sha256_file

COMPARED = ("sites.geojson", "coverage.geojson", "gaps.geojson", "sites.csv", "summary.json", "layers.gpkg")


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(args + ["--quiet"] if args[0] == "plan" else args)
    return exc.value.code, capsys.readouterr().err


def plan(out: Path, *extra: str) -> None:
    try:
        main(["plan", "demo", "--kind", "5g", "--count", "6", "--out", str(out), "--quiet", *extra])
    except SystemExit as exc:  # typer's standalone mode off: success returns normally
        assert exc.code == 0


def digest(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in COMPARED}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "a"
    os.environ["SOURCE_DATE_EPOCH"] = "1700000000"
    try:
        plan(out)
    finally:
        del os.environ["SOURCE_DATE_EPOCH"]
    return out


def test_same_inputs_and_seed_give_the_same_bytes(first_run, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    plan(tmp_path / "b")
    assert digest(first_run) == digest(tmp_path / "b")


def test_the_area_geopackage_is_reproducible(tmp_path, monkeypatch):
    from siting.io.osm import load_area

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    tiny = Path(__file__).parent / "data" / "tiny.osm"
    files = []
    for run in ("a", "b"):
        area = load_area(tiny, processed_dir=tmp_path / run)
        files.append(tmp_path / run / area.slug / "area.gpkg")
    assert files[0].read_bytes() == files[1].read_bytes()


def test_only_the_creation_time_differs_between_runs(first_run, tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    plan(tmp_path / "c")
    a = json.loads((first_run / "summary.json").read_text())
    c = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert a["provenance"].pop("created") == "2023-11-14T22:13:20+00:00"
    c["provenance"].pop("created")
    assert a == c


def test_summary_records_inputs_parameters_and_versions(first_run, demo_pbf):
    s = json.loads((first_run / "summary.json").read_text())
    prov = s["provenance"]
    assert prov["inputs"]["osm"]["sha256"]  # the demo is hashed from its bytes
    params = prov["parameters"]
    assert params["seed"] == 0 and params["radio"]["band"] == "n78"
    assert params["demand"]["cell_size_m"] == 100.0
    for package in ("numpy", "scipy", "shapely", "geopandas", "highspy", "siting"):
        assert prov["versions"][package] not in ("", "not installed")
    assert s["request"] == {"kind": "5g", "count": 6, "target": None, "piles": None, "existing_crs": None,
                            "source": "demo"}
    assert s["sites_total"] == 6 and s["sites_existing"] + s["sites_proposed"] == 6


def test_input_file_hash_is_the_file_hash(tmp_path, shared_data):
    osm = shared_data / "osm" / "shanghai_shu_baoshan_osm" / "map_1.osm"
    out = tmp_path / "shu"
    main(["plan", str(osm), "--kind", "5g", "--count", "3", "--out", str(out), "--quiet"])
    prov = json.loads((out / "summary.json").read_text())["provenance"]
    assert prov["inputs"]["osm"] == {"file": "map_1.osm", "sha256": sha256_file(osm)}


#: the start of the subprocesses below: every GeoJSON write says so, then stalls 30 s to be stopped
SLOW_WRITES = r"""
import sys, time
import siting.io.export as export
original = export.write_geojson
def slow(path, gdf, *a, **k):
    original(path, gdf, *a, **k)
    print("wrote", path, flush=True)
    time.sleep(30)
export.write_geojson = slow
"""

KILLER = SLOW_WRITES + r"""
from siting.cli import main
main(["plan", "demo", "--kind", "5g", "--count", "9", "--out", sys.argv[1], "--quiet"])
"""


def test_a_killed_run_leaves_the_previous_outputs_intact(first_run, tmp_path):
    out = tmp_path / "kept"
    plan(out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    proc = subprocess.Popen([sys.executable, "-c", KILLER, str(out)], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # the first file of the new run is written (into staging)
    assert line.startswith("wrote")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before  # nothing replaced, nothing half-written, no temporary file
    plan(out, "--seed", "1")  # the next run clears what the killed one left in staging
    assert not list(tmp_path.glob(".kept.staging-*"))
    assert json.loads((out / "summary.json").read_text())["provenance"]["parameters"]["seed"] == 1


STOPPER = SLOW_WRITES + r"""
sys.path.insert(0, sys.argv[2])
from siting.result import PlanResult
from test_maps import CRS, SUMMARY, synthetic_layers
export.write_plan(PlanResult(kind="5g", area_slug="t", crs=CRS, layers=synthetic_layers(3), summary=SUMMARY),
                  sys.argv[1])
"""


def test_a_stopped_run_removes_its_staging_folder(first_run, tmp_path):
    """SIGTERM (a scheduler's stop) and Ctrl-C: no .OUT.staging-* left, previous outputs intact."""
    runs = {}
    for sig in (signal.SIGTERM, signal.SIGINT):  # both at once: two cores
        out = tmp_path / sig.name / "kept"
        shutil.copytree(first_run, out)
        proc = subprocess.Popen([sys.executable, "-c", STOPPER, str(out), str(Path(__file__).parent)],
                                stdout=subprocess.PIPE, text=True)
        runs[sig] = (out, {p.name: p.read_bytes() for p in out.iterdir()}, proc)
    for sig, (out, before, proc) in runs.items():
        line = proc.stdout.readline()  # the first file of the new run is written (into staging)
        assert line.startswith("wrote") and list(out.parent.glob(".kept.staging-*"))
        proc.send_signal(sig)
        code = proc.wait(timeout=30)
        if sig == signal.SIGTERM:
            assert code == -signal.SIGTERM  # the staging folder goes, and the process still ends as terminated
        assert not list(out.parent.glob(".kept.staging-*")) and not list(out.glob(".*tmp-*"))
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize("args, message", [
    (["--target", "1.5"], "--target 1.5 is outside (0, 1]"),
    (["--count", "100000"], "exceeds the"),
    (["--count", "3", "--target", "0.9"], "give exactly one of --count, --target or --piles"),
    (["--count", "3", "--kind", "tram"], "unknown facility kind 'tram'"),
    (["--count", "3", "--band", "n99"], "band"),
])
def test_impossible_requests_fail_with_one_line_and_no_output(tmp_path, capsys, args, message):
    out = tmp_path / "none"
    code, err = run_cli(["plan", "demo", "--out", str(out), *args], capsys)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_unknown_config_key_is_named_with_its_line(tmp_path, capsys):
    cfg = tmp_path / "params.yaml"
    cfg.write_text("seed: 3\nradio:\n  band: n41\n  rsrp_treshold_dbm: -100\n", encoding="utf-8")
    code, err = run_cli(["plan", "demo", "--count", "3", "--config", str(cfg), "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert "unknown parameter 'radio.rsrp_treshold_dbm' (line 4)" in err


def test_count_below_existing_sites_plans_nothing_new(tmp_path, capsys):
    existing = tmp_path / "existing.csv"
    existing.write_text("id,lon,lat\na,24.9380,60.1690\nb,24.9420,60.1700\nc,24.9400,60.1660\n", encoding="utf-8")
    out = tmp_path / "o"
    with pytest.warns(UserWarning, match="below the 3 existing sites"):
        main(["plan", "demo", "--count", "2", "--existing", str(existing), "--out", str(out), "--quiet"])
    s = json.loads((out / "summary.json").read_text())
    assert (s["sites_existing"], s["sites_proposed"]) == (3, 0)


def test_a_coverage_matrix_over_the_memory_budget_is_refused(tmp_path, capsys):
    cfg = tmp_path / "params.yaml"
    cfg.write_text("solver:\n  memory_budget_gb: 0.0001\n", encoding="utf-8")
    out = tmp_path / "o"
    code, err = run_cli(["plan", "demo", "--count", "3", "--config", str(cfg), "--out", str(out)], capsys)
    assert code == 2 and "over the memory budget" in err and "split the area into districts" in err
    assert not out.exists()
