"""Road-network service areas for charging facilities: who can drive to which site.

Demand points and candidate sites snap to their nearest road node (KD-tree); the
snap legs are added to the path length. Network distances from every candidate
to the nodes within the service radius come from SciPy's compiled multi-source
Dijkstra (``csgraph.dijkstra(..., indices=..., limit=...)``) on a CSR adjacency
built from ``area.road_edges``: no Python loop per node or pair. Paths run *to*
the site (a driver goes from the demand point to the station), so one-way streets
count in the right direction.

With ``metric="time"`` an edge costs its drive time at the speed of its road class,
expressed in metres at ``reference_speed_kmh`` so that radii stay in metres.

The ``matrix`` of :func:`network_access` is the same boolean ``csr_matrix``
(n_demand × n_candidates) that :mod:`siting.coverage` gives the 5G planner, so the
optimisers of :mod:`siting.solve` run on it unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from siting.area import Area
from siting.config import ChargingParams
from siting.config.charging import RadiusByEnv
from siting.errors import InputError
from siting.vocab import road_class

#: cells of one Dijkstra block (sources × nodes): 32 MB, small enough to be reused (measured fastest)
_BLOCK_CELLS = 4_000_000
#: shortest edge cost, so that zero-length OSM edges stay edges in the CSR graph
_MIN_EDGE_M = 0.01


@dataclass(frozen=True)
class RoadNetwork:
    """The drivable network as a CSR graph of edge costs (metres, or drive time in metres)."""

    graph: sparse.csr_matrix      # (n_nodes, n_nodes), directed u -> v
    to_site: sparse.csr_matrix    # the transpose: Dijkstra from a site gives costs *to* it
    node_xy: np.ndarray           # (n_nodes, 2), metric CRS
    edge_nodes: np.ndarray        # (n_edges, 2) node indices of area.road_edges rows kept
    edge_cost: np.ndarray         # (n_edges,) cost of those rows
    edge_geometry: np.ndarray     # shapely LineStrings of those rows
    tree: cKDTree

    @property
    def n_nodes(self) -> int:
        return len(self.node_xy)


@dataclass(frozen=True)
class Access:
    """Who reaches which candidate, and what could not be reached at all."""

    matrix: sparse.csr_matrix     # bool (n_demand, n_candidates): within the service radius by road
    distance: sparse.csr_matrix   # float, same structure: road distance incl. snap legs (metres)
    demand_snap_m: np.ndarray     # straight distance from each demand point to its road node
    candidate_snap_m: np.ndarray
    on_network: np.ndarray        # bool per candidate: a road node within ``max_snap_m``
    reachable: np.ndarray         # bool per demand point: its road component holds a usable candidate


def road_network(area: Area, params: ChargingParams) -> RoadNetwork:
    """Build the CSR road graph of ``area`` (two-way edges in both directions, parallel
    edges reduced to the cheapest)."""
    nodes, edges = area.road_nodes, area.road_edges
    if len(nodes) == 0 or len(edges) == 0:
        raise InputError(f"area '{area.name}' has no drivable roads: charging access needs a road network; "
                         "use an extract with highway=* ways")
    index = pd.Index(nodes.index)
    u = index.get_indexer(edges["u"].to_numpy())
    v = index.get_indexer(edges["v"].to_numpy())
    keep = (u >= 0) & (v >= 0)
    u, v = u[keep], v[keep]
    length = np.maximum(edges["length_m"].to_numpy(dtype=float)[keep], _MIN_EDGE_M)
    cost = length * _slowness(edges[keep], params) if params.metric == "time" else length
    two_way = ~edges["oneway"].to_numpy(dtype=bool)[keep]
    rows = np.concatenate([u, v[two_way]])
    cols = np.concatenate([v, u[two_way]])
    data = np.concatenate([cost, cost[two_way]])
    n = len(nodes)
    graph = _cheapest_csr(rows, cols, data, n)
    xy = np.column_stack([nodes["x"].to_numpy(dtype=float), nodes["y"].to_numpy(dtype=float)])
    return RoadNetwork(graph=graph, to_site=graph.T.tocsr(), node_xy=xy,
                       edge_nodes=np.column_stack([u, v]), edge_cost=cost,
                       edge_geometry=edges.geometry.to_numpy()[keep], tree=cKDTree(xy))


def _slowness(edges: pd.DataFrame, params: ChargingParams) -> np.ndarray:
    """Drive-time factor per edge: reference speed / edge speed (maxspeed, else by class)."""
    default = params.speed_kmh.get("default", params.reference_speed_kmh)
    by_class = road_class(edges["highway"]).map(params.speed_kmh)
    speed = edges["maxspeed_kmh"].to_numpy(dtype=float)
    speed = np.where(np.isfinite(speed) & (speed > 0), speed, by_class.fillna(default).to_numpy(dtype=float))
    return params.reference_speed_kmh / speed


def _cheapest_csr(rows: np.ndarray, cols: np.ndarray, data: np.ndarray, n: int) -> sparse.csr_matrix:
    """CSR matrix keeping the cheapest of parallel edges (a plain CSR would sum them)."""
    key = rows.astype(np.int64) * n + cols
    order = np.lexsort((data, key))
    first = np.r_[True, key[order][1:] != key[order][:-1]]
    pick = order[first]
    return sparse.csr_matrix((data[pick], (rows[pick], cols[pick])), shape=(n, n))


def _network(area: Area | None, params: ChargingParams, network: RoadNetwork | None) -> RoadNetwork:
    """The given road network, else the one built from ``area``."""
    if network is not None:
        return network
    if area is None:
        raise TypeError("give the area or its road network")
    return road_network(area, params)


def radius_by_env(env_class: np.ndarray, radius: RadiusByEnv) -> np.ndarray:
    """Service radius (m) of each demand point from its environment class."""
    table = radius.model_dump()
    out = pd.Series(np.asarray(env_class)).map(table).to_numpy(dtype=float)
    return np.where(np.isfinite(out), out, radius.urban)


def network_access(area: Area | None, demand_xy: np.ndarray, candidate_xy: np.ndarray,
                   radius_m: float | np.ndarray, params: ChargingParams,
                   network: RoadNetwork | None = None, workers: int = 1) -> Access:
    """Road-network coverage of demand by candidates within each demand point's radius.

    ``radius_m`` is a scalar or one value per demand point (metres). A pair is covered
    when snap leg of the demand point + road path to the candidate's node + the
    candidate's snap leg <= the demand point's radius. Candidates farther than
    ``params.max_snap_m`` from any road node have no road access and cover nothing.
    ``workers`` > 1 runs the Dijkstra blocks in that many forked processes.
    """
    net = _network(area, params, network)
    demand_xy = np.asarray(demand_xy, dtype=float).reshape(-1, 2)
    candidate_xy = np.asarray(candidate_xy, dtype=float).reshape(-1, 2)
    n_d, n_c = len(demand_xy), len(candidate_xy)
    radius = np.broadcast_to(np.asarray(radius_m, dtype=float), (n_d,))
    d_snap, d_node = _snap(net, demand_xy)
    c_snap, c_node = _snap(net, candidate_xy)
    on_network = c_snap <= params.max_snap_m
    usable = np.flatnonzero(on_network)
    matcher = _Matcher.build(net, d_node, d_snap, radius - d_snap, usable, c_node[usable], c_snap[usable])
    blocks = [(lo, min(lo + matcher.step, len(matcher.site_nodes)))
              for lo in range(0, len(matcher.site_nodes), matcher.step)]
    if workers > 1 and len(blocks) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_set_worker_matcher, initargs=(matcher,)) as pool:
            parts = list(pool.map(_match_in_worker, blocks))
    else:
        parts = [matcher.match(lo, hi) for lo, hi in blocks]
    rows, cols, dist = (np.concatenate(x) for x in zip(*parts)) if parts else (
        np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
    del parts
    distance = sparse.csr_matrix((dist, (rows, cols)), shape=(n_d, n_c))
    distance.sort_indices()
    matrix = sparse.csr_matrix((np.ones(distance.nnz, dtype=bool), distance.indices, distance.indptr),
                               shape=(n_d, n_c))
    _, component = csgraph.connected_components(net.graph, directed=True, connection="weak")
    served_components = np.unique(component[c_node[usable]])
    reachable = np.isin(component[d_node], served_components)
    return Access(matrix=matrix, distance=distance, demand_snap_m=d_snap, candidate_snap_m=c_snap,
                  on_network=on_network, reachable=reachable)


@dataclass(frozen=True)
class _Matcher:
    """Demand and candidates arranged for matching Dijkstra blocks to (demand, candidate) pairs.

    Demand is grouped by road node, most slack (radius - snap leg) first, so the points
    a path of length L reaches are a prefix of their node's group, found by one binary
    search in ``key``.
    """

    to_site: sparse.csr_matrix
    site_nodes: np.ndarray   # unique road nodes of usable candidates
    site_first: np.ndarray   # candidates of site node s: site_cands[site_first[s]:site_first[s + 1]]
    site_cands: np.ndarray
    cand_snap: np.ndarray    # snap leg per candidate (indexed like the caller's candidates)
    order: np.ndarray        # demand indices grouped by node, most slack first
    key: np.ndarray
    starts: np.ndarray       # group of node n: order[starts[n]:starts[n + 1]]
    demand_snap: np.ndarray
    top: float               # the largest slack: Dijkstra's limit
    low: float
    step: int

    @classmethod
    def build(cls, net: RoadNetwork, d_node, d_snap, slack, cands, c_node, c_snap) -> "_Matcher":
        top, low = float(slack.max(initial=0.0)), float(slack.min(initial=0.0))
        order = np.lexsort((-slack, d_node))
        key = d_node[order] * (top - low + 1.0) + (top - slack[order])
        site_nodes, site_of = np.unique(c_node, return_inverse=True)
        by_site = np.argsort(site_of, kind="stable")
        cand_snap = np.zeros(int(cands.max(initial=-1)) + 1)
        cand_snap[cands] = c_snap
        return cls(net.to_site, site_nodes, np.searchsorted(site_of[by_site], np.arange(len(site_nodes) + 1)),
                   cands[by_site], cand_snap, order, key,
                   np.searchsorted(d_node[order], np.arange(net.n_nodes + 1)), d_snap, top, low, _block(net.n_nodes))

    def match(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(demand, candidate, distance) of the pairs within reach of site nodes lo..hi-1."""
        cost = csgraph.dijkstra(self.to_site, directed=True, indices=self.site_nodes[lo:hi],
                                limit=max(self.top, 0.0))
        src, node = np.nonzero(cost <= self.top)
        path = cost[src, node]
        # site node -> the candidates snapped to it
        k, cand = _ragged(self.site_first[src + lo], np.diff(self.site_first)[src + lo])
        cand = self.site_cands[cand]
        node, path = node[k], path[k] + self.cand_snap[cand]
        keep = path <= self.top
        cand, node, path = cand[keep], node[keep], path[keep]
        # node -> the demand points whose slack covers the path
        first = self.starts[node]
        scale = self.top - self.low + 1.0
        query = node * scale + np.minimum(self.top - path, self.top - self.low)
        count = np.maximum(np.searchsorted(self.key, query, side="right") - first, 0)
        k, at = _ragged(first, count)
        demand = self.order[at]
        return demand.astype(np.int32), cand[k].astype(np.int32), path[k] + self.demand_snap[demand]


_WORKER_MATCHER: _Matcher | None = None


def _set_worker_matcher(matcher: _Matcher) -> None:
    global _WORKER_MATCHER
    _WORKER_MATCHER = matcher


def _match_in_worker(block: tuple[int, int]):
    assert _WORKER_MATCHER is not None, "the pool initialiser sets the matcher"
    return _WORKER_MATCHER.match(*block)


def service_areas(area: Area | None, candidate_xy: np.ndarray, radius_m: float | np.ndarray,
                  params: ChargingParams, network: RoadNetwork | None = None,
                  crs: str | None = None) -> gpd.GeoDataFrame:
    """Service-area polygon (isochrone) of each candidate: the roads from which it is
    reached within ``radius_m`` (scalar or per candidate), buffered by
    ``params.service_area_buffer_m`` and dissolved.

    Edges reached at both ends are kept whole; an edge reached at one end contributes
    the straight piece up to where the budget runs out. Columns: ``candidate``
    (position in ``candidate_xy``), ``radius_m``, ``area_km2``, geometry. Candidates
    without road access get only the disc of their buffer.
    """
    net = _network(area, params, network)
    candidate_xy = np.asarray(candidate_xy, dtype=float).reshape(-1, 2)
    n_c = len(candidate_xy)
    radius = np.broadcast_to(np.asarray(radius_m, dtype=float), (n_c,))
    c_snap, c_node = _snap(net, candidate_xy)
    budget = np.where(c_snap <= params.max_snap_m, radius - c_snap, -1.0)
    u, v = net.edge_nodes[:, 0], net.edge_nodes[:, 1]
    owners, pieces = [np.arange(n_c)], [shapely.linestrings(
        np.stack([candidate_xy, np.where((budget >= 0)[:, None], net.node_xy[c_node], candidate_xy)], axis=1))]
    step = max(1, _BLOCK_CELLS // max(len(u), net.n_nodes, 1))
    for start in range(0, n_c, step):
        block = np.arange(start, min(start + step, n_c))
        block = block[budget[block] >= 0]
        if len(block) == 0:
            continue
        cost = csgraph.dijkstra(net.to_site, directed=True, indices=c_node[block], limit=float(budget[block].max()))
        left = budget[block][:, None]
        du, dv = cost[:, u], cost[:, v]
        whole = (du <= left) & (dv <= left)
        b, e = np.nonzero(whole)
        owners.append(block[b])
        pieces.append(net.edge_geometry[e])
        # one end reached: the piece from that end as far as the budget lasts
        from_u = (du <= left) & ~whole
        from_v = (dv <= left) & ~whole
        for mask, near, end_is_v in ((from_u, u, False), (from_v, v, True)):
            b, e = np.nonzero(mask)
            if len(b) == 0:
                continue
            spent = np.where(end_is_v, dv[b, e], du[b, e])
            frac = np.clip((left[b, 0] - spent) / net.edge_cost[e], 0.0, 1.0)
            tip = shapely.line_interpolate_point(net.edge_geometry[e], 1.0 - frac if end_is_v else frac,
                                                 normalized=True)
            coords = np.stack([net.node_xy[near[e]], shapely.get_coordinates(tip)], axis=1)
            owners.append(block[b])
            pieces.append(shapely.linestrings(coords))
    owner = np.concatenate(owners)
    lines = np.concatenate(pieces)
    order = np.argsort(owner, kind="stable")
    merged = shapely.multilinestrings(lines[order], indices=owner[order])
    polygons = corridors(merged, params.service_area_buffer_m)
    return gpd.GeoDataFrame({"candidate": np.arange(n_c), "radius_m": radius.astype(float),
                             "area_km2": shapely.area(polygons) / 1e6},
                            geometry=polygons, crs=crs or (area.crs if area is not None else None))


def corridors(lines: np.ndarray, width_m: float, max_cells: int = 4_000_000) -> np.ndarray:
    """Each (multi)line buffered by ``width_m`` and dissolved, one polygon per line.

    GEOS buffers of thousands of overlapping road segments are slow (about 0.2 s per
    service area), so the lines are burnt into a grid of ``width_m / 6.5`` cells (coarser
    if a service area would exceed ``max_cells``), dilated by a disc of ``width_m`` and
    polygonised: about 10 times faster; the outline is within about a cell of the exact
    buffer (area within 10 %) and simplified to half a cell. The loop is over service areas; the work in each is compiled.
    """
    from affine import Affine
    from rasterio import features
    from scipy import ndimage

    out = np.empty(len(lines), dtype=object)
    for i, line in enumerate(lines):
        minx, miny, maxx, maxy = line.bounds
        pad = 2.0 * width_m
        cell = max(width_m / 6.5, float(np.sqrt((maxx - minx + 2 * pad) * (maxy - miny + 2 * pad) / max_cells)))
        shape = (int((maxy - miny + 2 * pad) / cell) + 1, int((maxx - minx + 2 * pad) / cell) + 1)
        # half a cell off the bounds, so that a line along an edge of its bounds runs through cell centres
        where = Affine(cell, 0.0, minx - pad - cell / 2, 0.0, -cell, maxy + pad + cell / 2)
        grid = features.rasterize([(_geojson_lines(line), 1)], out_shape=shape, transform=where, all_touched=False,
                                  dtype="uint8")
        r = width_m / cell - 0.5  # the burnt cell itself reaches half a cell beyond the line
        # dilation by a disc of r cells, as a distance transform (time independent of r)
        grid = (ndimage.distance_transform_edt(grid == 0) <= r + 1e-9).astype("uint8")
        parts = [shapely.geometry.shape(g) for g, _ in features.shapes(grid, mask=grid > 0, transform=where)]
        out[i] = shapely.union_all(parts).simplify(cell / 2.0)
    return out


def _geojson_lines(line) -> dict:
    """GeoJSON-like mapping of a (multi)line, built from its coordinate array (shapely's
    ``__geo_interface__`` takes seconds for a service area of thousands of segments)."""
    parts = shapely.get_parts(line)
    coords, owner = shapely.get_coordinates(parts, return_index=True)
    breaks = np.flatnonzero(np.diff(owner)) + 1
    return {"type": "MultiLineString", "coordinates": [c.tolist() for c in np.split(coords, breaks)]}


def _snap(net: RoadNetwork, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(xy) == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    dist, node = net.tree.query(xy)
    return np.asarray(dist, dtype=float), np.asarray(node, dtype=np.int64)


def _block(n_nodes: int) -> int:
    return max(1, _BLOCK_CELLS // max(n_nodes, 1))


def _ragged(first: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each k, the run first[k], first[k] + 1, ..., first[k] + count[k] - 1.

    Returns (k repeated count[k] times, the run values): a vectorised one-to-many join.
    """
    k = np.repeat(np.arange(len(first)), count)
    offset = np.arange(len(k)) - np.repeat(np.cumsum(count) - count, count)
    return k, first[k] + offset
