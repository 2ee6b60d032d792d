"""TR 38.901 path loss, link budget and LOS, checked against values computed here from
the DOMAIN.md §1 formulas (scalar math, independent of the vectorised module)."""
from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from siting import los, radio
from siting.config import RadioParams
from siting.errors import ConfigError

#: the physics alone: default radio parameters without the small-cell EIRP offset
RAW = {"params": RadioParams(), "eirp_offset_db": 0.0}

log = math.log10


# --- independent scalar formulas (DOMAIN.md §1.2-1.5) --------------------------------
def uma(d2, fc, los, hbs=25.0, hut=1.5):
    d3 = math.hypot(d2, hbs - hut)
    dbp = 4 * (hbs - 1) * (hut - 1) * fc * 1e9 / 3e8
    pl_los = (28 + 22 * log(d3) + 20 * log(fc) if d2 <= dbp
              else 28 + 40 * log(d3) + 20 * log(fc) - 9 * log(dbp**2 + (hbs - hut) ** 2))
    return pl_los if los else max(pl_los, 13.54 + 39.08 * log(d3) + 20 * log(fc) - 0.6 * (hut - 1.5))


def umi(d2, fc, los, hbs=10.0, hut=1.5):
    d3 = math.hypot(d2, hbs - hut)
    dbp = 4 * (hbs - 1) * (hut - 1) * fc * 1e9 / 3e8
    pl_los = (32.4 + 21 * log(d3) + 20 * log(fc) if d2 <= dbp
              else 32.4 + 40 * log(d3) + 20 * log(fc) - 9.5 * log(dbp**2 + (hbs - hut) ** 2))
    return pl_los if los else max(pl_los, 22.4 + 35.3 * log(d3) + 21.3 * log(fc) - 0.3 * (hut - 1.5))


def rma(d2, fc, los, hbs=35.0, hut=1.5, h=5.0, w=20.0):
    def pl1(d):
        return (20 * log(40 * math.pi * d * fc / 3) + min(0.03 * h**1.72, 10) * log(d)
                - min(0.044 * h**1.72, 14.77) + 0.002 * log(h) * d)
    d3 = math.hypot(d2, hbs - hut)
    dbp = 2 * math.pi * hbs * hut * fc * 1e9 / 3e8
    pl_los = pl1(d3) if d2 <= dbp else pl1(dbp) + 40 * log(d3 / dbp)
    nlos = (161.04 - 7.1 * log(w) + 7.5 * log(h) - (24.37 - 3.7 * (h / hbs) ** 2) * log(hbs)
            + (43.42 - 3.1 * log(hbs)) * (log(d3) - 3) + 20 * log(fc) - (3.2 * log(11.75 * hut) ** 2 - 4.97))
    return pl_los if los else max(pl_los, nlos)


FORMULAS = {"UMa": (uma, 25.0), "UMi": (umi, 10.0), "RMa": (rma, 35.0)}
DISTANCES = [12.0, 50.0, 150.0, 400.0, 900.0, 2500.0, 4800.0]


@pytest.mark.parametrize("scenario", ["UMa", "UMi", "RMa"])
@pytest.mark.parametrize("los", [True, False])
@pytest.mark.parametrize("fc", [0.7, 3.5])
def test_path_loss_matches_formulas(scenario, los, fc):
    fn, hbs = FORMULAS[scenario]
    got = radio.path_loss_db(scenario, np.array(DISTANCES), fc, hbs, 1.5, los)
    want = [fn(d, fc, los) for d in DISTANCES]
    np.testing.assert_allclose(got, want, atol=1e-9)


def test_path_loss_vectorised_over_mixed_pairs():
    scen = np.array(["UMa", "UMi", "RMa", "UMa"], dtype=object)
    d = np.array([300.0, 120.0, 2000.0, 700.0])
    hbs = np.array([30.0, 8.0, 40.0, 25.0])
    los = np.array([True, False, False, True])
    got = radio.path_loss_db(scen, d, 3.5, hbs, 1.5, los)
    want = [FORMULAS[s][0](di, 3.5, bool(li), hbs=h) for s, di, h, li in zip(scen, d, hbs, los)]
    np.testing.assert_allclose(got, want, atol=1e-9)


def test_domain_check_points():
    # DOMAIN.md §1.8: PL(500 m) = 129.9 dB, PL(1 km) = 141.7 dB (UMa NLOS, 3.5 GHz)
    pl = radio.path_loss_db("UMa", [500.0, 1000.0], 3.5, 25.0, 1.5, False)
    np.testing.assert_allclose(pl, [129.9, 141.7], atol=0.05)
    # §1.3: UMi NLOS 200 m at 3.5 GHz = 115.2 dB
    assert radio.path_loss_db("UMi", 200.0, 3.5, 10.0, 1.5, False) == pytest.approx(115.2, abs=0.05)


def test_distance_below_10m_evaluated_at_10m():
    assert radio.path_loss_db("UMa", 1.0, 3.5, 25, 1.5, False) == pytest.approx(uma(10.0, 3.5, False))


def test_unknown_scenario_is_a_config_error():
    with pytest.raises(ConfigError, match="UMa, UMi, RMa"):
        radio.path_loss_db("Indoor", 100.0, 3.5, 25, 1.5, False)


def test_los_probability_limits():
    assert radio.los_probability(["UMa", "UMi", "RMa"], [5.0, 18.0, 10.0]).tolist() == [1.0, 1.0, 1.0]
    far = radio.los_probability(["UMa", "UMi", "RMa"], [5000.0, 5000.0, 20000.0])
    assert np.all(far < 0.01) and np.all(far >= 0)
    d = np.linspace(20, 3000, 50)
    for s in ("UMa", "UMi", "RMa"):
        assert np.all(np.diff(radio.los_probability(s, d)) <= 1e-12)          # non-increasing
    # Table 7.4.2-1 at 100 m
    assert radio.los_probability("UMi", 100.0) == pytest.approx(0.18 + math.exp(-100 / 36) * 0.82)
    assert radio.los_probability("RMa", 110.0) == pytest.approx(math.exp(-0.1))


def test_o2i_values_from_domain():
    # §1.6 wall terms at 0.7/2.6/3.5 GHz: low 10.2/12.3/12.7, high 17.7/24.4/26.8, + mean PL_in 25/6 dB
    f = np.array([0.7, 2.6, 3.5])
    np.testing.assert_allclose(radio.o2i_loss_db(f, "low") - 25 / 6, [10.2, 12.3, 12.7], atol=0.05)
    np.testing.assert_allclose(radio.o2i_loss_db(f, "high") - 25 / 6, [17.7, 24.4, 26.8], atol=0.05)
    assert radio.o2i_loss_db(3.5, "sub6") == pytest.approx(26.25)
    assert radio.o2i_loss_db(3.5, "high", "RMa") == pytest.approx(radio.o2i_loss_db(3.5, "low") - 25 / 6 + 10 / 6)


def test_band_presets_epre():
    assert radio.BANDS["n78"].epre_eirp_dbm == pytest.approx(53 - 10 * log(3276) + 24)
    assert round(radio.BANDS["n78"].epre_eirp_dbm, 1) == 41.8
    assert round(radio.BANDS["n28"].epre_eirp_dbm, 1) == 38.0
    assert radio.BANDS["n78"].edge_z == pytest.approx(1.2816, abs=1e-4)


@pytest.mark.parametrize("band,outdoor,indoor", [("n78", 860, 180), ("n41", 1005, 213), ("n28", 1565, 333)])
def test_worked_radii(band, outdoor, indoor):
    # DOMAIN.md §1.8: UMa NLOS, -105 dBm, 90 % edge
    assert radio.coverage_radius_m(band, "UMa", False) == pytest.approx(outdoor, rel=0.01)
    assert radio.coverage_radius_m(band, "UMa", True) == pytest.approx(indoor, rel=0.02)


def test_worked_radius_table_rows():
    # -110 dBm: 1 160 m outdoor, 250 m indoor; median (no margin): 1 357 m
    assert radio.coverage_radius_m("n78", "UMa", False, rsrp_threshold_dbm=-110) == pytest.approx(1160, rel=0.01)
    assert radio.coverage_radius_m("n78", "UMa", True, rsrp_threshold_dbm=-110) == pytest.approx(250, rel=0.02)
    assert radio.coverage_radius_m("n78", "UMa", False, edge_reliability=0.5 + 1e-12) == pytest.approx(1357, rel=0.01)
    # RMa 35 m with the n28 budget and the 6 dB margin of §1.8: 3.1 km; with RMa's own 8 dB sigma: less
    assert radio.coverage_radius_m("n28", "RMa", False, sigma_db=6.0) == pytest.approx(3076, rel=0.01)
    assert radio.coverage_radius_m("n28", "RMa", False) < 3076


def test_radius_inverts_path_loss_and_clips():
    budget = radio.BANDS["n78"]
    r = radio.coverage_radius_m(budget, ["UMa", "UMi", "RMa"], False, h_bs_m=[25.0, 10.0, 35.0])
    margins = radio.link_margin_db(r, np.array(["UMa", "UMi", "RMa"], dtype=object), [25.0, 10.0, 35.0], 1.5,
                                   budget, False, **RAW)
    np.testing.assert_allclose(margins, 0.0, atol=1e-6)
    # UMa LOS would reach > 5 km: clipped to the model's validity
    assert radio.coverage_radius_m(budget, "UMa", False, los=True) == 5000.0
    assert radio.coverage_radius_m(budget, "UMa", True, eirp_offset_db=-80) == 0.0


def test_env_class_maps_to_scenario():
    assert radio.coverage_radius_m("n78", "dense_urban", True) == radio.coverage_radius_m("n78", "UMa", True)
    assert radio.coverage_radius_m("n78", "rural", False) == radio.coverage_radius_m("n78", "RMa", False)
    got = radio.scenario_for(["urban", "rural", "dense_urban", "suburban"], ["rooftop", "grid", "street_lamp", "mast"])
    assert got.tolist() == ["UMa", "RMa", "UMi", "UMa"]


def test_link_margin_per_pair():
    budget = radio.BANDS["n78"]
    d = np.array([100.0, 500.0, 900.0, 6000.0])
    m = radio.link_margin_db(d, "UMa", 25.0, 1.5, budget, np.array([True, False, False, False]), **RAW)
    mapl_out = 41.8466 + 105 - 1.28155 * 6
    want = [mapl_out - 26.25 - uma(100, 3.5, False), mapl_out - uma(500, 3.5, False),
            mapl_out - uma(900, 3.5, False)]
    np.testing.assert_allclose(m[:3], want, atol=1e-3)
    assert m[3] == -np.inf                                  # beyond 5 km: outside the model
    los = radio.link_margin_db(d[:3], "UMa", 25.0, 1.5, budget, False, los=np.array([True, True, True]), **RAW)
    assert np.all(los > m[:3] - 1e-9)                     # LOS is never worse than NLOS
    exp = radio.link_margin_db(d[:3], "UMa", 25.0, 1.5, budget, False, los="expected", **RAW)
    assert np.all((exp >= m[:3] - 1e-9) & (exp <= los + 1e-9))


def test_params_drive_margins_and_small_cells():
    rp = RadioParams()
    budget = radio.link_budget(rp)
    scen = np.array(["UMa", "UMi"], dtype=object)
    base = radio.link_margin_db(np.array([150.0, 150.0]), scen, np.array([25.0, 8.0]), budget=budget, params=rp)
    raw = radio.link_margin_db(np.array([150.0, 150.0]), scen, np.array([25.0, 8.0]), 1.5, budget, False, **RAW)
    np.testing.assert_allclose(base - raw, [0.0, rp.small_cell_eirp_offset_db])
    stricter = radio.link_budget(RadioParams(rsrp_threshold_dbm=-95))
    assert stricter.rsrp_threshold_dbm == -95 and radio.link_budget(RadioParams(band="n28")).fc_ghz == 0.7
    assert radio.indoor_required(["dense_urban", "urban", "suburban", "rural"], rp).tolist() == [True, True, False, False]


def test_max_reach_covers_every_candidate_radius():
    rp = RadioParams()
    budget = radio.link_budget(rp)
    scen = np.array(["UMa", "UMa", "UMi", "RMa"], dtype=object)
    h = np.array([12.0, 60.0, 8.0, 35.0])
    reach = radio.max_reach_m(budget, scen, h, params=rp)
    radii = radio.coverage_radius_m(budget, scen, False, h_bs_m=h, eirp_offset_db=[0, 0, -20, 0])
    assert reach == pytest.approx(radii.max(), rel=1e-9)
    assert radio.max_reach_m(budget, scen, h, params=RadioParams(los_from_buildings=True)) == 2000.0
    per = radio.reach_m(budget, radio.scenario_codes(scen), h, rp)
    np.testing.assert_allclose(per, radii)
    assert per[2] < 300 < per[0]                        # a lamp small cell reaches far less than a mast
    # no pair beyond its candidate's reach is covered, indoors or out
    d = np.linspace(10.0, 3000.0, 3001)[:, None]
    for indoor in (False, True):
        m = radio.link_margin_db(d, scen, h, budget=budget, params=rp, indoor=indoor)
        assert not np.any((m >= 0) & (d > per * (1 + 1e-9)))


def test_describe_reports_worked_radius():
    info = radio.describe(RadioParams())
    assert info["band"] == "n78" and info["radius_m"]["urban"]["outdoor"] == pytest.approx(862.5, abs=1)
    assert info["radius_m"]["rural"]["scenario"] == "RMa"


# --- line of sight over building heights --------------------------------------------
#: storey and default building height of the LOS raster in these tests (the config defaults)
HEIGHTS = {"storey_height_m": 3.0, "default_height_m": 9.0}


def _wall(height):
    return gpd.GeoDataFrame({"osm_id": ["way/1"], "height_m": [height], "levels": [np.nan]},
                            geometry=[box(100, -50, 110, 50)], crs="EPSG:32650")


def test_high_wall_blocks_low_wall_clears():
    tx, rx = np.array([[0.0, 0.0], [0.0, 80.0]]), np.array([[200.0, 0.0], [200.0, 80.0]])
    # ray from 25 m to 1.5 m crosses x=100..110 at about 13 m
    tall = los.line_of_sight(los.building_height_grid(_wall(20.0), 1.0, **HEIGHTS), tx, 25.0, rx, 1.5)
    low = los.line_of_sight(los.building_height_grid(_wall(8.0), 1.0, **HEIGHTS), tx, 25.0, rx, 1.5)
    assert tall.tolist() == [False, True]      # second ray passes north of the wall
    assert low.tolist() == [True, True]


def test_levels_give_heights_and_own_building_is_ignored():
    b = gpd.GeoDataFrame({"osm_id": ["way/1", "way/2"], "height_m": [np.nan, np.nan], "levels": [10.0, np.nan]},
                         geometry=[box(100, -50, 110, 50), box(190, -10, 210, 10)], crs="EPSG:32650")
    grid = los.building_height_grid(b, 2.0, **HEIGHTS)
    assert grid.sample(np.array([105.0, 200.0]), np.array([0.0, 0.0]))[0].tolist() == [30.0, 9.0]
    # rx stands inside building 2 (indoor user): its own walls do not block; tx above the wall
    assert los.line_of_sight(grid, [[0.0, 0.0]], 70.0, [[200.0, 0.0]], 1.5).tolist() == [True]
    assert los.line_of_sight(grid, [[0.0, 0.0]], 20.0, [[200.0, 0.0]], 1.5).tolist() == [False]


def test_los_chunking_matches_single_pass():
    rng = np.random.default_rng(1)
    b = gpd.GeoDataFrame({"osm_id": [f"way/{i}" for i in range(40)], "height_m": rng.uniform(5, 40, 40),
                          "levels": np.nan},
                         geometry=[box(x, y, x + 20, y + 20) for x, y in rng.uniform(0, 500, (40, 2))],
                         crs="EPSG:32650")
    grid = los.building_height_grid(b, 5.0, **HEIGHTS)
    tx, rx = rng.uniform(0, 520, (300, 2)), rng.uniform(0, 520, (300, 2))
    one = los.line_of_sight(grid, tx, 30.0, rx, 1.5)
    chunked = los.line_of_sight(grid, tx, 30.0, rx, 1.5, max_samples=500)
    assert np.array_equal(one, chunked) and 0 < one.sum() < len(one)
    # brute force for a few pairs, one ray at a time at 0.5 m steps
    for k in range(0, 300, 37):
        k_samples = max(1, math.ceil(math.hypot(*(rx[k] - tx[k])) / grid.cell_m))
        s = (np.arange(k_samples) + 0.5) / k_samples        # one sample per cell length
        x, y = tx[k, 0] + s * (rx[k, 0] - tx[k, 0]), tx[k, 1] + s * (rx[k, 1] - tx[k, 1])
        h, bid = grid.sample(x, y)
        own = (bid == grid.sample(*tx[k])[1]) | (bid == grid.sample(*rx[k])[1])
        assert one[k] == (not np.any((h > 30.0 + s * (1.5 - 30.0)) & ~own))


def test_fresnel_clearance_blocks_a_grazing_ray():
    # ray 25 m -> 1.5 m crosses the 10 m-wide wall at about 13.3-12.1 m; a 12 m wall just clears
    grid = los.building_height_grid(_wall(12.0), 0.5, **HEIGHTS)
    tx, rx = np.array([[0.0, 0.0]]), np.array([[200.0, 0.0]])
    assert los.line_of_sight(grid, tx, 25.0, rx, 1.5).tolist() == [True]
    # 0.6 r1 at 3.5 GHz mid-path is about 0.6*sqrt(0.0857*100*100/200) = 1.24 m: blocked
    assert los.line_of_sight(grid, tx, 25.0, rx, 1.5, fresnel_clearance=0.6, fc_ghz=3.5).tolist() == [False]
    assert los.buildings_los(_wall(12.0), tx, 25.0, rx, RadioParams(los_cell_m=0.5), 3.0).tolist() == [False]
    assert los.buildings_los(_wall(12.0), tx, 25.0, rx,
                               RadioParams(los_cell_m=0.5, los_fresnel_clearance=0.0), 3.0).tolist() == [True]


def test_buildings_los_limited_to_decisive_pairs():
    tx = np.array([[0.0, 0.0], [0.0, 80.0], [0.0, 0.0]])
    rx = np.array([[200.0, 0.0], [200.0, 80.0], [300.0, 0.0]])
    full = los.buildings_los(_wall(8.0), tx, 25.0, rx, RadioParams(los_cell_m=1.0), 3.0)
    some = los.buildings_los(_wall(8.0), tx, 25.0, rx, RadioParams(los_cell_m=1.0), 3.0,
                               test=np.array([True, False, True]))
    assert full.tolist() == [True, True, True] and some.tolist() == [True, False, True]


def test_scenario_codes_accepted_everywhere():
    codes = radio.scenario_codes(np.array(["UMa", "UMi", "RMa"], dtype=object))
    assert codes.tolist() == [0, 1, 2]
    d = np.array([300.0, 300.0, 300.0])
    by_name = radio.link_margin_db(d, np.array(["UMa", "UMi", "RMa"]), 25.0, 1.5, radio.BANDS["n78"], True, **RAW)
    by_code = radio.link_margin_db(d, codes, 25.0, 1.5, radio.BANDS["n78"], True, **RAW)
    np.testing.assert_array_equal(by_name, by_code)
    with pytest.raises(ConfigError, match="codes must lie"):
        radio.scenario_codes(np.array([3]))


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(scenario=st.sampled_from(["UMa", "UMi", "RMa"]), fc=st.sampled_from([0.7, 2.6, 3.5]),
       h_bs=st.floats(10.0, 60.0), d=st.floats(10.0, 4000.0), threshold=st.floats(-120.0, -85.0),
       indoor=st.booleans())
def test_radius_is_where_the_margin_crosses_zero(scenario, fc, h_bs, d, threshold, indoor):
    budget = radio.band_budget({0.7: "n28", 2.6: "n41", 3.5: "n78"}[fc], rsrp_threshold_dbm=threshold)
    pl = radio.path_loss_db(scenario, [d, d * 1.05], fc, h_bs, 1.5, False)
    assert pl[1] >= pl[0] - 0.05                           # loss grows with distance
    assert pl[0] >= radio.path_loss_db(scenario, d, fc, h_bs, 1.5, True) - 1e-9   # NLOS >= LOS
    r = radio.coverage_radius_m(budget, scenario, indoor, h_bs_m=h_bs)
    if 10.0 < r < 5000.0:
        m = radio.link_margin_db(np.array([r * 0.99, r * 1.01]), scenario, h_bs, 1.5, budget, indoor, **RAW)
        assert m[0] >= -1e-6 and m[1] < 1e-6


def test_los_raster_guards():
    from siting.errors import ResourceError

    walls = _wall(20.0)
    walls = gpd.GeoDataFrame({"osm_id": ["way/1", "way/2"], "height_m": [20.0, 50.0], "levels": np.nan},
                             geometry=[walls.geometry.iloc[0], None], crs="EPSG:32650")
    grid = los.building_height_grid(walls, 1.0, **HEIGHTS)         # a missing footprint is skipped
    assert grid.heights.max() == 20.0
    with pytest.raises(ResourceError, match="raise radio.los_cell_m"):
        los.building_height_grid(walls, 1.0, **HEIGHTS, bounds=(0, 0, 200_000, 200_000))


def test_bad_radio_parameters_name_the_choices():
    from siting.config import load_params

    with pytest.raises(ConfigError, match="radio.band.*'n78', 'n41' or 'n28'"):
        load_params(overrides={"radio.band": "n99"})
    with pytest.raises(ConfigError, match="radio.indoor_env_classes"):
        load_params(overrides={"radio.indoor_env_classes": ["urban", "downtown"]})
    assert load_params(overrides={"radio.band": "n28"}).radio.band == "n28"
