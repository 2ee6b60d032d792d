"""Exact site counts: once coverage saturates, place the rest for capacity, then redundancy.

The coverage optimiser (:func:`siting.solve.solve_mclp`) proposes no site that covers
nothing new, so a count above the point where coverage saturates comes back short.
:func:`fill_to_count` places the remaining sites where they do the most for the network
that exists, in two stages, and says why each site stands (``reason``):

1. ``capacity``: busy-hour traffic per site. Each covered demand point's traffic is
   shared equally among the selected sites covering it; a site's *load* is the radio
   resource that traffic uses (Mbps / spectral efficiency, summed) over the site's usable
   resource (:func:`siting.capacity.site_capacity_mhz`, ``max_load`` included), so load 1
   is the planning ceiling. Objective: the peak load, lowered greedily. While the busiest
   site is above 1, the candidate is added that makes the larger of the busiest site's
   new load and its own load smallest (ties: lowest index); the stage ends when no site
   is above 1 or no candidate lowers the busiest one. Bound: no plan with as many sites
   has a peak load below ``Σ_i t_i · min_j (1 / se_ij)`` over the ``count`` largest site
   resources (the covered traffic must be carried somewhere, at best at its best
   spectral efficiency).
2. ``redundancy``: a second covering server for the demand with the most traffic.
   Objective: ``Σ_i t_i · min(c_i, 2)`` (``c_i``: selected sites covering point ``i``):
   traffic counted once per covering site up to two, so a second server adds its traffic
   again; maximised by lazy greedy (the function is monotone submodular). Bound: its value when the stage starts plus the stage's
   ``k`` largest marginal gains at that moment. Sites left once every coverable point
   has two servers go to the candidates reaching the most traffic per server
   (``Σ t_i / (c_i + 1)``), then, when nothing reaches traffic, in candidate order.

Work: each added site updates the loads on the demand rows it covers; a capacity step
also scans the candidates once (argmax / argmin), a redundancy step re-evaluates one
column per heap pop.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from siting.errors import PlanError

#: why a site stands, as the ``reason`` column of the sites layer says
REASONS = ("existing", "coverage", "capacity", "redundancy")


@dataclass(frozen=True)
class Fill:
    """The sites after filling: ``selected`` (the given ones first, then the added ones in
    order), the ``reasons`` per selected site, and the stage figures for summary.json."""

    selected: np.ndarray
    reasons: np.ndarray
    summary: dict


def site_loads(mhz_per_mbps: sparse.csr_matrix, traffic: np.ndarray, capacity_mhz: np.ndarray,
               chosen: np.ndarray) -> np.ndarray:
    """Load of every candidate as if chosen, with each point's traffic shared equally among
    the ``chosen`` sites covering it (a chosen candidate's value is its real load)."""
    cover = (mhz_per_mbps > 0).astype(np.float64)
    servers = np.asarray(cover[:, np.flatnonzero(chosen)].sum(axis=1)).ravel()
    use = np.asarray(mhz_per_mbps.T @ (traffic / np.maximum(servers, 1.0))).ravel()
    return np.divide(use, capacity_mhz, out=np.zeros_like(use), where=capacity_mhz > 0)


def fill_to_count(mhz_per_mbps: sparse.csr_matrix, traffic: np.ndarray, capacity_mhz: np.ndarray,
                  selected: np.ndarray, reasons: np.ndarray, count: int) -> Fill:
    """Add sites to ``selected`` until ``count`` stand (see the module docstring).

    ``mhz_per_mbps``: demand × candidate matrix of 1 / spectral efficiency on the pairs that
    cover (zero elsewhere); ``traffic``: busy-hour Mbps per demand point; ``capacity_mhz``:
    usable resource per candidate; ``reasons``: those of ``selected``.
    """
    a = sparse.csr_matrix(mhz_per_mbps, dtype=np.float64)
    cover = (a > 0).astype(np.float64).tocsc()
    t = np.asarray(traffic, dtype=np.float64)
    cap = np.asarray(capacity_mhz, dtype=np.float64)
    n = a.shape[1]
    selected = np.asarray(selected, dtype=np.int64)
    chosen = np.zeros(n, dtype=bool)
    chosen[selected] = True
    need = int(count) - len(selected)
    if need > n - len(selected):
        raise PlanError(f"`count` {count} exceeds the {n} candidate sites: ask for fewer sites or use `target`")
    servers = np.asarray(cover[:, selected].sum(axis=1)).ravel()
    order: list[int] = []
    why: list[str] = []
    # resource every candidate would use (as chosen: "use"; as one more server: "extra"),
    # kept up to date row by row as sites are added
    use = np.asarray(a.T @ (t / np.maximum(servers, 1.0))).ravel()
    extra = np.asarray(a.T @ (t / (servers + 1.0))).ravel()

    def add(j: int, reason: str) -> None:
        chosen[j] = True
        rows = cover.indices[cover.indptr[j]:cover.indptr[j + 1]]
        old = servers[rows].copy()
        servers[rows] += 1.0
        if reason == "capacity":
            sub = a[rows].T
            use[:] += sub @ (t[rows] * (1.0 / np.maximum(old + 1.0, 1.0) - 1.0 / np.maximum(old, 1.0)))
            extra[:] += sub @ (t[rows] * (1.0 / (old + 2.0) - 1.0 / (old + 1.0)))
        order.append(j)
        why.append(reason)

    peak_before = _peak(a, t, cap, chosen)
    bound = _peak_bound(a, t, cap, count)
    a_csc, cover_csr = a.tocsc(), cover.tocsr()
    while len(order) < need:
        j = _capacity_site(a_csc, cover_csr, t, cap, chosen, servers, use, extra)
        if j is None:
            break
        add(j, "capacity")
    peak_after = _peak(a, t, cap, chosen)
    value_before = float(t @ np.minimum(servers, 2.0))
    gains = np.asarray(cover.T @ (t * (servers < 2))).ravel()
    gains[chosen] = 0.0
    rest = need - len(order)
    value_bound = value_before + float(np.sort(gains)[::-1][:rest].sum())
    for j in _lazy_greedy(cover, lambda rows: float(t[rows] @ (servers[rows] < 2)), gains, chosen, rest):
        add(j, "redundancy")
    if len(order) < need:  # every coverable point has two servers: spread the traffic further
        spread = np.asarray(cover.T @ (t / (servers + 1.0))).ravel()
        for j in _lazy_greedy(cover, lambda rows: float(t[rows] @ (1.0 / (servers[rows] + 1.0))), spread, chosen,
                              need - len(order)):
            add(j, "redundancy")
    for j in np.flatnonzero(~chosen)[:need - len(order)]:  # nothing reaches traffic any more
        add(int(j), "redundancy")
    value_after = float(t @ np.minimum(servers, 2.0))
    out_reasons = np.concatenate([np.asarray(reasons, dtype=object), np.asarray(why, dtype=object)])
    summary = {
        "sites_requested": int(count),
        "coverage_saturated_at": int(len(selected)),
        "capacity": {"objective": "peak busy-hour site load (share of usable capacity), minimised",
                     "sites": why.count("capacity"), "peak_load_before": round(peak_before, 4),
                     "peak_load_after": round(peak_after, 4), "peak_load_bound": round(bound, 4)},
        "redundancy": {"objective": "busy-hour traffic x its covering sites up to two (Mbps), maximised: traffic "
                                    "with a second server counts twice",
                       "sites": why.count("redundancy"), "value_before": round(value_before, 3),
                       "value": round(value_after, 3), "bound": round(max(value_bound, value_after), 3),
                       "traffic_two_servers_mbps": round(float(t[servers >= 2].sum()), 3)},
    }
    return Fill(np.concatenate([selected, np.asarray(order, dtype=np.int64)]), out_reasons, summary)


def _peak(a: sparse.csr_matrix, t: np.ndarray, cap: np.ndarray, chosen: np.ndarray) -> float:
    loads = site_loads(a, t, cap, chosen)
    return float(loads[chosen].max(initial=0.0))


def _peak_bound(a: sparse.csr_matrix, t: np.ndarray, cap: np.ndarray, count: int) -> float:
    """Lower bound on the peak load of any plan of ``count`` sites (module docstring)."""
    live = np.flatnonzero(np.diff(a.indptr) > 0)
    if len(live) == 0 or count <= 0:
        return 0.0
    best = np.minimum.reduceat(a.data, a.indptr[live])  # fewest MHz per Mbps of each covered point
    resource = float(np.sort(cap)[::-1][:count].sum())
    return float(t[live] @ best) / resource if resource > 0 else 0.0


def _capacity_site(a_csc: sparse.csc_matrix, cover: sparse.csr_matrix, t: np.ndarray, cap: np.ndarray,
                   chosen: np.ndarray, servers: np.ndarray, use: np.ndarray, extra: np.ndarray) -> int | None:
    """The candidate that lowers the busiest overloaded site most, or None (``use`` and
    ``extra``: each candidate's resource as a chosen site and as one more server)."""
    loads = np.divide(use, cap, out=np.zeros_like(use), where=cap > 0)
    loads[~chosen] = -np.inf
    busiest = int(np.argmax(loads))
    peak = loads[busiest]
    if not np.isfinite(peak) or peak <= 1.0 + 1e-9:
        return None
    lo, hi = a_csc.indptr[busiest], a_csc.indptr[busiest + 1]
    rows, inv = a_csc.indices[lo:hi], a_csc.data[lo:hi]
    c = servers[rows]
    relief = t[rows] * inv * (1.0 / c - 1.0 / (c + 1.0)) / cap[busiest]
    lowered = np.asarray(cover[rows].T @ relief).ravel()  # the busiest site's drop per candidate
    own = np.divide(extra, cap, out=np.full_like(extra, np.inf), where=cap > 0)
    after = np.maximum(peak - lowered, own)
    after[chosen | (lowered <= 0)] = np.inf
    j = int(np.argmin(after))
    return j if after[j] < peak - 1e-9 else None


def _lazy_greedy(cover: sparse.csc_matrix, gain_of, gains: np.ndarray, chosen: np.ndarray, k: int):
    """Yield up to ``k`` candidates by lazy greedy on a gain that only falls as sites are
    added (``gain_of(rows)`` re-evaluates a candidate on the rows it covers); stops when
    no candidate gains. The caller adds each yielded site before the next is drawn."""
    heap = [(-g, j) for j, g in enumerate(gains) if g > 0 and not chosen[j]]
    heapq.heapify(heap)
    taken = 0
    while heap and taken < k:
        _, j = heapq.heappop(heap)
        if chosen[j]:
            continue
        g = gain_of(cover.indices[cover.indptr[j]:cover.indptr[j + 1]])
        if g <= 0:
            continue
        if heap and g < -heap[0][0]:
            heapq.heappush(heap, (-g, j))
            continue
        taken += 1
        yield j
