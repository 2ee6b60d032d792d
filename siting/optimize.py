"""Choose sites on a coverage matrix: maximal covering (MCLP) and set cover.

Both problems take a boolean demand × candidate matrix (``siting/coverage.py``), a
weight per demand point and the existing sites (``fixed``, always kept):

- :func:`solve_mclp`: ``p`` sites in total maximising the covered weight;
- :func:`solve_set_cover`: the fewest sites whose covered share reaches ``target``.

Methods:

- ``"greedy"``: lazy greedy with a heap; every candidate's marginal gain is kept exact by
  vectorised updates over the demand rows each choice newly covers, so a whole run costs
  O(nnz) plus the heap;
- ``"greedy+swap"``: then swap local search (``siting/ails.py``: incremental gains, the
  best swap out of every chosen site; set cover: drop redundant sites, then search
  downward with one site fewer until the target fails);
- ``"auto"``: then an adaptive iterated local search (AILS, Maximo, Cordeau & Nascimento
  2023) within ``ils_work`` matrix entries, stopping once a bound proves the plan within
  ``mip_rel_gap``; then the LP relaxation with HiGHS on the presolved model (identical
  demand rows merged) when it has at most ``lp_max_pairs`` pairs, else the Lagrangian
  relaxation when it fits ``lagrange_work``; reduced-cost fixing; and the MILP with
  HiGHS when what is left is within ``exact_max_*``. Set cover: the downward search
  uses AILS, and the LP relaxation rounded up bounds the number of sites;
- ``"exact"``: the same, with the LP relaxation and the MILP whatever the size.

Note: the textbook greedy bound with the ``p - k`` largest gains after ``k`` choices is
not valid (the optimum need not contain the greedy prefix); the ``p - |fixed|`` largest
gains are used.

Every :class:`Solution` carries a proven upper bound on the optimum: the smallest of the
submodular bound ``f(S_k) + sum of the (p - |fixed|) largest marginal gains w.r.t. S_k``
(valid for every greedy prefix ``S_k``; checked at ``bound_checks`` prefixes), the
Lagrangian bound, the LP bound, HiGHS's dual bound and the total coverable weight
(``bound_source`` says which; ``bound_note`` says in words when it is weak). Results are
deterministic for a seed unless HiGHS hits its time limit (``method`` then says so).

Sites with no marginal gain are never proposed: when fewer than ``p`` sites already
cover every coverable demand point, ``selected`` is shorter than ``p``.
"""
from __future__ import annotations

import heapq
import time
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from siting.config import SolverParams
from siting.errors import PlanError
from siting.highs import new_highs

METHODS = ("auto", "greedy", "greedy+swap", "exact")


@dataclass(frozen=True)
class Solution:
    """Sites chosen by a solver and how good they provably are.

    ``selected`` holds candidate indices, the fixed (existing) sites first, then the new
    ones in order of choice; ``gains[i]`` is the weight ``selected[i]`` newly covered when
    it was added. ``objective`` is the covered weight and ``bound`` a proven upper bound
    on the best covered weight reachable with ``len(selected)`` sites (for MCLP: with
    ``p``), so ``gap = 1 - objective / bound`` bounds the distance to the optimum.
    ``min_sites`` (set cover only) is a proven lower bound on the number of sites any
    solution reaching the target needs. ``runtime_s`` is wall time, not reproducible.
    ``bound_source`` names what proved ``bound``; ``bound_note`` says in words when the bound
    (or ``min_sites``) is too weak to tell whether the plan is good (empty otherwise).
    """

    selected: np.ndarray
    objective: float
    bound: float
    gap: float
    method: str
    gains: np.ndarray
    covered: np.ndarray
    runtime_s: float
    min_sites: int | None = None
    bound_source: str = ""
    bound_note: str = ""


def solve_mclp(coverage, weights, p: int, fixed=None, method: str = "auto", seed: int = 0, *,
               params: SolverParams | None = None) -> Solution:
    """Choose ``p`` sites in total (``fixed`` included) maximising the covered weight.

    Raises :class:`PlanError` when ``p`` is below the number of fixed sites or above the
    number of candidates.
    """
    start = time.perf_counter()
    params = params or SolverParams()
    problem = _Problem.build(coverage, weights, fixed, method)
    m, n = len(problem.fixed), problem.n_candidates
    if not float(p).is_integer():
        raise PlanError(f"--count {p} is not a whole number of sites: give an integer")
    p = int(p)
    if p < m:
        raise PlanError(f"--count {p} is below the {m} existing sites: nothing new to plan")
    if p > n:
        raise PlanError(f"--count {p} exceeds the {n} candidate sites: ask for fewer sites or use --target")
    budget = p - m
    state, fixed_gains = problem.start()
    _, _, records = _greedy(state, budget, params.bound_checks)
    bound = min(problem.coverable, *(r.mclp_bound(budget) for r in records))
    source = "greedy (submodular)" if bound < problem.coverable else "total coverable demand"
    best = np.flatnonzero(state.chosen & ~problem.fixed_mask)
    label = "greedy"
    if method != "greedy":
        best, value, _ = _search(problem, best, params, seed, rounds=0)
        label = "greedy+swap"
    value = problem.value(best)
    if method in ("auto", "exact") and not _proven(value, bound, params):
        best, trial, rounds = _search(problem, best, params, seed, rounds=params.ils_iterations,
                                      stop_value=bound - params.mip_rel_gap * bound)
        if trial > value + problem.tol:
            value, label = trial, "adaptive iterated local search"
        best, bound, source, label = _refine(problem, budget, best, value, bound, source, label,
                                             method == "exact", params, seed)
    return problem.solution(best, fixed_gains, bound, label, start, bound_source=source)


def solve_set_cover(coverage, weights, target: float, fixed=None, method: str = "auto", *,
                    params: SolverParams | None = None) -> Solution:
    """The fewest sites (``fixed`` included) whose covered weight share reaches ``target``.

    The share is of the total weight of all demand points. Raises :class:`PlanError`
    when ``target`` is outside (0, 1] or unreachable even with every candidate (the
    message gives the share that is reachable).
    """
    start = time.perf_counter()
    params = params or SolverParams()
    problem = _Problem.build(coverage, weights, fixed, method)
    if not 0 < target <= 1:
        raise PlanError(f"--target {target} is outside (0, 1]: give a coverage share such as 0.98")
    goal = target * problem.total - problem.tol
    if problem.coverable < goal:
        share = problem.coverable / problem.total
        raise PlanError(f"coverage target {target:g} is unreachable: all {problem.n_candidates} candidates "
                        f"together cover {share:.4f} of the demand; lower --target or add candidate sites")
    state, fixed_gains = problem.start()
    order, _, records = _greedy(state, problem.n_candidates, params.bound_checks, stop_value=goal)
    min_sites = max(r.min_sites(goal - r.value, len(problem.fixed)) for r in records)
    best = np.asarray(order, dtype=np.int64)
    label = "greedy"
    if method != "greedy":
        rounds = params.ils_iterations if method in ("auto", "exact") else 0
        best, searched = _fewest(problem, _drop_redundant(state, order, goal), goal, min_sites, params, rounds)
        label = "adaptive iterated local search" if searched and rounds else "greedy+swap"
    if method in ("auto", "exact") and len(best) + len(problem.fixed) > min_sites:
        model = _Model.build(problem, problem.fixed_mask, ~problem.fixed_mask)
        if model.rows.nnz <= params.lp_max_pairs or method == "exact":
            relaxed = _relaxation(model, None, goal)
            min_sites = max(min_sites, int(np.ceil(relaxed - 1e-6)) + len(problem.fixed))
        if method == "exact" or model.small_enough(params):
            exact = _milp(model, None, goal, best, params, 0)
            min_sites = max(min_sites, exact.min_sites)
            if exact.value >= goal and len(exact.sites) < len(best):
                best, label = exact.sites, exact.label
            elif exact.proven:
                label = exact.label
    size = len(best) + len(problem.fixed)
    bound = min(problem.coverable, *(r.mclp_bound(size - len(problem.fixed)) for r in records))
    return problem.solution(best, fixed_gains, bound, label, start, min_sites=min_sites)


def _refine(problem: "_Problem", budget: int, best: np.ndarray, value: float, bound: float, source: str,
            label: str, exact: bool, params: SolverParams, seed: int) -> tuple[np.ndarray, float, str, str]:
    """Prove an MCLP incumbent and improve it: the LP relaxation with HiGHS on the presolved
    model (merged rows) when it has at most ``lp_max_pairs`` pairs, else the Lagrangian
    relaxation when it fits ``lagrange_work``; reduced-cost fixing of candidates; HiGHS on
    the reduced MILP when it is small enough (or ``exact``)."""
    model = _Model.build(problem, problem.fixed_mask, ~problem.fixed_mask)
    lp = model.rows.nnz <= params.lp_max_pairs or exact
    if not lp and params.lagrange_work / max(model.rows.nnz, 1) < _MIN_LAGRANGE_ITERATIONS:
        return best, bound, source, label  # too big to relax: the search and the greedy bound stand
    lag = _lagrangian(model, budget, value, params)
    if lag.bound < bound:
        bound, source = lag.bound, "Lagrangian relaxation"
    if lp:
        relaxed = _relaxation(model, budget, None)
        if relaxed < bound:
            bound, source = relaxed, "LP relaxation (HiGHS)"
    if _proven(value, bound, params):
        return best, bound, source, label
    ones, allowed = _fix_by_reduced_cost(model, lag, budget, value, problem)
    if ones.sum() > budget:  # contradiction: no solution beats the incumbent
        return best, min(bound, value), "optimality proof (reduced-cost fixing)", "exact"
    reduced = _Model.build(problem, problem.fixed_mask | ones, allowed & ~ones)
    if not (exact or reduced.small_enough(params)):
        return best, bound, source, label
    result = _milp(reduced, budget - int(ones.sum()), None, best, params, seed)
    if max(result.bound, value) < bound:
        bound, source = max(result.bound, value), "branch and bound (HiGHS)"
    if result.value > value + problem.tol:
        return result.sites, bound, source, result.label
    return best, bound, source, result.label if result.proven else label


def _search(problem: "_Problem", sites: np.ndarray, params: SolverParams, seed: int, rounds: int,
            stop_value: float = np.inf) -> tuple[np.ndarray, float, int]:
    """Swap local search, then ``rounds`` rounds of adaptive iterated local search
    (``siting/ails.py``) within ``ils_work`` matrix entries, from the fixed sites plus
    ``sites``: the new sites (sorted), their covered weight and the rounds run."""
    from siting import ails

    csr, csc = problem.arrays
    best, value, done, _ = ails.search(*csr, *csc, problem.weights, problem.fixed.astype(np.int64),
                                       np.asarray(sites, dtype=np.int64), ~problem.fixed_mask, problem.tol,
                                       int(rounds), float(params.ils_work), int(params.ils_drop), int(seed) % 2**32,
                                       float(stop_value), int(params.swap_passes),
                                       int(params.ils_patience))
    return np.sort(best), float(value), int(done)


#: a proven gap above this is reported as weak in words
_WEAK_GAP = 0.01
#: a set cover lower bound below this share of the plan's sites is reported as weak
_WEAK_MIN_SITES = 0.9


def _bound_note(gap: float, source: str, min_sites: int | None, sites: int) -> str:
    """One sentence on how much the bound proves, for the summary; empty when it is tight."""
    if min_sites is not None and sites and min_sites < _WEAK_MIN_SITES * sites:
        return (f"the lower bound of {min_sites} sites is weak: a plan may need fewer than {sites} sites, "
                "but none with fewer was found")
    if min_sites is None and gap > _WEAK_GAP:
        return (f"the bound ({source}) is weak: the plan is proven within {gap:.1%} of the best possible, "
                "and is likely much closer")
    return ""


def _proven(value: float, bound: float, params: SolverParams) -> bool:
    return bound - value <= params.mip_rel_gap * bound


# --------------------------------------------------------------------------- problem data


@dataclass(frozen=True)
class _Problem:
    """Validated instance: the matrix in CSR and CSC form, weights, fixed sites."""

    csr: sparse.csr_matrix
    csc: sparse.csc_matrix
    weights: np.ndarray
    fixed: np.ndarray
    fixed_mask: np.ndarray
    total: float
    coverable: float
    tol: float

    @property
    def n_candidates(self) -> int:
        return self.csr.shape[1]

    @classmethod
    def build(cls, coverage, weights, fixed, method: str) -> "_Problem":
        if method not in METHODS:
            raise PlanError(f"unknown solver method '{method}': use one of {', '.join(METHODS)}")
        csr = sparse.csr_matrix(coverage, dtype=bool)
        if not csr.has_canonical_format or not csr.data.all():
            csr = csr.copy()
            csr.sum_duplicates()
            csr.eliminate_zeros()
        n_demand, n_cand = csr.shape
        w = np.asarray(weights, dtype=np.float64).ravel()
        if len(w) != n_demand:
            raise PlanError(f"{len(w)} demand weights for {n_demand} demand points: give one weight per point")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise PlanError("demand weights must be finite and non-negative: check the demand layer")
        ids = np.asarray([] if fixed is None else fixed, dtype=np.int64).ravel()
        if np.any((ids < 0) | (ids >= n_cand)):
            raise PlanError(f"an existing site index is outside 0..{n_cand - 1}: check the candidate table")
        ids = ids[np.sort(np.unique(ids, return_index=True)[1])]
        mask = np.zeros(n_cand, dtype=bool)
        mask[ids] = True
        total = float(w.sum())
        coverable = float(w[np.diff(csr.indptr) > 0].sum())
        return cls(csr, csr.tocsc(), w, ids, mask, total, coverable, 1e-12 * max(total, 1e-300))

    @property
    def arrays(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """(indptr, indices) of the CSR and CSC forms as int64, for the compiled search."""
        return ((self.csr.indptr.astype(np.int64), self.csr.indices.astype(np.int64)),
                (self.csc.indptr.astype(np.int64), self.csc.indices.astype(np.int64)))

    def value(self, new_sites: np.ndarray) -> float:
        """Covered weight of the fixed sites plus ``new_sites``."""
        sites = np.concatenate([self.fixed, np.asarray(new_sites, dtype=np.int64)])
        return float(self.weights[np.diff(self.csc[:, sites].tocsr().indptr) > 0].sum()) if len(sites) else 0.0

    def start(self) -> tuple["_State", list[float]]:
        """A state holding the fixed sites, and the gain of each fixed site in order."""
        state = _State(self)
        return state, [state.add(j) for j in self.fixed]

    def solution(self, new_sites: np.ndarray, fixed_gains: list[float], bound: float, label: str,
                 start: float, min_sites: int | None = None, bound_source: str = "") -> Solution:
        """Order ``new_sites`` greedily after the fixed ones and package the result."""
        state, _ = self.start()
        allowed = np.zeros(self.n_candidates, dtype=bool)
        allowed[new_sites] = True
        order, gains, _ = _greedy(state, len(new_sites), 0, allowed=allowed)
        objective = state.covered_weight()
        bound = max(bound, objective)
        gap = 1.0 - objective / bound if bound > 0 else 0.0
        return Solution(
            selected=np.concatenate([self.fixed, np.asarray(order, dtype=np.int64)]),
            objective=objective, bound=bound, gap=gap, method=label,
            gains=np.asarray(fixed_gains + gains, dtype=np.float64), covered=state.count > 0,
            runtime_s=time.perf_counter() - start, min_sites=min_sites, bound_source=bound_source,
            bound_note=_bound_note(gap, bound_source, min_sites, len(order) + len(self.fixed)))


class _State:
    """Coverage counts of a site set and, for every candidate, the weight it would newly
    cover (``gain``) and, once tracked, the weight only it covers (``unique``)."""

    def __init__(self, problem: _Problem) -> None:
        self.p = problem
        csr, w = problem.csr, problem.weights
        self.count = np.zeros(csr.shape[0], dtype=np.int32)
        self.chosen = np.zeros(csr.shape[1], dtype=bool)
        self.gain = np.bincount(csr.indices, weights=np.repeat(w, np.diff(csr.indptr)), minlength=csr.shape[1])
        self.unique: np.ndarray | None = None

    def covered_weight(self) -> float:
        return float(self.p.weights[self.count > 0].sum())

    def track_unique(self) -> None:
        """Start maintaining ``unique`` (weight of demand covered by exactly that site)."""
        self.unique = np.zeros(len(self.chosen))
        self._spread(np.flatnonzero(self.count == 1), self.unique, 1.0)

    def add(self, j: int) -> float:
        """Add site ``j``; returns the weight it newly covers."""
        rows = self._rows(j)
        before = self.count[rows]
        self.count[rows] += 1
        self.chosen[j] = True
        new = rows[before == 0]
        self._spread(new, self.gain, -1.0)
        if self.unique is not None:
            self._spread(new, self.unique, 1.0)
            self._spread(rows[before == 1], self.unique, -1.0)
        return float(self.p.weights[new].sum())

    def remove(self, j: int) -> None:
        """Remove site ``j``."""
        rows = self._rows(j)
        before = self.count[rows]
        self.count[rows] -= 1
        self.chosen[j] = False
        lost = rows[before == 1]
        self._spread(lost, self.gain, 1.0)
        if self.unique is not None:
            self._spread(lost, self.unique, -1.0)
            self._spread(rows[before == 2], self.unique, 1.0)

    def _rows(self, j: int) -> np.ndarray:
        csc = self.p.csc
        return csc.indices[csc.indptr[j]:csc.indptr[j + 1]]

    def row_entries(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Candidates covering each of ``rows`` and the weight of that row, flattened."""
        csr = self.p.csr
        return _gather(csr, rows), np.repeat(self.p.weights[rows], csr.indptr[rows + 1] - csr.indptr[rows])

    def _spread(self, rows: np.ndarray, target: np.ndarray, sign: float) -> None:
        """``target[c] += sign * w[i]`` for every row ``i`` in ``rows`` and candidate ``c`` covering it."""
        if len(rows):
            cands, w = self.row_entries(rows)
            np.add.at(target, cands, sign * w)


def _gather(matrix: sparse.csr_matrix | sparse.csc_matrix, ids: np.ndarray) -> np.ndarray:
    """The stored indices of rows (CSR) or columns (CSC) ``ids`` of ``matrix``, concatenated."""
    starts = matrix.indptr[ids]
    lengths = matrix.indptr[ids + 1] - starts
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return matrix.indices[offsets + np.arange(len(offsets))]


# --------------------------------------------------------------------------- greedy and bounds


@dataclass(frozen=True)
class _Record:
    """A greedy prefix: its covered weight and the running sums of the largest gains."""

    value: float
    top: np.ndarray  # top[t - 1] = sum of the t largest marginal gains w.r.t. the prefix

    def mclp_bound(self, budget: int) -> float:
        """Upper bound on the weight coverable with ``budget`` more sites than the fixed."""
        if budget <= 0 or len(self.top) == 0:
            return self.value
        return self.value + float(self.top[min(budget, len(self.top)) - 1])

    def min_sites(self, missing: float, n_fixed: int) -> int:
        """Lower bound on the sites needed to add ``missing`` weight to the fixed ones."""
        if missing <= 0:
            return n_fixed
        need = int(np.searchsorted(self.top, missing, side="left")) + 1
        return n_fixed + min(need, len(self.top))


def _greedy(state: _State, budget: int, checks: int, stop_value: float | None = None,
            allowed: np.ndarray | None = None) -> tuple[list[int], list[float], list[_Record]]:
    """Lazy greedy: add up to ``budget`` sites of largest gain (ties: lowest index) until
    ``stop_value`` is covered or no candidate adds weight.

    Returns the sites, their gains and the prefixes recorded for the bound (``checks``
    of them spread over the run; every prefix on small runs).
    """
    tol = state.p.tol
    pool = np.flatnonzero((state.gain > tol) & (~state.chosen if allowed is None else allowed & ~state.chosen))
    heap = list(zip((-state.gain[pool]).tolist(), pool.tolist()))
    heapq.heapify(heap)
    check = _checkpoints(min(budget, len(pool)), checks, len(state.chosen))
    value = state.covered_weight()
    order: list[int] = []
    gains: list[float] = []
    records: list[_Record] = []
    keep = budget if stop_value is None else None
    recorded = -1
    while True:
        k = len(order)
        if k < len(check) and check[k] and recorded != k:
            records.append(_record(state, value, keep))
            recorded = k
        if k >= budget or not heap or (stop_value is not None and value >= stop_value):
            break
        neg, j = heapq.heappop(heap)
        current = state.gain[j]
        if current < -neg:
            if current > tol:
                heapq.heappush(heap, (-current, j))
            continue
        gain = state.add(j)
        value += gain
        order.append(j)
        gains.append(gain)
    if checks and recorded != k:
        records.append(_record(state, value, keep))
    return order, gains, records


def _checkpoints(iterations: int, checks: int, n_candidates: int) -> np.ndarray:
    """Which greedy prefixes (0..iterations) get a bound: all on small runs, else ``checks``
    evenly spread plus ``checks`` geometrically spread (early prefixes bound set cover well)."""
    flags = np.zeros(iterations + 1, dtype=bool)
    if checks == 0:
        return flags
    if iterations * n_candidates <= 20_000_000:
        flags[:] = True
        return flags
    flags[np.linspace(0, iterations, checks).round().astype(np.int64)] = True
    flags[np.unique(np.geomspace(1, iterations, checks).round().astype(np.int64))] = True
    flags[0] = True
    return flags


def _record(state: _State, value: float, keep: int | None) -> _Record:
    gains = state.gain[state.gain > state.p.tol]
    if keep is not None and keep < len(gains):
        gains = np.partition(gains, len(gains) - keep)[len(gains) - keep:] if keep > 0 else gains[:0]
    return _Record(value, np.cumsum(np.sort(gains)[::-1]))


# --------------------------------------------------------------------------- local search


def _fewest(problem: _Problem, best: np.ndarray, goal: float, min_sites: int, params: SolverParams,
            rounds: int) -> tuple[np.ndarray, bool]:
    """Set cover by MCLP, searching downward: drop the site that covers least on its own
    and search (swap local search, ``rounds`` rounds of AILS, stopping once ``goal`` is
    reached) with one site fewer; repeat until the goal fails or ``min_sites`` is reached.
    Returns the smallest plan reaching the goal and whether the search shrank it."""
    shrunk = False
    while len(best) + len(problem.fixed) > max(min_sites, 1) and len(best):
        state, _ = problem.start()
        for j in best:
            state.add(j)
        state.track_unique()
        order = np.lexsort((best, state.unique[best]))
        trial, value, _ = _search(problem, best[order[1:]], params, 0, rounds, stop_value=goal)
        if value < goal:
            break
        best, shrunk = trial, True
    return best, shrunk


def _drop_redundant(state: _State, order: list[int], goal: float) -> np.ndarray:
    """Remove chosen sites (last chosen first) whose loss keeps the covered weight at ``goal``;
    returns the remaining new sites."""
    state.track_unique()
    value = state.covered_weight()
    for s in reversed(order):
        if value - state.unique[s] >= goal:
            value -= state.unique[s]
            state.remove(s)
    return np.asarray([s for s in order if state.chosen[s]], dtype=np.int64)


# --------------------------------------------------------------------------- relaxation and MILP


@dataclass(frozen=True)
class _Model:
    """The part of an instance left to decide: candidates ``cols`` (global indices) that
    are neither kept (``ones``) nor excluded, and the demand rows they can cover that
    the kept sites do not, with rows of identical candidate sets merged (weights summed).
    ``constant`` is the weight the kept sites cover."""

    rows: sparse.csr_matrix  # merged demand rows × cols, float 0/1
    weights: np.ndarray
    cols: np.ndarray
    ones: np.ndarray  # global indices of the kept sites that are not fixed (existing)
    n_fixed: int
    constant: float

    @classmethod
    def build(cls, problem: _Problem, ones: np.ndarray, allowed: np.ndarray) -> "_Model":
        csr, w = problem.csr, problem.weights
        kept = np.flatnonzero(ones)
        done = np.zeros(csr.shape[0], dtype=bool)
        done[problem.csc[:, kept].indices] = True
        cols = np.flatnonzero(allowed)
        sub = csr[:, cols]
        live = np.flatnonzero(~done & (w > 0) & (np.diff(sub.indptr) > 0))
        sub = sub[live]
        weights, merged = _merge_rows(sub, w[live])
        return cls(merged.astype(np.float64), weights, cols, kept[~problem.fixed_mask[kept]],
                   len(problem.fixed), float(w[done].sum()))

    def small_enough(self, params: SolverParams) -> bool:
        """Whether HiGHS gets this model as a MILP."""
        return len(self.cols) <= params.exact_max_candidates and self.rows.nnz <= params.exact_max_pairs


def _merge_rows(sub: sparse.csr_matrix, weights: np.ndarray) -> tuple[np.ndarray, sparse.csr_matrix]:
    """Merge rows with identical column sets, summing their weights.

    Rows are keyed by two independent 64-bit sums of random column keys and their
    length; a false merge needs a collision of both (probability about n² / 2^128).
    """
    if sub.shape[0] == 0:
        return weights, sub
    keys = np.random.default_rng(20240601).integers(0, 2**63, size=(2, sub.shape[1]), dtype=np.uint64)
    hashes = [np.add.reduceat(k[sub.indices], sub.indptr[:-1]) for k in keys]
    table = np.column_stack(hashes + [np.diff(sub.indptr).astype(np.uint64)])
    _, first, inverse = np.unique(table, axis=0, return_index=True, return_inverse=True)
    return np.bincount(inverse.ravel(), weights=weights), sub[first]


#: fewer subgradient iterations than this give no useful bound
_MIN_LAGRANGE_ITERATIONS = 50


@dataclass(frozen=True)
class _Lagrange:
    bound: float  # upper bound on the whole MCLP
    multipliers: np.ndarray  # per merged row, at the best bound
    sites: np.ndarray  # global indices of the best relaxed solution's new sites
    value: float  # its covered weight, kept sites included


def _lagrangian(model: _Model, budget: int, incumbent: float, params: SolverParams) -> _Lagrange:
    """Subgradient optimisation of the Lagrangian relaxation of the coverage constraints.

    With multipliers ``lam`` (0 <= lam <= w) on ``y_i <= sum_j a_ij x_j``,
    ``L(lam) = constant + sum_i max(0, w_i - lam_i) + sum of the ``budget`` largest
    ``c_j = sum_i a_ij lam_i`` is an upper bound for every ``lam``. Each iterate's
    ``budget`` largest ``c_j`` are also a solution; the best one is returned. Steps follow
    Held and Karp: ``theta * (L - best value) / |g|^2``, ``theta`` halved when the bound stalls.
    Iterations: ``lagrange_iterations``, fewer on big models (``lagrange_work``); a model
    too big for ``_MIN_LAGRANGE_ITERATIONS`` is not relaxed (trivial bound, no solution).
    """
    rows, w = model.rows, model.weights
    empty = np.empty(0, dtype=np.int64)
    iterations = min(params.lagrange_iterations, int(params.lagrange_work / max(rows.nnz, 1)))
    if budget == 0 or len(w) == 0 or iterations < _MIN_LAGRANGE_ITERATIONS:
        bound = model.constant + (float(w.sum()) if budget else 0.0)
        return _Lagrange(bound, np.zeros(len(w)), empty, -np.inf)
    by_col = rows.T.tocsr()
    lam = w / np.diff(rows.indptr)  # each row's weight shared among the candidates covering it
    best_bound, best_lam, best_top, lower = np.inf, lam, empty, incumbent - model.constant
    best_value = -np.inf
    theta, stall = 2.0, 0
    for _ in range(iterations):
        c = by_col @ lam
        top = _largest(c, budget)
        bound = float(np.maximum(w - lam, 0).sum() + c[top].sum())
        if bound < best_bound - 1e-12 * abs(bound):
            best_bound, best_lam, stall = bound, lam, 0
        else:
            stall += 1
            if stall >= params.lagrange_patience:
                theta, stall = theta / 2, 0
        x = np.zeros(len(c))
        x[top] = 1.0
        cover = rows @ x
        value = float(w[cover > 0].sum())
        if value > best_value:
            best_value, best_top = value, top
        lower = max(lower, value)
        g = cover - (w > lam)
        norm = float(g @ g)
        if norm == 0 or best_bound - lower <= 1e-9 * best_bound or theta < 1e-4:
            break
        lam = np.clip(lam - theta * (bound - lower) / norm * g, 0.0, w)
    return _Lagrange(best_bound + model.constant, best_lam, model.cols[best_top], best_value + model.constant)


def _prices(model: _Model, lag: _Lagrange) -> np.ndarray:
    """Lagrangian price of each model candidate: the multipliers of the rows it covers."""
    return model.rows.T.tocsr() @ lag.multipliers


def _largest(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values (ties: lowest index), sorted."""
    if k >= len(values):
        return np.arange(len(values))
    order = np.lexsort((np.arange(len(values)), -values))
    return np.sort(order[:k])


def _fix_by_reduced_cost(model: _Model, lag: _Lagrange, budget: int, incumbent: float,
                         problem: _Problem) -> tuple[np.ndarray, np.ndarray]:
    """Candidates every strictly better solution must contain (``ones``) and those it may
    contain (``allowed``), from the Lagrangian bound with one candidate forced in or out.

    Forcing candidate ``j`` in (out of) the ``budget`` largest ``c`` changes the bound by
    ``c_j - c_(budget)`` (``c_(budget+1) - c_j``); when the changed bound cannot beat the
    incumbent, ``j`` is excluded (kept). With integral weights an improvement is >= 1.
    """
    ones = np.zeros(problem.n_candidates, dtype=bool)
    allowed = ~problem.fixed_mask
    if budget == 0 or len(model.cols) == 0 or budget >= len(model.cols):
        return ones, allowed
    c = _prices(model, lag)
    ranked = np.sort(c)[::-1]
    inside = np.zeros(len(c), dtype=bool)
    inside[_largest(c, budget)] = True
    kth, next_ = ranked[budget - 1], ranked[budget]
    bound = lag.bound
    forced_in = np.where(inside, bound, bound - kth + c)
    forced_out = np.where(inside, bound - c + next_, bound)
    integral = bool(np.all(problem.weights == np.round(problem.weights)))
    beat = incumbent + (1.0 - 1e-6 if integral else problem.tol)
    allowed = allowed.copy()
    allowed[model.cols[forced_in < beat]] = False
    ones[model.cols[forced_out < beat]] = True
    return ones, allowed


@dataclass(frozen=True)
class _Exact:
    sites: np.ndarray  # new (non-fixed) sites of the best solution found, global indices
    value: float  # its covered weight, kept sites included
    bound: float  # MCLP: upper bound on the covered weight within the model
    min_sites: int  # set cover: lower bound on the number of sites
    proven: bool
    label: str


def _highs(model: _Model, budget: int | None, goal: float | None, integer: bool, params: SolverParams | None,
           seed: int):
    """HiGHS holding MCLP (``budget`` more sites) or set cover (reach ``goal``) on ``model``,
    the site variables integer or (``integer=False``) relaxed."""
    rows, weights = model.rows, model.weights
    n_x, n_y = len(model.cols), rows.shape[0]
    link = sparse.hstack([-rows, sparse.identity(n_y, format="csr")])
    if budget is not None:
        extra = sparse.hstack([sparse.csr_matrix(np.ones((1, n_x))), sparse.csr_matrix((1, n_y))])
        extra_bounds = (-np.inf, float(budget))
        cost = np.concatenate([np.zeros(n_x), weights])
    else:
        extra = sparse.hstack([sparse.csr_matrix((1, n_x)), sparse.csr_matrix(weights[None, :])])
        extra_bounds = (float(goal - model.constant), np.inf)
        cost = np.concatenate([np.ones(n_x), np.zeros(n_y)])
    a = sparse.vstack([link, extra]).tocsc()
    return highs_model(a, cost, np.zeros(n_x + n_y), np.ones(n_x + n_y),
                       np.concatenate([np.full(n_y, -np.inf), [extra_bounds[0]]]),
                       np.concatenate([np.zeros(n_y), [extra_bounds[1]]]),
                       maximize=budget is not None, n_integer=n_x if integer else 0, params=params, seed=seed)


def _relaxation(model: _Model, budget: int | None, goal: float | None) -> float:
    """Optimum of the LP relaxation on ``model`` (HiGHS): an upper bound on the MCLP's covered
    weight (kept sites included), or a lower bound on the new sites set cover needs
    (kept non-fixed sites included); the trivial bound when HiGHS does not solve it."""
    import highspy

    if budget == 0 or len(model.weights) == 0:
        return model.constant if budget is not None else float(len(model.ones))
    h = _highs(model, budget, goal, False, None, 0)
    h.setOptionValue("solver", "ipm")  # with crossover: 5x faster than simplex on the Bronx instance
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return model.constant + float(model.weights.sum()) if budget is not None else float(len(model.ones))
    value = float(h.getInfo().objective_function_value)
    slack = 1e-7 * max(abs(value), 1.0)  # the LP is solved to a tolerance: keep the bound on the safe side
    return model.constant + value + slack if budget is not None else value - slack + len(model.ones)


def _milp(model: _Model, budget: int | None, goal: float | None, start_sites: np.ndarray,
          params: SolverParams, seed: int) -> _Exact:
    """MCLP (``budget`` more sites) or set cover (reach ``goal``) on ``model`` with HiGHS.

    ``start_sites`` (global indices) warm-start it when they fit the model.
    """
    import highspy

    rows, weights = model.rows, model.weights
    n_x = len(model.cols)
    h = _highs(model, budget, goal, True, params, seed)
    x0 = np.isin(model.cols, start_sites)
    start_fits = np.isin(start_sites, np.concatenate([model.cols, model.ones])).all()
    if start_fits and (budget is None or x0.sum() <= budget):
        sol = highspy.HighsSolution()
        sol.col_value = np.concatenate([x0, (rows @ x0.astype(np.float64)) > 0]).astype(np.float64)
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    status = h.getModelStatus()
    infeasible = status == highspy.HighsModelStatus.kInfeasible  # nothing in the model (after fixing)
    proven = infeasible or status == highspy.HighsModelStatus.kOptimal
    timed_out = status == highspy.HighsModelStatus.kTimeLimit
    label = "exact" if proven else ("exact (time limit)" if timed_out else "exact (node limit)")
    solution = h.getSolution()
    x = np.asarray(solution.col_value[:n_x]) > 0.5
    sites = np.concatenate([model.ones, model.cols[x]])
    value = model.constant + float(weights[(rows @ x.astype(np.float64)) > 0].sum())
    if infeasible or not solution.value_valid:
        value = -np.inf
    dual = -np.inf if infeasible else float(h.getInfo().mip_dual_bound)
    if budget is not None:
        bound = model.constant + dual + 1e-9 * abs(dual) if not np.isnan(dual) else np.inf
        return _Exact(sites, value, bound, 0, proven, label)
    least = int(np.ceil(dual - 1e-6)) + len(model.ones) + model.n_fixed if np.isfinite(dual) else 0
    return _Exact(sites, value, np.inf, least, proven, label)


def highs_model(a: sparse.spmatrix, cost, col_lower, col_upper, row_lower, row_upper, maximize: bool,
                n_integer: int = 0, params: SolverParams | None = None, seed: int = 0):
    """A quiet, single-threaded HiGHS instance holding ``max|min cost·x`` subject to
    ``row_lower <= A x <= row_upper`` and the column bounds; the first ``n_integer``
    columns are integer. ``params`` sets the MIP limits (time, nodes, relative gap). Returns a
    ``highspy.Highs`` ready to ``run()``."""
    import highspy

    a = sparse.csc_matrix(a)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = a.shape[1], a.shape[0]
    lp.col_cost_ = np.asarray(cost, dtype=np.float64)
    lp.col_lower_ = np.asarray(col_lower, dtype=np.float64)
    lp.col_upper_ = np.asarray(col_upper, dtype=np.float64)
    lp.row_lower_ = np.asarray(row_lower, dtype=np.float64)
    lp.row_upper_ = np.asarray(row_upper, dtype=np.float64)
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr
    lp.a_matrix_.index_ = a.indices
    lp.a_matrix_.value_ = a.data
    if n_integer:
        lp.integrality_ = ([highspy.HighsVarType.kInteger] * n_integer
                           + [highspy.HighsVarType.kContinuous] * (a.shape[1] - n_integer))
    h = new_highs()
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", int(seed) % 2**31)
    if params is not None:
        h.setOptionValue("time_limit", float(params.exact_time_s))
        h.setOptionValue("mip_max_nodes", int(params.exact_max_nodes))
        h.setOptionValue("mip_rel_gap", float(params.mip_rel_gap))
    h.passModel(lp)
    return h
