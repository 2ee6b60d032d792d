"""Candidate sites: where a new facility could go.

5G (:func:`candidates_5g`), in order of preference:

- ``existing``: the user's sites (``siting.io.sites.read_sites``), always kept (``fixed``);
- ``mast``: OSM masts/towers with communication tags — shared infrastructure, cheap
  but not fixed (PLANS.md, DOMAIN §4.1);
- ``rooftop``: roofs of tall buildings, mounted a pole's height above ``height_m``;
- ``street_lamp``: smart poles, low mounting height, UMi small cells (PLANS.md:
  "one pole, many uses");
- ``grid``: greenfield points on a regular grid wherever nothing else is near, so that
  no demand point is left without a candidate within reach.

A plan's smart-pole budget (``candidates.smart_pole_budget``, e.g. Guangzhou's 34,000
smart poles) caps the street-lamp candidates: those with the most demand within a small
cell's reach are kept, so a plan never proposes more pole sites than the budget.

Candidates closer than ``dedup_m`` merge (the better source wins); the order is
deterministic: by source preference, then by ``candidate_id``.
"""
from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from siting import radio
from siting.area import Area
from siting.buildings import heights_m
from siting.config import CandidateParams, Params, RadioParams
from siting.vocab import POLE_SOURCE, SOURCES_5G

#: columns of every candidate table (``docs/interfaces.md``); 5G adds ``env_class``
COLUMNS: tuple[str, ...] = ("candidate_id", "source", "height_m", "fixed", "capacity", "name")


def _table(ids, source: str, height, x, y, name=None, fixed: bool = False, capacity=None) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame({
        "candidate_id": np.asarray(ids, dtype=object), "source": source,
        "height_m": np.asarray(height, dtype=float), "fixed": fixed,
        "capacity": np.full(n, np.nan) if capacity is None else np.asarray(capacity, dtype=float),
        "name": [None] * n if name is None else list(name),
        "x": np.asarray(x, dtype=float), "y": np.asarray(y, dtype=float)})


def _inside(boundary, x, y) -> np.ndarray:
    return shapely.contains_xy(boundary, x, y) if len(x) else np.zeros(0, bool)


def _may_propose(area: Area, x, y, fixed) -> np.ndarray:
    """Which candidates stay: fixed ones anywhere, new ones inside ``area.proposal_zone`` when set."""
    fixed = np.asarray(fixed, dtype=bool)
    if area.proposal_zone is None or not len(fixed):
        return np.ones(len(fixed), dtype=bool)
    return fixed | shapely.contains_xy(area.proposal_zone, np.asarray(x, float), np.asarray(y, float))


def _existing(existing: gpd.GeoDataFrame | None, crs: str, cp: CandidateParams) -> pd.DataFrame:
    if existing is None or len(existing) == 0:
        return _table([], "existing", [], [], [])
    pts = existing.to_crs(crs) if existing.crs is not None else existing.set_crs("EPSG:4326").to_crs(crs)
    h = pts["height_m"].to_numpy(dtype=float) if "height_m" in pts else np.full(len(pts), np.nan)
    ids = "existing/" + pts["site_id"].astype(str) if "site_id" in pts else [f"existing/{i}" for i in range(len(pts))]
    cap = pts["capacity"].to_numpy(dtype=float) if "capacity" in pts else None
    name = pts["name"].tolist() if "name" in pts else None
    return _table(list(ids), "existing", np.where(np.isfinite(h) & (h > 0), h, cp.existing_height_m),
                  pts.geometry.x, pts.geometry.y, name, fixed=True, capacity=cap)


def _pois(area: Area, category: str, prefix: str, source: str, height) -> pd.DataFrame:
    pois = area.pois[area.pois["category"] == category] if len(area.pois) else area.pois
    if len(pois) == 0:
        return _table([], source, [], [], [])
    x, y = pois.geometry.x.to_numpy(), pois.geometry.y.to_numpy()
    keep = _inside(area.boundary, x, y)
    pois = pois[keep]
    h = height(pois) if callable(height) else np.full(len(pois), float(height))
    return _table(list(prefix + pois["osm_id"].astype(str)), source, h, x[keep], y[keep],
                  pois["name"].tolist() if "name" in pois else None)


def _rooftops(area: Area, cp: CandidateParams, storey_height_m: float) -> pd.DataFrame:
    b = area.buildings
    if not cp.rooftops or len(b) == 0:
        return _table([], "rooftop", [], [], [])
    h = heights_m(b, storey_height_m)
    tall = np.isfinite(h) & (h >= cp.roof_min_height_m)
    pts = shapely.point_on_surface(b.geometry.to_numpy()[tall])
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    keep = _inside(area.boundary, x, y)
    sel = b[tall][keep]
    return _table(list("roof/" + sel["osm_id"].astype(str)), "rooftop", h[tall][keep] + cp.roof_mast_m,
                  x[keep], y[keep], sel["name"].tolist() if "name" in sel else None)


def _dedup(cands: pd.DataFrame, dedup_m: float) -> pd.DataFrame:
    """Drop the worse member of every pair closer than ``dedup_m`` (fixed sites stay)."""
    if dedup_m <= 0 or len(cands) < 2:
        return cands
    pairs = cKDTree(cands[["x", "y"]].to_numpy()).query_pairs(dedup_m, output_type="ndarray")
    worse = pairs.max(axis=1)                     # rows are sorted best first
    drop = np.zeros(len(cands), bool)
    drop[worse] = True
    drop &= ~cands["fixed"].to_numpy(dtype=bool)
    return cands[~drop]


def grid_reach_m(demand: gpd.GeoDataFrame | None, cp: CandidateParams, rp: RadioParams) -> float:
    """Grid-fill reach: ``cp.grid_spacing_m``, else the UMa NLOS outdoor radius / 2 of the
    band, or the indoor radius if smaller and some demand needs indoor coverage [A]."""
    if cp.grid_spacing_m is not None:
        return float(cp.grid_spacing_m)
    budget = radio.link_budget(rp)
    reach = radio.coverage_radius_m(budget, "UMa", False, h_bs_m=cp.grid_height_m, h_ut_m=rp.h_ut_m) / 2.0
    if demand is not None and len(demand) and radio.indoor_required(demand["env_class"].to_numpy(), rp).any():
        indoor = radio.coverage_radius_m(budget, "UMa", True, h_bs_m=cp.grid_height_m, h_ut_m=rp.h_ut_m,
                                         building_loss=rp.building_loss)
        reach = min(reach, indoor)
    return float(reach)


def grid_fill(boundary, others_xy: np.ndarray, reach_m: float, demand_xy: np.ndarray | None = None) -> np.ndarray:
    """Grid points (pitch = ``reach_m``, aligned to multiples of it) such that every point
    of ``boundary`` (or every demand point, when given) has a candidate within ``reach_m``.

    A node serves its square cell (half-diagonal 0.71·reach). It is kept when its cell
    touches the boundary (and holds demand, when given) unless one other candidate lies
    within ``reach_m`` of all four cell corners (then that candidate covers the cell).
    A node outside the boundary moves to the nearest boundary point of its cell when all
    of the cell's part inside the boundary stays within ``reach_m`` of it (else it stays
    just outside, at most 0.71·reach away, like a site across the street).
    Returns (n, 4): node x, y and the integer grid indices (i, j).
    """
    g = float(reach_m)
    minx, miny, maxx, maxy = boundary.bounds
    i = np.arange(np.floor(minx / g), np.ceil(maxx / g) + 1)
    j = np.arange(np.floor(miny / g), np.ceil(maxy / g) + 1)
    ii, jj = (a.ravel() for a in np.meshgrid(i, j, indexing="ij"))
    x, y = ii * g, jj * g
    half = g / 2.0
    keep = shapely.intersects(shapely.box(x - half, y - half, x + half, y + half), boundary)
    if demand_xy is not None:
        di = np.floor(demand_xy[:, 0] / g + 0.5)
        dj = np.floor(demand_xy[:, 1] / g + 0.5)
        occupied = pd.MultiIndex.from_arrays([di, dj]).unique()
        keep &= pd.MultiIndex.from_arrays([ii, jj]).isin(occupied)
    x, y, ii, jj = x[keep], y[keep], ii[keep], jj[keep]
    if len(others_xy) and len(x):
        node_tree = cKDTree(np.column_stack([x, y]))
        pairs = node_tree.sparse_distance_matrix(cKDTree(others_xy), g, output_type="ndarray")
        dx = np.abs(x[pairs["i"]] - others_xy[pairs["j"], 0]) + half
        dy = np.abs(y[pairs["i"]] - others_xy[pairs["j"], 1]) + half
        covered = np.zeros(len(x), bool)
        covered[pairs["i"][np.hypot(dx, dy) <= g]] = True
        x, y, ii, jj = x[~covered], y[~covered], ii[~covered], jj[~covered]
    outside = np.flatnonzero(~shapely.intersects_xy(boundary, x, y))
    if len(outside):
        xo, yo = x[outside], y[outside]
        part = shapely.intersection(shapely.box(xo - half, yo - half, xo + half, yo + half), boundary)
        near = shapely.get_coordinates(shapely.shortest_line(shapely.points(xo, yo), part))[1::2]
        coords, owner = shapely.get_coordinates(part, return_index=True)
        far = np.zeros(len(outside))
        np.maximum.at(far, owner, np.hypot(*(coords - near[owner]).T))
        ok = far <= g
        x[outside[ok]], y[outside[ok]] = near[ok, 0], near[ok, 1]
    return np.column_stack([x, y, ii, jj])


def _pole_budget(cands: pd.DataFrame, points: gpd.GeoDataFrame | None, cp: CandidateParams,
                 rp: RadioParams) -> pd.DataFrame:
    """At most ``cp.smart_pole_budget`` street-lamp candidates: those with the most demand
    weight within a small cell's outdoor reach (then by ``candidate_id``); a warning says
    when the budget binds."""
    budget = cp.smart_pole_budget
    is_pole = (cands["source"] == POLE_SOURCE).to_numpy()
    n_poles = int(is_pole.sum())
    if budget is None or n_poles <= budget:
        return cands
    poles = cands[is_pole]
    served = np.zeros(n_poles)
    if points is not None and len(points):
        reach = float(radio.reach_m(radio.link_budget(rp), "UMi", cp.lamp_height_m, rp)[0])
        near = cKDTree(poles[["x", "y"]].to_numpy()).sparse_distance_matrix(
            cKDTree(np.column_stack([points.geometry.x, points.geometry.y])), reach, output_type="ndarray")
        weight = points["weight"].to_numpy(dtype=float) if "weight" in points else np.ones(len(points))
        served = np.bincount(near["i"], weight[near["j"]], minlength=n_poles).astype(float)
    order = np.lexsort((poles["candidate_id"].astype(str).to_numpy(), -served))
    keep = np.ones(len(cands), dtype=bool)
    keep[np.flatnonzero(is_pole)[order[budget:]]] = False
    warnings.warn(f"the smart-pole budget binds: {budget:,} of the {n_poles:,} street-lamp candidates are kept, "
                  "those with the most demand in reach (candidates.smart_pole_budget)")
    return cands[keep]


def candidates_5g(area: Area, demand, params: Params, existing: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """5G candidate sites in the area CRS (columns :data:`COLUMNS` + ``env_class``).

    ``demand`` is a :class:`siting.demand.Demand` (or its points GeoDataFrame, or None):
    it sets the environment class of each candidate (nearest demand point; used for the
    RMa/UMa scenario) and limits the grid fill to where demand is. ``params`` is the
    run's :class:`Params` (candidates, radio for the grid reach, demand for the storey
    height). ``existing`` (EPSG:4326, from ``read_sites``) become fixed candidates.
    At most ``params.candidates.smart_pole_budget`` street-lamp candidates are kept
    (:func:`_pole_budget`).
    """
    cp, rp, storey = params.candidates, params.radio, params.demand.storey_height_m
    points = getattr(demand, "points", demand)
    cands = pd.concat([
        _existing(existing, area.crs, cp),
        _pois(area, "mast", "mast/", "mast",
              lambda p: np.where(p["height_m"].to_numpy(dtype=float) > 0, p["height_m"], cp.mast_height_m)),
        _rooftops(area, cp, storey),
        _pois(area, "street_lamp", "lamp/", POLE_SOURCE, cp.lamp_height_m)
        if cp.street_lamps else _table([], POLE_SOURCE, [], [], []),
    ], ignore_index=True)
    cands["rank"] = cands["source"].map(SOURCES_5G.index)
    cands = cands.sort_values(["rank", "candidate_id"], kind="stable").reset_index(drop=True)
    cands = _dedup(cands, cp.dedup_m)
    cands = cands[_may_propose(area, cands["x"], cands["y"], cands["fixed"])]
    cands = _pole_budget(cands, points, cp, rp)

    demand_xy = (np.column_stack([points.geometry.x, points.geometry.y])
                 if points is not None and len(points) else None)
    if demand_xy is not None and "weight" in points:
        demand_xy = demand_xy[points["weight"].to_numpy(dtype=float) > 0]
    nodes = grid_fill(area.boundary, cands[["x", "y"]].to_numpy(), grid_reach_m(points, cp, rp), demand_xy)
    ids = [f"grid/{int(i)}_{int(j)}" for i, j in nodes[:, 2:4]]
    grid = _table(ids, "grid", np.full(len(nodes), cp.grid_height_m), nodes[:, 0], nodes[:, 1])
    grid = grid[_may_propose(area, grid["x"], grid["y"], grid["fixed"])]
    cands = pd.concat([cands.drop(columns="rank"), grid], ignore_index=True)

    if demand_xy is not None and len(points):
        _, nearest = cKDTree(np.column_stack([points.geometry.x, points.geometry.y])).query(cands[["x", "y"]].to_numpy())
        cands["env_class"] = points["env_class"].to_numpy()[nearest] if len(cands) else []
    else:
        cands["env_class"] = "urban"
    geometry = gpd.points_from_xy(cands["x"], cands["y"], crs=area.crs)
    return gpd.GeoDataFrame(cands.drop(columns=["x", "y"]), geometry=geometry, crs=area.crs)


# --------------------------------------------------------------------------- charging candidates
def candidates_charging(area: Area, kind: str, params, existing: gpd.GeoDataFrame | None = None,
                        demand: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Candidate sites of charging facility ``kind`` (a field of ``params``, a
    :class:`~siting.config.ChargingParams`), in ``area.crs``.

    New candidates are the kind's POI categories (car parks filtered by ``parking=*``
    type; street-side parking only near residential landuse) and ``landuse:<value>``
    polygons (their representative points). ``capacity`` is parking spaces (the tag,
    else the kind's default; landuse: spaces per hectare). Existing stations, fixed:
    POIs of the kind's ``existing_categories`` (piles from ``sockets``, else
    ``capacity``, else the default) and the user's ``existing`` sites
    (:func:`siting.io.sites.read_sites`, EPSG:4326, ``piles``/``capacity``).
    With ``demand`` points and the kind's ``roadside_spacing_m``, demand with no
    candidate within that distance gets ``roadside`` candidates: road nodes nearest to
    :func:`grid_fill` points (sparse OSM: roads but no car parks).
    New candidates closer than the kind's ``merge_distance_m`` merge (:func:`_merge_close`).
    Rows are ordered existing first, then by ``candidate_id``.
    """
    cfg = params.kind(kind)
    crs = area.crs
    pois = area.pois if len(area.pois) else gpd.GeoDataFrame(
        {c: pd.Series(dtype=object) for c in ("osm_id", "category", "name", "parking", "capacity", "sockets",
                                             "output_kw")}, geometry=gpd.GeoSeries([], crs=crs))
    category = pois["category"].astype(str) if len(pois) else pd.Series([], dtype=str)
    parking_type = _parking_type(pois["parking"]) if len(pois) else pd.Series([], dtype=str)
    wanted = category.isin([c for c in cfg.candidates if not c.startswith("landuse:")])
    is_parking = category == "parking"
    wanted &= ~is_parking | parking_type.isin(cfg.parking_types)
    street = is_parking & (parking_type == "street_side")
    if cfg.street_parking_near_residential_m is not None and street.any():
        estates = area.landuse[area.landuse["landuse"] == "residential"] if len(area.landuse) else area.landuse
        near = np.zeros(len(pois), dtype=bool)
        if len(estates):
            hit = estates.sindex.query(pois.geometry, predicate="dwithin",
                                       distance=cfg.street_parking_near_residential_m)
            near[np.unique(hit[0])] = True
        wanted &= ~street | near
    fixed = category.isin(cfg.existing_categories).to_numpy()
    new = pois[wanted.to_numpy() & ~fixed]
    spaces = new["capacity"].to_numpy(dtype=float)
    frames = [_charging_frame(
        new["osm_id"].astype(str), np.where(new["category"] == "parking",
                                            ("parking:" + parking_type[new.index]).str.rstrip(":"),
                                            new["category"].astype(str)),
        np.where(np.isfinite(spaces), spaces, cfg.default_capacity), False, new["name"], 0.0, np.nan,
        new.geometry, crs)]
    for use in (c.split(":", 1)[1] for c in cfg.candidates if c.startswith("landuse:")):
        land = area.landuse[area.landuse["landuse"] == use] if len(area.landuse) else area.landuse
        if len(land) == 0:
            continue
        frames.append(_charging_frame(
            land["osm_id"].astype(str), f"landuse:{use}",
            np.maximum(land.geometry.area.to_numpy() / 1e4 * cfg.landuse_spaces_per_ha, 1.0), False,
            pd.Series([None] * len(land), dtype=object), 0.0, np.nan, land.geometry.representative_point(), crs))
    old = pois[fixed]
    frames.append(_charging_frame(
        old["osm_id"].astype(str), old["category"].astype(str), old["capacity"].to_numpy(dtype=float), True,
        old["name"], _existing_piles(old, cfg.existing_piles_default), old["output_kw"].to_numpy(dtype=float),
        old.geometry, crs))
    if existing is not None and len(existing):
        user = existing.to_crs(crs)
        frames.append(_charging_frame(
            "existing/" + user["site_id"].astype(str), "existing", user["capacity"].to_numpy(dtype=float), True,
            user["name"], _existing_piles(user, cfg.existing_piles_default), np.nan, user.geometry, crs))
    out = pd.concat(frames, ignore_index=True)
    out = out[_may_propose(area, out.geometry.x, out.geometry.y, out["fixed"])]
    if cfg.roadside_spacing_m is not None and demand is not None and len(demand) and len(area.road_nodes):
        side = _roadside(area, out, demand, cfg)
        out = pd.concat([out, side[_may_propose(area, side.geometry.x, side.geometry.y, side["fixed"])]],
                        ignore_index=True)
    out = out.sort_values(["fixed", "candidate_id"], ascending=[False, True], kind="mergesort")
    out = _merge_close(out.reset_index(drop=True), cfg.merge_distance_m)
    return gpd.GeoDataFrame(out.reset_index(drop=True), geometry="geometry", crs=crs)


def _merge_close(cands: gpd.GeoDataFrame, distance_m: float) -> gpd.GeoDataFrame:
    """One candidate per cluster of new candidates closer than ``distance_m``.

    The candidate with the most parking spaces (then the first ``candidate_id``) leads:
    it keeps its place, id and source, takes the spaces of every not yet merged new
    candidate within ``distance_m`` and the first name among them. Leaders are thus more
    than ``distance_m`` apart (a later leader was outside every earlier one's reach).
    New candidates within ``distance_m`` of an existing (fixed) station are dropped: the
    station stands there already. Existing stations are kept as given. Order is kept.
    """
    if distance_m <= 0 or len(cands) < 2:
        return cands
    fixed = cands["fixed"].to_numpy(dtype=bool)
    xy = np.column_stack([cands.geometry.x, cands.geometry.y])
    tree = cKDTree(xy)
    taken = fixed.copy()
    if fixed.any():
        near_fixed = tree.query_ball_point(xy[fixed], distance_m)
        taken[np.unique(np.concatenate([np.asarray(n, dtype=int) for n in near_fixed]))] = True
    spaces = cands["capacity"].to_numpy(dtype=float).copy()
    names = cands["name"].to_numpy(dtype=object).copy()
    keep = fixed.copy()
    order = np.lexsort((cands["candidate_id"].astype(str).to_numpy(), -np.nan_to_num(spaces)))
    for lead in order:
        if taken[lead]:
            continue
        members = [m for m in sorted(tree.query_ball_point(xy[lead], distance_m)) if not taken[m]]
        taken[members] = True
        keep[lead] = True
        spaces[lead] = np.nansum(spaces[members])
        named = [names[m] for m in [lead, *members] if isinstance(names[m], str) and names[m]]
        names[lead] = named[0] if named else names[lead]
    out = cands.assign(capacity=spaces, name=names)
    return out[keep].reset_index(drop=True)


#: parking=* values of street parking (old ``lane``/``inline`` tagging included) [A] (OSMW)
_STREET_PARKING = ("street_side", "lane", "inline", "on_street", "layby")


def _parking_type(values: pd.Series) -> pd.Series:
    """``parking=*`` per POI: '' when untagged, street parking as ``street_side``."""
    kind = values.astype(object).where(values.notna(), "").astype(str).str.strip()
    kind = kind.where(~kind.isin(["nan", "None"]), "")
    return kind.where(~kind.isin(_STREET_PARKING), "street_side")


def _roadside(area: Area, others: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, cfg) -> gpd.GeoDataFrame:
    """Roadside candidates at the road nodes nearest to grid-fill points."""
    others_xy = np.column_stack([others.geometry.x, others.geometry.y]) if len(others) else np.zeros((0, 2))
    demand_xy = np.column_stack([demand.geometry.x, demand.geometry.y])
    fill = grid_fill(area.boundary, others_xy, cfg.roadside_spacing_m, demand_xy)[:, :2]
    nodes = area.road_nodes
    _, nearest = cKDTree(np.column_stack([nodes["x"], nodes["y"]])).query(fill) if len(fill) else (None, [])
    chosen = nodes.iloc[np.unique(np.asarray(nearest, dtype=int))]
    return _charging_frame("roadside/" + chosen.index.astype(str), "roadside", cfg.default_capacity, False,
                           [None] * len(chosen), 0, np.nan, gpd.points_from_xy(chosen["x"], chosen["y"]), area.crs)


def _existing_piles(frame: pd.DataFrame, default: int) -> np.ndarray:
    """Piles of existing stations: sockets, else piles, else capacity, else ``default``."""
    piles = np.full(len(frame), np.nan)
    for column in ("capacity", "piles", "sockets"):  # later columns win
        if column in frame:
            value = frame[column].to_numpy(dtype=float)
            piles = np.where(np.isfinite(value) & (value > 0), value, piles)
    return np.where(np.isfinite(piles), np.ceil(piles), default).astype(int)


def _charging_frame(ids, source, capacity, fixed: bool, names, piles, output_kw, geometry,
                    crs: str) -> gpd.GeoDataFrame:
    n = len(geometry)
    return gpd.GeoDataFrame({
        "candidate_id": np.asarray(ids, dtype=object),
        "source": np.broadcast_to(np.asarray(source, dtype=object), (n,)),
        "height_m": np.zeros(n),
        "fixed": np.full(n, fixed, dtype=bool),
        "capacity": np.broadcast_to(np.asarray(capacity, dtype=float), (n,)),
        "name": np.asarray(names, dtype=object),
        "piles": np.broadcast_to(np.asarray(piles), (n,)).astype(int),
        "output_kw": np.broadcast_to(np.asarray(output_kw, dtype=float), (n,)),
    }, geometry=np.asarray(geometry), crs=crs)
