"""EV charging, battery-swap and hydrogen plans: demand, sites, piles, capacity.

``plan_charging`` chains the stages for one facility kind (``DOMAIN.md`` §3):

1. demand in sessions per day: residents × car ownership × EV share × sessions per
   EV, plus workplace sessions, through traffic per road km and sessions attracted by
   POIs (malls, offices, transport hubs; depots and industry for swap and hydrogen);
2. candidates (:func:`siting.candidates.candidates_charging`), existing stations
   fixed, roadside candidates where sparse OSM has no car park near demand, candidates
   closer than ``merge_distance_m`` merged into one;
3. road-network service matrix (:mod:`siting.access`), radius by environment class;
4. site choice in rounds of the shared MCLP solver (:func:`siting.solve.solve_mclp`)
   on the sessions the stations chosen so far cannot serve at full size, until the
   ``count``, the ``piles`` or the ``target`` share of served sessions is reached;
5. piles per station from the sessions a capacitated assignment (a maximum flow,
   nearer stations first: :func:`assign_sessions`) sends to it, with the kind's
   fast/slow mix and the car park's spaces as the cap; a plan in piles ends with
   exactly that many piles (bounded largest-remainder apportionment); the final
   assignment never sends a station more sessions than its piles can serve.

The summary's ``headline`` is the share of the day's sessions the piles serve (what
``target`` measures), not the share of demand within a station's radius.

Why a maximum flow (issue 16): MCLP covers, it does not fill, so site choice runs in
rounds, each needing who is still unserved; a round adds as many stations as the
unserved sessions need at what the last round's new stations served (6-10 rounds for a
district of 200-250 stations, where a typical station's size as the yardstick took 80-96).
The transportation LP this replaced cost 13-30 s per round at 400,000 pairs
(32 minutes for a district); warm-starting it does not help (HiGHS simplex from
scratch: 170 s), while the served total is a maximum flow, which SciPy's compiled
Dinic finds in about 0.1 s. The rounds use a plain maximum flow, the sizing of the
chosen stations twenty distance bands (:data:`SIZING_BANDS`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import maximum_flow
from scipy.spatial import cKDTree

from siting.access import Access, network_access, radius_by_env, road_network, service_areas
from siting.area import Area
from siting.config import ChargingParams, Params, SolverParams
from siting.config.charging import FacilityKind
from siting.coverage import covered_by
from siting.gaps import plan_gaps
from siting.layers import points_xy
from siting.errors import PlanError
from siting.result import SITE_COLUMNS, PlanResult, sites_layer
from siting.vocab import CHARGING_KINDS

#: an existing pile at or above this output (kW) counts as fast DC [A] (DOMAIN §3.3: AC 7 kW, DC 25-120 kW)
FAST_KW = 22.0
#: columns of the charging ``sites`` layer
CHARGING_SITE_COLUMNS = SITE_COLUMNS + ("piles", "piles_fast", "piles_slow", "sessions", "capacity", "spaces",
                                        "name")


def kind_config(params: ChargingParams, kind: str) -> FacilityKind:
    """The configuration of charging facility ``kind``; PlanError for an unknown kind."""
    if kind not in CHARGING_KINDS:
        raise PlanError(f"unknown charging kind '{kind}': use one of {', '.join(CHARGING_KINDS)}")
    return params.kind(kind)


def charging_demand(points: gpd.GeoDataFrame, pois: gpd.GeoDataFrame, cfg: FacilityKind,
                    params: ChargingParams) -> gpd.GeoDataFrame:
    """Charging sessions per day at each demand point (residents' and workers' EVs,
    through traffic on its road length) and at attracting POIs.

    Columns: ``demand_id``, ``kind`` (``cell``/``road``/``poi``), ``residents``,
    ``workers``, ``env_class``, ``evs``, ``sessions`` (= ``weight``), ``source``,
    geometry. Only points with sessions > 0 are kept.
    """
    ev_per_person = params.car_ownership_per_person * params.ev_share
    residents = points["residents"].to_numpy(dtype=float)
    workers = points["workers"].to_numpy(dtype=float)
    evs = residents * ev_per_person
    road_km = points["road_m"].to_numpy(dtype=float) / 1000.0 if "road_m" in points else np.zeros(len(points))
    sessions = (evs * cfg.sessions_per_ev_day + workers * ev_per_person * cfg.sessions_per_worker_ev_day
                + np.nan_to_num(road_km) * cfg.sessions_per_road_km_day)
    base = pd.DataFrame({"kind": points["kind"].to_numpy(), "residents": residents, "workers": workers,
                         "env_class": points["env_class"].to_numpy(), "evs": evs, "sessions": sessions,
                         "source": points["source"].to_numpy()})
    frames = [gpd.GeoDataFrame(base, geometry=points.geometry.to_numpy(), crs=points.crs)]
    attract = pois[pois["category"].isin(list(cfg.poi_sessions_day))] if len(pois) else pois
    if len(attract):
        xy = np.column_stack([attract.geometry.x, attract.geometry.y])
        env = np.full(len(attract), "urban", dtype=object)
        if len(points):
            _, nearest = cKDTree(np.column_stack([points.geometry.x, points.geometry.y])).query(xy)
            env = points["env_class"].to_numpy()[nearest]
        category = attract["category"].astype(str)
        frames.append(gpd.GeoDataFrame({
            "kind": "poi", "residents": 0.0, "workers": 0.0, "env_class": env, "evs": 0.0,
            "sessions": category.map(cfg.poi_sessions_day).to_numpy(dtype=float),
            "source": ("poi:" + category).to_numpy()}, geometry=attract.geometry.to_numpy(), crs=points.crs))
    out = pd.concat(frames, ignore_index=True)
    out = out[out["sessions"] > 0].reset_index(drop=True)
    out.insert(0, "demand_id", np.arange(len(out)))
    out["weight"] = out["sessions"]
    return gpd.GeoDataFrame(out, geometry="geometry", crs=points.crs)


def pile_throughput(cfg: FacilityKind, fast: np.ndarray, slow: np.ndarray) -> np.ndarray:
    """Sessions per day that ``fast`` + ``slow`` piles serve."""
    return fast * cfg.sessions_per_fast_pile_day + slow * cfg.sessions_per_slow_pile_day


def split_piles(piles: np.ndarray, fast_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Fast and slow piles of stations with ``piles`` piles (fast rounded half up)."""
    piles = np.asarray(piles, dtype=int)
    fast = np.minimum(np.floor(piles * fast_share + 0.5).astype(int), piles)
    return fast, piles - fast


def apportion(weights: np.ndarray, total: int, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Integers within [lower, upper] summing exactly to ``total``, proportional to
    ``weights`` as far as the bounds allow (water-filling, then largest remainder;
    ties go to the earlier position)."""
    weights = np.maximum(np.asarray(weights, dtype=float), 0.0) + 1e-12
    lower = np.asarray(lower, dtype=float)
    upper = np.asarray(upper, dtype=float)
    if lower.sum() > total or upper.sum() < total:
        raise PlanError(f"{total} piles cannot be spread over stations holding {int(lower.sum())} "
                        f"to {int(upper.sum())} piles")
    lo, hi = 0.0, float(total) / weights.min() + 1.0
    for _ in range(200):  # bisection on the scale: sum(clip(scale * w)) == total
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.clip(mid * weights, lower, upper).sum() < total else (lo, mid)
    ideal = np.clip(hi * weights, lower, upper)
    base = np.minimum(np.floor(ideal + 1e-9), upper).astype(int)
    short = int(total - base.sum())
    room = np.flatnonzero(base < upper)
    order = room[np.argsort(-(ideal[room] - base[room]), kind="stable")]
    if short > 0:
        base[order[:short]] += 1
    elif short < 0:  # float slack: take back from the smallest remainders
        give = np.flatnonzero(base > lower)
        base[give[np.argsort(ideal[give] - base[give], kind="stable")[:-short]]] -= 1
    return base


#: trip-length bands of the assignment, shares of the demand point's radius: sessions go to stations of
#: a nearer band first. Sizing the chosen stations uses fine bands (closer to nearest-first, 2.5 s at
#: 400,000 pairs); the rounds of site choice need only who stays unserved: one band, a plain maximum
#: flow (0.16 s; served sessions of the final plans as with two bands, benchmarks/RESULTS.md) [A]
SIZING_BANDS = tuple(np.linspace(0.05, 1.0, 20).round(2))
ROUND_BANDS = (1.0,)
#: the solver method of a round of site choice: greedy and swap local search. A round is one
#: step of a heuristic (who stays unserved is re-assessed after it), so the iterated search and
#: the LP bound of ``"auto"`` (about 10 s a round at 1.9 million pairs) buy nothing there;
#: served sessions of the final plans as with "auto" (benchmarks/RESULTS.md, issue 16) [A]
ROUND_METHOD = "greedy+swap"
#: flows are integers of 1 / scale sessions, scale as large as int32 sums allow (<= 2**20) [A]
_MAX_SCALE = 2.0 ** 20


def assign_sessions(distance: sparse.csr_matrix, sessions: np.ndarray, capacity: np.ndarray,
                    radius: np.ndarray, bands: tuple[float, ...] = SIZING_BANDS) -> sparse.csr_matrix:
    """Capacitated assignment: sessions per (demand, station) pair, as many as possible,
    nearer stations first, never more than a station's ``capacity`` or a point's
    ``sessions``.

    A maximum flow source -> demand point -> station -> sink (SciPy's compiled Dinic on
    integer flows of 1/scale session), solved band by band of trip length
    (``bands``: shares of the point's radius, the last 1), each band on the residual graph of the
    bands before it. The served total is the maximum (the last band sees every pair
    within reach, and residual flows let it re-route what earlier bands sent), short of
    it only by rounding each point and station down to 1/scale session; nearer stations
    are preferred band by band rather than metre by metre (within a band any maximum
    flow will do). It replaces a transportation LP (HiGHS interior point, a small
    preference for short trips) that took 13-30 s per solve at 400,000 pairs, where one
    band takes 0.16 s: site choice re-solves the assignment in every round, and a
    district needs a hundred rounds (issue 16). The served total equals the LP's
    (within the rounding); how sessions split between stations in reach of the same
    points may differ."""
    coo = distance.tocoo()
    n_d, n_s = distance.shape
    if coo.nnz == 0:
        return sparse.csr_matrix(distance.shape)
    sessions = np.maximum(np.asarray(sessions, dtype=float), 0.0)
    capacity = np.maximum(np.asarray(capacity, dtype=float), 0.0)
    scale = _flow_scale(max(sessions.sum(), capacity.sum()))
    supply = np.floor(sessions * scale).astype(np.int64)
    room = np.floor(capacity * scale).astype(np.int64)
    share = coo.data / np.maximum(radius[coo.row], 1.0)
    src, sink = n_d + n_s, n_d + n_s + 1
    # edges: source -> demand, demand -> station (one per pair), station -> sink
    tail = np.r_[np.full(n_d, src), coo.row, n_d + np.arange(n_s)]
    head = np.r_[np.arange(n_d), n_d + coo.col, np.full(n_s, sink)]
    pair = slice(n_d, n_d + coo.nnz)
    flow = np.zeros(len(tail), dtype=np.int64)
    for band in bands:
        cap = np.r_[supply, np.where(share <= band + 1e-12, supply[coo.row], 0), room]
        flow += _augment(tail, head, cap, flow, src, sink, n_d + n_s + 2)
    return sparse.csr_matrix((flow[pair] / scale, (coo.row, coo.col)), shape=distance.shape)


def _flow_scale(total: float) -> float:
    """Units per session: a power of two that keeps every int32 flow sum below 2**30."""
    return float(min(_MAX_SCALE, 2.0 ** math.floor(math.log2(2.0 ** 30 / max(total, 1.0)))))


def _augment(tail: np.ndarray, head: np.ndarray, cap: np.ndarray, flow: np.ndarray, src: int, sink: int,
             n: int) -> np.ndarray:
    """Extra flow per edge that a maximum flow on the residual graph of ``flow`` adds."""
    # residual: forward capacity left, and the flow already sent, as a backward edge
    graph = sparse.csr_matrix((np.r_[cap - flow, flow].astype(np.int32), (np.r_[tail, head], np.r_[head, tail])),
                              shape=(n, n))
    extra = maximum_flow(graph, src, sink, method="dinic").flow
    return np.asarray(extra[tail, head]).ravel().astype(np.int64)


def plan_charging(area: Area, demand, kind: str, params: Params, existing: gpd.GeoDataFrame | None = None,
                  count: int | None = None, piles: int | None = None, target: float | None = None) -> PlanResult:
    """Plan charging facilities of ``kind`` (charging, basic, depot, swap, hydrogen).

    ``demand`` is a :class:`siting.demand.Demand` (or its ``points``). Give at most one
    of ``count`` (stations in total, existing included), ``piles`` (piles in total,
    existing included: the plan ends with exactly that many) or ``target`` (share of
    the day's sessions served within a station's radius and within its piles'
    capacity); none means ``params.charging.target``.

    New stations are chosen by MCLP (:func:`siting.solve.solve_mclp`) on the
    sessions that the stations already chosen cannot serve at their full size, so
    demand next to a saturated existing station still draws a new one; a target
    plan repeats such rounds until the target is served or nothing more can be.
    """
    cp = params.charging
    cfg = kind_config(cp, kind)
    if sum(x is not None for x in (count, piles, target)) > 1:
        raise PlanError("give only one of --count, --piles or --target")
    if target is not None and not 0 < target <= 1:
        raise PlanError(f"--target {target} is outside (0, 1]: give a share of sessions such as 0.9")
    points = charging_demand(getattr(demand, "points", demand), area.pois, cfg, cp)
    if len(points) == 0:
        if cp.ev_share == 0:
            raise PlanError(f"charging.ev_share is 0, so there is no {kind} demand: set it above 0 "
                            "(e.g. 0.06) in the config")
        raise PlanError(f"no {kind} demand in area '{area.name}': it has no residents, workers or "
                        f"POIs ({', '.join(cfg.poi_sessions_day) or 'none configured'}) that need it")
    from siting.candidates import candidates_charging

    candidates = candidates_charging(area, kind, cp, existing=existing, demand=points)
    net = road_network(area, cp)
    radius = radius_by_env(points["env_class"].to_numpy(), cfg.radius_m)
    access = network_access(None, points_xy(points), points_xy(candidates), radius, cp, net)
    no_road = ~access.on_network & ~candidates["fixed"].to_numpy(dtype=bool)
    if no_road.any():
        keep = np.flatnonzero(~no_road)
        candidates = candidates.iloc[keep].reset_index(drop=True)
        access = Access(access.matrix[:, keep], access.distance[:, keep], access.demand_snap_m,
                        access.candidate_snap_m[keep], access.on_network[keep], access.reachable)
    if len(candidates) == 0:
        raise PlanError(f"no {kind} candidate sites with road access in area '{area.name}': "
                        f"the kind needs {', '.join(cfg.candidates)} in the OSM data")
    st = _Stations(access, points["sessions"].to_numpy(dtype=float), radius,
                   _station_sizes(candidates, cfg), cfg, params.seed, params.solver)
    fixed = np.flatnonzero(candidates["fixed"].to_numpy(dtype=bool))
    if piles is not None:
        choice, pile_plan = _choose_for_piles(st, fixed, piles)
    elif count is not None:
        if count > len(candidates):
            raise PlanError(f"--count {count} exceeds the {len(candidates)} {kind} candidate sites: "
                            "ask for fewer sites or use --target")
        choice, pile_plan = _grow(st, _Choice.of(st, fixed), count, st.weights.sum()), None
        if len(choice.sites) < count:  # all demand in reach is served: place the rest where most sessions are
            choice = st.top_up(st.extend(choice, count - len(choice.sites), st.weights), count)
    else:
        target = cp.target if target is None else target
        choice = _grow(st, _Choice.of(st, fixed), len(candidates), target * st.weights.sum())
        pile_plan = None
    result = _result(area, kind, params, points, candidates, net, st, choice, fixed, pile_plan, int(no_road.sum()))
    s = result.summary
    s["existing_without_road_access"] = int((~access.on_network[fixed]).sum())
    s["request_met"] = bool(s["sites_total"] == count if count is not None else
                            s["piles_total"] == piles if piles is not None else
                            target is not None and s["served_ratio"] >= target - 1e-6)
    s["headline"] = headline(kind, s["sessions_served_ratio"], s["sessions_served_ratio_before"], target)
    return result


#: what a session and a pile are called in the headline, by kind (default: charging)
_HEADLINE_WORDS = {"swap": ("battery swaps", "swap lanes"), "hydrogen": ("refuelling sessions", "dispensers")}


def headline(kind: str, served: float, served_before: float, target: float | None) -> dict:
    """The figure a charging plan is judged by: the share of the day's sessions that
    the piles serve (within a station's radius and its piles' capacity), the share the
    existing stations served alone, and the target share of sessions when one was set."""
    sessions, piles = _HEADLINE_WORDS.get(kind, ("charging sessions", "piles"))
    label = f"share of the day's {sessions} the {piles} can serve"
    if target is not None:
        label += f" (target: {target:.0%} of {sessions} served)"
    return {"label": label, "value": float(served), "target": None if target is None else float(target),
            "measure": "sessions_served", "value_before": float(served_before)}


def _station_sizes(candidates: gpd.GeoDataFrame, cfg: FacilityKind) -> dict[str, np.ndarray]:
    """Pile limits and existing piles of every candidate."""
    is_fixed = candidates["fixed"].to_numpy(dtype=bool)
    piles = np.where(is_fixed, candidates["piles"].to_numpy(dtype=int), 0)
    spaces = candidates["capacity"].to_numpy(dtype=float)
    spaces = np.where(np.isfinite(spaces), spaces, np.where(is_fixed, piles, cfg.default_capacity))
    cap = np.clip(np.floor(spaces * cfg.parking_share + 1e-9), 1, cfg.max_piles).astype(int)
    output = candidates["output_kw"].to_numpy(dtype=float)
    fast, slow = split_piles(piles, cfg.fast_share)
    known = is_fixed & np.isfinite(output)
    fast = np.where(known, np.where(output >= FAST_KW, piles, 0), fast)
    return {"fixed": is_fixed, "piles": piles, "cap": np.where(is_fixed, piles, cap), "spaces": spaces,
            "fast": fast, "slow": piles - fast}


@dataclass(frozen=True)
class _Choice:
    """Stations chosen so far: fixed first, then new ones in the order of choice."""

    sites: np.ndarray
    gains: np.ndarray     # sessions each site added when chosen (existing: what they serve)
    bound: float | None   # upper bound on the sessions the last round's new sites could cover
    method: str
    rounds: int

    @classmethod
    def of(cls, st: "_Stations", fixed: np.ndarray) -> "_Choice":
        served = np.asarray(st.flow(fixed).sum(axis=0)).ravel()
        return cls(np.asarray(fixed, dtype=int), served, None, "existing", 0)


@dataclass(frozen=True)
class _Stations:
    """What the choice and sizing of stations work on."""

    access: Access
    weights: np.ndarray   # sessions per demand point
    radius: np.ndarray    # service radius per demand point
    sizes: dict
    cfg: FacilityKind
    seed: int
    solver: SolverParams

    def capacity(self, sites: np.ndarray, piles: np.ndarray) -> np.ndarray:
        """Sessions per day of ``sites`` with ``piles`` piles (existing: their own mix)."""
        fast, slow = split_piles(piles, self.cfg.fast_share)
        existing = self.sizes["fixed"][sites]
        fast = np.where(existing, self.sizes["fast"][sites], fast)
        slow = np.where(existing, self.sizes["slow"][sites], slow)
        return pile_throughput(self.cfg, fast, slow)

    def flow(self, sites: np.ndarray, piles: np.ndarray | None = None,
             bands: tuple[float, ...] = SIZING_BANDS) -> sparse.csr_matrix:
        """Capacitated assignment to ``sites`` with ``piles`` (default: full size)."""
        piles = self.sizes["cap"][sites] if piles is None else piles
        return assign_sessions(self.access.distance[:, sites], self.weights, self.capacity(sites, piles),
                               self.radius, bands)

    def served(self, sites: np.ndarray) -> np.ndarray:
        """Sessions per demand point that ``sites`` at full size serve (one band: who stays unserved)."""
        return np.asarray(self.flow(sites, bands=ROUND_BANDS).sum(axis=1)).ravel()

    def extend(self, choice: _Choice, k: int, unserved: np.ndarray) -> _Choice:
        """Add ``k`` new stations: MCLP over the other candidates on the ``unserved``
        sessions of each demand point."""
        from siting.solve import solve_mclp

        free = np.setdiff1d(np.arange(self.access.matrix.shape[1]), choice.sites)
        k = min(k, len(free))
        if k <= 0:
            return choice
        solution = solve_mclp(self.access.matrix[:, free], np.clip(unserved, 0.0, None), k, method=ROUND_METHOD,
                              seed=self.seed, params=self.solver)
        return _Choice(np.r_[choice.sites, free[np.asarray(solution.selected, dtype=int)]],
                       np.r_[choice.gains, np.asarray(solution.gains, dtype=float)], float(solution.bound),
                       solution.method, choice.rounds + 1)

    def top_up(self, choice: _Choice, count: int) -> _Choice:
        """Add candidates until ``count`` stations stand, most sessions within reach first
        (the solver adds no station that covers nothing new)."""
        free = np.setdiff1d(np.arange(self.access.matrix.shape[1]), choice.sites)
        reach = np.asarray(self.access.matrix[:, free].T @ self.weights).ravel()
        extra = free[np.argsort(-reach, kind="stable")[:max(count - len(choice.sites), 0)]]
        return _Choice(np.r_[choice.sites, extra], np.r_[choice.gains, np.zeros(len(extra))], choice.bound,
                       choice.method, choice.rounds)

    def pile_throughput(self) -> float:
        """Sessions per day of one new pile at the kind's fast/slow mix."""
        fast = np.asarray(self.cfg.fast_share)
        return float(pile_throughput(self.cfg, fast, 1.0 - fast))


def _grow(st: _Stations, choice: _Choice, max_sites: int, goal: float) -> _Choice:
    """Rounds of new stations until ``goal`` sessions are served, ``max_sites`` stations
    stand, or no candidate reaches unserved demand any more.

    A round adds as many stations as the unserved sessions need at what one new station
    served in the round before (at first: a station of ``typical_piles``), at most twice
    the round before's: where the demand left is thin and scattered a round adds more
    stations, so a district needs about ten rounds, not one per few stations (issue 16)."""
    per_station = st.cfg.typical_piles * st.pile_throughput()
    served = st.served(choice.sites)
    most = max_sites
    while len(choice.sites) < max_sites and served.sum() < goal - 1e-9:
        k = min(max_sites - len(choice.sites), most, max(1, math.ceil((goal - served.sum()) / per_station)))
        grown = st.extend(choice, k, st.weights - served)
        if grown.gains[len(choice.sites):].sum() <= 1e-9:  # nothing unserved within reach
            break
        now = st.served(grown.sites)
        per_station = min(per_station, max((now.sum() - served.sum()) / k, 1e-9))
        choice, served, most = grown, now, 2 * k
    return choice


def _choose_for_piles(st: _Stations, fixed: np.ndarray, piles: int) -> tuple[_Choice, dict[int, int]]:
    """New stations for exactly ``piles`` piles in total, and the new piles of each."""
    if piles < 1:
        raise PlanError(f"--piles {piles} is not a pile count: give a positive number")
    existing_piles = int(st.sizes["piles"][fixed].sum())
    if piles < existing_piles:
        raise PlanError(f"--piles {piles} is below the {existing_piles} piles at the {len(fixed)} existing "
                        f"stations: ask for at least {existing_piles}")
    new_piles = piles - existing_piles
    n_new = st.access.matrix.shape[1] - len(fixed)
    base = _Choice.of(st, fixed)
    if new_piles == 0:
        return base, {}
    if n_new == 0:
        raise PlanError(f"--piles asks for {new_piles} new piles but there are no candidate sites for new stations")
    stations = min(max(math.ceil(new_piles / st.cfg.typical_piles), 1), n_new, new_piles)
    while True:
        choice = _grow(st, base, len(fixed) + stations, st.weights.sum())
        if len(choice.sites) == len(fixed):  # no demand left to serve: spread by coverage alone
            choice = st.extend(base, stations, st.weights)
        new = choice.sites[len(fixed):]
        room = int(st.sizes["cap"][new].sum())
        if room >= new_piles:
            break
        if len(new) < stations or stations >= n_new:
            raise PlanError(f"--piles asks for {new_piles} new piles but the {len(new)} candidate sites that reach "
                            f"unserved demand hold at most {room} (car park spaces x parking_share): ask for fewer "
                            "piles or raise charging.<kind>.parking_share")
        stations = min(n_new, stations + math.ceil((new_piles - room) / st.cfg.typical_piles))
    drawn = np.asarray(st.flow(choice.sites).sum(axis=0)).ravel()[len(fixed):]
    plan = apportion(drawn / st.pile_throughput(), new_piles, np.zeros(len(new)), st.sizes["cap"][new])
    keep = np.r_[np.ones(len(fixed), dtype=bool), plan > 0]  # a station left without piles is no station
    choice = _Choice(choice.sites[keep], choice.gains[keep], choice.bound, choice.method, choice.rounds)
    return choice, dict(zip(new[plan > 0].tolist(), plan[plan > 0].tolist()))


def _result(area: Area, kind: str, params: Params, points: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame,
            net, st: _Stations, choice: _Choice, fixed: np.ndarray, pile_plan: dict[int, int] | None,
            dropped: int) -> PlanResult:
    """Size the chosen stations, assign sessions within capacity, build layers and summary."""
    cp = params.charging
    cfg, sizes, access, weights, radius = st.cfg, st.sizes, st.access, st.weights, st.radius
    selected = choice.sites
    is_fixed = sizes["fixed"][selected]
    if pile_plan is None:  # piles for the sessions drawn at full size
        drawn = np.asarray(st.flow(selected).sum(axis=0)).ravel()
        cap = sizes["cap"][selected]
        need = np.ceil(drawn / st.pile_throughput() - 1e-9).astype(int)
        piles = np.where(is_fixed, sizes["piles"][selected], np.clip(need, np.minimum(cfg.min_piles, cap), cap))
    else:
        piles = np.array([pile_plan.get(s, sizes["piles"][s]) for s in selected.tolist()], dtype=int)
    fast, slow = split_piles(piles, cfg.fast_share)
    fast = np.where(is_fixed, sizes["fast"][selected], fast)
    slow = np.where(is_fixed, sizes["slow"][selected], slow)
    capacity = st.capacity(selected, piles)
    flow = st.flow(selected, piles)
    sessions = np.asarray(flow.sum(axis=0)).ravel()
    served = np.asarray(flow.sum(axis=1)).ravel()
    before = covered_by(access.matrix, fixed)
    after = covered_by(access.matrix, selected)
    gains = choice.gains
    site_xy = points_xy(candidates.iloc[selected])
    _, nearest = cKDTree(points_xy(points)).query(site_xy) if len(selected) else (None, np.zeros(0, dtype=int))
    site_radius = radius[nearest] if len(selected) else np.zeros(0)
    chosen = candidates.iloc[selected].reset_index(drop=True)
    sites = sites_layer(chosen, is_fixed, sessions, gains, piles=piles, piles_fast=fast, piles_slow=slow,
                        sessions=np.round(sessions, 3), capacity=np.round(capacity, 3),
                        spaces=sizes["spaces"][selected])
    demand_layer = points.copy()
    demand_layer["radius_m"] = radius
    demand_layer["reachable"] = access.reachable
    demand_layer["covered_before"] = before
    demand_layer["covered_after"] = after
    demand_layer["served"] = np.round(served, 6)
    areas = service_areas(None, site_xy, site_radius, cp, net, crs=area.crs)
    residents = points["residents"].to_numpy(dtype=float)
    cover = access.matrix[:, selected]
    areas["site_id"] = sites["site_id"].to_numpy()
    areas["layer"] = "service_area"
    areas["population"] = np.asarray(cover.T @ residents).ravel() if len(selected) else 0.0
    areas["demand"] = np.asarray(cover.T @ weights).ravel() if len(selected) else 0.0
    cols = ["layer", "state", "site_id", "population", "demand", "radius_m", "area_km2", "geometry"]
    coverage = pd.concat([areas[is_fixed].assign(state="before"), areas.assign(state="after")], ignore_index=True)
    gaps, gap_figures = plan_gaps(area, points, after, params)
    layers = {
        "sites": sites[list(CHARGING_SITE_COLUMNS) + ["geometry"]],
        "coverage": gpd.GeoDataFrame(coverage[cols], geometry="geometry", crs=area.crs),
        "gaps": gaps,
        "demand": demand_layer,
    }
    total = float(weights.sum())
    unreachable = ~access.reachable
    other_kinds = {str(k) for k in CHARGING_KINDS if k != kind}
    summary = {
        "sites_existing": int(is_fixed.sum()),
        "sites_proposed": int((~is_fixed).sum()),
        "sites_total": int(len(selected)),
        "piles_total": int(piles.sum()),
        "piles_existing": int(piles[is_fixed].sum()),
        "piles_proposed": int(piles[~is_fixed].sum()),
        "piles_fast": int(fast.sum()),
        "piles_slow": int(slow.sum()),
        "candidates": {str(k): int(v) for k, v in candidates["source"].value_counts().sort_index().items()},
        "candidates_without_road_access": dropped,
        "demand_points": int(len(points)),
        "demand_total": round(total, 3),
        "demand_covered": round(float(weights[after].sum()), 3),
        "demand_covered_before": round(float(weights[before].sum()), 3),
        "demand_served": round(float(served.sum()), 3),
        "coverage_ratio": round(float(weights[after].sum()) / total, 6),
        "coverage_ratio_before": round(float(weights[before].sum()) / total, 6),
        "served_ratio": round(float(served.sum()) / total, 6),
        "sessions_total": round(total, 3),
        "sessions_served": round(float(served.sum()), 3),
        "sessions_served_ratio": round(float(served.sum()) / total, 6),
        "sessions_served_before": round(float(gains[is_fixed].sum()), 3),
        "sessions_served_ratio_before": round(float(gains[is_fixed].sum()) / total, 6),
        "evs_total": round(float(points["evs"].sum()), 1),
        "population_total": round(float(residents.sum()), 1),
        "population_covered": round(float(residents[after].sum()), 1),
        "unreachable_demand": round(float(weights[unreachable].sum()), 3),
        "unreachable_points": int(unreachable.sum()),
        "bound": _rounded(choice.bound, 3),
        "solver": choice.method,
        "selection_rounds": choice.rounds,
        "gaps": int(len(gaps)),
        "gap_areas": gap_figures,
        "parameters": {"charging": cp.model_dump(exclude=other_kinds, mode="json")},
    }
    return PlanResult(kind=kind, area_slug=area.slug, crs=area.crs, layers=layers, summary=summary)


def _rounded(value, digits: int) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)
