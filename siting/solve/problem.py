"""The problem every solver takes, validated once, and the one :class:`Solution` they return.

A coverage problem is a boolean demand × candidate matrix (``siting/coverage.py``), a
weight per demand point and the existing sites (``fixed``, always kept). Every check on a
request lives here, and every error names the parameter at fault (``count``, ``target``,
``weights``, ``fixed``, ``method``) in :attr:`ParameterError.param`, so that a front end
can name its own flag for it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from siting.errors import PlanError

METHODS = ("auto", "greedy", "greedy+swap", "exact")

#: a proven gap above this is reported as weak in words
WEAK_GAP = 0.01
#: a set cover lower bound below this share of the plan's sites is reported as weak
WEAK_MIN_SITES = 0.9


class ParameterError(PlanError):
    """A solver request that cannot be met; ``param`` names the argument at fault."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Solution:
    """Sites chosen by a solver and how good they provably are.

    ``selected`` holds candidate indices, the fixed (existing) sites first, then the new
    ones in order of choice; ``gains[i]`` is the weight ``selected[i]`` newly covered when
    it was added (capacitated: the traffic it serves). ``objective`` is the covered (or
    served) weight and ``bound`` a proven upper bound on the best reachable with
    ``len(selected)`` sites (for MCLP: with ``p``), so ``gap = 1 - objective / bound``
    bounds the distance to the optimum. ``min_sites`` (set cover, capacitated target) is a
    proven lower bound on the number of sites any solution reaching the target needs.
    ``runtime_s`` is wall time, not reproducible. ``bound_source`` names what proved
    ``bound`` (set cover: ``min_sites``); ``bound_note`` says in words when the bound (or ``min_sites``) is too weak to
    tell whether the plan is good (empty otherwise).

    Capacitated plans (:func:`siting.solve.solve_capacitated`) also carry the assignment:
    ``served`` Mbps per demand point, ``site_served`` Mbps and ``load`` (share of the
    resource used, at most 1) per selected site, and the sparse flows ``flow_rows``,
    ``flow_cols``, ``flow_mbps`` (demand point, site, Mbps); ``None`` for coverage plans.
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
    served: np.ndarray | None = None
    site_served: np.ndarray | None = None
    load: np.ndarray | None = None
    flow_rows: np.ndarray | None = None
    flow_cols: np.ndarray | None = None
    flow_mbps: np.ndarray | None = None


def bound_note(gap: float, source: str, min_sites: int | None, sites: int) -> str:
    """One sentence on how much the bound proves, for the summary; empty when it is tight."""
    if min_sites is not None and sites and min_sites < WEAK_MIN_SITES * sites:
        return (f"the lower bound of {min_sites} sites is weak: a plan may need fewer than {sites} sites, "
                "but none with fewer was found")
    if min_sites is None and gap > WEAK_GAP:
        return (f"the bound ({source}) is weak: the plan is proven within {gap:.1%} of the best possible, "
                "and is likely much closer")
    return ""


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ParameterError("method", f"unknown solver method '{method}': use one of {', '.join(METHODS)}")


def check_fixed(fixed, n_candidates: int) -> np.ndarray:
    """Existing site indices, duplicates dropped, in their first order."""
    ids = np.asarray([] if fixed is None else fixed, dtype=np.int64).ravel()
    if np.any((ids < 0) | (ids >= n_candidates)):
        raise ParameterError("fixed", f"an existing site index is outside 0..{n_candidates - 1}: "
                                      "check the candidate table")
    return ids[np.sort(np.unique(ids, return_index=True)[1])]


def check_count(count, n_fixed: int, n_candidates: int) -> int:
    """``count`` sites in total as an int, between the fixed sites and the candidates."""
    if not float(count).is_integer():
        raise ParameterError("count", f"count {count} is not a whole number of sites: give an integer")
    count = int(count)
    if count < n_fixed:
        raise ParameterError("count", f"count {count} is below the {n_fixed} existing sites: nothing new to plan")
    if count > n_candidates:
        raise ParameterError("count", f"count {count} exceeds the {n_candidates} candidate sites: "
                                      "ask for fewer sites or give a target")
    return count


def check_target(target: float, what: str = "coverage share such as 0.98") -> float:
    if not 0 < target <= 1:
        raise ParameterError("target", f"target {target} is outside (0, 1]: give a {what}")
    return float(target)


def check_one_of(count, target) -> None:
    if (count is None) == (target is None):
        raise ParameterError("count", "give exactly one of count or target")


@dataclass(frozen=True)
class Problem:
    """Validated coverage instance: the matrix in CSR and CSC form, weights, fixed sites."""

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
        return int(self.csr.shape[1])

    @classmethod
    def build(cls, coverage, weights, fixed, method: str) -> "Problem":
        check_method(method)
        csr = sparse.csr_matrix(coverage, dtype=bool)
        if not csr.has_canonical_format or not csr.data.all():
            csr = csr.copy()
            csr.sum_duplicates()
            csr.eliminate_zeros()
        n_demand, n_cand = csr.shape
        w = np.asarray(weights, dtype=np.float64).ravel()
        if len(w) != n_demand:
            raise ParameterError("weights", f"{len(w)} demand weights for {n_demand} demand points: "
                                            "give one weight per point")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ParameterError("weights", "demand weights must be finite and non-negative: check the demand layer")
        ids = check_fixed(fixed, n_cand)
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
