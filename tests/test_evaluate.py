"""Holdout evaluation (issue 11): hide existing sites, plan with the rest, compare with
random baselines; ``siting evaluate`` writes evaluation.json deterministically."""
from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely

from siting import evaluate, learn
from siting.cli import main
from siting.errors import PlanError

NANJING = "osm/nanjing_xinjiekou_osm/osm_bbox.osm.xml"


def test_split_hides_the_share_and_keeps_the_rest():
    kept, hidden = evaluate.split_holdout(100, 0.4, seed=3)
    assert len(hidden) == 40 and len(kept) == 60
    assert not set(kept) & set(hidden) and set(kept) | set(hidden) == set(range(100))
    again = evaluate.split_holdout(100, 0.4, seed=3)
    assert np.array_equal(again[1], hidden)
    assert not np.array_equal(evaluate.split_holdout(100, 0.4, seed=4)[1], hidden)
    with pytest.raises(PlanError, match="`holdout` 1.5 is outside"):
        evaluate.split_holdout(100, 1.5, 0)
    with pytest.raises(PlanError, match="1 existing site"):
        evaluate.split_holdout(1, 0.4, 0)


def test_found_counts_hidden_sites_with_a_proposal_in_reach():
    hidden = np.array([[0.0, 0.0], [1000.0, 0.0], [0.0, 1000.0]])
    proposed = np.array([[149.0, 0.0], [1000.0, 151.0], [5000.0, 5000.0]])
    assert evaluate.found(hidden, proposed, 150.0) == 1
    assert evaluate.found(hidden, proposed, 151.0) == 2
    assert evaluate.found(hidden, np.empty((0, 2)), 150.0) == 0


def test_baselines_stay_in_the_area():
    boundary = shapely.Polygon([(0, 0), (1000, 0), (0, 1000)])  # a triangle: half its bounding box
    xy = evaluate.uniform_locations(boundary, 500, np.random.default_rng(0))
    assert xy.shape == (500, 2) and shapely.contains_xy(boundary, xy[:, 0], xy[:, 1]).all()
    # uniform: about a quarter of the triangle's points fall below y = 293 (a quarter of its area)
    assert 0.4 < np.mean(xy[:, 1] < 1000 * (1 - np.sqrt(0.5))) < 0.6


@pytest.fixture(scope="module")
def nanjing_sites(shared_data, tmp_path_factory):
    """The synthetic pattern: an existing site at every trunk/primary/secondary intersection."""
    from siting.io.osm import load_area

    path = shared_data / NANJING
    area = load_area(str(path))
    xy = learn.intersections(area, ("trunk", "primary", "secondary"))
    sites = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=area.crs).to_crs(4326)
    folder = tmp_path_factory.mktemp("eval")
    csv = folder / "sites.csv"
    csv.write_text("lon,lat\n" + "".join(f"{p.x:.7f},{p.y:.7f}\n" for p in sites.geometry), encoding="utf-8")
    cfg = folder / "learn.yaml"
    cfg.write_text("learn:\n  block_m: 500\n", encoding="utf-8")
    return path, csv, cfg, len(xy)


def test_evaluate_on_a_pattern_learns_it_beats_both_baselines_and_is_deterministic(nanjing_sites, tmp_path,
                                                                                        capsys):
    path, csv, cfg, n = nanjing_sites
    outs = []
    for run in ("a", "b"):
        main(["evaluate", str(path), "--existing", str(csv), "--holdout", "0.4", "--seed", "0",
              "--config", str(cfg), "--out", str(tmp_path / run)])
        outs.append((tmp_path / run / "evaluation.json").read_bytes())
    assert outs[0] == outs[1]
    report = json.loads(outs[0])
    assert report["existing_in_area"] == n and report["hidden"] == round(0.4 * n)
    assert report["radius_m"] == 150.0
    m = report["methods"]
    assert m["plan"]["proposed"] == report["hidden"]  # as many proposals as hidden sites
    assert report["learning"]["status"] == "fitted" and report["learning"]["cv_auc"]["logistic"] > 0.9
    # the learned candidate score steers the new sites onto the pattern: the plan finds more
    # hidden intersections than random points AND random road nodes (which sit on
    # intersections by construction), and more than the plan without learning ...
    assert report["plan_beats_baselines"]
    assert m["plan"]["found"] > m["random_road_nodes"]["found"] > m["random_uniform"]["found"]
    assert m["plan"]["found"] > m["plan_without_learning"]["found"]
    # ... while covering at most 1 percentage point less of the (unweighted) demand
    assert m["plan"]["coverage_ratio"] >= m["plan_without_learning"]["coverage_ratio"] - 0.01
    assert report["candidate_preference"]["junction_sites"] > 0
    for name in ("random_uniform", "random_road_nodes"):
        assert m[name]["draws"] == 20 and m[name]["proposed"] == report["hidden"]
        assert 0 <= m[name]["plan_beats_share"] <= 1
    text = capsys.readouterr().out
    assert f"hid {report['hidden']} of {n} existing sites" in text and "random road nodes" in text
    assert "demand covered" in text


def test_evaluate_cli_errors_exit_2(nanjing_sites, tmp_path, capsys):
    path, csv, _, _ = nanjing_sites
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", str(path), "--existing", str(csv), "--holdout", "1.5", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "siting: error: --holdout 1.5 is outside (0, 1)" in capsys.readouterr().err
    one = tmp_path / "one.csv"
    one.write_text("lon,lat\n118.78,32.04\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", str(path), "--existing", str(one), "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "evaluation needs at least 2" in capsys.readouterr().err
    assert not (tmp_path / "evaluation.json").exists()
