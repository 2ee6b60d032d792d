"""Coverage state and the lazy greedy, with the submodular bounds of its prefixes.

:class:`State` keeps the cover count of every demand row and each candidate's ``gain`` (weight
it would newly cover); :func:`greedy` adds the candidate of largest gain (a lazy heap, gains
kept exact by vectorised updates over the rows each choice newly covers, O(nnz) in all) and
records :class:`Record` prefixes for the bound: ``f(S_k) + the (p - |fixed|) largest
marginal gains`` is valid for every prefix ``S_k`` (the textbook ``p - k`` is not: the
optimum need not contain the greedy prefix).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from siting.solve.problem import Problem


def start_state(problem: Problem) -> tuple["State", list[float]]:
    """A state holding the fixed sites, and the gain of each fixed site in order."""
    state = State(problem)
    return state, [state.add(j) for j in problem.fixed]

class State:
    """Coverage counts of a site set and, for every candidate, the weight it would newly
    cover (``gain``) and, once tracked, the weight only it covers (``unique``)."""

    def __init__(self, problem: Problem) -> None:
        self.p = problem
        csr, w = problem.csr, problem.weights
        self.count = np.zeros(csr.shape[0], dtype=np.int32)
        self.chosen = np.zeros(csr.shape[1], dtype=bool)
        self.gain = np.bincount(csr.indices, weights=np.repeat(w, np.diff(csr.indptr)), minlength=csr.shape[1])
        self.unique: np.ndarray | None = None

    def covered_weight(self) -> float:
        return float(self.p.weights[self.count > 0].sum())

    def track_unique(self) -> np.ndarray:
        """Start maintaining ``unique`` (weight of demand covered by exactly that site); returns it."""
        self.unique = np.zeros(len(self.chosen))
        self._spread(np.flatnonzero(self.count == 1), self.unique, 1.0)
        return self.unique

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


@dataclass(frozen=True)
class Record:
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


def greedy(state: State, budget: int, checks: int, stop_value: float | None = None,
            allowed: np.ndarray | None = None) -> tuple[list[int], list[float], list[Record]]:
    """Lazy greedy: add up to ``budget`` sites of largest gain (ties: lowest index) until
    ``stop_value`` is covered or no candidate adds weight.

    Returns the sites, their gains and the prefixes recorded for the bound (``checks``
    of them spread over the run; every prefix on small runs).
    """
    tol = state.p.tol
    pool = np.flatnonzero((state.gain > tol) & (~state.chosen if allowed is None else allowed & ~state.chosen))
    heap = list(zip((-state.gain[pool]).tolist(), pool.tolist()))
    heapq.heapify(heap)
    check = checkpoints(min(budget, len(pool)), checks, len(state.chosen))
    value = state.covered_weight()
    order: list[int] = []
    gains: list[float] = []
    records: list[Record] = []
    keep = budget if stop_value is None else None
    recorded = -1
    while True:
        k = len(order)
        if k < len(check) and check[k] and recorded != k:
            records.append(record(state, value, keep))
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
        records.append(record(state, value, keep))
    return order, gains, records


def checkpoints(iterations: int, checks: int, n_candidates: int) -> np.ndarray:
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


def record(state: State, value: float, keep: int | None) -> Record:
    gains = state.gain[state.gain > state.p.tol]
    if keep is not None and keep < len(gains):
        gains = np.partition(gains, len(gains) - keep)[len(gains) - keep:] if keep > 0 else gains[:0]
    return Record(value, np.cumsum(np.sort(gains)[::-1]))

