"""Batch runs on Dask over four districts cut from the Nanjing extract."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import re
import subprocess
import sys
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from siting.batch import _tasks, run_batch
from siting.cli import main
from siting.districts import Stages, prepare, prepare_from_files
from siting.config import BatchParams, DemandParams, Params
from siting.errors import InputError, PlanError
from siting.io.osm import load_area
from siting.pipeline import run_plan

NANJING = "osm/nanjing_xinjiekou_osm/osm_bbox.osm.xml"
DASK = Path(sys.executable).with_name("dask")
#: coarser demand and a narrower buffer than the defaults keep each district to about a second
PARAMS = Params(demand=DemandParams(cell_size_m=200.0), batch=BatchParams(buffer_m=300.0))
#: census residents of the quadrants (a districts-file column), SE the most as its buildings are
CENSUS = [20000, 60000, 15000, 25000]
PLAN = ("id: nanjing-test\nname: Nanjing test plan\narea: Nanjing Xinjiekou\nyear: 2024\nsource: test\n"
        "targets:\n  - kind: 5g\n    unit: base_stations\n    count: 12\n")


@pytest.fixture(scope="module")
def inputs(shared_data, tmp_path_factory):
    """The Nanjing extract, its four bbox quadrants as districts, a plan file and stages with a private cache.

    The cache is where the CLI looks when run from ``root`` (``data/raw``, ``data/processed``).
    """
    root = tmp_path_factory.mktemp("batch")
    osm = shared_data / NANJING
    load = partial(load_area, cache_dir=root / "data" / "raw", processed_dir=root / "data" / "processed")
    area = load(osm)
    w, s, e, n = area.boundary_wgs84.bounds
    mx, my = (w + e) / 2, (s + n) / 2
    quads = gpd.GeoDataFrame({"name": ["SW", "SE", "NW", "NE"], "population": CENSUS},
                             geometry=[shapely.box(w, s, mx, my), shapely.box(mx, s, e, my),
                                       shapely.box(w, my, mx, n), shapely.box(mx, my, e, n)], crs="EPSG:4326")
    districts = root / "quadrants.geojson"
    quads.to_file(districts)
    plan = root / "plan.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    default = Stages.default()
    stages = Stages(load, default.build_demand, default.run_plan, default.write_plan, None)
    return {"root": root, "osm": osm, "area": area, "quads": quads, "districts": districts, "plan": plan,
            "stages": stages}


def buildings_per_quadrant(area, quads) -> pd.Series:
    centres = area.buildings.geometry.representative_point().to_crs("EPSG:4326")
    joined = gpd.sjoin(gpd.GeoDataFrame(geometry=centres), quads, predicate="within")
    return joined["name"].value_counts()


def test_local_cluster_batch_plans_every_district_and_a_rerun_skips_them(inputs, tmp_path):
    stages = inputs["stages"]
    prepared = prepare(inputs["plan"], inputs["districts"], inputs["osm"], params=PARAMS, stages=stages)
    quotas = prepared.quotas.set_index("district")["quota"]
    assert quotas.sum() == 12
    assert quotas.idxmax() == buildings_per_quadrant(inputs["area"], inputs["quads"]).idxmax() == "SE"
    notes = []
    out = tmp_path / "nanjing-test"
    report = run_batch(prepared, PARAMS, out, scheduler="local", workers=2, stages=stages, progress=False,
                       log=notes.append)
    assert report.ok and report.skipped == ()
    assert notes and notes[0].startswith("Dask dashboard: ")
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["districts"]) == ["NE", "NW", "SE", "SW"]  # JSON keys are sorted
    for name, rec in manifest["districts"].items():
        assert rec["status"] == "ok" and rec["error"] is None
        assert rec["proposed"] == rec["quota"] == quotas[name]
        assert len(rec["input_hash"]) == len(rec["params_hash"]) == 64 and rec["runtime_s"] > 0
        assert 0 <= rec["coverage_before"] <= rec["coverage_after"] <= 1
        sites = gpd.read_file(out / rec["slug"] / "sites.geojson")
        assert (sites["status"] == "proposed").sum() == quotas[name]
    city = gpd.read_file(out / "sites.geojson")
    assert len(city) == 12 and set(city["district"]) == set(quotas.index)
    summary = pd.read_csv(out / "summary.csv")
    total = summary.set_index("district").loc["TOTAL"]
    assert total["quota"] == total["proposed"] == 12 and total["status"] == "4/4 ok"
    ok = summary[summary["district"] != "TOTAL"]
    weighted = (ok["coverage_after"] * ok["demand_total"]).sum() / ok["demand_total"].sum()
    assert total["coverage_after"] == pytest.approx(weighted, abs=1e-6)
    assert pd.read_csv(out / "quotas.csv")["quota"].sum() == 12
    assert (out / "gaps.geojson").is_file() and (out / "quotas.geojson").is_file()
    assert_figures_agree(out, manifest, summary, inputs)
    assert_no_near_duplicates(out, inputs["quads"], inputs["area"].crs, PARAMS.batch.border_spacing_m)
    first = {f: (out / f).read_bytes() for f in ("sites.geojson", "gaps.geojson", "summary.csv", "nw/sites.geojson")}

    # a rerun with the same inputs and parameters skips everything: it never needs a cluster
    again = run_batch(prepared, PARAMS, out, scheduler="tcp://127.0.0.1:9", stages=stages, progress=False)
    assert again.ok and again.skipped == ("SW", "SE", "NW", "NE")
    # a district whose outputs went missing, or changed parameters, run again; the others are kept
    (out / "nw" / "summary.json").unlink()
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, processes=False) as cluster, Client(cluster) as client:
        third = run_batch(prepared, PARAMS, out, client=client, stages=stages, progress=False)
    assert third.ok and third.skipped == ("SW", "SE", "NE")
    # planning NW again (another cluster, one in-process worker) gives the same bytes, and so does the merge
    assert {f: (out / f).read_bytes() for f in first} == first
    assert json.loads((out / "manifest.json").read_text())["districts"]["NW"]["skipped"] is False


def assert_figures_agree(out, manifest, summary, inputs):
    """One district's figures are the same in its summary.json, the manifest and summary.csv,
    all of the district proper (existing sites and demand inside the polygon), and the
    district's summary.json carries the provenance block of a single plan."""
    from siting.provenance import sha256_file

    table = summary.set_index("district")
    quads = inputs["quads"].set_index("name")
    census = dict(zip(quads.index, CENSUS))
    for name, rec in manifest["districts"].items():
        own = json.loads((out / rec["slug"] / "summary.json").read_text())
        block = own["district"]
        for key, top in (("existing", "sites_existing"), ("proposed", "sites_proposed"), ("demand_total", "demand_total"),
                         ("coverage_before", "coverage_ratio_before"), ("coverage_after", "coverage_ratio"),
                         ("population", "population_total")):
            assert block[key] == own[top] == rec[key], (name, key)
            assert table.loc[name, key] == pytest.approx(rec[key], abs=1e-9), (name, key)
        assert block["existing_nearby"] == own["sites_existing_nearby"] == rec["existing_nearby"]
        assert block["figures"] == manifest["figures"] and "district proper" in block["figures"]
        assert block["population"] == pytest.approx(census[name], rel=1e-6)  # census column, spread by the model
        sites = gpd.read_file(out / rec["slug"] / "sites.geojson")
        inside = sites.within(quads.geometry[name].buffer(1e-7))
        assert inside.all() and (sites["status"] == "existing").sum() == rec["existing"]
        prov = own["provenance"]
        assert prov["inputs"]["osm"]["sha256"] == inputs["area"].source_hash
        assert prov["inputs"]["districts"]["sha256"] == sha256_file(inputs["districts"])
        assert prov["inputs"]["plan"]["sha256"] == sha256_file(inputs["plan"])
        used = PARAMS.model_dump(mode="json")
        used["demand"]["population"] = census[name]  # each district is calibrated to its census residents
        budget = prov["parameters"]["solver"]["memory_budget_gb"]  # at most half its worker's memory limit
        assert 0 < budget <= PARAMS.solver.memory_budget_gb
        used["solver"]["memory_budget_gb"] = budget
        assert prov["plan_id"] == "nanjing-test" and prov["parameters"] == used
        assert prov["versions"]["siting"] and prov["created"]
        assert own["request"]["district"] == name and own["request"]["quota"] == rec["quota"]


def assert_no_near_duplicates(out, quads, crs, spacing_m):
    """Every proposed site lies in its own district, and proposals of different districts stand
    at least ``spacing_m`` apart."""
    import numpy as np

    city = gpd.read_file(out / "sites.geojson")
    proposed = city[city["status"] == "proposed"]
    own = quads.set_index("name").geometry.reindex(proposed["district"]).values
    assert shapely.within(proposed.geometry.values, shapely.buffer(own, 1e-7)).all()
    metric = proposed.to_crs(crs)
    xy = np.column_stack([metric.geometry.x, metric.geometry.y])
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    other = proposed["district"].to_numpy()[:, None] != proposed["district"].to_numpy()[None, :]
    assert other.any() and d[other].min() >= spacing_m - 1e-6


def test_neighbours_keep_their_proposals_apart_and_the_busier_one_keeps_the_border():
    from siting.districts import proposal_zones

    districts = gpd.GeoDataFrame({"district": ["A", "B", "C"]},
                                 geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000),
                                           shapely.box(5000, 0, 6000, 1000)], crs="EPSG:32650")
    a, b, c = proposal_zones(districts, 100.0, [0.3, 0.6, 0.1])
    assert b.equals(districts.geometry[1]) and c.equals(districts.geometry[2])  # B has more demand; C no neighbour
    assert a.area == pytest.approx(900 * 1000) and shapely.distance(a, b) == pytest.approx(100.0)


def failing_in_se(area, request, params, **kwargs):
    """The real planner, except that district SE is deliberately broken."""
    if area.info.get("district") == "SE":
        raise PlanError("deliberately broken district for the test")
    return run_plan(area, request, params, **kwargs)


@contextlib.contextmanager
def dask_processes(logs: Path, workers: int = 2, **config: str):
    """A ``dask scheduler`` and ``workers`` ``dask worker`` processes on 127.0.0.1 (no nannies):
    yields the scheduler address and the worker processes. ``config``: scheduler settings
    as ``DASK_DISTRIBUTED__SCHEDULER__<NAME>`` environment variables.

    They get this folder on ``PYTHONPATH`` so that they can unpickle the test's planner.
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]),
               **{f"DASK_DISTRIBUTED__SCHEDULER__{k.upper()}": v for k, v in config.items()})
    with open(logs / "scheduler.log", "w") as log:  # a file, not a pipe: a full pipe would block the scheduler
        procs = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"],
                                  stdout=log, stderr=log, env=env)]
    try:
        address = None
        deadline = time.monotonic() + 60
        while address is None and time.monotonic() < deadline:
            match = re.search(r"Scheduler at:\s+(tcp://127\.0\.0\.1:\d+)", (logs / "scheduler.log").read_text())
            address = match.group(1) if match else time.sleep(0.2)
        assert address, "dask scheduler did not report its address"
        procs += [subprocess.Popen([str(DASK), "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
                  for _ in range(workers)]
        from distributed import Client

        with Client(address) as client:
            client.wait_for_workers(workers, timeout=60)
        yield address, procs[1:]
    finally:
        for p in reversed(procs):  # the workers while their scheduler still answers, then the scheduler
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:  # busy closing under load: stop it
                p.kill()
                p.wait(timeout=15)


@pytest.fixture(scope="module")
def tcp_cluster(tmp_path_factory):
    """A scheduler and two workers started as separate processes on 127.0.0.1."""
    with dask_processes(tmp_path_factory.mktemp("dask-logs")) as (address, _):
        yield address


def test_external_cluster_runs_the_same_batch_and_a_broken_district_fails_alone(inputs, tcp_cluster, tmp_path):
    default = inputs["stages"]
    stages = Stages(default.load_area, default.build_demand, failing_in_se, default.write_plan, None)
    prepared = prepare(inputs["plan"], inputs["districts"], inputs["osm"], params=PARAMS, stages=stages)
    out = tmp_path / "tcp"
    report = run_batch(prepared, PARAMS, out, scheduler=tcp_cluster, stages=stages, progress=False)
    assert not report.ok and report.failed == ("SE",)
    districts = report.manifest["districts"]
    assert districts["SE"]["status"] == "failed"
    assert districts["SE"]["error"] == "deliberately broken district for the test"
    assert all(districts[d]["status"] == "ok" for d in ("SW", "NW", "NE"))
    assert "3 of 4 districts planned" in report.message() and "SE: deliberately broken" in report.message()
    city = gpd.read_file(out / "sites.geojson")
    assert set(city["district"]) == {"SW", "NW", "NE"}
    assert len(city) == sum(districts[d]["quota"] for d in ("SW", "NW", "NE"))
    assert not (out / "se").exists()


def test_cli_batch_exits_non_zero_with_a_summary_when_districts_fail(inputs, tcp_cluster, tmp_path, monkeypatch,
                                                                     capsys):
    monkeypatch.chdir(inputs["root"])  # the CLI finds the OSM cache under data/ here
    default = Stages.default()
    monkeypatch.setattr(Stages, "default", classmethod(lambda cls: replace(default, run_plan=failing_in_se)))
    with pytest.raises(SystemExit) as ex:
        main(["batch", str(inputs["plan"]), "--districts", str(inputs["districts"]), "--osm", str(inputs["osm"]),
              "--scheduler", tcp_cluster, "--out", str(tmp_path / "out"), "--quiet"])
    assert ex.value.code == 1
    err = capsys.readouterr().err
    assert "siting: error: 3 of 4 districts planned" in err and "1 failed (SE: deliberately broken" in err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert sum(d["quota"] for d in manifest["districts"].values()) == 12
    assert (tmp_path / "out" / "se").exists() is False and (tmp_path / "out" / "nw" / "summary.json").is_file()


# --- bad input: refused before any work starts -----------------------------------------

def run_cli(args, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as ex:
        main(args)
    return ex.value.code, capsys.readouterr().err


def test_bad_districts_and_plans_are_refused_before_any_work(inputs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(inputs["root"])
    base = ["batch", str(inputs["plan"]), "--osm", str(inputs["osm"]), "--out", str(tmp_path / "out"),
            "--scheduler", "tcp://127.0.0.1:9"]
    quads = inputs["quads"]
    outside = quads.copy()
    outside.loc[3, "geometry"] = shapely.affinity.translate(quads.geometry[3], xoff=1.0)
    outside.to_file(tmp_path / "outside.geojson")
    code, err = run_cli(base + ["--districts", str(tmp_path / "outside.geojson")], capsys)
    assert code == 2 and "districts NE lie outside the OSM extent" in err
    quads.rename(columns={"name": "label"}).to_file(tmp_path / "noname.geojson")
    code, err = run_cli(base + ["--districts", str(tmp_path / "noname.geojson")], capsys)
    assert code == 2 and "no district name column (columns: label, population): pass --name-column" in err
    quads.assign(name=["A", "B", "A", "C"]).to_file(tmp_path / "dup.geojson")
    code, err = run_cli(base + ["--districts", str(tmp_path / "dup.geojson")], capsys)
    assert code == 2 and "duplicate district names A" in err
    quads.assign(population=["many", 1, 2, 3]).to_file(tmp_path / "text.geojson")
    code, err = run_cli(base + ["--districts", str(tmp_path / "text.geojson")], capsys)
    assert code == 2 and "column 'population' holds 'many' for district SW" in err and len(err.splitlines()) == 1
    quads.assign(population=[1, -5, 2, 3]).to_file(tmp_path / "negative.geojson")
    code, err = run_cli(base + ["--districts", str(tmp_path / "negative.geojson")], capsys)
    assert code == 2 and "column 'population' holds '-5' for district SE" in err
    # far more sites than the quadrants hold candidates: refused with the numbers, before any district runs
    code, err = run_cli(base + ["--districts", str(inputs["districts"]), "--target", "100000"], capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert re.search(r"quotas exceed the candidate sites in 4 of 4 districts \(SW [\d,]+ > \d+;", err)
    assert "for 100,000 new sites" in err and "pass a smaller --target" in err
    bad_plan = tmp_path / "bad.yaml"
    bad_plan.write_text(PLAN.replace("count: 12", "count: -12"), encoding="utf-8")
    code, err = run_cli(["batch", str(bad_plan)] + base[2:] + ["--districts", str(inputs["districts"])], capsys)
    assert code == 2 and "field 'targets.0.count' (line 9)" in err
    assert not (tmp_path / "out").exists()


def test_cli_quotas_writes_csv_and_geojson_summing_to_the_target(inputs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(inputs["root"])
    main(["quotas", str(inputs["plan"]), "--districts", str(inputs["districts"]), "--osm", str(inputs["osm"]),
          "--target", "7", "--minimum", "1", "--out", str(tmp_path / "q")])
    table = pd.read_csv(tmp_path / "q" / "quotas.csv")
    assert table["quota"].sum() == 7 and (table["quota"] >= 1).all()
    geo = gpd.read_file(tmp_path / "q" / "quotas.geojson")
    assert geo["quota"].tolist() == table["quota"].tolist()
    assert "total 7" in capsys.readouterr().out
    # three existing sites in SE (a CSV in WGS-84) lower SE's quota; the total stays 7
    se = inputs["quads"].set_index("name").geometry["SE"].centroid
    (tmp_path / "sites.csv").write_text("name,lon,lat\n" + "".join(f"s{i},{se.x + i * 1e-3},{se.y}\n" for i in range(3)))
    main(["quotas", str(inputs["plan"]), "--districts", str(inputs["districts"]), "--osm", str(inputs["osm"]),
          "--target", "7", "--minimum", "1", "--existing", str(tmp_path / "sites.csv"), "--out", str(tmp_path / "e")])
    with_sites = pd.read_csv(tmp_path / "e" / "quotas.csv").set_index("district")
    before = table.set_index("district")
    assert with_sites["quota"].sum() == 7 and with_sites.loc["SE", "existing"] == 3
    assert with_sites.loc["SE", "quota"] < before.loc["SE", "quota"]
    with pytest.raises(InputError, match="no plan 'nowhere'"):
        prepare("nowhere", inputs["districts"], inputs["osm"], params=PARAMS, stages=inputs["stages"])


def test_a_plan_for_another_city_is_warned_about_and_refused_before_any_work(inputs, tmp_path, monkeypatch, capsys):
    """Shiyan's whole plan (5,298 new sites for 23,666 km²) on four small districts of Nanjing."""
    with pytest.warns(UserWarning, match=r"plan shiyan-2025 is for Shiyan \(23,666 km²\), but these districts cover "
                                         r"[\d.]+ km²: all of its 5,298 new 5g sites go to them"):
        with pytest.raises(PlanError, match=r"quotas exceed the candidate sites in \d of 4 districts .* for 5,298 new"):
            prepare("shiyan-2025", inputs["districts"], inputs["osm"], params=PARAMS, stages=inputs["stages"])
    monkeypatch.chdir(inputs["root"])
    with pytest.warns(UserWarning, match="plan shiyan-2025 is for Shiyan"):
        code, err = run_cli(["quotas", "shiyan-2025", "--districts", str(inputs["districts"]), "--osm",
                             str(inputs["osm"]), "--out", str(tmp_path / "q")], capsys)
    assert code == 2 and "siting: error: quotas exceed the candidate sites" in err and not (tmp_path / "q").exists()
    # a target that fits, but the whole plan of a bigger city: a warning, and the quotas are written
    city = tmp_path / "city.yaml"
    city.write_text(PLAN + "census:\n  year: 2020\n  source: test\n  population: 900000\n  area_km2: 500\n",
                    encoding="utf-8")
    with pytest.warns(UserWarning, match=r"is for Nanjing Xinjiekou \(500 km²\)"):
        prepared = prepare(city, inputs["districts"], inputs["osm"], params=PARAMS, stages=inputs["stages"])
    assert prepared.quotas["quota"].sum() == 12
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # --target N for these districts: no warning
        prepare(city, inputs["districts"], inputs["osm"], target=12, params=PARAMS, stages=inputs["stages"])


def test_district_folders_are_named_after_the_districts():
    from siting.batch import district_slug, district_slugs

    assert district_slug("Gulou District") == "gulou-district"
    assert district_slug("SE") == "se"
    assert [district_slug(n) for n in ("鼓楼区", "玄武区")] == ["鼓楼区", "玄武区"]
    assert district_slug("Gulou 鼓楼") == "gulou-鼓楼" and district_slug("南京 新街口") == "南京-新街口"
    assert district_slug('A/B: "C"?') == "a-b-c"
    assert re.fullmatch(r"con-[0-9a-f]{8}", district_slug("CON"))       # a Windows device name
    assert re.fullmatch(r"d-[0-9a-f]{8}", district_slug("///"))         # nothing usable left
    long = district_slug("区" * 60)
    assert len(long.encode()) <= 90 and re.fullmatch(r"区+-[0-9a-f]{8}", long)
    clash = district_slugs(["Gulou", "gulou", "Xuanwu"])
    assert clash[2] == "xuanwu" and all(re.fullmatch(r"gulou-[0-9a-f]{8}", c) for c in clash[:2])
    assert clash[0] != clash[1]


def test_existing_sites_are_counted_as_the_pipeline_fixes_them(inputs):
    from dataclasses import replace

    from siting.districts import existing_sites

    area = inputs["area"]
    station = area.pois.iloc[:1].assign(category="charging_station")
    with_station = replace(area, pois=pd.concat([area.pois, station], ignore_index=True))
    mine = gpd.GeoDataFrame(geometry=shapely.points([(118.77, 32.04), (118.78, 32.05)]), crs="EPSG:4326")
    params = Params()
    assert len(existing_sites(with_station, "5g", params, None)) == 0  # masts and chargers are not 5G sites
    assert len(existing_sites(with_station, "5g", params, mine)) == 2
    assert len(existing_sites(with_station, "charging", params, None)) == 1
    assert len(existing_sites(with_station, "charging", params, mine)) == 3
    assert existing_sites(with_station, "charging", params, mine).crs == area.crs


# --- each district reads its own window of the OSM file (batch.windows) ----------------------

WINDOWED = PARAMS.model_copy(update={"batch": PARAMS.batch.model_copy(update={"windows": True})})


def stalling_in(district, marker, area, request, params, **kwargs):
    """The real planner, except that ``district`` stalls the first time (its worker's pid in ``marker``)."""
    if area.info.get("district") == district and not Path(marker).exists():
        Path(marker).write_text(str(os.getpid()))
        time.sleep(120)
    return run_plan(area, request, params, **kwargs)


@pytest.fixture(scope="module")
def windowed(inputs):
    """The batch prepared with windows (the survey on an in-process cluster) and without."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, processes=False, dashboard_address=":0") as cluster, Client(cluster) as client:
        prepared = prepare(inputs["plan"], inputs["districts"], inputs["osm"], params=WINDOWED,
                           stages=inputs["stages"], client=client, windows_dir=inputs["root"] / "windows")
    whole = prepare(inputs["plan"], inputs["districts"], inputs["osm"], params=PARAMS, stages=inputs["stages"])
    return prepared, whole


def test_districts_read_their_own_windows_and_get_the_quotas_of_the_whole_area(inputs, windowed):
    prepared, whole = windowed
    assert prepared.area is None and len(prepared.windows.files) == 4
    assert all(f.stat().st_size < inputs["osm"].stat().st_size / 4 for f in prepared.windows.files.values())
    mine = prepared.quotas.set_index("district")
    assert mine["quota"].to_dict() == whole.quotas.set_index("district")["quota"].to_dict()
    assert mine["road_km"].to_numpy() == pytest.approx(whole.quotas["road_km"].to_numpy(), rel=0.02)


def test_a_plans_smart_pole_budget_is_split_over_the_districts_like_their_quotas(inputs, windowed, tmp_path):
    whole = windowed[1]
    params = PARAMS.model_copy(update={"candidates": PARAMS.candidates.model_copy(update={"smart_pole_budget": 7})})
    tasks = {t.district: t for t in _tasks(whole, params, "5g", tmp_path)}
    assert sum(t.smart_poles for t in tasks.values()) == 7
    quotas = whole.quotas.set_index("district")["quota"]
    for name, task in tasks.items():
        assert abs(task.smart_poles - 7 * quotas[name] / quotas.sum()) < 1
    assert all(t.smart_poles is None for t in _tasks(whole, params, "charging", tmp_path))
    # the plan file's smart poles reach the batch's parameters (an override still wins)
    plan = tmp_path / "poles.yaml"
    plan.write_text(PLAN + "smart_poles: 40\n", encoding="utf-8")
    ready = partial(prepare_from_files, plan, inputs["districts"], str(inputs["osm"]), stages=inputs["stages"])
    assert ready()[1].candidates.smart_pole_budget == 40
    assert ready(overrides={"candidates.smart_pole_budget": 5})[1].candidates.smart_pole_budget == 5


def test_a_worker_killed_in_a_district_fails_that_district_only_and_a_rerun_plans_it(inputs, windowed, tmp_path):
    """Real ``dask worker`` processes, each district reading its own window: SIGKILL the worker
    planning NE; the others finish, NE is recorded as failed, and a rerun plans NE alone."""
    prepared = windowed[0]
    marker = tmp_path / "stalled-pid"
    default = inputs["stages"]
    stages = Stages(default.load_area, default.build_demand, partial(stalling_in, "NE", str(marker)),
                    default.write_plan, None)
    # a killed worker's task is not handed on to another worker (as siting's LocalCluster does)
    with dask_processes(tmp_path, allowed_failures="0") as (address, workers):
        out = tmp_path / "out"
        reports = []
        run = threading.Thread(target=lambda: reports.append(run_batch(prepared, WINDOWED, out, scheduler=address,
                                                                       stages=stages, progress=False)))
        run.start()
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)  # the pid is written
        pid = int(marker.read_text())
        assert pid in [p.pid for p in workers]
        os.kill(pid, signal.SIGKILL)
        run.join(timeout=60)
        assert reports, "the batch did not finish after its worker was killed"
        report = reports[0]
        assert report.failed == ("NE",) and "died" in report.manifest["districts"]["NE"]["error"]
        assert all(report.manifest["districts"][d]["status"] == "ok" for d in ("SW", "SE", "NW"))
        again = run_batch(prepared, WINDOWED, out, scheduler=address, stages=stages, progress=False)
    assert again.ok and again.skipped == ("SW", "SE", "NW")
    assert again.manifest["districts"]["NE"]["proposed"] == again.manifest["districts"]["NE"]["quota"]
    city = gpd.read_file(out / "sites.geojson")
    assert len(city) == 12 and set(city["district"]) == {"SW", "SE", "NW", "NE"}


def test_a_district_too_large_for_its_worker_is_refused_with_a_suggestion(inputs, windowed, tmp_path, monkeypatch):
    """The coverage matrix of a district may take at most half its worker's memory limit: past
    that the district fails with the refusal and what to do, before anything is allocated."""
    import distributed

    from siting.batch import _plan_window, _tasks

    class Worker:  # a worker with 1 MB of memory
        memory_manager = type("Memory", (), {"memory_limit": 1_000_000})()

    monkeypatch.setattr(distributed, "get_worker", lambda: Worker())
    prepared = windowed[0]
    task = next(t for t in _tasks(prepared, WINDOWED, "5g", tmp_path) if t.district == "SE")
    record = _plan_window(task, prepared.windows.files["SE"], prepared.crs, None, WINDOWED, inputs["stages"])
    assert record["status"] == "failed"
    assert "over the memory budget of 0.0005 GB" in record["error"] and "districts" in record["error"]
    assert not (tmp_path / task.slug).exists()
