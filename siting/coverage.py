"""Sparse demand × candidate coverage: which demand points each candidate can reach.

The main product is the list of demand–candidate pairs within a per-candidate radius,
found with KD-trees (:func:`pairs_within`); the radio model filters those pairs by link
margin and :func:`coverage_matrix` turns the survivors into a boolean CSR matrix.
No dense demand × candidate array is ever built.

Memory is checked before anything large is allocated: :func:`estimate_pairs` counts
the neighbours of a sample of candidates and :func:`check_memory` refuses a run whose
matrix would exceed the configured budget (``SolverParams.memory_budget_gb``).
"""
from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from siting.errors import PlanError, ResourceError

#: peak bytes per demand–candidate pair of a plan [A]: pair list (row, col, distance: 12),
#: the radio stage's margins (3 × float64: 24) and temporaries, the CSR matrix and the
#: solver's CSC copy and state (about 5 each). ``benchmarks/bench_scale.py`` (no radio
#: stage) peaks at 71 bytes per pair, instance data and interpreter included.
BYTES_PER_PAIR = 64

#: candidates whose radii differ by less than this factor share one KD-tree query;
#: pairs are then filtered to each candidate's own radius
_RADIUS_CLASS_RATIO = 1.05

#: candidates per KD-tree query, so that the query's own buffers stay small
_PAIRS_PER_CHUNK = 4_000_000

#: candidates sampled by :func:`estimate_pairs`
_SAMPLE = 2000


def pairs_within(demand_xy: np.ndarray, candidate_xy: np.ndarray,
                 radius_m: float | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All demand–candidate pairs whose distance is at most the candidate's radius.

    Parameters
    ----------
    demand_xy, candidate_xy : (n, 2) arrays of metric coordinates (the area CRS).
    radius_m : one radius, or one per candidate (metres, finite, >= 0).

    Returns
    -------
    rows, cols, dist_m : demand index (int32), candidate index (int32) and distance
        (float32) of every pair with ``hypot(dx, dy) <= radius_m[col]``, in an order
        that depends only on the inputs.
    """
    demand_xy, candidate_xy, radius = _inputs(demand_xy, candidate_xy, radius_m)
    if len(demand_xy) == 0 or len(candidate_xy) == 0:
        return np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, np.float32)
    tree = cKDTree(demand_xy)
    per_candidate = _mean_pairs(tree, candidate_xy, radius)
    parts = [_query(tree, demand_xy, candidate_xy, radius, idx)
             for idx in _query_groups(radius, per_candidate)]
    if not parts:
        return np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, np.float32)
    rows, cols, dist = (np.concatenate(x) for x in zip(*parts))
    return rows, cols, dist


def coverage_matrix(rows: np.ndarray, cols: np.ndarray, n_demand: int, n_candidates: int,
                    keep: np.ndarray | None = None) -> sparse.csr_matrix:
    """Boolean CSR matrix (demand × candidate) of the pairs, or of the pairs where ``keep``."""
    rows = np.asarray(rows)
    cols = np.asarray(cols)
    if keep is not None:
        keep = np.asarray(keep, dtype=bool)
        rows, cols = rows[keep], cols[keep]
    data = np.ones(len(rows), dtype=bool)
    matrix = sparse.csr_matrix((data, (rows, cols)), shape=(n_demand, n_candidates), dtype=bool)
    matrix.sum_duplicates()
    return matrix


def covered_by(matrix: sparse.csr_matrix, cols: np.ndarray) -> np.ndarray:
    """Which demand rows at least one of the candidate columns ``cols`` covers."""
    if len(cols) == 0:
        return np.zeros(matrix.shape[0], dtype=bool)
    return np.asarray(matrix[:, np.asarray(cols)].sum(axis=1)).ravel() > 0


def coverage_from_radius(demand_xy: np.ndarray, candidate_xy: np.ndarray, radius_m: float | np.ndarray,
                         memory_budget_gb: float | None = None) -> sparse.csr_matrix:
    """Boolean coverage matrix of demand points within each candidate's radius.

    With ``memory_budget_gb``, refuses (:class:`ResourceError`) before allocating when
    the estimated size exceeds the budget.
    """
    if memory_budget_gb is not None:
        check_memory(demand_xy, candidate_xy, radius_m, memory_budget_gb)
    rows, cols, _ = pairs_within(demand_xy, candidate_xy, radius_m)
    return coverage_matrix(rows, cols, len(demand_xy), len(candidate_xy))


def estimate_pairs(demand_xy: np.ndarray, candidate_xy: np.ndarray, radius_m: float | np.ndarray) -> int:
    """Estimated number of pairs :func:`pairs_within` returns, from an evenly spread
    sample of candidates (exact when there are at most 2,000 candidates)."""
    demand_xy, candidate_xy, radius = _inputs(demand_xy, candidate_xy, radius_m)
    if len(demand_xy) == 0 or len(candidate_xy) == 0:
        return 0
    return int(round(_mean_pairs(cKDTree(demand_xy), candidate_xy, radius) * len(candidate_xy)))


def check_memory(demand_xy: np.ndarray, candidate_xy: np.ndarray, radius_m: float | np.ndarray,
                 budget_gb: float, bytes_per_pair: float = BYTES_PER_PAIR) -> int:
    """Refuse, before allocating, a coverage matrix whose estimated memory exceeds the budget.

    Returns the estimated number of pairs; raises :class:`ResourceError` with the
    estimate and what to do when ``pairs × bytes_per_pair`` exceeds ``budget_gb``.
    """
    n_pairs = estimate_pairs(demand_xy, candidate_xy, radius_m)
    need_gb = n_pairs * bytes_per_pair / 1e9
    if need_gb > budget_gb:
        raise ResourceError(
            f"the coverage matrix would need about {need_gb:.1f} GB ({n_pairs:,} demand-candidate pairs for "
            f"{len(demand_xy):,} demand points and {len(candidate_xy):,} candidates), over the memory budget of "
            f"{budget_gb:g} GB: use larger demand cells (--cell-size), or split the area into districts with "
            f"`siting batch` (or raise solver.memory_budget_gb)")
    return n_pairs


def _inputs(demand_xy, candidate_xy, radius_m) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated float64 coordinates and one radius per candidate."""
    demand_xy = _xy(demand_xy, "demand")
    candidate_xy = _xy(candidate_xy, "candidate")
    radius = np.broadcast_to(np.asarray(radius_m, dtype=np.float64), (len(candidate_xy),))
    if not np.all(np.isfinite(radius)) or np.any(radius < 0):
        raise PlanError("coverage radii must be finite and non-negative: check the link budget parameters")
    if len(demand_xy) >= 2**31 or len(candidate_xy) >= 2**31:
        raise ResourceError("more than 2^31 demand points or candidates: split the area into districts "
                            "with `siting batch`")
    return demand_xy, candidate_xy, radius


def _xy(xy, what: str) -> np.ndarray:
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if not np.all(np.isfinite(xy)):
        raise PlanError(f"{what} coordinates contain NaN or infinite values: check the input geometries")
    return xy


def _mean_pairs(tree: cKDTree, candidate_xy: np.ndarray, radius: np.ndarray) -> float:
    """Mean number of demand points within reach of a candidate, from a sample."""
    n = len(candidate_xy)
    sample = np.unique(np.linspace(0, n - 1, min(n, _SAMPLE)).round().astype(np.int64))
    counts = tree.query_ball_point(candidate_xy[sample], radius[sample], return_length=True)
    return float(np.mean(counts))


def _query_groups(radius: np.ndarray, per_candidate: float) -> list[np.ndarray]:
    """Candidate index groups of similar radius, chunked to bound each query's buffers."""
    positive = radius > 0
    smallest = radius[positive].min() if positive.any() else 1.0
    with np.errstate(divide="ignore"):
        cls = np.where(positive, np.floor(np.log(radius / smallest) / np.log(_RADIUS_CLASS_RATIO)), -1.0)
    order = np.argsort(cls, kind="stable")
    bounds = np.flatnonzero(np.diff(cls[order])) + 1
    chunk = max(1, int(_PAIRS_PER_CHUNK / max(per_candidate, 1.0)))
    return [part for group in np.split(order, bounds) for part in np.array_split(group, -(-len(group) // chunk))]


def _query(tree: cKDTree, demand_xy: np.ndarray, candidate_xy: np.ndarray, radius: np.ndarray,
           idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of the candidates ``idx`` (similar radii): one KD-tree join, then the exact
    ``hypot <= radius`` filter per candidate."""
    reach = radius[idx].max() * (1 + 1e-9) + 1e-9
    hits = cKDTree(candidate_xy[idx]).sparse_distance_matrix(tree, reach, output_type="ndarray")
    rows, cols = hits["j"], idx[hits["i"]]
    del hits
    delta = demand_xy[rows] - candidate_xy[cols]
    dist = np.hypot(delta[:, 0], delta[:, 1])
    inside = dist <= radius[cols]
    return rows[inside].astype(np.int32), cols[inside].astype(np.int32), dist[inside].astype(np.float32)
