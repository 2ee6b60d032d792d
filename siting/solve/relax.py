"""Relaxations and the MILP of a coverage problem: what proves a plan and what improves it.

:class:`Model` is the presolved part of an instance left to decide (kept sites' rows dropped,
rows of identical candidate sets merged); on it :func:`lagrangian` (subgradient on the
coverage constraints), :func:`relaxation` (the LP with HiGHS) and :func:`milp` (HiGHS
branch and bound, warm-started) bound and solve MCLP or set cover, and
:func:`fix_by_reduced_cost` shrinks it with the Lagrangian prices.
"""
from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
from scipy import sparse

from siting.config import SolverParams
from siting.solve.highs import highs_model, lp_value, mip_outcome
from siting.solve.problem import Problem

@dataclass(frozen=True)
class Model:
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
    def build(cls, problem: Problem, ones: np.ndarray, allowed: np.ndarray) -> "Model":
        csr, w = problem.csr, problem.weights
        kept = np.flatnonzero(ones)
        done = np.zeros(csr.shape[0], dtype=bool)
        done[problem.csc[:, kept].indices] = True
        cols = np.flatnonzero(allowed)
        sub = csr[:, cols]
        live = np.flatnonzero(~done & (w > 0) & (np.diff(sub.indptr) > 0))
        sub = sub[live]
        weights, merged = merge_rows(sub, w[live])
        return cls(merged.astype(np.float64), weights, cols, kept[~problem.fixed_mask[kept]],
                   len(problem.fixed), float(w[done].sum()))

    def small_enough(self, params: SolverParams) -> bool:
        """Whether HiGHS gets this model as a MILP."""
        return len(self.cols) <= params.exact_max_candidates and self.rows.nnz <= params.exact_max_pairs


def merge_rows(sub: sparse.csr_matrix, weights: np.ndarray) -> tuple[np.ndarray, sparse.csr_matrix]:
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
MIN_LAGRANGE_ITERATIONS = 50


@dataclass(frozen=True)
class Lagrange:
    bound: float  # upper bound on the whole MCLP
    multipliers: np.ndarray  # per merged row, at the best bound
    sites: np.ndarray  # global indices of the best relaxed solution's new sites
    value: float  # its covered weight, kept sites included


def lagrangian(model: Model, budget: int, incumbent: float, params: SolverParams) -> Lagrange:
    """Subgradient optimisation of the Lagrangian relaxation of the coverage constraints.

    With multipliers ``lam`` (0 <= lam <= w) on ``y_i <= sum_j a_ij x_j``,
    ``L(lam) = constant + sum_i max(0, w_i - lam_i) + sum of the ``budget`` largest
    ``c_j = sum_i a_ij lam_i`` is an upper bound for every ``lam``. Each iterate's
    ``budget`` largest ``c_j`` are also a solution; the best one is returned. Steps follow
    Held and Karp: ``theta * (L - best value) / |g|^2``, ``theta`` halved when the bound stalls.
    Iterations: ``lagrange_iterations``, fewer on big models (``lagrange_work``); a model
    too big for ``MIN_LAGRANGE_ITERATIONS`` is not relaxed (trivial bound, no solution).
    """
    rows, w = model.rows, model.weights
    empty = np.empty(0, dtype=np.int64)
    iterations = min(params.lagrange_iterations, int(params.lagrange_work / max(rows.nnz, 1)))
    if budget == 0 or len(w) == 0 or iterations < MIN_LAGRANGE_ITERATIONS:
        bound = model.constant + (float(w.sum()) if budget else 0.0)
        return Lagrange(bound, np.zeros(len(w)), empty, -np.inf)
    by_col = rows.T.tocsr()
    lam = w / np.diff(rows.indptr)  # each row's weight shared among the candidates covering it
    best_bound, best_lam, best_top, lower = np.inf, lam, empty, incumbent - model.constant
    best_value = -np.inf
    theta, stall = 2.0, 0
    for _ in range(iterations):
        c = by_col @ lam
        top = largest(c, budget)
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
    return Lagrange(best_bound + model.constant, best_lam, model.cols[best_top], best_value + model.constant)


def prices(model: Model, lag: Lagrange) -> np.ndarray:
    """Lagrangian price of each model candidate: the multipliers of the rows it covers."""
    return model.rows.T.tocsr() @ lag.multipliers


def largest(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values (ties: lowest index), sorted."""
    if k >= len(values):
        return np.arange(len(values))
    order = np.lexsort((np.arange(len(values)), -values))
    return np.sort(order[:k])


def fix_by_reduced_cost(model: Model, lag: Lagrange, budget: int, incumbent: float,
                         problem: Problem) -> tuple[np.ndarray, np.ndarray]:
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
    c = prices(model, lag)
    ranked = np.sort(c)[::-1]
    inside = np.zeros(len(c), dtype=bool)
    inside[largest(c, budget)] = True
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
class Exact:
    sites: np.ndarray  # new (non-fixed) sites of the best solution found, global indices
    value: float  # its covered weight, kept sites included
    bound: float  # MCLP: upper bound on the covered weight within the model
    min_sites: int  # set cover: lower bound on the number of sites
    proven: bool
    label: str


def _model(model: Model, budget: int | None, goal: float | None, integer: bool, params: SolverParams | None,
           seed: int) -> highspy.Highs:
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
        assert goal is not None, "set cover needs a goal"
        extra = sparse.hstack([sparse.csr_matrix((1, n_x)), sparse.csr_matrix(weights[None, :])])
        extra_bounds = (float(goal - model.constant), np.inf)
        cost = np.concatenate([np.ones(n_x), np.zeros(n_y)])
    a = sparse.vstack([link, extra]).tocsc()
    return highs_model(a, cost, np.zeros(n_x + n_y), np.ones(n_x + n_y),
                       np.concatenate([np.full(n_y, -np.inf), [extra_bounds[0]]]),
                       np.concatenate([np.zeros(n_y), [extra_bounds[1]]]),
                       maximize=budget is not None, n_integer=n_x if integer else 0, params=params, seed=seed)


def relaxation(model: Model, budget: int | None, goal: float | None) -> float:
    """Optimum of the LP relaxation on ``model`` (HiGHS): an upper bound on the MCLP's covered
    weight (kept sites included), or a lower bound on the new sites set cover needs
    (kept non-fixed sites included); the trivial bound when HiGHS does not solve it."""
    if budget == 0 or len(model.weights) == 0:
        return model.constant if budget is not None else float(len(model.ones))
    h = _model(model, budget, goal, False, None, 0)
    h.setOptionValue("solver", "ipm")  # with crossover: 5x faster than simplex on the Bronx instance
    h.run()
    value = lp_value(h)
    if value is None:
        return model.constant + float(model.weights.sum()) if budget is not None else float(len(model.ones))
    slack = 1e-7 * max(abs(value), 1.0)  # the LP is solved to a tolerance: keep the bound on the safe side
    return model.constant + value + slack if budget is not None else value - slack + len(model.ones)


def milp(model: Model, budget: int | None, goal: float | None, start_sites: np.ndarray,
         params: SolverParams, seed: int, options: dict | None = None) -> Exact:
    """MCLP (``budget`` more sites) or set cover (reach ``goal``) on ``model`` with HiGHS.

    ``start_sites`` (global indices) warm-start it when they fit the model; ``options`` are
    further HiGHS options (they override those from ``params``).
    """
    rows, weights = model.rows, model.weights
    n_x = len(model.cols)
    h = _model(model, budget, goal, True, params, seed)
    for name, value in (options or {}).items():
        h.setOptionValue(name, value)
    x0 = np.isin(model.cols, start_sites)
    start_fits = np.isin(start_sites, np.concatenate([model.cols, model.ones])).all()
    if start_fits and (budget is None or x0.sum() <= budget):
        sol = highspy.HighsSolution()
        sol.col_value = np.concatenate([x0, (rows @ x0.astype(np.float64)) > 0]).astype(np.float64)
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    proven, infeasible, label = mip_outcome(h)  # infeasible: nothing in the model (after fixing)
    solution = h.getSolution()
    x = np.asarray(solution.col_value[:n_x]) > 0.5
    sites = np.concatenate([model.ones, model.cols[x]])
    value = model.constant + float(weights[(rows @ x.astype(np.float64)) > 0].sum())
    if infeasible or not solution.value_valid:
        value = -np.inf
    dual = -np.inf if infeasible else float(h.getInfo().mip_dual_bound)
    if budget is not None:
        bound = model.constant + dual + 1e-9 * abs(dual) if not np.isnan(dual) else np.inf
        return Exact(sites, value, bound, 0, proven, label)
    least = int(np.ceil(dual - 1e-6)) + len(model.ones) + model.n_fixed if np.isfinite(dual) else 0
    return Exact(sites, value, np.inf, least, proven, label)


