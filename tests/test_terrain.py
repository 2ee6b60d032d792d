"""Terrain-aware coverage: DEM reading, profiles, Fresnel LOS and P.526 diffraction (issue 10)."""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer
from rasterio.transform import from_origin
from scipy.interpolate import RegularGridInterpolator

import siting.terrain as terrain
from siting.config import TerrainParams
from siting.errors import InputError, SitingError
from siting.elevation import Dem
from siting.io.dem import DemWarning, read_dem
from siting.terrain import (hillshade, knife_edge_db, pair_terrain, profiles, terrain_loss_db,
                            terrain_summary)

CRS = "EPSG:32650"
FC = 3.5
#: the default terrain parameters (siting.config.TerrainParams)
TP = TerrainParams()
LAM = 3.0e8 / (FC * 1e9)
KR = 4.0 / 3.0 * 6_371_000.0


def make_dem(z, res: float, x0: float = 0.0, y0: float | None = None) -> Dem:
    z = np.asarray(z, dtype="float32")
    top = z.shape[0] * res if y0 is None else y0
    return Dem(z, Affine(res, 0.0, x0, 0.0, -res, top), CRS, res, 0, "synthetic")


def j_p526(nu: float) -> float:
    """ITU-R P.526 J(nu), written out with math for comparison."""
    if nu <= -0.78:
        return 0.0
    return 6.9 + 20 * math.log10(math.sqrt((nu - 0.1) ** 2 + 1) + nu - 0.1)


def ridge_dem(height: float) -> Dem:
    """1 km x 200 m at 10 m; one row of cells at x = 505 m raised to ``height``."""
    xs = (np.arange(101) + 0.5) * 10.0
    return make_dem(np.tile(np.where(np.isclose(xs, 505.0), height, 0.0), (21, 1)), 10.0)


TX, RX = np.array([[5.0, 105.0]]), np.array([[995.0, 105.0]])


def ridge_nu(height: float, h_ant: float = 10.0) -> float:
    d1, d2 = 500.0, 490.0
    bulge = d1 * d2 / (2 * KR)
    r1 = math.sqrt(LAM * d1 * d2 / (d1 + d2))
    return math.sqrt(2) * (height + bulge - h_ant) / r1


# --------------------------------------------------------------------------- known geometry
def test_ridge_blocks_and_lower_ridge_does_not():
    high = terrain_loss_db(ridge_dem(20.0), TX, 10.0, RX, 10.0, FC, "single")
    low = terrain_loss_db(ridge_dem(5.0), TX, 10.0, RX, 10.0, FC, "single")
    assert not high.los[0] and low.los[0]
    assert high.loss_db[0] == pytest.approx(j_p526(ridge_nu(20.0)), abs=1e-9)
    assert high.loss_db[0] > 20.0
    assert low.loss_db[0] == 0.0
    assert low.clearance[0] == pytest.approx(-ridge_nu(5.0) / math.sqrt(2), abs=1e-9)


def test_ridge_inside_the_fresnel_zone_is_not_line_of_sight():
    # 2 m below the ray: geometrically visible, but less than 0.6 F1 clear -> small loss, not LOS
    res = terrain_loss_db(ridge_dem(8.0), TX, 10.0, RX, 10.0, FC, "single")
    nu = ridge_nu(8.0)
    assert -0.78 < nu < 0
    assert not res.los[0]
    assert res.clearance[0] == pytest.approx(-nu / math.sqrt(2), abs=1e-9)
    assert 0.3 < res.clearance[0] < 0.6
    assert res.loss_db[0] == pytest.approx(j_p526(nu), abs=1e-9)


@pytest.mark.parametrize("nu", [-2.0, -0.78, -0.5, 0.0, 0.7, 1.0, 2.4, 5.0, 20.0])
def test_knife_edge_matches_p526(nu):
    assert knife_edge_db(nu) == pytest.approx(j_p526(nu), abs=1e-9)


def test_knife_edge_known_values():
    assert knife_edge_db(0.0) == pytest.approx(6.03, abs=0.01)       # grazing edge: about 6 dB
    for nu in (3.0, 5.0, 10.0):                                      # P.526 asymptote 13 + 20 log10(nu)
        assert abs(knife_edge_db(nu) - (13 + 20 * math.log10(nu))) < 0.3


def test_single_ridge_deygout_and_bullington():
    nu = ridge_nu(20.0)
    j = j_p526(nu)
    deygout = terrain_loss_db(ridge_dem(20.0), TX, 10.0, RX, 10.0, FC, "deygout").loss_db[0]
    bullington = terrain_loss_db(ridge_dem(20.0), TX, 10.0, RX, 10.0, FC, "bullington").loss_db[0]
    # P.526 general path: L = J(nu_p) + T*(J(nu_t) + J(nu_r) + C); no secondary edges here
    assert deygout == pytest.approx(j + (1 - math.exp(-j / 6)) * (10 + 0.04 * 0.99), abs=1e-9)
    # Bullington's equivalent edge of a single knife edge is that edge
    assert bullington == pytest.approx(j, abs=1e-9)


def test_two_ridges_add_loss():
    xs = (np.arange(101) + 0.5) * 10.0
    z = np.where(np.isclose(xs, 305.0) | np.isclose(xs, 705.0), 25.0, 0.0)
    dem = make_dem(np.tile(z, (21, 1)), 10.0)
    one = terrain_loss_db(ridge_dem(25.0), TX, 10.0, RX, 10.0, FC, "deygout").loss_db[0]
    two = terrain_loss_db(dem, TX, 10.0, RX, 10.0, FC, "deygout").loss_db[0]
    bull = terrain_loss_db(dem, TX, 10.0, RX, 10.0, FC, "bullington").loss_db[0]
    single = terrain_loss_db(dem, TX, 10.0, RX, 10.0, FC, "single").loss_db[0]
    assert two > single > 0 and two > one
    assert bull > single           # the equivalent edge sits above both ridges


def test_curvature_obstructs_a_far_flat_path_at_low_heights():
    flat = make_dem(np.zeros((3, 3)), 100.0)
    tx, rx = np.array([[0.0, 150.0]]), np.array([[30_000.0, 150.0]])
    far = terrain_loss_db(flat, tx, 10.0, rx, 10.0, FC, "single")
    bulge = 15_000.0 ** 2 / (2 * KR)                       # 13.2 m at mid-path, above both antennas
    r1 = math.sqrt(LAM * 15_000.0 / 2)
    assert bulge > 10.0
    assert not far.los[0]
    assert far.clearance[0] == pytest.approx((10.0 - bulge) / r1, rel=1e-9)
    assert far.loss_db[0] == pytest.approx(j_p526(math.sqrt(2) * (bulge - 10.0) / r1), abs=1e-9)
    assert far.loss_db[0] > 6.0
    flat_earth = terrain_loss_db(flat, tx, 10.0, rx, 10.0, FC, "single", k_factor=1e9)
    assert flat_earth.clearance[0] > 0
    near = terrain_loss_db(flat, tx, 10.0, np.array([[5_000.0, 150.0]]), 10.0, FC, "single")
    assert near.los[0] and near.loss_db[0] == 0.0


def test_flat_dem_adds_no_loss_so_the_plan_is_unchanged():
    rng = np.random.default_rng(3)
    dem = make_dem(np.full((60, 60), 512.0), 30.0)
    cand = rng.uniform(100, 1700, (40, 2))
    demand = rng.uniform(100, 1700, (400, 2))
    rows = rng.integers(0, 400, 5000)
    cols = rng.integers(0, 40, 5000)
    h_bs = rng.choice([8.0, 25.0, 35.0], 40)
    loss, los = pair_terrain(dem, demand[rows], cand[cols], h_bs[cols], 1.5, FC, TP, storey_height_m=3.0)
    assert np.all(loss == 0.0) and np.all(los)


def test_tilted_plane_adds_no_loss_but_a_ridge_adds_its_excess():
    c = (np.arange(60) + 0.5) * 30.0
    x, y = np.meshgrid(c, c[::-1])
    dem = make_dem(200.0 + 0.05 * x - 0.02 * y, 30.0)          # smooth slope: no obstacle
    rng = np.random.default_rng(4)
    tx, rx = rng.uniform(50, 1750, (2000, 2)), rng.uniform(50, 1750, (2000, 2))
    loss, los = pair_terrain(dem, rx, tx, 8.0, 1.5, FC, TP, storey_height_m=3.0)
    assert np.all(loss == 0.0) and np.all(los)
    # over a ridge the planner's extra loss is the ridge's loss minus that of smooth ground
    ridge = pair_terrain(ridge_dem(20.0), RX, TX, 10.0, 10.0, FC, TP, storey_height_m=3.0)
    absolute = terrain_loss_db(ridge_dem(20.0), TX, 10.0, RX, 10.0, FC).loss_db[0]
    smooth = terrain_loss_db(ridge_dem(0.0), TX, 10.0, RX, 10.0, FC).loss_db[0]
    assert ridge[0][0] == pytest.approx(absolute - smooth, abs=1e-9) and not ridge[1][0]


def test_flat_dem_gives_the_same_plan_as_no_dem(demo_pbf):
    import inspect

    from siting.config import Params
    from siting.io.osm import load_area
    from siting.pipeline import plan_area

    if "dem" not in inspect.signature(plan_area).parameters:
        pytest.skip("the pipeline does not take a DEM yet")
    area = load_area(demo_pbf)
    minx, miny, maxx, maxy = area.boundary.bounds
    cols, rows = int((maxx - minx) / 30.0) + 3, int((maxy - miny) / 30.0) + 3
    flat = Dem(np.full((rows, cols), 37.0, "float32"), Affine(30.0, 0, minx - 30.0, 0, -30.0, maxy + 30.0),
               area.crs, 30.0, 0, "flat")
    plain = plan_area(area, "5g", Params(), count=3)
    with_dem = plan_area(area, "5g", Params(), count=3, dem=flat)
    assert plain.layers["sites"]["site_id"].tolist() == with_dem.layers["sites"]["site_id"].tolist()
    assert plain.layers["sites"].geometry.equals(with_dem.layers["sites"].geometry)
    assert plain.summary["demand_covered"] == with_dem.summary["demand_covered"] > 0


def test_pair_terrain_uses_site_height_at_the_candidate_end():
    # a site on a hill top transmits over the valley; the same heights swapped are blocked
    xs = (np.arange(101) + 0.5) * 10.0
    z = np.tile(np.clip(200.0 - np.abs(xs - 100.0), 0.0, None), (21, 1))   # 100 m high hill near x=100
    dem = make_dem(z, 10.0)
    cand, dem_pt = np.array([[105.0, 105.0]]), np.array([[905.0, 105.0]])
    loss, los = pair_terrain(dem, dem_pt, cand, 30.0, 1.5, FC, TP, storey_height_m=3.0)
    ref = terrain_loss_db(dem, cand, 30.0, dem_pt, 1.5, FC)
    assert loss[0] == ref.loss_db[0] and los[0] == ref.los[0]
    assert los[0]


# --------------------------------------------------------------------------- peer implementation
def _peer(dem: Dem, tx, h_tx, rx, h_rx, method: str, k: float = 4.0 / 3.0):
    """Per-pair loop over the same profile method: scipy bilinear, plain math, no shared code."""
    z = dem.elevation.astype(float)
    res = dem.resolution_m
    xc = dem.transform.c + (np.arange(z.shape[1]) + 0.5) * res
    yc = dem.transform.f - (np.arange(z.shape[0]) + 0.5) * res
    interp = RegularGridInterpolator((yc[::-1], xc), z[::-1], method="linear")
    kr = 2 * k * 6_371_000.0
    out = []
    for (x0, y0), ht, (x1, y1), hr in zip(tx, h_tx, rx, h_rx):
        d = math.hypot(x1 - x0, y1 - y0)
        n = max(2, math.ceil(d / res) + 1)
        s = [d * i / (n - 1) for i in range(n)]
        g = [float(interp([[y0 + (y1 - y0) * i / (n - 1), x0 + (x1 - x0) * i / (n - 1)]])[0]) for i in range(n)]
        zt, zr = g[0] + ht, g[-1] + hr

        def nu_at(i, a, b, za, zb):
            ray = za + (zb - za) * (s[i] - s[a]) / (s[b] - s[a])
            h = g[i] + (s[i] - s[a]) * (s[b] - s[i]) / kr - ray
            return math.sqrt(2) * h / math.sqrt(LAM * (s[i] - s[a]) * (s[b] - s[i]) / (s[b] - s[a]))

        nus = [(nu_at(i, 0, n - 1, zt, zr), i) for i in range(1, n - 1)]
        nu_p, p = max(nus) if nus else (-math.inf, 0)
        clearance = -nu_p / math.sqrt(2)
        if method == "single":
            loss = j_p526(nu_p)
        elif method == "deygout":
            nu_t = max([nu_at(i, 0, p, zt, g[p]) for i in range(1, p)], default=-math.inf)
            nu_r = max([nu_at(i, p, n - 1, g[p], zr) for i in range(p + 1, n - 1)], default=-math.inf)
            jp = j_p526(nu_p)
            loss = jp + (1 - math.exp(-jp / 6)) * (j_p526(nu_t) + j_p526(nu_r) + 10 + 0.04 * d / 1000)
        else:  # bullington
            hh = [g[i] + s[i] * (d - s[i]) / kr for i in range(n)]
            stim = max(((hh[i] - zt) / s[i] for i in range(1, n - 1)), default=-math.inf)
            if stim < (zr - zt) / d:
                loss = j_p526(nu_p)
            else:
                srim = max((hh[i] - zr) / (d - s[i]) for i in range(1, n - 1))
                db = (zr - zt + srim * d) / (stim + srim)
                hb = zt + stim * db - (zt * (d - db) + zr * db) / d
                loss = j_p526(hb * math.sqrt(2 * d / (LAM * db * (d - db))))
        out.append((loss, clearance))
    return np.array(out)


def hilly_dem() -> Dem:
    res, n = 20.0, 120
    c = (np.arange(n) + 0.5) * res
    x, y = np.meshgrid(c, c[::-1])
    rng = np.random.default_rng(7)
    z = np.full((n, n), 50.0)
    for cx, cy, h, w in zip(rng.uniform(0, n * res, 12), rng.uniform(0, n * res, 12),
                            rng.uniform(20, 120, 12), rng.uniform(80, 300, 12)):
        z += h * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * w * w))
    return make_dem(z, res)


@pytest.mark.parametrize("method", ["single", "deygout", "bullington"])
def test_vectorised_profiles_agree_with_a_per_pair_loop(method):
    dem = hilly_dem()
    rng = np.random.default_rng(11)
    n = 150
    tx = rng.uniform(100, 2300, (n, 2))
    rx = rng.uniform(100, 2300, (n, 2))
    h_tx = rng.choice([10.0, 25.0, 35.0], n)
    h_rx = np.full(n, 1.5)
    got = terrain_loss_db(dem, tx, h_tx, rx, h_rx, FC, method)
    ref = _peer(dem, tx, h_tx, rx, h_rx, method)
    blocked = ~got.los
    assert 0.2 < blocked.mean() < 0.95                     # a hilly case, not a trivial one
    np.testing.assert_allclose(got.loss_db, ref[:, 0], atol=1e-6)
    np.testing.assert_allclose(got.clearance, ref[:, 1], atol=1e-6)
    assert np.array_equal(got.los, ref[:, 1] >= 0.6)


def test_results_do_not_depend_on_chunking_or_pair_order(monkeypatch):
    dem = hilly_dem()
    rng = np.random.default_rng(5)
    tx, rx = rng.uniform(100, 2300, (300, 2)), rng.uniform(100, 2300, (300, 2))
    whole = terrain_loss_db(dem, tx, 25.0, rx, 1.5, FC)
    monkeypatch.setattr(terrain, "CHUNK_SAMPLES", 97)
    perm = rng.permutation(300)
    chunked = terrain_loss_db(dem, tx[perm], 25.0, rx[perm], 1.5, FC)
    assert chunked.loss_db.tobytes() == whole.loss_db[perm].tobytes()
    assert np.array_equal(chunked.los, whole.los[perm])


def test_profiles_sample_at_most_one_cell_apart_with_curvature():
    dem = hilly_dem()
    prof = profiles(dem, np.array([[100.0, 100.0], [100.0, 100.0]]), np.array([[1100.0, 100.0], [150.0, 100.0]]))
    assert prof.elevation_m.shape == (2, 51)                 # 1000 m at 20 m -> 51 samples, short path padded
    steps = np.diff(prof.distance_m[:, None] * prof.fraction, axis=1)
    assert steps[0].max() == pytest.approx(20.0) and steps[1][:3] == pytest.approx([50 / 3] * 3)
    assert prof.inner.sum(axis=1).tolist() == [49, 2]
    assert prof.bulge_m[0, 25] == pytest.approx(500.0 * 500.0 / (2 * KR))


def test_building_heights_block_a_path_over_flat_ground():
    gpd = pytest.importorskip("geopandas")
    pytest.importorskip("siting.radio")
    from shapely.geometry import box

    from siting.terrain import building_grid

    dem = make_dem(np.zeros((21, 101)), 10.0)
    blocks = gpd.GeoDataFrame({"height_m": [30.0, np.nan], "levels": [np.nan, np.nan]},
                              geometry=[box(480, 0, 530, 210), box(0, 0, 20, 20)], crs=CRS)
    grid = building_grid(dem, blocks, 3.0)
    assert grid.max() == 30.0 and grid[0, 0] == 0.0          # unknown height left out
    bare = terrain_loss_db(dem, TX, 10.0, RX, 10.0, FC)
    built = terrain_loss_db(dem, TX, 10.0, RX, 10.0, FC, clutter=grid)
    assert bare.los[0] and not built.los[0] and built.loss_db[0] > 20.0
    # the planner hook adds them only when asked to (terrain.buildings)
    assert pair_terrain(dem, RX, TX, 10.0, 10.0, FC, TP, storey_height_m=3.0, buildings=blocks)[1][0]
    loss, los = pair_terrain(dem, RX, TX, 10.0, 10.0, FC, TerrainParams(buildings=True), buildings=blocks, storey_height_m=3.0)
    assert not los[0] and loss[0] > 20.0


def test_bare_earth_removes_building_spikes_and_keeps_hills():
    from siting.terrain import bare_earth

    res, n = 10.0, 101
    c = (np.arange(n) + 0.5) * res
    x, y = np.meshgrid(c, c[::-1])
    hill = 80.0 * np.exp(-((x - 700.0) ** 2 + (y - 505.0) ** 2) / (2 * 250.0 ** 2))
    z = hill.copy()
    z[48:52, 28:32] += 40.0                                # a 40 m tower, 40 m wide, at x = 300 m
    z[70, 80] -= 15.0                                      # a speckle pit
    dem = make_dem(z, res)
    out = bare_earth(dem, 60.0)
    assert bare_earth(dem, 0.0) is dem
    assert np.abs(out.elevation[48:52, 28:32] - hill[48:52, 28:32]).max() < 2.0   # the 40 m tower is gone
    assert abs(out.elevation[70, 80] - hill[70, 80]) < 3.0      # the 15 m pit is filled
    # the broad hill keeps its height up to its fall over one disc radius (80 m at the top, 77.7 m 60 m away)
    assert out.elevation.max() > 80.0 * math.exp(-60.0 ** 2 / (2 * 250.0 ** 2)) - 0.5
    assert "bare earth" in out.notes[-1]
    tx, rx = np.array([[105.0, 505.0]]), np.array([[505.0, 505.0]])
    assert not terrain_loss_db(dem, tx, 10.0, rx, 1.5, FC).los[0]
    assert terrain_loss_db(out, tx, 10.0, rx, 1.5, FC).los[0]
    # the planner hook applies the filter from the parameters
    assert not pair_terrain(dem, rx, tx, 10.0, 1.5, FC, TP, storey_height_m=3.0)[1][0]
    assert pair_terrain(dem, rx, tx, 10.0, 1.5, FC, TerrainParams(bare_earth_m=60.0), storey_height_m=3.0)[1][0]


# --------------------------------------------------------------------------- summary and map
def test_terrain_summary_counts_blocked_pairs():
    dem = ridge_dem(20.0)
    loss, los = pair_terrain(dem, np.vstack([RX, RX]), np.vstack([TX, [[905.0, 105.0]]]), 10.0, 10.0, FC, TP, storey_height_m=3.0)
    out = terrain_summary(dem, loss, los, TP)
    assert out["pairs_tested"] == 2 and out["pairs_terrain_blocked"] == 1
    assert out["resolution_m"] == 10.0 and out["method"] == TerrainParams().method
    json.dumps(out)


def test_hillshade_darkens_slopes_facing_away_from_the_sun():
    res, n = 30.0, 40
    c = (np.arange(n) + 0.5) * res
    x, y = np.meshgrid(c, c[::-1])
    slope = 0.3
    towards_se = make_dem(slope * (y - x) + 1000.0, res, x0=500_000.0, y0=2_500_000.0)  # rises to the NW
    towards_nw = make_dem(slope * (x - y) + 1000.0, res, x0=500_000.0, y0=2_500_000.0)
    flat = make_dem(np.full((n, n), 10.0), res, x0=500_000.0, y0=2_500_000.0)
    shadow, bounds = hillshade(towards_se)
    lit, _ = hillshade(towards_nw)
    level, _ = hillshade(flat)
    (south, west), (north, east) = bounds
    assert 116.9 < west < east < 117.1 and 22.5 < south < north < 22.7
    assert shadow.dtype == np.uint8 and shadow.shape == (n, n, 4)
    assert lit[5:-5, 5:-5, 3].max() == 0 and level[..., 3].max() == 0
    theta = math.atan(slope * math.sqrt(2))                 # steepest gradient of the plane
    alt = math.radians(45.0)
    shade = math.sin(alt) * math.cos(theta) - math.cos(alt) * math.sin(theta)
    expect = (math.sin(alt) - shade) / math.sin(alt) * 0.6 * 255
    assert abs(int(shadow[n // 2, n // 2, 3]) - expect) <= 2


# --------------------------------------------------------------------------- reading DEMs
def write_tif(path, data, transform, crs=CRS, nodata=None, units=None):
    data = np.asarray(data)
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                       dtype=data.dtype, crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(data, 1)
        if units:
            dst.units = (units,)
    return path


def plane(n=50, res=30.0, x0=400_000.0, y0=2_600_000.0):
    c = (np.arange(n) + 0.5) * res
    x, y = np.meshgrid(x0 + c, y0 - c)
    return (100.0 + 0.01 * (x - x0) + 0.02 * (y0 - y)).astype("float32"), from_origin(x0, y0, res, res)


def test_void_filling_on_a_synthetic_dem(tmp_path):
    z, t = plane()
    holes = np.zeros(z.shape, bool)
    holes[20:23, 20:23] = True
    holes[[5, 30, 40], [35, 10, 44]] = True
    truth = z.copy()
    z[holes] = -9999.0
    path = write_tif(tmp_path / "holes.tif", z, t, nodata=-9999.0)
    dem = read_dem([path], CRS, (400_000.0, 2_598_500.0, 401_500.0, 2_600_000.0))
    assert dem.voids_filled == int(holes.sum()) == 12
    assert np.isfinite(dem.elevation).all()
    assert dem.resolution_m == pytest.approx(30.0)
    # the filled surface is close to the plane everywhere (bilinear of a plane is exact, fill is IDW)
    cx, cy = 400_000.0 + 21.5 * 30, 2_600_000.0 - 21.5 * 30
    got = terrain.sample_grid(dem, np.array([cx]), np.array([cy]))[0]
    assert got == pytest.approx(truth[21, 21], abs=1.0)
    xs = np.linspace(400_350, 401_150, 9)
    ys = np.linspace(2_598_850, 2_599_650, 9)
    want = 100.0 + 0.01 * (xs - 400_000.0) + 0.02 * (2_600_000.0 - ys)
    assert np.abs(terrain.sample_grid(dem, xs, ys) - want).max() < 1.0


def test_reprojects_a_geographic_dem_to_the_area_crs(tmp_path):
    z = np.tile(np.arange(0, 200, 2, dtype="int16"), (100, 1))            # rises eastwards, 2 m per cell
    t = from_origin(114.0, 22.6, 1 / 3600, 1 / 3600)
    path = write_tif(tmp_path / "geo.tif", z, t, crs="EPSG:4326", nodata=-32768)
    to_utm = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    bounds = to_utm.transform_bounds(114.005, 22.58, 114.02, 22.595)
    dem = read_dem([path], CRS, bounds)
    assert dem.crs == CRS and 27 < dem.resolution_m < 32
    lon, lat = 114.0125, 22.5875
    x, y = to_utm.transform(lon, lat)
    col = (lon - 114.0) * 3600 - 0.5
    assert terrain.sample_grid(dem, np.array([x]), np.array([y]))[0] == pytest.approx(2 * col, abs=1.0)
    coarse = read_dem([path], CRS, bounds, resolution_m=90.0)
    assert coarse.resolution_m == 90.0 and coarse.elevation.shape[0] < dem.elevation.shape[0] / 2


def test_tiles_are_mosaicked(tmp_path):
    z, t = plane(n=60)
    a = write_tif(tmp_path / "west.tif", z[:, :30].copy(), t)
    b = write_tif(tmp_path / "east.tif", z[:, 30:].copy(), Affine(30.0, 0, t.c + 900.0, 0, -30.0, t.f))
    bounds = (400_300.0, 2_598_600.0, 401_500.0, 2_599_700.0)
    both = read_dem([a, b], CRS, bounds)
    assert both.files == ("west.tif", "east.tif") and both.voids_filled == 0
    xs = np.linspace(400_350, 401_450, 12)
    ys = np.full(12, 2_599_000.0)
    want = 100.0 + 0.01 * (xs - 400_000.0) + 0.02 * 1000.0
    assert np.abs(terrain.sample_grid(both, xs, ys) - want).max() < 0.01


@pytest.mark.parametrize("case, message", [
    ("no_overlap", "does not overlap"),
    ("no_crs", "has no CRS"),
    ("zeros", "all zeros"),
    ("too_high", "above Everest"),
    ("missing", "does not exist"),
    ("not_raster", "not a readable raster"),
    ("all_nodata", "no valid elevation"),
])
def test_bad_dems_give_one_line_errors(tmp_path, case, message):
    z, t = plane()
    bounds = (400_300.0, 2_598_800.0, 401_200.0, 2_599_700.0)
    path = tmp_path / f"{case}.tif"
    if case == "no_overlap":
        write_tif(path, z, from_origin(600_000.0, 2_600_000.0, 30.0, 30.0))
    elif case == "no_crs":
        with rasterio.open(path, "w", driver="GTiff", width=50, height=50, count=1, dtype="float32",
                           transform=t) as dst:
            dst.write(z, 1)
    elif case == "zeros":
        write_tif(path, np.zeros_like(z), t)
    elif case == "too_high":
        write_tif(path, z * 100.0, t)                      # 10,000-16,000: feet or corrupt
    elif case == "not_raster":
        path.write_text("not a raster")
    elif case == "all_nodata":
        write_tif(path, np.full_like(z, -32768.0), t, nodata=-32768.0)
    with pytest.raises(SitingError, match=message) as err:
        read_dem([path], CRS, bounds)
    assert isinstance(err.value, InputError) and err.value.exit_code == 2
    assert "\n" not in str(err.value) and ":" in str(err.value)


def test_cli_bad_dem_exits_2_with_one_line(tmp_path, capsys):
    from siting.cli import main

    path = write_tif(tmp_path / "zeros.tif", np.zeros((50, 50), "float32"), from_origin(24.9, 60.2, 0.002, 0.001),
                     crs="EPSG:4326")
    with pytest.raises(SystemExit) as stop:
        main(["plan", "demo", "--count", "2", "--dem", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    if "No such option" in err:
        pytest.skip("the CLI has no --dem yet")
    assert stop.value.code == 2
    assert err.strip().splitlines()[-1].startswith("siting: error: DEM zeros.tif is all zeros")
    assert not (tmp_path / "out" / "summary.json").exists()


def test_too_fine_a_grid_is_refused(tmp_path):
    z, t = plane()
    path = write_tif(tmp_path / "ok.tif", z, t)
    with pytest.raises(SitingError, match="raise terrain.resolution_m"):
        read_dem([path], CRS, (400_300.0, 2_598_800.0, 401_200.0, 2_599_700.0), resolution_m=0.05)


def test_dem_declared_in_feet_is_converted_with_a_warning(tmp_path):
    z, t = plane()
    path = write_tif(tmp_path / "feet.tif", np.full_like(z, 1000.0), t, units="ft")
    with pytest.warns(DemWarning, match="feet"):
        dem = read_dem([path], CRS, (400_300.0, 2_598_800.0, 401_200.0, 2_599_700.0))
    assert np.allclose(dem.elevation, 304.8)
    assert any("feet" in note for note in dem.notes)


def test_partial_cover_warns(tmp_path):
    z, t = plane()
    path = write_tif(tmp_path / "half.tif", z, t)
    with pytest.warns(DemWarning, match="covers only"):
        dem = read_dem([path], CRS, (400_750.0, 2_598_800.0, 402_250.0, 2_599_700.0))
    assert np.isfinite(dem.elevation).all()


# --------------------------------------------------------------------------- real DEMs
def _utm_bounds(lon0, lat0, lon1, lat1):
    return Transformer.from_crs("EPSG:4326", CRS, always_xy=True).transform_bounds(lon0, lat0, lon1, lat1)


def test_fuzhou_tile_voids_are_filled(shared_data):
    tile = shared_data / "dem" / "N26E119.hgt"
    with pytest.warns(DemWarning):                          # the UTM box of a 1-degree tile is wider than it
        dem = read_dem([tile], CRS, _utm_bounds(119.0, 26.0, 120.0, 27.0))
    assert dem.voids_filled == 936
    assert np.isfinite(dem.elevation).all()
    assert -10 < dem.elevation.min() and dem.elevation.max() < 1500
    assert 85 < dem.resolution_m < 92 and "SRTMHGT" in dem.source


def test_line_of_sight_agrees_with_splat(shared_data):
    """SPLAT! (Debian package ``splat``) as the peer: its LOS verdict on Fuzhou SRTM3 paths."""
    import importlib.util
    import shutil

    if not (shutil.which("splat") and shutil.which("srtm2sdf")):
        pytest.skip("SPLAT! is not installed (apt-get install splat)")
    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_terrain.py"
    spec = importlib.util.spec_from_file_location("bench_terrain", bench)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DemWarning)
        out = module.splat_case(8, fresnel=False)
    assert 0.1 < out["splat_los"] < 0.9                    # a mix of clear and obstructed paths
    assert out["los_agree"] == 1.0


def test_shenzhen_ridge_blocks_and_wuhan_uint8_is_accepted(shared_data):
    dem = read_dem([shared_data / "dem" / "shenzhen_srtmgl1_1as.tif"], CRS, _utm_bounds(114.14, 22.54, 114.26, 22.62))
    to_utm = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    # Wutongshan (924 m at 114.2156 E, 22.5817 N) between a site west of it and a receiver east of it
    west, east = to_utm.transform(114.17, 22.57), to_utm.transform(114.255, 22.595)
    peak = terrain.sample_grid(dem, *map(np.array, to_utm.transform([114.2156], [22.5817])))
    res = terrain_loss_db(dem, np.array([west]), 30.0, np.array([east]), 1.5, FC)
    assert peak[0] > 500 and not res.los[0] and res.loss_db[0] > 30.0
    wuhan = read_dem([shared_data / "dem" / "wuhan_whu_1as_uint8.tif"], CRS, _utm_bounds(114.32, 30.52, 114.39, 30.56))
    assert any("uint8" in note for note in wuhan.notes)
    assert 5 < wuhan.elevation.min() and wuhan.elevation.max() < 135
