"""Road-network service areas (siting.access): network, not straight-line, distance."""
from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from siting import access
from siting.access import network_access, radius_by_env, road_network, service_areas
from siting.config import ChargingParams
from siting.config.charging import RadiusByEnv
from siting.coverage import coverage_from_radius
from siting.errors import InputError
from synthetic import grid_area

CP = ChargingParams()


def service_matrix(area, demand_xy, candidate_xy, radius_m, params=CP):
    """Who reaches which candidate by road, as a boolean matrix."""
    return network_access(area, demand_xy, candidate_xy, radius_m, params).matrix


def river(x1, y1, x2, y2):
    """A river between x=400 and x=500, bridged only at y=0."""
    return (np.minimum(x1, x2) == 400) & (np.maximum(x1, x2) == 500) & (y1 > 0)


@pytest.fixture(scope="module")
def river_area():
    return grid_area(10, 10, 100.0, drop=river)


def test_missing_bridge_makes_network_distance_longer_than_straight_line(river_area):
    demand = np.array([[400.0, 900.0], [300.0, 900.0]])
    station = np.array([[500.0, 900.0]])
    straight = coverage_from_radius(demand, station, 1000.0).toarray()
    assert straight[:, 0].tolist() == [True, True]      # 100 m and 200 m as the crow flies
    acc = network_access(river_area, demand, station, 1000.0, CP)
    assert acc.matrix.toarray()[:, 0].tolist() == [False, False]  # but the bridge is at y=0
    wide = network_access(river_area, demand, station, 2500.0, CP)
    # down 900 m, over the bridge 100 m, up 900 m: 1,900 m; one block more for the second point
    assert wide.distance.toarray()[:, 0] == pytest.approx([1900.0, 2000.0])
    assert wide.matrix.dtype == bool and wide.matrix.format == "csr"


def test_snap_legs_count_in_the_distance(river_area):
    # demand 30 m off the road at (130, 0); station 40 m off the road at (0, 540)
    acc = network_access(river_area, [[130.0, 30.0]], [[40.0, 540.0]], 5000.0, CP)
    assert acc.demand_snap_m == pytest.approx([np.hypot(30, 30)])
    assert acc.candidate_snap_m == pytest.approx([np.hypot(40, 40)])
    assert acc.distance.toarray()[0, 0] == pytest.approx(np.hypot(30, 30) + 100 + 500 + np.hypot(40, 40))
    just_short = np.hypot(30, 30) + 600 + np.hypot(40, 40) - 1.0
    assert service_matrix(river_area, [[130.0, 30.0]], [[40.0, 540.0]], just_short).nnz == 0


def test_matches_an_independent_networkx_dijkstra():
    rng = np.random.default_rng(7)
    area = grid_area(12, 9, 100.0, drop=lambda x1, y1, x2, y2: rng.random(len(x1)) < 0.25)
    edges = area.road_edges
    demand = rng.uniform(0, 1100, size=(60, 2)) * [1, 0.72]
    stations = rng.uniform(0, 1100, size=(15, 2)) * [1, 0.72]
    radius = rng.choice([300.0, 600.0, 900.0], size=60)
    got = network_access(area, demand, stations, radius, CP).distance.toarray()
    g = nx.Graph()
    g.add_weighted_edges_from(zip(edges["u"], edges["v"], edges["length_m"]))
    g.add_nodes_from(area.road_nodes.index)
    xy = area.road_nodes[["x", "y"]].to_numpy()
    nearest = lambda p: int(np.argmin(np.hypot(*(xy - p).T)))  # noqa: E731
    expected = np.zeros_like(got)
    for j, s in enumerate(stations):
        sn = nearest(s)
        lengths = nx.single_source_dijkstra_path_length(g, sn)
        for i, d in enumerate(demand):
            dn = nearest(d)
            if dn in lengths:
                total = lengths[dn] + np.hypot(*(d - xy[dn])) + np.hypot(*(s - xy[sn]))
                if total <= radius[i]:
                    expected[i, j] = total
    assert np.count_nonzero(expected) > 30
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-6)


def test_one_way_streets_are_driven_towards_the_station():
    area = grid_area(5, 1, 100.0)
    edges = area.road_edges.copy()
    edges["oneway"] = True  # every street runs west to east (u -> v)
    one_way = dataclasses.replace(area, road_edges=edges)
    west, east = [[0.0, 0.0]], [[400.0, 0.0]]
    assert service_matrix(one_way, west, east, 1000.0).nnz == 1   # drive east to the station
    assert service_matrix(one_way, east, west, 1000.0).nnz == 0   # no way back west


def test_parallel_edges_keep_the_cheapest():
    area = grid_area(3, 1, 100.0)
    edges = area.road_edges
    detour = edges.iloc[[0]].assign(length_m=250.0, key=1)
    both = dataclasses.replace(area, road_edges=pd.concat([detour, edges], ignore_index=True))
    acc = network_access(both, [[0.0, 0.0]], [[200.0, 0.0]], 1000.0, CP)
    assert acc.distance.toarray()[0, 0] == pytest.approx(200.0)


def test_disconnected_parts_are_reported_not_crashed_on(river_area):
    island = grid_area(4, 4, 100.0,
                       drop=lambda x1, y1, x2, y2: (np.minimum(x1, x2) == 100) & (np.maximum(x1, x2) == 200))
    demand = np.array([[0.0, 0.0], [300.0, 300.0], [50.0, 200.0]])
    stations = np.array([[300.0, 0.0], [5000.0, 5000.0]])  # the second has no road within 300 m
    acc = network_access(island, demand, stations, 2000.0, CP)
    assert acc.reachable.tolist() == [False, True, False]
    assert acc.on_network.tolist() == [True, False]
    assert acc.matrix.toarray().tolist() == [[False, False], [True, False], [False, False]]


def test_drive_time_reaches_farther_on_fast_roads():
    fast = grid_area(30, 1, 100.0, highway="primary")   # 50 km/h against a 30 km/h reference
    slow = grid_area(30, 1, 100.0, highway="residential")  # 25 km/h
    params = ChargingParams(metric="time")
    demand = np.c_[np.arange(0, 3000, 100.0), np.zeros(30)]
    reach_fast = service_matrix(fast, demand, [[0.0, 0.0]], 1000.0, params).toarray()[:, 0]
    reach_slow = service_matrix(slow, demand, [[0.0, 0.0]], 1000.0, params).toarray()[:, 0]
    # 1,000 m at 30 km/h = 120 s: 1,666 m at 50 km/h, 833 m at 25 km/h
    assert reach_fast.sum() == 17 and reach_slow.sum() == 9


def test_radius_follows_the_environment_class():
    radius = radius_by_env(np.array(["dense_urban", "urban", "suburban", "rural", "unknown"]), RadiusByEnv())
    assert radius.tolist() == [900.0, 2000.0, 5000.0, 5000.0, 2000.0]


def test_blocked_dijkstra_gives_the_same_matrix(monkeypatch):
    rng = np.random.default_rng(3)
    area = grid_area(20, 20, 100.0)
    demand = rng.uniform(0, 1900, size=(300, 2))
    stations = rng.uniform(0, 1900, size=(40, 2))
    whole = service_matrix(area, demand, stations, 700.0)
    monkeypatch.setattr(access, "_BLOCK_CELLS", 1000)  # two sources per Dijkstra block
    blocked = service_matrix(area, demand, stations, 700.0)
    assert (whole != blocked).nnz == 0 and whole.nnz > 500


def test_service_area_polygons_follow_the_roads(river_area):
    areas = service_areas(river_area, [[500.0, 900.0], [500.0, 900.0]], [450.0, 1500.0], CP)
    assert areas["candidate"].tolist() == [0, 1]
    small, large = areas.geometry
    assert small.contains(shapely.Point(500, 500))       # 400 m down the road on this bank
    assert not small.contains(shapely.Point(400, 900))   # 100 m away, across the river
    assert large.contains(shapely.Point(400, 300))       # 1,300 m by the bridge at y=0
    assert not large.contains(shapely.Point(400, 600))   # 1,600 m by road
    assert large.area > small.area


def test_road_network_needs_roads():
    empty = grid_area(1, 1)
    with pytest.raises(InputError, match="no drivable roads"):
        road_network(empty, CP)


def test_demand_farther_off_road_than_its_radius_is_not_covered():
    area = grid_area(3, 3, 100.0)
    station = [[0.0, 0.0]]
    assert service_matrix(area, [[-200.0, 0.0]], station, 150.0).nnz == 0   # the snap leg alone is 200 m
    assert service_matrix(area, [[-200.0, 0.0]], station, 250.0).nnz == 1
    mixed = network_access(area, [[-200.0, 0.0], [0.0, 100.0]], station, np.array([150.0, 150.0]), CP)
    assert mixed.matrix.toarray()[:, 0].tolist() == [False, True]


def test_worker_processes_give_the_same_matrix(monkeypatch):
    rng = np.random.default_rng(11)
    area = grid_area(15, 15, 100.0)
    demand = rng.uniform(0, 1400, size=(200, 2))
    stations = rng.uniform(0, 1400, size=(30, 2))
    monkeypatch.setattr(access, "_BLOCK_CELLS", 2000)  # several blocks of 8 sources
    one = network_access(area, demand, stations, 600.0, CP)
    two = network_access(area, demand, stations, 600.0, CP, workers=2)
    assert (one.distance != two.distance).nnz == 0 and one.matrix.nnz > 300


def test_corridors_match_an_exact_buffer():
    lines = np.array([shapely.LineString([(3, 7), (1003, 7)]), shapely.LineString([(3, 7), (803, 611)]),
                      shapely.MultiLineString([[(3, 7), (503, 7)], [(253, -293), (253, 307)]])])
    got = access.corridors(lines, 60.0)
    exact = shapely.buffer(lines, 60.0)
    assert np.allclose(shapely.area(got), shapely.area(exact), rtol=0.1)
    assert (shapely.area(shapely.symmetric_difference(got, exact)) < 0.1 * shapely.area(exact)).all()
    assert shapely.contains(got, shapely.buffer(lines, 45.0)).all()  # nothing within 45 m is left out


def test_gzip_compressed_osm_xml_is_read(shared_data, tmp_path):
    import gzip

    from siting.io.osm import load_area

    packed = tmp_path / "fengxian.osm.xml.gz"
    packed.write_bytes(gzip.compress((shared_data / "osm/shanghai_fengxian_roads_osm/map.osm").read_bytes()))
    area = load_area(packed, cache_dir=None, processed_dir=None)
    assert area.name == "fengxian" and len(area.road_edges) > 100 and road_network(area, CP).n_nodes > 50
