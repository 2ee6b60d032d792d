"""Learning from the existing network (issue 11): features, spatial CV, the suitability
model, and named gap areas."""
from __future__ import annotations

from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.spatial import cKDTree

from siting import learn
from siting.config import Params, load_params
from siting.gaps import describe_gaps, gap_areas, gap_summary
from siting.vocab import ENV_CLASSES

NANJING = "osm/nanjing_xinjiekou_osm/osm_bbox.osm.xml"
#: small blocks so the 10 km² Nanjing extract has enough of them for 5 folds
PARAMS = Params(learn={"block_m": 500.0})


def _sites(area, xy: np.ndarray) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=area.crs).to_crs(4326)


@pytest.fixture(scope="module")
def nanjing(shared_data):
    from siting.demand import build_demand
    from siting.io.osm import load_area

    area = load_area(str(shared_data / NANJING))
    return area, build_demand(area, PARAMS.demand)


@pytest.fixture(scope="module")
def pattern(nanjing):
    """Existing sites at every intersection of a trunk/primary/secondary road."""
    area, demand = nanjing
    xy = learn.intersections(area, ("trunk", "primary", "secondary"))
    return xy, learn.learn_from_existing(area, demand, _sites(area, xy), "5g", PARAMS)


@pytest.fixture(scope="module")
def random_sites(nanjing):
    area, demand = nanjing
    from siting.evaluate import uniform_locations

    xy = uniform_locations(area.boundary, 100, np.random.default_rng(1))
    return xy, learn.learn_from_existing(area, demand, _sites(area, xy), "5g", PARAMS)


def test_spatial_folds_never_share_a_block():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 5000, size=(3000, 2))
    groups = learn.spatial_blocks(xy, 1000.0)
    assert len(np.unique(groups)) == 25  # a 5 km square in 1 km blocks
    folds = learn.spatial_folds(groups, 5)
    assert len(folds) == 5
    tested = np.zeros(len(xy), int)
    for train, test in folds:
        tested[test] += 1
        train_squares = {tuple(s) for s in np.floor(xy[train] / 1000.0).astype(int)}
        test_squares = {tuple(s) for s in np.floor(xy[test] / 1000.0).astype(int)}
        assert not train_squares & test_squares  # no 1 km square on both sides
    assert np.all(tested == 1)  # every point is tested exactly once


def test_neighbourhood_sums_match_a_brute_force_count(nanjing):
    area, demand = nanjing
    points = demand.points
    xy = np.column_stack([points.geometry.x, points.geometry.y])[::37]
    feats = learn.location_features(area, points, xy, "5g", PARAMS)
    junctions = learn.intersections(area)
    tree = cKDTree(junctions)
    for r in PARAMS.learn.radii_m:
        res = learn.raster_cell_m(r, PARAMS.learn)
        disc_km2 = np.pi * r * r / 1e6
        got = feats[f"intersections_{int(r)}"].to_numpy() * disc_km2
        lo = np.array([len(v) for v in tree.query_ball_point(xy, r - 2 * res)])
        hi = np.array([len(v) for v in tree.query_ball_point(xy, r + 2 * res)])
        # the raster disc differs from the true disc by under 2 %, its edge by a raster cell
        assert np.all(got >= 0.97 * lo - 1e-6) and np.all(got <= 1.03 * hi + 1e-6)
    res_feat = feats["residents_500"].to_numpy() * np.pi * 0.25
    exact = np.array([points["residents"].to_numpy()[i].sum()
                      for i in cKDTree(np.column_stack([points.geometry.x, points.geometry.y])).query_ball_point(xy, 500)])
    assert np.corrcoef(res_feat, exact)[0, 1] > 0.97
    dist = tree.query(xy)[0]
    np.testing.assert_allclose(feats["dist_intersection_m"], np.minimum(dist, learn.FAR_M))
    assert set(np.unique(feats[[f"env_{c}" for c in ENV_CLASSES]].sum(axis=1))) == {1.0}


def test_charging_features_add_car_parks_and_expressway_exits(nanjing):
    area, demand = nanjing
    xy = np.column_stack([demand.points.geometry.x, demand.points.geometry.y])[:50]
    feats = learn.location_features(area, demand.points, xy, "charging", PARAMS)
    assert {"parking_spaces_500", "dist_expressway_exit_m"} <= set(feats.columns)
    # Xinjiekou has no motorway_link: every distance is the 5 km cap
    assert np.all(feats["dist_expressway_exit_m"] == learn.FAR_M)
    assert "parking_spaces_500" not in learn.location_features(area, demand.points, xy, "5g", PARAMS)


def test_a_pattern_is_learned_and_raises_demand_there(nanjing, pattern):
    area, demand = nanjing
    xy, learned = pattern
    s = learned.summary()
    assert s["status"] == "fitted" and s["presence"] == len(xy) >= 20
    assert s["cv_auc"][s["model"]] > 0.9
    assert learned.used
    points_xy = np.column_stack([demand.points.geometry.x, demand.points.geometry.y])
    near = cKDTree(xy).query(points_xy)[0] < 50
    assert learned.multiplier[near].mean() > 2 * learned.multiplier[~near].mean()
    weighted = learn.weighted_demand(demand, learned)
    np.testing.assert_allclose(weighted.points["weight"], demand.points["weight"] * learned.multiplier)
    np.testing.assert_array_equal(weighted.points["residents"], demand.points["residents"])  # 5g: weight only
    charging = learn.weighted_demand(demand, learned, "charging")  # charging sessions come from people and roads
    for column in ("residents", "workers", "road_m"):
        np.testing.assert_allclose(charging.points[column], demand.points[column] * learned.multiplier)
    layer = learn.suitability_layer(demand, learned, area.crs)
    assert len(layer) == len(demand.points) and layer["suitability"].max() > 1


def test_random_sites_score_near_chance_and_leave_the_plan_alone(nanjing, random_sites):
    from siting.pipeline import plan_5g

    area, demand = nanjing
    xy, learned = random_sites
    s = learned.summary()
    assert s["status"] == "fitted"
    assert 0.35 < s["cv_auc"][s["model"]] < PARAMS.learn.min_auc
    assert not learned.used and np.all(learned.multiplier == 1.0)
    pd.testing.assert_series_equal(learn.weighted_demand(demand, learned).points["weight"], demand.points["weight"])
    # a model no better than chance adds no candidates and no preference: the same sites
    with_model = plan_5g(area, demand, PARAMS, existing=_sites(area, xy), count=110, learned=learned)
    without = plan_5g(area, demand, PARAMS, existing=_sites(area, xy), count=110)
    assert with_model.layers["sites"]["site_id"].tolist() == without.layers["sites"]["site_id"].tolist()
    assert "candidate_preference" not in with_model.summary


def test_few_sites_are_skipped_and_the_summary_says_so(nanjing):
    area, demand = nanjing
    xy = learn.intersections(area)[:12]
    learned = learn.learn_from_existing(area, demand, _sites(area, xy), "5g", PARAMS)
    assert learned.summary()["status"] == "skipped"
    assert "12 existing sites in the area, fewer than the 20" in learned.summary()["reason"]
    assert not learned.used and np.all(learned.multiplier == 1)
    off = learn.learn_from_existing(area, demand, _sites(area, learn.intersections(area)), "5g",
                                    Params(learn={"strength": 0.0}))
    assert off.summary()["reason"] == "strength is 0 (learning off)"


def test_model_is_deterministic_for_a_seed(nanjing, pattern):
    area, demand = nanjing
    xy, first = pattern
    again = learn.learn_from_existing(area, demand, _sites(area, xy), "5g", PARAMS)
    assert again.summary() == first.summary()
    assert again.multiplier.tobytes() == first.multiplier.tobytes()


def test_candidate_scores_favour_the_learned_places(nanjing, pattern):
    area, demand = nanjing
    xy, learned = pattern
    far = xy + 400.0
    cands = gpd.GeoDataFrame(geometry=gpd.points_from_xy(np.r_[xy[:, 0], far[:, 0]], np.r_[xy[:, 1], far[:, 1]]),
                             crs=area.crs)
    score = learn.candidate_scores(area, demand, cands, learned, "5g", PARAMS)
    assert np.median(score[:len(xy)]) > 2 * np.median(score[len(xy):])


def test_candidate_preference_picks_the_suitable_site_among_equals_and_keeps_coverage():
    from scipy import sparse

    from siting.solve import solve_mclp

    # demand rows 0-1 (weight 10 each), 2 (weight 1); candidates: 0 fixed, 1 and 2 cover rows
    # 0-1 alike, 3 covers row 2 only. Candidate 2 is the suitable one, 3 the least suitable.
    coverage = sparse.csr_matrix(np.array([[0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 1]], dtype=bool))
    weights = np.array([10.0, 10.0, 1.0])
    fixed = np.array([True, False, False, False])
    scores = np.array([9.0, 1.0, 3.0, 0.5])
    pref = learn.candidate_preference(scores, fixed, weights.sum(), budget=1, skill=0.9, share=0.05)
    # bonuses: 0.05 x 0.9 x 21 x (score rescaled to [0, 1] over the new candidates) / 1 site
    np.testing.assert_allclose(pref.per_candidate, [0.0, 0.945 * 0.2, 0.945, 0.0])
    matrix, w = pref.extend(coverage, weights)
    assert matrix.shape == (6, 4) and len(w) == 6
    plain = solve_mclp(coverage, weights, 2, fixed=[0], method="greedy")
    solution = pref.strip(solve_mclp(matrix, w, 2, fixed=[0], method="greedy"), len(weights))
    assert sorted(solution.selected.tolist()) == [0, 2]      # the suitable one of two equal sites
    assert solution.objective == pytest.approx(plain.objective) == 20.0   # bonuses stripped, nothing lost
    assert len(solution.covered) == 3 and solution.gains.sum() == pytest.approx(20.0)
    cands = gpd.GeoDataFrame({"candidate_id": ["site/0", "grid/1", "junction/0", "grid/2"]},
                             geometry=gpd.points_from_xy(range(4), range(4)), crs="EPSG:32650")
    assert pref.summary(solution.selected, 21.0, cands) == {"cap_share": 0.045, "earned_share": 0.045,
                                                            "junction_candidates": 1, "junction_sites": 1}
    # the bonus of a whole plan is capped at share x skill of the demand: a bigger uncovered
    # weight always wins over suitability
    big = learn.candidate_preference(scores, fixed, weights.sum(), budget=2, skill=1.0, share=0.05)
    assert np.sort(big.bonus)[-2:].sum() <= 0.05 * weights.sum() + 1e-12
    # nothing to prefer: no model skill, no budget or all new candidates scored alike
    assert learn.candidate_preference(scores, fixed, 21.0, 1, 0.0, 0.05) is None
    assert learn.candidate_preference(scores, fixed, 21.0, 0, 0.9, 0.05) is None
    assert learn.candidate_preference(np.r_[9.0, 1, 1, 1], fixed, 21.0, 1, 0.9, 0.05) is None


def test_junction_candidates_add_poles_at_uncovered_junctions(nanjing):
    from siting.candidates import candidates_5g

    area, demand = nanjing
    cands = candidates_5g(area, demand, PARAMS)
    more = learn.with_junction_candidates(area, demand, cands, PARAMS)
    added = more.iloc[len(cands):]
    assert more.iloc[:len(cands)]["candidate_id"].tolist() == cands["candidate_id"].tolist()
    junctions = learn.intersections(area)
    inside = junctions[shapely.contains_xy(area.boundary, junctions[:, 0], junctions[:, 1])]
    xy = np.column_stack([added.geometry.x, added.geometry.y])
    old = np.column_stack([cands.geometry.x, cands.geometry.y])
    # every junction inside the area now has a candidate within dedup_m; the new ones are junctions
    assert (cKDTree(np.vstack([old, xy])).query(inside)[0] <= PARAMS.candidates.dedup_m).all()
    assert (cKDTree(inside).query(xy)[0] == 0).all() and len(added) > 0
    assert (added["source"] == "grid").all() and not added["fixed"].any()
    assert added["env_class"].isin(ENV_CLASSES).all()
    assert added["candidate_id"].is_unique and added["candidate_id"].str.startswith("junction/").all()


def test_learn_params_refuse_bad_values():
    from siting.errors import ConfigError

    with pytest.raises(ConfigError, match="learn.min_sites"):
        load_params(overrides={"learn.min_sites": 1})


# --- gap areas -------------------------------------------------------------------------

def _cells(xy, residents) -> gpd.GeoDataFrame:
    xy = np.asarray(xy, float)
    n = len(xy)
    return gpd.GeoDataFrame({"kind": ["cell"] * n, "residents": residents, "workers": np.zeros(n),
                             "weight": residents}, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
                            crs="EPSG:32650")


def test_gap_areas_group_neighbouring_cells_and_name_them():
    block = [(x, y) for x in (50, 150, 250) for y in (50, 150, 250)]       # 9 cells, 0.09 km²
    pair = [(2050, 50), (2150, 50)]                                         # 2 cells
    lone = [(5050, 5050)]                                                    # noise: its own area
    covered_cell = [(350, 50)]                                               # covered, not a gap
    pts = _cells(block + pair + lone + covered_cell, np.r_[np.full(9, 700.0), [100.0, 100.0], [5.0], [999.0]])
    covered = np.r_[np.zeros(12, bool), [True]]
    area = SimpleNamespace(
        pois=gpd.GeoDataFrame({"name": ["Xinjiekou Mall", None]},
                              geometry=gpd.points_from_xy([160, 2100], [160, 60]), crs="EPSG:32650"),
        road_edges=gpd.GeoDataFrame({"name": ["Zhongshan Road"]},
                                    geometry=[shapely.LineString([(2000, 300), (2300, 300)])], crs="EPSG:32650"))
    gaps = gap_areas(pts, covered, 100.0, 100.0, "EPSG:32650", area=area)
    assert len(gaps) == 3
    assert gaps["population"].tolist() == [6300.0, 200.0, 5.0]
    np.testing.assert_allclose(gaps["area_km2"], [0.09, 0.02, 0.01])
    assert gaps["points"].tolist() == [9, 2, 1]
    assert gaps["name"].tolist()[:2] == ["Gap 1 (near Xinjiekou Mall)", "Gap 2 (near Zhongshan Road)"]
    assert describe_gaps(gaps) == "3 gap areas; the most uncovered demand in Gap 1 (near Xinjiekou Mall): 0.09 km², " \
                                  "6,300 people"
    assert gap_summary(gaps)["population_uncovered"] == 6505.0


def test_no_gaps_when_everything_is_covered():
    pts = _cells([(50, 50)], [10.0])
    gaps = gap_areas(pts, np.array([True]), 100.0, 100.0, "EPSG:32650")
    assert len(gaps) == 0 and describe_gaps(gaps) == "no gap areas"
