"""Capacity-aware 5G planning: busy-hour traffic, site capacity, capacitated site choice.

Coverage alone does not explain a city's site count: in dense districts sites are added
for traffic, not reach (``DOMAIN.md`` §1.9, TY5G: dense and general urban zones are
capacity-led, suburbs and rural coverage-led). This module adds the capacity side:

- :func:`traffic_mbps`: busy-hour downlink demand per demand point, from residents,
  workers and road users (each with a presence share and an activity factor) times the
  busy-hour rate of an average account (monthly data / busy days / busy hours);
- :func:`spectral_efficiency`: bit/s/Hz per layer of a demand–site pair from its link
  margin, SINR = ``edge_sinr_db`` + margin, on the truncated Shannon curve of 3GPP TR
  36.942 annex A; :func:`site_capacity_mhz`: the radio resource of a site, sectors ×
  bandwidth × downlink share × MIMO layers × ``max_load`` (MHz). Serving ``x`` Mbps over
  a pair uses ``x / se`` MHz of the site's resource;
- :func:`solve_capacitated`: choose sites so that traffic is covered *and served*
  within capacity (demand may split across sites): ``p`` sites maximising served
  traffic, or the fewest sites serving a share ``target``. Heuristic: lazy greedy on the
  served-traffic gain (each site's gain is a fractional knapsack of the residual
  traffic, best spectral efficiency first), compared with the coverage-only plan
  (``solve_mclp`` on traffic); the winner's assignment is re-optimised with an LP
  (HiGHS) so it is exactly feasible. Bound: the smaller of the coverage-only bound and a
  Lagrangian bound (demand constraints relaxed, started from the LP's duals). On small
  instances an exact MILP (HiGHS) checks and improves the heuristic;
- :func:`explain_count`: the coverage-driven count (set cover alone), the
  capacity-driven count, and which one drives the plan;
- :func:`capacity_outputs`: per-site load, the ``capacity_gaps`` layer (covered but not
  served demand, dissolved like the coverage gaps) and summary figures.
"""
from __future__ import annotations

import heapq
import time
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
from scipy import sparse

from siting.config import CapacityParams, SolverParams
from siting.coverage import coverage_matrix
from siting.errors import PlanError
from siting.vocab import POLE_SOURCE
from siting.layers import gap_polygons
from siting.optimize import METHODS, highs_model, solve_mclp, solve_set_cover

#: seconds of traffic per busy hour and megabits per gigabyte
_MBIT_PER_GB_HOUR = 8000.0 / 3600.0

#: target mode: at most this many sites (least served first) are tried for removal after
#: the greedy, each with one assignment LP [A]
_DROP_TRIALS = 5


# --------------------------------------------------------------------------- traffic and capacity


def busy_hour_mbps_per_user(params: CapacityParams) -> float:
    """Mean busy-hour downlink rate of an average account [Mbps]: monthly data spread
    over the busy days and the busy hours of a day."""
    return params.dou_gb_month / (params.busy_days_per_month * params.busy_hours_per_day) * _MBIT_PER_GB_HOUR


def traffic_mbps(points: gpd.GeoDataFrame, params: CapacityParams) -> np.ndarray:
    """Busy-hour downlink traffic demand of each demand point [Mbps].

    Active users = residents × share × activity + workers × share × activity + road km ×
    road users per km × activity, times the subscriber share (:func:`subscriber_share`)
    and the busy-hour rate of an account; priority places (``priority`` > 1) carry
    ``priority_extra`` more.
    """
    col = {c: points[c].to_numpy(dtype=np.float64) for c in ("residents", "workers", "road_m", "priority")}
    users = (col["residents"] * params.resident_share * params.resident_activity
             + col["workers"] * params.worker_share * params.worker_activity
             + col["road_m"] / 1000.0 * params.road_users_per_km * params.road_activity)
    boost = 1.0 + params.priority_extra * (col["priority"] - 1.0)
    share = subscriber_share(params, float(col["residents"].sum()))
    return users * share * busy_hour_mbps_per_user(params) * boost


def subscriber_share(params: CapacityParams, residents: float) -> float:
    """Share of the people's traffic the planned network carries: ``subscriber_share``,
    or with a plan's ``users`` (5G users) those users spread over ``users_population``
    (else over ``residents``, the area's own): users per resident, at most 1."""
    if params.users is None:
        return params.subscriber_share
    population = params.users_population or residents
    if population <= 0:
        raise PlanError("capacity.users is set but the area has no residents to spread them over: "
                        "set capacity.users_population to the city's population")
    return min(params.users / population, 1.0)


def spectral_efficiency(margin_db: np.ndarray, params: CapacityParams) -> np.ndarray:
    """Spectral efficiency per layer [bit/s/Hz] of pairs with link margin ``margin_db``.

    SINR [dB] = ``edge_sinr_db`` + margin, capped at ``sinr_max_db``; SE =
    min(``se_max``, α·log2(1 + SINR)), and 0 below ``sinr_min_db`` (TR 36.942 annex A).
    """
    sinr_db = np.minimum(params.edge_sinr_db + np.asarray(margin_db, dtype=np.float64), params.sinr_max_db)
    se = np.minimum(params.se_max, params.shannon_alpha * np.log2(1.0 + 10.0 ** (sinr_db / 10.0)))
    return np.where(sinr_db >= params.sinr_min_db, se, 0.0)


def site_capacity_mhz(source: np.ndarray, bandwidth_mhz: float, params: CapacityParams) -> np.ndarray:
    """Usable radio resource of each candidate [MHz]: sectors × bandwidth × downlink share ×
    layers × ``max_load``; street-lamp small cells have ``small_cell_sectors``.

    A site serving Mbps ``x_i`` at spectral efficiency ``se_i`` uses ``Σ x_i / se_i`` MHz.
    """
    sectors = np.where(np.asarray(source, dtype=object) == POLE_SOURCE, params.small_cell_sectors, params.sectors)
    return sectors * bandwidth_mhz * params.dl_share * params.layers * params.max_load


# --------------------------------------------------------------------------- solution


@dataclass(frozen=True)
class CapacitySolution:
    """Sites chosen for traffic and how the traffic is assigned to them.

    ``selected``: candidate indices, fixed sites first. ``flow_rows``, ``flow_cols``,
    ``flow_mbps``: the assignment as sparse fractional flows (demand point, site, Mbps);
    ``served`` (per demand point) and ``site_served`` / ``load`` (per selected site: Mbps
    and share of its resource ``site_capacity`` used, ≤ 1) follow from it. ``covered``:
    demand points within reach of a selected site. ``objective`` is the served traffic,
    ``bound`` a proven upper bound on the served traffic of any plan with as many sites
    (``gap = 1 - objective / bound``); ``min_sites`` (target mode) a lower bound on the
    sites any plan serving the target needs.
    """

    selected: np.ndarray
    objective: float
    bound: float
    gap: float
    method: str
    served: np.ndarray
    covered: np.ndarray
    site_served: np.ndarray
    load: np.ndarray
    flow_rows: np.ndarray
    flow_cols: np.ndarray
    flow_mbps: np.ndarray
    runtime_s: float
    min_sites: int | None = None


@dataclass(frozen=True)
class _Instance:
    """Pairs sorted by (candidate, spectral efficiency descending), with candidate offsets."""

    rows: np.ndarray
    cols: np.ndarray
    se: np.ndarray
    indptr: np.ndarray  # pairs of candidate j: indptr[j]:indptr[j + 1]
    traffic: np.ndarray
    capacity: np.ndarray
    fixed: np.ndarray
    tol: float

    @property
    def n_candidates(self) -> int:
        return len(self.capacity)

    @classmethod
    def build(cls, pairs, traffic, se, site_capacity, fixed, method: str) -> "_Instance":
        if method not in METHODS:
            raise PlanError(f"unknown solver method '{method}': use one of {', '.join(METHODS)}")
        rows, cols = (np.asarray(a, dtype=np.int64).ravel() for a in pairs)
        se = np.asarray(se, dtype=np.float64).ravel()
        t = np.asarray(traffic, dtype=np.float64).ravel()
        cap = np.asarray(site_capacity, dtype=np.float64).ravel()
        if not len(rows) == len(cols) == len(se):
            raise PlanError("pairs and spectral efficiencies differ in length: give one value per pair")
        if not (np.all(np.isfinite(t)) and np.all(t >= 0) and np.all(np.isfinite(cap)) and np.all(cap >= 0)):
            raise PlanError("traffic and site capacities must be finite and non-negative: "
                            "check the capacity parameters")
        if len(rows) and (rows.max() >= len(t) or cols.max() >= len(cap) or min(rows.min(), cols.min()) < 0):
            raise PlanError("a pair refers to a demand point or candidate that does not exist: check the pair list")
        ids = np.asarray([] if fixed is None else fixed, dtype=np.int64).ravel()
        if np.any((ids < 0) | (ids >= len(cap))):
            raise PlanError(f"an existing site index is outside 0..{len(cap) - 1}: check the candidate table")
        ids = ids[np.sort(np.unique(ids, return_index=True)[1])]
        keep = (se > 0) & (t[rows] > 0)
        rows, cols, se = rows[keep], cols[keep], se[keep]
        order = np.lexsort((rows, -se, cols))
        rows, cols, se = rows[order], cols[order], se[order]
        indptr = np.searchsorted(cols, np.arange(len(cap) + 1))
        return cls(rows, cols, se, indptr, t, cap, ids, 1e-9 * max(float(t.sum()), 1e-300))

    def knapsack(self, residual: np.ndarray, lo: int, hi: int, capacity: float) -> np.ndarray:
        """Mbps a site would serve on each of its pairs ``lo:hi`` from ``residual`` traffic,
        best spectral efficiency first, until its resource is used up."""
        r = residual[self.rows[lo:hi]]
        cost = r / self.se[lo:hi]
        before = np.cumsum(cost) - cost
        return np.clip((capacity - before) * self.se[lo:hi], 0.0, r)

    def gains(self, residual: np.ndarray) -> np.ndarray:
        """Served-traffic gain of every candidate on ``residual`` traffic (vectorised knapsack)."""
        r = residual[self.rows]
        cost = r / self.se
        cum = np.cumsum(cost)
        start = np.concatenate([[0.0], cum])[self.indptr[:-1]]
        before = cum - cost - np.repeat(start, np.diff(self.indptr))
        take = np.clip((self.capacity[self.cols] - before) * self.se, 0.0, r)
        return np.bincount(self.cols, weights=take, minlength=self.n_candidates)

    def coverage(self) -> sparse.csr_matrix:
        return coverage_matrix(self.rows, self.cols, len(self.traffic), self.n_candidates)


# --------------------------------------------------------------------------- solver


def solve_capacitated(pairs, traffic, se, site_capacity, p: int | None = None, target: float | None = None,
                      fixed=None, method: str = "auto", *, seed: int = 0, params: CapacityParams | None = None,
                      solver: SolverParams | None = None) -> CapacitySolution:
    """Choose sites so that traffic is covered and served within site capacity.

    Parameters
    ----------
    pairs : (rows, cols) of the demand–candidate pairs that are covered (link margin ≥ 0).
    traffic : Mbps per demand point (:func:`traffic_mbps`).
    se : spectral efficiency of each pair (:func:`spectral_efficiency`), bit/s/Hz.
    site_capacity : resource per candidate in MHz (:func:`site_capacity_mhz`): a site
        serves pairs with ``Σ Mbps / se ≤ site_capacity``.
    p : number of sites in total (fixed included): maximise served traffic; or
    target : share of the total traffic to serve (which is then covered too), fewest sites.
    fixed : existing sites (always kept). method : as in ``siting.optimize``.

    Raises :class:`PlanError` for an impossible count or an unreachable target.
    """
    start = time.perf_counter()
    params, solver = params or CapacityParams(), solver or SolverParams()
    if (p is None) == (target is None):
        raise PlanError("give exactly one of --count or --target")
    inst = _Instance.build(pairs, traffic, se, site_capacity, fixed, method)
    total = float(inst.traffic.sum())
    if p is not None:
        m, n = len(inst.fixed), inst.n_candidates
        if p < m:
            raise PlanError(f"--count {p} is below the {m} existing sites: nothing new to plan")
        if p > n:
            raise PlanError(f"--count {p} exceeds the {n} candidate sites: ask for fewer sites or use --target")
        greedy = _greedy(inst, p - m, None)
        coverage_only = solve_mclp(inst.coverage(), inst.traffic, p, fixed=inst.fixed,
                                   method="greedy" if method == "greedy" else "greedy+swap", seed=seed,
                                   params=solver)
        starts = [("coverage", coverage_only.selected), ("greedy", greedy)]
        best_label, best_sites, best = _best_start(inst, starts)
        lp_bound = coverage_only.bound
        label = f"{best_label}+lp"
        bound = min(lp_bound, _lagrangian_bound(inst, p - m, best, params))
        min_sites = None
    else:
        if not 0 < target <= 1:
            raise PlanError(f"--target {target} is outside (0, 1]: give a share of the traffic such as 0.95")
        goal = target * total - inst.tol
        standalone = inst.gains(inst.traffic)  # each site alone: serving can only be less together
        if min(standalone.sum(), inst.traffic[np.unique(inst.rows)].sum()) < goal:
            _unreachable(inst, target, min(standalone.sum(), inst.traffic[np.unique(inst.rows)].sum()))
        best_sites = _greedy(inst, inst.n_candidates, goal)
        best = _assign(inst, best_sites)
        if best.value < goal:  # the greedy stalled: only re-assigning over every candidate can tell
            best_sites = np.concatenate([inst.fixed, np.setdiff1d(np.flatnonzero(standalone > 0), inst.fixed)])
            best = _assign(inst, best_sites)
            if best.value < goal:
                _unreachable(inst, target, best.value)
        best_sites, best = _drop_redundant(inst, best_sites, best, goal)
        label, bound = "greedy+lp", best.value
        cover = solve_set_cover(inst.coverage(), inst.traffic, target, fixed=inst.fixed,
                                method="greedy" if method == "greedy" else "greedy+swap", params=solver)
        if len(cover.selected) <= len(best_sites):  # capacity may not bind: the coverage-only plan
            served = _assign(inst, cover.selected)
            if served.value >= goal:
                best_sites, best, label, bound = cover.selected, served, "coverage+lp", served.value
        min_sites = max(_min_sites(inst, goal), cover.min_sites or 0)  # serving the share covers it too
    proven = (bound - best.value <= solver.mip_rel_gap * bound) if p is not None else min_sites >= len(best_sites)
    exact_ok = method == "exact" or (method == "auto" and not proven and len(inst.rows) <= params.exact_max_pairs)
    if exact_ok:
        exact = _milp(inst, p, None if p is not None else target * total - inst.tol, best_sites, solver, seed)
        if p is not None:
            bound = min(bound, max(exact.bound, best.value))
            if exact.value > best.value + inst.tol:
                best_sites, best, label = exact.sites, _assign(inst, exact.sites), exact.label
            elif exact.proven:
                label = exact.label
        else:
            min_sites = max(min_sites, exact.min_sites)
            if len(exact.sites) < len(best_sites):
                best_sites, best, label = exact.sites, _assign(inst, exact.sites), exact.label
            elif exact.proven:
                label = exact.label
    if target is not None:
        bound = best.value
    return _package(inst, best_sites, best, max(bound, best.value), label, start, min_sites)


def served_traffic(pairs, traffic, se, site_capacity, sites) -> float:
    """Most traffic [Mbps] the given ``sites`` can serve within capacity (LP assignment),
    e.g. to judge a coverage-only plan."""
    inst = _Instance.build(pairs, traffic, se, site_capacity, None, "greedy")
    return _assign(inst, np.asarray(sites, dtype=np.int64)).value


def _best_start(inst: _Instance, starts):
    """The start whose LP assignment serves the most traffic (earlier starts win ties)."""
    best = None
    for label, sites in starts:
        sites = np.asarray(sites, dtype=np.int64)
        a = _assign(inst, sites)
        if best is None or a.value > best[2].value + inst.tol:
            best = (label, sites, a)
    return best


def _greedy(inst: _Instance, budget: int, goal: float | None) -> np.ndarray:
    """Fixed sites, then up to ``budget`` more by lazy greedy on the served-traffic gain
    (stopping once ``goal`` Mbps is served); each chosen site takes its knapsack share
    of the residual traffic."""
    residual = inst.traffic.copy()
    chosen = np.zeros(inst.n_candidates, dtype=bool)
    order: list[int] = []
    served = 0.0

    def take(j: int) -> float:
        lo, hi = inst.indptr[j], inst.indptr[j + 1]
        flow = inst.knapsack(residual, lo, hi, inst.capacity[j])
        residual[inst.rows[lo:hi]] -= flow
        chosen[j] = True
        order.append(j)
        return float(flow.sum())

    for j in inst.fixed:
        served += take(int(j))
    gains = inst.gains(residual)
    heap = [(-g, j) for j, g in enumerate(gains) if g > inst.tol and not chosen[j]]
    heapq.heapify(heap)
    added = 0
    while heap and added < budget and (goal is None or served < goal):
        _, j = heapq.heappop(heap)
        lo, hi = inst.indptr[j], inst.indptr[j + 1]
        g = float(inst.knapsack(residual, lo, hi, inst.capacity[j]).sum())
        if g <= inst.tol:
            continue
        if heap and g < -heap[0][0] - inst.tol:
            heapq.heappush(heap, (-g, j))
            continue
        served += take(j)
        added += 1
    return np.asarray(order, dtype=np.int64)


@dataclass(frozen=True)
class _Assignment:
    value: float
    rows: np.ndarray
    cols: np.ndarray
    flow: np.ndarray
    se: np.ndarray
    demand_dual: np.ndarray  # per demand point, in [0, 1]


def _assign(inst: _Instance, sites: np.ndarray) -> _Assignment:
    """Maximum served traffic of ``sites`` within capacity: an LP over their pairs (HiGHS)."""
    import highspy

    chosen = np.zeros(inst.n_candidates, dtype=bool)
    chosen[np.asarray(sites, dtype=np.int64)] = True
    k = chosen[inst.cols]
    rows, cols, se = inst.rows[k], inst.cols[k], inst.se[k]
    n_t = len(inst.traffic)
    if len(rows) == 0:
        return _Assignment(0.0, rows, cols, np.zeros(0), se, np.zeros(n_t))
    demand_ids, demand_row = np.unique(rows, return_inverse=True)
    site_ids, site_row = np.unique(cols, return_inverse=True)
    n_d, n_s, n_x = len(demand_ids), len(site_ids), len(rows)
    a = sparse.csc_matrix((np.concatenate([np.ones(n_x), 1.0 / se]),
                           (np.concatenate([demand_row, n_d + site_row]), np.tile(np.arange(n_x), 2))),
                          shape=(n_d + n_s, n_x))
    h = highs_model(a, np.ones(n_x), np.zeros(n_x), inst.traffic[rows], np.full(n_d + n_s, -np.inf),
                    np.concatenate([inst.traffic[demand_ids], inst.capacity[site_ids]]), maximize=True)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise PlanError(f"the traffic assignment LP ended with status {h.modelStatusToString(h.getModelStatus())}: "
                        "report this with the inputs")
    sol = h.getSolution()
    flow = np.asarray(sol.col_value, dtype=np.float64)
    # exact feasibility: rounding of the LP can exceed a capacity by ~1e-9; scale back
    use = np.bincount(site_row, weights=flow / se, minlength=n_s)
    over = np.where(use > inst.capacity[site_ids], inst.capacity[site_ids] / np.maximum(use, 1e-300), 1.0)
    flow = np.clip(flow * over[site_row], 0.0, inst.traffic[rows])
    got = np.bincount(demand_row, weights=flow, minlength=n_d)
    shrink = np.where(got > inst.traffic[demand_ids], inst.traffic[demand_ids] / np.maximum(got, 1e-300), 1.0)
    flow = flow * shrink[demand_row]
    dual = np.zeros(n_t)
    dual[demand_ids] = np.clip(np.abs(np.asarray(sol.row_dual[:n_d])), 0.0, 1.0)
    keep = flow > 0
    return _Assignment(float(flow.sum()), rows[keep], cols[keep], flow[keep], se[keep], dual)


def _unreachable(inst: _Instance, target: float, most: float) -> None:
    share = most / max(float(inst.traffic.sum()), 1e-300)
    raise PlanError(f"traffic target {target:g} is unreachable: all {inst.n_candidates} candidates together serve "
                    f"at most {share:.4f} of the traffic; lower --target or add candidate sites")


def _drop_redundant(inst: _Instance, sites: np.ndarray, best: _Assignment, goal: float):
    """Drop new sites, least served first, while the served traffic stays at ``goal``
    (stops at the first site that cannot go, or after ``_DROP_TRIALS`` tries: each is an LP)."""
    served = np.bincount(best.cols, weights=best.flow, minlength=inst.n_candidates)
    new = sites[~np.isin(sites, inst.fixed)]
    for j in new[np.argsort(served[new], kind="stable")][:_DROP_TRIALS]:
        trial = sites[sites != j]
        a = _assign(inst, trial)
        if a.value < goal:
            break
        sites, best = trial, a
    return sites, best


def _relaxed(inst: _Instance, dual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate, the best Lagrangian value of serving traffic at prices ``dual``
    (fractional knapsack on value ``(1 - dual)·traffic``), and the per-pair flows."""
    worth = 1.0 - dual[inst.rows]
    ratio = worth * inst.se
    span = float(ratio.max(initial=0.0)) + 1.0
    order = np.argsort(inst.cols * span - ratio, kind="stable")  # per candidate, best ratio first
    rows, cols, se, worth = inst.rows[order], inst.cols[order], inst.se[order], worth[order]
    r = np.where(worth > 0, inst.traffic[rows], 0.0)
    cost = r / se
    cum = np.cumsum(cost)
    start = np.concatenate([[0.0], cum])[inst.indptr[:-1]]
    before = cum - cost - np.repeat(start, np.diff(inst.indptr))
    take = np.clip((inst.capacity[cols] - before) * se, 0.0, r)
    value = np.bincount(cols, weights=take * worth, minlength=inst.n_candidates)
    flows = np.zeros(len(rows))
    flows[order] = take
    return value, flows


def _lagrangian_bound(inst: _Instance, budget: int, incumbent: _Assignment, params: CapacityParams) -> float:
    """Upper bound on served traffic with ``budget`` sites beyond the fixed: relax
    "each point is served at most once" with prices λ ∈ [0, 1]; started at λ = 0
    (each site alone) and the incumbent LP's duals, then subgradient steps."""
    fixed = np.zeros(inst.n_candidates, dtype=bool)
    fixed[inst.fixed] = True

    def evaluate(lam):
        value, flows = _relaxed(inst, lam)
        free = np.flatnonzero(~fixed)
        top = free[np.argsort(-value[free], kind="stable")[:budget]]
        pick = fixed.copy()
        pick[top] = True
        bound = float(lam @ inst.traffic + value[pick].sum())
        got = np.bincount(inst.rows, weights=flows * pick[inst.cols], minlength=len(inst.traffic))
        return bound, inst.traffic - got

    best, _ = evaluate(np.zeros(len(inst.traffic)))
    lam = incumbent.demand_dual.copy()
    step = 1.0
    for _ in range(max(params.lagrange_iterations, 1)):
        bound, slack = evaluate(lam)
        best = min(best, bound)
        norm = float(slack @ slack)
        if norm == 0 or best - incumbent.value <= 1e-6 * best:
            break
        lam = np.clip(lam - step * (bound - incumbent.value) / norm * slack, 0.0, 1.0)
        step *= 0.8
    return best


def _min_sites(inst: _Instance, goal: float) -> int:
    """Least sites that could serve ``goal``: the largest standalone gains summed in order."""
    gains = np.sort(inst.gains(inst.traffic))[::-1]
    reach = np.cumsum(gains)
    return int(min(np.searchsorted(reach, goal) + 1, len(gains)))


@dataclass(frozen=True)
class _Exact:
    sites: np.ndarray
    value: float
    bound: float
    min_sites: int
    proven: bool
    label: str


def _milp(inst: _Instance, p: int | None, goal: float | None, start: np.ndarray, solver: SolverParams,
          seed: int) -> _Exact:
    """Capacitated MCLP (``p`` sites) or capacitated set cover (serve ``goal``) with HiGHS.

    Columns: y_j (site open) and f_k (Mbps on pair k). Rows: Σ_j f ≤ traffic per point;
    Σ f/se ≤ capacity·y per site; f_k ≤ traffic·y_j per pair; Σ y ≤ p (or Σ f ≥ goal).
    """
    import highspy

    n, n_x = inst.n_candidates, len(inst.rows)
    n_t = len(inst.traffic)
    ar = np.arange(n_x)
    t = inst.traffic[inst.rows]
    blocks = [  # (row index, column index, value) with y in columns 0..n-1 and f after
        (inst.rows, n + ar, np.ones(n_x)),
        (n_t + inst.cols, n + ar, 1.0 / inst.se), (n_t + np.arange(n), np.arange(n), -inst.capacity),
        (n_t + n + ar, n + ar, np.ones(n_x)), (n_t + n + ar, inst.cols, -t),
        (np.full(n, n_t + n + n_x), np.arange(n), np.ones(n)) if p is not None
        else (np.full(n_x, n_t + n + n_x), n + ar, np.ones(n_x)),
    ]
    r, c, v = (np.concatenate(x) for x in zip(*blocks))
    a = sparse.csc_matrix((v, (r, c)), shape=(n_t + n + n_x + 1, n + n_x))
    last = (-np.inf, float(p)) if p is not None else (float(goal), np.inf)
    lower = np.zeros(n)
    lower[inst.fixed] = 1.0
    h = highs_model(a, np.concatenate([np.zeros(n), np.ones(n_x)]) if p is not None
                    else np.concatenate([np.ones(n), np.zeros(n_x)]),
                    np.concatenate([lower, np.zeros(n_x)]), np.concatenate([np.ones(n), t]),
                    np.concatenate([np.full(n_t + n + n_x, -np.inf), [last[0]]]),
                    np.concatenate([inst.traffic, np.zeros(n + n_x), [last[1]]]),
                    maximize=p is not None, n_integer=n, params=solver, seed=seed)
    y0 = np.zeros(n)
    y0[np.asarray(start, dtype=np.int64)] = 1.0
    sol = highspy.HighsSolution()
    sol.col_value = np.concatenate([y0, np.zeros(n_x)])
    sol.value_valid = True
    h.setSolution(sol)  # HiGHS completes the flows of the warm start
    h.run()
    status = h.getModelStatus()
    proven = status == highspy.HighsModelStatus.kOptimal
    label = "exact" if proven else ("exact (time limit)" if status == highspy.HighsModelStatus.kTimeLimit
                                    else "exact (node limit)")
    result = h.getSolution()
    if not result.value_valid:
        return _Exact(np.asarray(start, dtype=np.int64), -np.inf, np.inf, 0, False, label)
    y = np.asarray(result.col_value[:n]) > 0.5
    sites = np.concatenate([inst.fixed, np.setdiff1d(np.flatnonzero(y), inst.fixed)])
    value = float(np.sum(result.col_value[n:]))
    dual = float(h.getInfo().mip_dual_bound)
    if p is not None:
        return _Exact(sites, value, dual + 1e-9 * abs(dual), 0, proven, label)
    return _Exact(sites, value, np.inf, int(np.ceil(dual - 1e-6)), proven, label)


def _package(inst: _Instance, sites: np.ndarray, a: _Assignment, bound: float, label: str, start: float,
             min_sites: int | None) -> CapacitySolution:
    sites = np.asarray(sites, dtype=np.int64)
    fixed = np.isin(sites, inst.fixed)
    sites = np.concatenate([inst.fixed, sites[~fixed]])
    n_t = len(inst.traffic)
    served = np.bincount(a.rows, weights=a.flow, minlength=n_t)
    chosen = np.zeros(inst.n_candidates, dtype=bool)
    chosen[sites] = True
    covered = np.zeros(n_t, dtype=bool)
    covered[inst.rows[chosen[inst.cols]]] = True
    pos = np.full(inst.n_candidates, -1)
    pos[sites] = np.arange(len(sites))
    site_served = np.bincount(pos[a.cols], weights=a.flow, minlength=len(sites))
    used = np.bincount(pos[a.cols], weights=a.flow / a.se, minlength=len(sites))
    cap = inst.capacity[sites]
    load = np.divide(used, cap, out=np.zeros(len(sites)), where=cap > 0)
    objective = float(a.value)
    return CapacitySolution(
        selected=sites, objective=objective, bound=bound, gap=1.0 - objective / bound if bound > 0 else 0.0,
        method=label, served=served, covered=covered, site_served=site_served, load=np.minimum(load, 1.0),
        flow_rows=a.rows, flow_cols=a.cols, flow_mbps=a.flow, runtime_s=time.perf_counter() - start,
        min_sites=min_sites)



# --------------------------------------------------------------------------- explanation and outputs


def explain_count(pairs, traffic, se, site_capacity, target: float, fixed=None, method: str = "auto", *,
                  params: CapacityParams | None = None, solver: SolverParams | None = None) -> dict:
    """Why the site count is what it is, for one area or district.

    ``coverage_sites``: the fewest sites covering ``target`` of the traffic (set cover,
    capacity ignored); ``capacity_sites``: the fewest serving ``target`` of it within
    capacity (:func:`solve_capacitated`); with their proven lower bounds. ``driver`` is
    ``"capacity-led"`` when serving needs more sites than covering (dense and urban
    zones, DOMAIN §1.9 TY5G), else ``"coverage-led"`` (suburbs, rural).
    """
    rows, cols = (np.asarray(a).ravel() for a in pairs)
    t = np.asarray(traffic, dtype=np.float64)
    matrix = coverage_matrix(rows, cols, len(t), len(np.asarray(site_capacity).ravel()))
    cover = solve_set_cover(matrix, t, target, fixed=fixed, method=method, params=solver)
    serve = solve_capacitated(pairs, t, se, site_capacity, target=target, fixed=fixed, method=method,
                              params=params, solver=solver)
    n_cover, n_serve = len(cover.selected), len(serve.selected)
    return {
        "target": float(target),
        "traffic_mbps": round(float(t.sum()), 3),
        "coverage_sites": n_cover,
        "coverage_min_sites": cover.min_sites,
        "capacity_sites": n_serve,
        "capacity_min_sites": serve.min_sites,
        "extra_sites_for_capacity": max(n_serve - n_cover, 0),
        "driver": "capacity-led" if n_serve > n_cover else "coverage-led",
    }


def capacity_outputs(points: gpd.GeoDataFrame, solution: CapacitySolution, traffic: np.ndarray,
                     cell_size_m: float, road_spacing_m: float, crs: str,
                     unserved_share: float = 0.01, max_load: float = 1.0) -> tuple[gpd.GeoDataFrame, dict]:
    """The ``capacity_gaps`` layer and the summary figures of a capacitated plan.

    ``capacity_gaps``: demand points covered by the plan but with more than
    ``unserved_share`` of their traffic not served, dissolved like the coverage gaps
    (:func:`siting.layers.gap_polygons`); its ``unserved_mbps`` column replaces
    ``demand``. Site loads are reported as shares of the full capacity: ``solution.load``
    (share of the usable resource) × ``max_load`` (the usable share of the capacity).
    """
    t = np.asarray(traffic, dtype=np.float64)
    unserved = np.maximum(t - solution.served, 0.0)
    short = solution.covered & (unserved > unserved_share * t)
    layer_points = points[["kind", "residents", "workers", "geometry"]].copy()
    layer_points["weight"] = unserved
    gaps = gap_polygons(layer_points, ~short, cell_size_m, road_spacing_m, crs).rename(
        columns={"demand": "unserved_mbps"})
    total, covered = float(t.sum()), float(t[solution.covered].sum())
    summary = {
        "traffic_total_mbps": round(total, 3),
        "traffic_covered_mbps": round(covered, 3),
        "traffic_served_mbps": round(solution.objective, 3),
        "served_ratio": round(solution.objective / total, 6) if total else 0.0,
        "served_of_covered": round(solution.objective / covered, 6) if covered else 0.0,
        "site_load_mean": round(float(solution.load.mean()) * max_load, 4) if len(solution.load) else 0.0,
        "site_load_max": round(float(solution.load.max()) * max_load, 4) if len(solution.load) else 0.0,
        "sites_full": int((solution.load >= 0.999).sum()),  # at the planning ceiling max_load
        "capacity_bound_mbps": round(float(solution.bound), 3),
        "capacity_gap": round(float(solution.gap), 6),
        "capacity_solver": solution.method,
        "capacity_gaps": int(len(gaps)),
    }
    return gaps, summary


@dataclass(frozen=True)
class CapacityPlan:
    """Everything the 5G pipeline needs from the capacity side of one area."""

    solution: CapacitySolution
    load: np.ndarray  # per selected site, share of its full capacity used (≤ max_load)
    traffic: np.ndarray  # Mbps per demand point
    capacity_gaps: gpd.GeoDataFrame
    summary: dict  # figures for summary.json, with the count explanation under "count"


def plan_capacity(points: gpd.GeoDataFrame, candidate_source: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                  margin_db: np.ndarray, fixed: np.ndarray, count: int | None, target: float | None,
                  params, crs: str) -> CapacityPlan:
    """Capacitated plan of one area from the radio pairs of ``siting.pipeline.radio_links``.

    ``margin_db``: each pair's margin for the service its demand point needs (pairs with
    a negative margin are not covered and are dropped); ``params``: the run's
    :class:`~siting.config.Params`. The count explanation uses ``target``, or for a
    ``count`` plan the share of traffic the plan serves.
    """
    from siting.radio import link_budget

    cp = params.capacity
    ok = np.asarray(margin_db) >= 0
    pairs = (np.asarray(rows)[ok], np.asarray(cols)[ok])
    traffic = traffic_mbps(points, cp)
    se = spectral_efficiency(np.asarray(margin_db)[ok], cp)
    capacity = site_capacity_mhz(candidate_source, link_budget(params.radio).bandwidth_mhz, cp)
    solution = solve_capacitated(pairs, traffic, se, capacity, p=count, target=target, fixed=fixed,
                                 seed=params.seed, params=cp, solver=params.solver)
    gaps, summary = capacity_outputs(points, solution, traffic, params.demand.cell_size_m,
                                     params.demand.road_point_spacing_m, crs, max_load=cp.max_load)
    share = target if target is not None else solution.objective / max(float(traffic.sum()), 1e-300)
    if share > 0:
        summary["count"] = explain_count(pairs, traffic, se, capacity, min(share, 1.0), fixed=fixed,
                                         method="greedy+swap", params=cp, solver=params.solver)
    return CapacityPlan(solution, solution.load * cp.max_load, traffic, gaps, summary)
