"""Reserve sites and search rings: alternates for the acquisition of each proposed site.

A site location may fall through (no lease, no permit), so a plan names alternates
(Guangzhou: 67,000 site locations for 38,900 stations, ratio 0.72). For a proposed site
``s`` with every other site fixed, an unselected candidate ``a`` *qualifies* when
swapping it in keeps at least ``keep_share`` of what ``s`` does:

- a site placed for coverage (its marginal coverage ``m_s`` > 0: the weight only it
  covers): ``a`` must cover at least ``keep_share · m_s`` of the weight that ``S - s``
  leaves uncovered, and stand for the same demand (cover some of what only ``s`` covers);
- a site placed for capacity or redundancy (``m_s`` = 0): ``a`` must cover at least
  ``keep_share`` of the weight ``s`` covers (the same demand, served again).

Reserves are handed out in rounds over the proposed sites (in their order), each round
giving every site its best unused alternate (highest kept share, then lowest index), until
``round(ratio · proposed)`` reserves stand; a candidate is reserve for one site at most.
A site's search ring is the convex hull of the site and all its qualifying alternates,
buffered by ``ring_buffer_m``.
"""
from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from scipy import sparse

from siting.errors import PlanError


def resolve_ratio(spec: float | str, plans_dir=None) -> float:
    """A reserve ratio from a number or a plan id / plan YAML (its site locations per
    base station, minus one). Raises :class:`PlanError` for a negative ratio."""
    try:
        ratio = float(spec)
    except (TypeError, ValueError):
        from siting.registry import get_plan

        ratio = get_plan(str(spec), plans_dir).reserve_ratio()
    if not np.isfinite(ratio) or ratio < 0:
        raise PlanError(f"`reserve` {spec} is negative: give reserve sites per proposed site, e.g. 0.72")
    return ratio


def check_reserve(ratio: float, proposed: int, free: int) -> int:
    """The number of reserve sites ``ratio`` asks for ``proposed`` sites; PlanError when
    more than the ``free`` (unselected) candidates."""
    wanted = int(round(ratio * proposed))
    if wanted > free:
        raise PlanError(f"`reserve` {ratio:g} asks for {wanted} reserve sites but only {free} candidates are "
                        "left unselected: lower `reserve`")
    return wanted


@dataclass(frozen=True)
class Reserves:
    """Reserve sites per proposed site: parallel arrays ``site``, ``alternate`` (candidate
    indices), ``rank`` (1 = first choice for that site) and ``kept_share``; ``qualifying``
    maps each proposed site to all its qualifying alternates (for the rings)."""

    site: np.ndarray
    alternate: np.ndarray
    rank: np.ndarray
    kept_share: np.ndarray
    qualifying: dict[int, np.ndarray]
    wanted: int


def choose_reserves(coverage: sparse.spmatrix, weights: np.ndarray, selected: np.ndarray, proposed: np.ndarray,
                    ratio: float, keep_share: float) -> Reserves:
    """Reserve candidates for the ``proposed`` sites among ``selected`` (module docstring).

    Raises :class:`PlanError` when the candidates cannot give ``round(ratio · proposed)``
    reserves."""
    csr = sparse.csr_matrix(coverage, dtype=np.float64)
    csc = csr.tocsc()
    w = np.asarray(weights, dtype=np.float64)
    n = csr.shape[1]
    chosen = np.zeros(n, dtype=bool)
    chosen[np.asarray(selected, dtype=np.int64)] = True
    proposed = np.asarray(proposed, dtype=np.int64)
    wanted = check_reserve(ratio, len(proposed), int((~chosen).sum()))
    servers = np.asarray(csc[:, np.flatnonzero(chosen)].sum(axis=1)).ravel()
    open_gain = np.asarray(csc.T @ (w * (servers == 0))).ravel()  # weight a candidate adds to S
    ranked: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for s in proposed.tolist():
        rows = csc.indices[csc.indptr[s]:csc.indptr[s + 1]]
        only = rows[servers[rows] == 1]
        marginal = float(w[only].sum())
        basis = only if marginal > 0 else rows
        value = marginal if marginal > 0 else float(w[rows].sum())
        sub = csr[basis]
        cands, inverse = np.unique(sub.indices, return_inverse=True)
        shared = np.bincount(inverse, weights=np.repeat(w[basis], np.diff(sub.indptr)), minlength=len(cands))
        kept = (open_gain[cands] + shared if marginal > 0 else shared) / value if value > 0 else np.zeros(len(cands))
        ok = ~chosen[cands] & (kept >= keep_share - 1e-12) & (shared > 0)
        order = np.lexsort((cands[ok], -kept[ok]))
        ranked[s] = (cands[ok][order], kept[ok][order])
    used = np.zeros(n, dtype=bool)
    pointer = {s: 0 for s in ranked}
    picks: list[tuple[int, int, int, float]] = []
    count = {s: 0 for s in ranked}
    progress = True
    while len(picks) < wanted and progress:
        progress = False
        for s in proposed.tolist():
            alts, kept = ranked[s]
            while pointer[s] < len(alts) and used[alts[pointer[s]]]:
                pointer[s] += 1
            if pointer[s] == len(alts) or len(picks) == wanted:
                continue
            a = int(alts[pointer[s]])
            used[a] = True
            count[s] += 1
            picks.append((s, a, count[s], float(kept[pointer[s]])))
            progress = True
    if len(picks) < wanted:
        most = len(picks) / len(proposed) if len(proposed) else 0.0
        raise PlanError(f"`reserve` {ratio:g} needs {wanted} reserve sites but only {len(picks)} candidates keep "
                        f"{keep_share:.0%} of a proposed site's coverage (ratio {most:.2f} at most): lower `reserve`")
    cols = list(zip(*picks)) if picks else [(), (), (), ()]
    return Reserves(np.asarray(cols[0], dtype=np.int64), np.asarray(cols[1], dtype=np.int64),
                    np.asarray(cols[2], dtype=np.int64), np.asarray(cols[3], dtype=np.float64),
                    {s: alts for s, (alts, _) in ranked.items()}, wanted)


def reserve_layers(candidates: gpd.GeoDataFrame, reserves: Reserves, ring_buffer_m: float
                   ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The ``reserve_sites`` points and the ``search_rings`` polygons (area CRS)."""
    ids = candidates["candidate_id"].to_numpy()
    geoms = candidates.geometry.to_numpy()
    points = gpd.GeoDataFrame({
        "site_id": ids[reserves.alternate], "reserve_for": ids[reserves.site], "rank": reserves.rank,
        "kept_share": np.round(reserves.kept_share, 4),
        "source": candidates["source"].to_numpy()[reserves.alternate],
        "height_m": candidates["height_m"].to_numpy(dtype=float)[reserves.alternate],
    }, geometry=geoms[reserves.alternate], crs=candidates.crs)
    sites = np.asarray(list(reserves.qualifying), dtype=np.int64)
    hulls = [shapely.convex_hull(shapely.multipoints(np.r_[geoms[[s]], geoms[reserves.qualifying[s]]]))
             for s in sites.tolist()]
    position = {s: i for i, s in enumerate(sites.tolist())}
    per_site = np.bincount([position[s] for s in reserves.site.tolist()], minlength=len(sites))
    rings = gpd.GeoDataFrame({
        "site_id": ids[sites], "alternates": [len(reserves.qualifying[s]) for s in sites.tolist()],
        "reserves": np.asarray(per_site, dtype=np.int64),
    }, geometry=shapely.buffer(np.asarray(hulls, dtype=object), ring_buffer_m) if hulls else [],
        crs=candidates.crs)
    return points, rings
