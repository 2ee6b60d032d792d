"""Choose sites on a coverage matrix: maximal covering (MCLP) and set cover.

Both problems take a boolean demand × candidate matrix (``siting/coverage.py``), a
weight per demand point and the existing sites (``fixed``, always kept):

- :func:`solve_mclp`: ``count`` sites in total maximising the covered weight;
- :func:`solve_set_cover`: the fewest sites whose covered share reaches ``target``.

Methods:

- ``"greedy"``: lazy greedy with a heap; every candidate's marginal gain is kept exact by
  vectorised updates over the demand rows each choice newly covers, so a whole run costs
  O(nnz) plus the heap;
- ``"greedy+swap"``: then swap local search (``siting/solve/ails.py``: incremental gains, the
  best swap out of every chosen site; set cover: drop redundant sites, then search
  downward with one site fewer until the target fails);
- ``"auto"``: then up to ``merge_rounds`` rounds of: an adaptive iterated local search
  (AILS, Maximo, Cordeau & Nascimento 2023, with path relinking) on the presolved model
  (fixed sites' rows dropped, identical demand rows merged) within ``ils_work`` matrix
  entries, ``search_threads`` of them at once with derived seeds, from the best plan so far;
  then solution merging (Blum et al. 2016, "construct, merge, solve & adapt"): HiGHS on the
  MCLP restricted to the searches' elite plans and the candidates most often in their
  accepted local optima (``merge_candidates`` times the sites), which recombines plans that
  differ in several sites at once; stopping once a bound proves the plan within
  ``mip_rel_gap``; meanwhile, in another thread, the LP relaxation with HiGHS on the same
  model when it has at most ``lp_max_pairs`` pairs; then the Lagrangian relaxation when it fits
  ``lagrange_work``; reduced-cost fixing; and the MILP with HiGHS when what is left is
  within ``exact_max_*``. Set cover: the downward search uses AILS, and the LP relaxation
  rounded up bounds the number of sites;
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

import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from siting.config import SolverParams
from siting.solve.greedy import State, greedy, start_state
from siting.solve.problem import ParameterError, Problem, Solution, bound_note, check_count, check_target
from siting.solve.relax import (MIN_LAGRANGE_ITERATIONS, Model, fix_by_reduced_cost, lagrangian, milp,
                                relaxation)

#: HiGHS options of the merge step's MILP: no restarts and a small cut pool (the kernel's root
#: node otherwise dominates: 4.5 s -> 2.0 s on a 165-candidate kernel of the spopt instance)
MERGE_OPTIONS = {"mip_allow_restart": False, "mip_pool_soft_limit": 100}


def solve_mclp(coverage, weights, count: int, fixed=None, method: str = "auto", seed: int = 0, *,
               params: SolverParams | None = None) -> Solution:
    """Choose ``count`` sites in total (``fixed`` included) maximising the covered weight.

    Raises :class:`~siting.solve.problem.ParameterError` (a ``PlanError``) when ``count`` is
    below the number of fixed sites or above the number of candidates.
    """
    start = time.perf_counter()
    params = params or SolverParams()
    problem = Problem.build(coverage, weights, fixed, method)
    budget = check_count(count, len(problem.fixed), problem.n_candidates) - len(problem.fixed)
    state, fixed_gains = start_state(problem)
    _, _, records = greedy(state, budget, params.bound_checks)
    bound = min(problem.coverable, *(r.mclp_bound(budget) for r in records))
    source = "greedy (submodular)" if bound < problem.coverable else "total coverable demand"
    best = np.flatnonzero(state.chosen & ~problem.fixed_mask)
    label = "greedy"
    if method != "greedy":
        best = _search(problem, best, params, seed, rounds=0).sites
        label = "greedy+swap"
    value = problem.value(best)
    if method in ("auto", "exact") and not _proven(value, bound, params):
        model = Model.build(problem, problem.fixed_mask, ~problem.fixed_mask)
        with ThreadPoolExecutor(1) as pool:  # the LP bound (HiGHS releases the GIL) while the search runs
            lp = model.rows.nnz <= params.lp_max_pairs or method == "exact"
            relaxed = pool.submit(relaxation, model, budget, None) if lp else None
            best, value, label = _improve(problem, model, relaxed, budget, best, value, bound, label, params, seed)
            best, bound, source, label = _refine(problem, model, relaxed, budget, best, value, bound, source,
                                                 label, method == "exact", params, seed)
    return _package(problem, best, fixed_gains, bound, label, start, bound_source=source)


def solve_set_cover(coverage, weights, target: float, fixed=None, method: str = "auto", *,
                    params: SolverParams | None = None) -> Solution:
    """The fewest sites (``fixed`` included) whose covered weight share reaches ``target``.

    The share is of the total weight of all demand points. Raises :class:`PlanError`
    when ``target`` is outside (0, 1] or unreachable even with every candidate (the
    message gives the share that is reachable).
    """
    start = time.perf_counter()
    params = params or SolverParams()
    problem = Problem.build(coverage, weights, fixed, method)
    target = check_target(target)
    goal = target * problem.total - problem.tol
    if problem.coverable < goal:
        share = problem.coverable / problem.total
        raise ParameterError("target", f"coverage target {target:g} is unreachable: all {problem.n_candidates} "
                             f"candidates together cover {share:.4f} of the demand; lower the target or add "
                             "candidate sites")
    state, fixed_gains = start_state(problem)
    order, _, records = greedy(state, problem.n_candidates, params.bound_checks, stop_value=goal)
    min_sites = max(r.min_sites(goal - r.value, len(problem.fixed)) for r in records)
    source = "greedy (submodular)"  # what proves min_sites
    best = np.asarray(order, dtype=np.int64)
    label = "greedy"
    if method != "greedy":
        rounds = params.ils_iterations if method in ("auto", "exact") else 0
        best, searched = _fewest(problem, _drop_redundant(state, order, goal), goal, min_sites, params, rounds)
        label = "adaptive iterated local search" if searched and rounds else "greedy+swap"
    if method in ("auto", "exact") and len(best) + len(problem.fixed) > min_sites:
        model = Model.build(problem, problem.fixed_mask, ~problem.fixed_mask)
        if model.rows.nnz <= params.lp_max_pairs or method == "exact":
            relaxed = int(np.ceil(relaxation(model, None, goal) - 1e-6)) + len(problem.fixed)
            if relaxed > min_sites:
                min_sites, source = relaxed, "LP relaxation (HiGHS), rounded up"
        if method == "exact" or model.small_enough(params):
            exact = milp(model, None, goal, best, params, 0)
            if exact.min_sites > min_sites:
                min_sites, source = exact.min_sites, "branch and bound (HiGHS)"
            if exact.value >= goal and len(exact.sites) < len(best):
                best, label = exact.sites, exact.label
            elif exact.proven:
                label = exact.label
    size = len(best) + len(problem.fixed)
    bound = min(problem.coverable, *(r.mclp_bound(size - len(problem.fixed)) for r in records))
    return _package(problem, best, fixed_gains, bound, label, start, min_sites=min_sites, bound_source=source)


def _improve(problem: Problem, model: Model, relaxed: Future | None, budget: int, best: np.ndarray, value: float,
             bound: float, label: str, params: SolverParams, seed: int) -> tuple[np.ndarray, float, str]:
    """At most ``merge_rounds`` rounds of: the iterated local search from ``best``
    (``_search``), then the merge step on what it found (``_merge``). Rounds after the first use
    seeds derived from ``seed``; they stop once the LP bound (``relaxed``, waited for) proves the
    plan within ``mip_rel_gap``, or once ``ils_patience`` rounds of search, counted over the merge
    rounds, have found no better plan. Returns the best plan, its covered weight and the method's label."""
    stale = 0  # rounds of iterated local search since the last better plan, over all merge rounds
    searched = merged_any = timed_out = False
    for r in range(max(params.merge_rounds, 1)):
        if r:
            if relaxed is not None:
                bound = min(bound, relaxed.result())
            if _proven(value, bound, params) or stale >= params.ils_patience:
                break
        before = value
        one_seed = seed if r == 0 else int(np.random.SeedSequence([int(seed) % 2**32, r]).generate_state(1)[0])
        found = _search(problem, best, params, one_seed, rounds=params.ils_iterations,
                        stop_value=bound - params.mip_rel_gap * bound, model=model, kernel=params.merge_rounds > 0)
        if found.value > value + problem.tol:
            best, value, searched = found.sites, found.value, True
        if params.merge_rounds > 0 and not _proven(value, bound, params):
            best, merged, hit = _merge(problem, found.kernel, budget, best, value, params, one_seed)
            timed_out |= hit
            if merged > value + problem.tol:
                value, merged_any = merged, True
        stale = 0 if value > before + problem.tol else stale + found.rounds
    if merged_any:
        label = "adaptive iterated local search + solution merging"
    elif searched:
        label = "adaptive iterated local search"
    return best, value, label + (" (merge step hit its time limit)" if timed_out else "")


def _refine(problem: Problem, model: Model, relaxed: Future | None, budget: int, best: np.ndarray, value: float,
            bound: float, source: str, label: str, exact: bool, params: SolverParams,
            seed: int) -> tuple[np.ndarray, float, str, str]:
    """Prove an MCLP incumbent and improve it on the presolved ``model`` (merged rows): the LP
    relaxation with HiGHS (``relaxed``, running since before the search, when the model has at
    most ``lp_max_pairs`` pairs), the Lagrangian relaxation when it fits ``lagrange_work``;
    reduced-cost fixing of candidates; HiGHS on the reduced MILP when it is small enough (or
    ``exact``)."""
    if relaxed is None and params.lagrange_work / max(model.rows.nnz, 1) < MIN_LAGRANGE_ITERATIONS:
        return best, bound, source, label  # too big to relax: the search and the greedy bound stand
    lag = lagrangian(model, budget, value, params)
    if lag.bound < bound:
        bound, source = lag.bound, "Lagrangian relaxation"
    if relaxed is not None and relaxed.result() < bound:
        bound, source = relaxed.result(), "LP relaxation (HiGHS)"
    if _proven(value, bound, params):
        return best, bound, source, label
    ones, allowed = fix_by_reduced_cost(model, lag, budget, value, problem)
    if ones.sum() > budget:  # contradiction: no solution beats the incumbent
        return best, min(bound, value), "optimality proof (reduced-cost fixing)", "exact"
    reduced = Model.build(problem, problem.fixed_mask | ones, allowed & ~ones)
    if not (exact or reduced.small_enough(params)):
        return best, bound, source, label
    result = milp(reduced, budget - int(ones.sum()), None, best, params, seed)
    if max(result.bound, value) < bound:
        bound, source = max(result.bound, value), "branch and bound (HiGHS)"
    if result.value > value + problem.tol:
        return result.sites, bound, source, result.label
    return best, bound, source, result.label if result.proven else label


class Searched(NamedTuple):
    sites: np.ndarray   # the best plan's new sites, global indices, sorted
    value: float        # their covered weight, fixed sites included
    rounds: int         # rounds of iterated local search run
    kernel: np.ndarray  # candidates for the merge step (``_kernel``; empty unless asked), global indices


def _search(problem: Problem, sites: np.ndarray, params: SolverParams, seed: int, rounds: int,
            stop_value: float = np.inf, model: Model | None = None, kernel: bool = False) -> Searched:
    """Swap local search, then ``rounds`` rounds of adaptive iterated local search
    (``siting/solve/ails.py``) within ``ils_work`` matrix entries, from the fixed sites plus
    ``sites``.

    On ``model`` (the presolved instance, fixed sites' rows dropped and identical rows merged)
    when given, else on the whole matrix. With ``rounds``, ``search_threads`` searches run at
    once in threads (the compiled search releases the GIL), each with its own seed derived
    from ``seed`` (the first: ``seed`` itself) and the whole work limit; the best plan is kept
    (ties: the first), so the result depends on the seed and the parameters, never on timing
    or the number of cores."""
    import siting.solve.ails as ails  # Numba: loaded on the first search, so plain imports stay light

    if model is None:
        (csr, csc), weights, fixed = problem.arrays, problem.weights, problem.fixed.astype(np.int64)
        start, movable, constant = np.asarray(sites, dtype=np.int64), ~problem.fixed_mask, 0.0
    else:
        by_col = model.rows.tocsc()
        csr = (model.rows.indptr.astype(np.int64), model.rows.indices.astype(np.int64))
        csc = (by_col.indptr.astype(np.int64), by_col.indices.astype(np.int64))
        weights, fixed, constant = model.weights, np.zeros(0, dtype=np.int64), model.constant
        start = np.searchsorted(model.cols, sites).astype(np.int64)
        movable = np.ones(len(model.cols), dtype=bool)

    def run(one_seed: int) -> tuple[np.ndarray, float, int, int, np.ndarray, np.ndarray]:
        return ails.search(*csr, *csc, weights, fixed, start, movable, problem.tol, int(rounds),
                           float(params.ils_work), int(params.ils_drop), one_seed, float(stop_value - constant),
                           int(params.swap_passes), int(params.ils_patience))

    threads = params.search_threads if rounds else 1
    seeds = [int(seed) % 2**32] + [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(threads - 1)]
    if threads == 1:
        results = [run(seeds[0])]
    else:
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(run, seeds))
    best, value, done = results[0][:3]
    for other in results[1:]:
        if other[1] > value + problem.tol:
            best, value, done = other[0], other[1], other[2]
    cols = model.cols if model is not None else np.arange(problem.n_candidates)
    merge_from = (_kernel(best, [r[4] for r in results], np.sum([r[5] for r in results], axis=0),
                          params.merge_candidates) if kernel else np.zeros(0, dtype=np.int64))
    return Searched(np.sort(cols[best]), float(value + constant), int(done), cols[merge_from])


def _kernel(best: np.ndarray, elites: list[np.ndarray], visits: np.ndarray, factor: float) -> np.ndarray:
    """The candidates a merge step decides among: the best plan, every elite plan of every
    search, then the candidates most often in accepted local optima, up to ``factor`` times
    the number of sites (sorted; empty when ``factor`` is 0)."""
    if factor <= 0 or len(best) == 0:
        return np.zeros(0, dtype=np.int64)
    kernel = np.unique(np.concatenate([best] + [e.ravel() for e in elites]))
    room = int(factor * len(best)) - len(kernel)
    if room > 0:
        order = np.lexsort((np.arange(len(visits)), -visits))
        order = order[visits[order] > 0]
        kernel = np.union1d(kernel, order[~np.isin(order, kernel)][:room])
    return kernel.astype(np.int64)


def _merge(problem: Problem, kernel: np.ndarray, budget: int, best: np.ndarray, value: float, params: SolverParams,
           seed: int) -> tuple[np.ndarray, float, bool]:
    """Solution merging (Blum et al.'s construct, merge, solve & adapt): HiGHS on the MCLP
    restricted to the ``kernel`` (the elite plans and the candidates most often in good local
    optima), warm-started with ``best``, within ``merge_max_nodes`` nodes. The searches' plans
    differ in places that need several sites moved at once; the restricted MILP recombines
    them exactly. Skipped when the restricted model has more than ``exact_max_pairs`` pairs.
    Returns the better of ``best`` and its plan, and whether HiGHS hit its time
    limit (``exact_time_s``; the result may then depend on machine speed)."""
    if len(kernel) <= budget:
        return best, value, False
    allowed = np.zeros(problem.n_candidates, dtype=bool)
    allowed[kernel] = True
    allowed[best] = True
    allowed &= ~problem.fixed_mask
    model = Model.build(problem, problem.fixed_mask, allowed)
    if model.rows.nnz > params.exact_max_pairs:
        return best, value, False
    merged = milp(model, budget, None, best, params, seed,
                  options={**MERGE_OPTIONS, "mip_max_nodes": int(params.merge_max_nodes)})
    timed_out = "time limit" in merged.label
    if merged.value > value + problem.tol:
        return np.sort(merged.sites), merged.value, timed_out
    return best, value, timed_out


def _proven(value: float, bound: float, params: SolverParams) -> bool:
    return bound - value <= params.mip_rel_gap * bound


# --------------------------------------------------------------------------- local search


def _fewest(problem: Problem, best: np.ndarray, goal: float, min_sites: int, params: SolverParams,
            rounds: int) -> tuple[np.ndarray, bool]:
    """Set cover by MCLP, searching downward: drop the site that covers least on its own
    and search (swap local search, ``rounds`` rounds of AILS, stopping once ``goal`` is
    reached) with one site fewer; repeat until the goal fails or ``min_sites`` is reached.
    Returns the smallest plan reaching the goal and whether the search shrank it."""
    shrunk = False
    while len(best) + len(problem.fixed) > max(min_sites, 1) and len(best):
        state, _ = start_state(problem)
        for j in best:
            state.add(j)
        unique = state.track_unique()
        order = np.lexsort((best, unique[best]))
        found = _search(problem, best[order[1:]], params, 0, rounds, stop_value=goal)
        trial, value = found.sites, found.value
        if value < goal:
            break
        best, shrunk = trial, True
    return best, shrunk


def _drop_redundant(state: State, order: list[int], goal: float) -> np.ndarray:
    """Remove chosen sites (last chosen first) whose loss keeps the covered weight at ``goal``;
    returns the remaining new sites."""
    unique = state.track_unique()
    value = state.covered_weight()
    for s in reversed(order):
        if value - unique[s] >= goal:
            value -= unique[s]
            state.remove(s)
    return np.asarray([s for s in order if state.chosen[s]], dtype=np.int64)


def _package(problem: Problem, new_sites: np.ndarray, fixed_gains: list[float], bound: float, label: str,
             start: float, min_sites: int | None = None, bound_source: str = "") -> Solution:
    """Order ``new_sites`` greedily after the fixed ones and package the result."""
    state, _ = start_state(problem)
    allowed = np.zeros(problem.n_candidates, dtype=bool)
    allowed[new_sites] = True
    order, gains, _ = greedy(state, len(new_sites), 0, allowed=allowed)
    objective = state.covered_weight()
    bound = max(bound, objective)
    gap = 1.0 - objective / bound if bound > 0 else 0.0
    return Solution(
        selected=np.concatenate([problem.fixed, np.asarray(order, dtype=np.int64)]),
        objective=objective, bound=bound, gap=gap, method=label,
        gains=np.asarray(fixed_gains + gains, dtype=np.float64), covered=state.count > 0,
        runtime_s=time.perf_counter() - start, min_sites=min_sites, bound_source=bound_source,
        bound_note=bound_note(gap, bound_source, min_sites, len(order) + len(problem.fixed)))
