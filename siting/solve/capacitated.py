"""Capacitated site choice: sites whose capacity serves the traffic they cover.

:func:`solve_capacitated` chooses sites so that traffic is covered *and served* within
capacity (demand may split across sites): ``count`` sites maximising served traffic, or
the fewest sites serving a share ``target``. Heuristic: lazy greedy on the served-traffic
gain (each site's gain is a fractional knapsack of the residual traffic, best spectral
efficiency first), compared with the coverage-only plan (:func:`~siting.solve.solve_mclp`
on traffic); the winner's assignment is re-optimised with an LP (HiGHS) so it is exactly
feasible. Bound: the smaller of the coverage-only bound and a Lagrangian bound (demand
constraints relaxed, started from the LP's duals). On small instances an exact MILP
(HiGHS) checks and improves the heuristic. The traffic, spectral efficiency and site
capacity that feed it are modelled in ``siting/capacity.py``.
"""
from __future__ import annotations

import heapq
import time
from dataclasses import dataclass

import highspy
import numpy as np
from scipy import sparse

from siting.config import CapacityParams, SolverParams
from siting.coverage import coverage_matrix
from siting.errors import PlanError
from siting.solve.highs import highs_model, lp_value, mip_outcome
from siting.solve.mclp import solve_mclp, solve_set_cover
from siting.solve.problem import (ParameterError, Solution, bound_note, check_count, check_fixed, check_method, check_one_of,
                                  check_target)
from siting.solve.relax import Exact

#: target mode: at most this many sites (least served first) are tried for removal after
#: the greedy, each with one assignment LP [A]
_DROP_TRIALS = 5


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
        check_method(method)
        rows, cols = (np.asarray(a, dtype=np.int64).ravel() for a in pairs)
        se = np.asarray(se, dtype=np.float64).ravel()
        t = np.asarray(traffic, dtype=np.float64).ravel()
        cap = np.asarray(site_capacity, dtype=np.float64).ravel()
        if not len(rows) == len(cols) == len(se):
            raise ParameterError("se", "pairs and spectral efficiencies differ in length: give one value per pair")
        if not (np.all(np.isfinite(t)) and np.all(t >= 0) and np.all(np.isfinite(cap)) and np.all(cap >= 0)):
            raise ParameterError("traffic", "traffic and site capacities must be finite and non-negative: "
                                            "check the capacity parameters")
        if len(rows) and (rows.max() >= len(t) or cols.max() >= len(cap) or min(rows.min(), cols.min()) < 0):
            raise ParameterError("pairs", "a pair refers to a demand point or candidate that does not exist: "
                                          "check the pair list")
        ids = check_fixed(fixed, len(cap))
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


def solve_capacitated(pairs, traffic, se, site_capacity, count: int | None = None, target: float | None = None,
                      fixed=None, method: str = "auto", *, seed: int = 0, params: CapacityParams | None = None,
                      solver: SolverParams | None = None) -> Solution:
    """Choose sites so that traffic is covered and served within site capacity.

    Parameters
    ----------
    pairs : (rows, cols) of the demand–candidate pairs that are covered (link margin ≥ 0).
    traffic : Mbps per demand point (:func:`traffic_mbps`).
    se : spectral efficiency of each pair (:func:`spectral_efficiency`), bit/s/Hz.
    site_capacity : resource per candidate in MHz (:func:`site_capacity_mhz`): a site
        serves pairs with ``Σ Mbps / se ≤ site_capacity``.
    count : number of sites in total (fixed included): maximise served traffic; or
    target : share of the total traffic to serve (which is then covered too), fewest sites.
    fixed : existing sites (always kept). method : as in :func:`~siting.solve.solve_mclp`.

    Returns a :class:`~siting.solve.Solution` with the assignment (``served``, ``site_served``,
    ``load``, flows); ``gains`` is the traffic each selected site serves. Raises
    :class:`~siting.solve.problem.ParameterError` for an impossible count or an unreachable target.
    """
    start = time.perf_counter()
    params, solver = params or CapacityParams(), solver or SolverParams()
    check_one_of(count, target)
    inst = _Instance.build(pairs, traffic, se, site_capacity, fixed, method)
    if count is not None:
        p = check_count(count, len(inst.fixed), inst.n_candidates)
        best_sites, best, label, bound, source = _by_count(inst, p, method, seed, params, solver)
        return _package(inst, best_sites, best, max(bound, best.value), label, start, None, source)
    assert target is not None
    share = check_target(target, "share of the traffic such as 0.95")
    best_sites, best, label, min_sites, source = _by_target(inst, share, method, seed, params, solver)
    return _package(inst, best_sites, best, best.value, label, start, min_sites, source)


def _by_count(inst: "_Instance", p: int, method: str, seed: int, params: CapacityParams,
              solver: SolverParams) -> tuple[np.ndarray, "_Assignment", str, float, str]:
    """``p`` sites serving the most traffic: the better of the capacitated greedy and the
    coverage-only plan, its bound, and HiGHS on small instances. Returns the sites, their
    assignment, the method label, the proven bound and what proved it."""
    m = len(inst.fixed)
    greedy = _greedy(inst, p - m, None)
    coverage_only = solve_mclp(inst.coverage(), inst.traffic, p, fixed=inst.fixed,
                               method="greedy" if method == "greedy" else "greedy+swap", seed=seed, params=solver)
    starts = [("coverage", coverage_only.selected), ("greedy", greedy)]
    best_label, best_sites, best = _best_start(inst, starts)
    label = f"{best_label}+lp"
    lagrange = _lagrangian_bound(inst, p - m, best, params)
    bound, source = min((coverage_only.bound, "coverage bound (capacity ignored)"),
                        (lagrange, "Lagrangian relaxation (capacity)"))
    proven = bound - best.value <= solver.mip_rel_gap * bound
    if _exact_ok(inst, method, proven, params):
        exact = _milp(inst, p, None, best_sites, solver, seed)
        if max(exact.bound, best.value) < bound:
            bound, source = max(exact.bound, best.value), "branch and bound (HiGHS)"
        if exact.value > best.value + inst.tol:
            best_sites, best, label = exact.sites, _assign(inst, exact.sites), exact.label
        elif exact.proven:
            label = exact.label
    return best_sites, best, label, bound, source


def _by_target(inst: "_Instance", target: float, method: str, seed: int, params: CapacityParams,
               solver: SolverParams) -> tuple[np.ndarray, "_Assignment", str, int, str]:
    """The fewest sites serving ``target`` of the traffic: capacitated greedy with redundant
    sites dropped, or the coverage-only set cover when it serves the share; HiGHS on small
    instances. Returns the sites, their assignment, the label, a lower bound on the count and
    what proved it."""
    goal = target * float(inst.traffic.sum()) - inst.tol
    standalone = inst.gains(inst.traffic)  # each site alone: serving can only be less together
    reach = min(standalone.sum(), inst.traffic[np.unique(inst.rows)].sum())
    if reach < goal:
        _unreachable(inst, target, reach)
    best_sites = _greedy(inst, inst.n_candidates, goal)
    best = _assign(inst, best_sites)
    if best.value < goal:  # the greedy stalled: only re-assigning over every candidate can tell
        best_sites = np.concatenate([inst.fixed, np.setdiff1d(np.flatnonzero(standalone > 0), inst.fixed)])
        best = _assign(inst, best_sites)
        if best.value < goal:
            _unreachable(inst, target, best.value)
    best_sites, best = _drop_redundant(inst, best_sites, best, goal)
    label = "greedy+lp"
    cover = solve_set_cover(inst.coverage(), inst.traffic, target, fixed=inst.fixed,
                            method="greedy" if method == "greedy" else "greedy+swap", params=solver)
    if len(cover.selected) <= len(best_sites):  # capacity may not bind: the coverage-only plan
        served = _assign(inst, cover.selected)
        if served.value >= goal:
            best_sites, best, label = cover.selected, served, "coverage+lp"
    min_sites = max(_min_sites(inst, goal), cover.min_sites or 0)  # serving the share covers it too
    source = "site capacities alone and the coverage set cover's bound"
    if _exact_ok(inst, method, min_sites >= len(best_sites), params):
        exact = _milp(inst, None, goal, best_sites, solver, seed)
        if exact.min_sites > min_sites:
            min_sites, source = exact.min_sites, "branch and bound (HiGHS)"
        if len(exact.sites) < len(best_sites):
            best_sites, best, label = exact.sites, _assign(inst, exact.sites), exact.label
        elif exact.proven:
            label = exact.label
    return best_sites, best, label, min_sites, source


def _exact_ok(inst: "_Instance", method: str, proven: bool, params: CapacityParams) -> bool:
    """Whether HiGHS gets the capacitated MILP: ``exact``, or ``auto`` on a small unproven instance."""
    return method == "exact" or (method == "auto" and not proven and len(inst.rows) <= params.exact_max_pairs)


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
    if lp_value(h) is None:
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
    raise ParameterError("target", f"traffic target {target:g} is unreachable: all {inst.n_candidates} candidates "
                         f"together serve at most {share:.4f} of the traffic; lower the target or add candidate sites")


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
    return min(int(np.searchsorted(reach, goal)) + 1, len(gains))


def _milp(inst: _Instance, p: int | None, goal: float | None, start: np.ndarray, solver: SolverParams,
          seed: int) -> Exact:
    """Capacitated MCLP (``p`` sites) or capacitated set cover (serve ``goal``) with HiGHS.

    Columns: y_j (site open) and f_k (Mbps on pair k). Rows: Σ_j f ≤ traffic per point;
    Σ f/se ≤ capacity·y per site; f_k ≤ traffic·y_j per pair; Σ y ≤ p (or Σ f ≥ goal).
    """
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
    last = (-np.inf, float(p)) if p is not None else (float(goal if goal is not None else 0.0), np.inf)
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
    proven, _, label = mip_outcome(h)
    result = h.getSolution()
    if not result.value_valid:
        return Exact(np.asarray(start, dtype=np.int64), -np.inf, np.inf, 0, False, label)
    y = np.asarray(result.col_value[:n]) > 0.5
    sites = np.concatenate([inst.fixed, np.setdiff1d(np.flatnonzero(y), inst.fixed)])
    value = float(np.sum(result.col_value[n:]))
    dual = float(h.getInfo().mip_dual_bound)
    if p is not None:
        return Exact(sites, value, dual + 1e-9 * abs(dual), 0, proven, label)
    return Exact(sites, value, np.inf, int(np.ceil(dual - 1e-6)), proven, label)


def _package(inst: _Instance, sites: np.ndarray, a: _Assignment, bound: float, label: str, start: float,
             min_sites: int | None, source: str) -> Solution:
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
    gap = 1.0 - objective / bound if bound > 0 else 0.0
    return Solution(
        selected=sites, objective=objective, bound=bound, gap=gap,
        method=label, gains=site_served, covered=covered, runtime_s=time.perf_counter() - start,
        min_sites=min_sites, bound_source=source, bound_note=bound_note(gap, source, min_sites, len(sites)),
        served=served, site_served=site_served, load=np.minimum(load, 1.0),
        flow_rows=a.rows, flow_cols=a.cols, flow_mbps=a.flow)
