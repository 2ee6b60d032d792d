"""Compiled swap local search and adaptive iterated local search for MCLP (``siting/solve/mclp.py``).

The state of a site set is kept incrementally, touching only the demand rows whose cover
count changes: per demand row its cover ``count`` and the sum of the indices of the chosen
sites covering it (so the sole coverer of a row covered once is known without a search);
per candidate its ``gain`` (weight of uncovered demand it would cover) and, for a chosen
site, its ``loss`` (weight of demand only it covers). The best swap out of a chosen site
``s`` is then: remove ``s``, take the candidate of largest gain, and keep the swap when that
gain exceeds what ``s`` alone covered. Only candidates sharing demand with ``s`` change gain,
so the best one is the best of those and the best untouched candidate, which is the
candidate of largest gain before the removal.

:func:`search` is the adaptive iterated local search of Máximo, Cordeau & Nascimento (ITOR
2023, "An adaptive iterated local search heuristic for the maximal covering location
problem"): perturb the reference solution (close a few neighbouring sites, open others by
randomised greedy), run the swap local search, and accept the result as the new reference
when it reaches an adaptive threshold between the best and the mean of recent local optima,
the threshold's factor adapted so that a target share of rounds is accepted.

Limits are work-based (matrix entries scanned), so a seed gives the same sites on any machine.
"""
from __future__ import annotations

import numpy as np
from numba import njit

#: rounds between adaptations of the acceptance threshold, and the share of rounds accepted (AILS: gamma, kappa)
_WINDOW = 30
_ACCEPT_SHARE = 0.4


@njit(cache=True)
def _add(j, r_ptr, r_idx, c_ptr, c_idx, w, count, owner, gain, loss, chosen):
    """Open site ``j``; returns (weight newly covered, matrix entries scanned)."""
    new = 0.0
    work = c_ptr[j + 1] - c_ptr[j]
    for t in range(c_ptr[j], c_ptr[j + 1]):
        i = c_idx[t]
        c = count[i]
        if c == 0:
            wi = w[i]
            new += wi
            loss[j] += wi
            for u in range(r_ptr[i], r_ptr[i + 1]):
                gain[r_idx[u]] -= wi
            work += r_ptr[i + 1] - r_ptr[i]
        elif c == 1:
            loss[owner[i]] -= w[i]
        count[i] = c + 1
        owner[i] += j
    chosen[j] = True
    return new, work


@njit(cache=True)
def _remove(j, r_ptr, r_idx, c_ptr, c_idx, w, count, owner, gain, loss, chosen, touched, n_touched, mark):
    """Close site ``j``; candidates whose gain rises are appended to ``touched`` (once, by
    ``mark``). Returns (weight lost, new length of ``touched``, matrix entries scanned)."""
    lost = 0.0
    work = c_ptr[j + 1] - c_ptr[j]
    chosen[j] = False
    for t in range(c_ptr[j], c_ptr[j + 1]):
        i = c_idx[t]
        c = count[i] - 1
        count[i] = c
        owner[i] -= j
        if c == 0:
            wi = w[i]
            lost += wi
            for u in range(r_ptr[i], r_ptr[i + 1]):
                k = r_idx[u]
                gain[k] += wi
                if not mark[k]:
                    mark[k] = True
                    touched[n_touched] = k
                    n_touched += 1
            work += r_ptr[i + 1] - r_ptr[i]
        elif c == 1:
            loss[owner[i]] += w[i]
    loss[j] = 0.0
    return lost, n_touched, work


@njit(cache=True)
def _best_free(gain, chosen, banned):
    """Candidate of largest gain that is neither chosen nor banned (ties: lowest index); -1 if none."""
    best, value = -1, -np.inf
    for k in range(len(gain)):
        if not chosen[k] and not banned[k] and gain[k] > value:
            best, value = k, gain[k]
    return best


@njit(cache=True)
def _local_search(sites, movable, r_ptr, r_idx, c_ptr, c_idx, w, count, owner, gain, loss, chosen, banned,
                  touched, mark, order, tol, max_passes):
    """1-swap local search (first improvement, sites in the order of ``order``'s permutation of
    ``sites``) until a pass finds no improving swap or ``max_passes`` passes.

    ``sites`` (the chosen movable sites) is updated in place. Returns matrix entries scanned.
    """
    work = 0
    top = _best_free(gain, chosen, banned)
    work += len(gain)
    for _ in range(max_passes):
        improved = False
        for q in range(len(order)):
            pos = order[q]
            s = sites[pos]
            lost, n_t, wk = _remove(s, r_ptr, r_idx, c_ptr, c_idx, w, count, owner, gain, loss, chosen,
                                    touched, 0, mark)
            work += wk
            best = top
            value = gain[top] if top >= 0 else -np.inf
            for t in range(n_t):
                k = touched[t]
                mark[k] = False
                if k != s and not chosen[k] and not banned[k]:
                    if gain[k] > value or (gain[k] == value and k < best):
                        best, value = k, gain[k]
            if best >= 0 and value > lost + tol:
                _, wk = _add(best, r_ptr, r_idx, c_ptr, c_idx, w, count, owner, gain, loss, chosen)
                sites[pos] = best
                improved = True
                top = _best_free(gain, chosen, banned)
                work += wk + len(gain)
            else:
                _, wk = _add(s, r_ptr, r_idx, c_ptr, c_idx, w, count, owner, gain, loss, chosen)
                work += wk
        if not improved:
            break
    return work


@njit(cache=True)
def _covered(count, w):
    total = 0.0
    for i in range(len(count)):
        if count[i] > 0:
            total += w[i]
    return total


@njit(cache=True)
def search(r_ptr, r_idx, c_ptr, c_idx, w, fixed, start, movable, tol, rounds, work_limit, max_drop, seed,
           stop_value, max_passes, patience):
    """Adaptive iterated local search from ``fixed`` + ``start`` (``start``: movable sites).

    Each round closes ``1..max_drop`` chosen sites near a random one, opens as many by
    randomised greedy (the closed ones excluded), runs the swap local search, and accepts
    by the AILS threshold. Stops after ``rounds`` rounds, ``work_limit`` matrix entries,
    ``patience`` rounds without a better best, or once ``stop_value`` is covered. Returns (best movable sites, their covered weight
    including ``fixed``, rounds run, work done).
    """
    np.random.seed(seed)
    n_rows, n = len(r_ptr) - 1, len(c_ptr) - 1
    count = np.zeros(n_rows, np.int32)
    owner = np.zeros(n_rows, np.int64)
    gain = np.zeros(n)
    for i in range(n_rows):
        for u in range(r_ptr[i], r_ptr[i + 1]):
            gain[r_idx[u]] += w[i]
    loss = np.zeros(n)
    chosen = np.zeros(n, np.bool_)
    banned = ~movable
    touched = np.empty(n, np.int64)
    mark = np.zeros(n, np.bool_)
    work = 0
    for j in fixed:
        _, wk = _add(j, r_ptr, r_idx, c_ptr, c_idx, w, count, owner, gain, loss, chosen)
        work += wk
    sites = start.copy()
    m = len(sites)
    for j in sites:
        _, wk = _add(j, r_ptr, r_idx, c_ptr, c_idx, w, count, owner, gain, loss, chosen)
        work += wk
    if m == 0:
        return sites, _covered(count, w), 0, work
    work += _local_search(sites, movable, r_ptr, r_idx, c_ptr, c_idx, w, count, owner, gain, loss, chosen, banned,
                          touched, mark, np.random.permutation(m), tol, max_passes)
    value = _covered(count, w)
    best, best_value = sites.copy(), value
    reference = sites.copy()
    recent = np.full(_WINDOW, value)
    eta, accepted, done = 0.5, 0, 0
    ref_chosen = np.zeros(n, np.bool_)
    drop = np.empty(max_drop, np.int64)
    last = 0
    while done < rounds and work < work_limit and best_value < stop_value and done - last < patience:
        done += 1
        # perturbation: close `size` chosen sites sharing demand with a random one (else random ones)
        size = min(1 + np.random.randint(max_drop), m)
        centre = np.random.randint(m)
        drop[0] = centre
        n_drop = 1
        s0 = sites[centre]
        for t in range(c_ptr[s0], c_ptr[s0 + 1]):
            if n_drop >= size:
                break
            i = c_idx[t]
            for u in range(r_ptr[i], r_ptr[i + 1]):
                k = r_idx[u]
                if n_drop >= size:
                    break
                for v in range(c_ptr[k], c_ptr[k + 1]):
                    i2 = c_idx[v]
                    if count[i2] == 0 or n_drop >= size:
                        continue
                    for x in range(r_ptr[i2], r_ptr[i2 + 1]):
                        k2 = r_idx[x]
                        if chosen[k2] and movable[k2] and k2 != s0 and not mark[k2] and n_drop < size:
                            mark[k2] = True
                            for q in range(m):
                                if sites[q] == k2:
                                    drop[n_drop] = q
                                    n_drop += 1
                    work += r_ptr[i2 + 1] - r_ptr[i2]
        for q in range(n_drop):
            mark[sites[drop[q]]] = False
        while n_drop < size:
            pos = np.random.randint(m)
            seen = False
            for q in range(n_drop):
                if drop[q] == pos:
                    seen = True
            if not seen:
                drop[n_drop] = pos
                n_drop += 1
        for q in range(n_drop):
            s = sites[drop[q]]
            _, n_t, wk = _remove(s, r_ptr, r_idx, c_ptr, c_idx, w, count, owner, gain, loss, chosen, touched, 0,
                                 mark)
            for t in range(n_t):
                mark[touched[t]] = False
            banned[s] = True
            work += wk
        # randomised greedy refill: the best candidate, or one of the few next best
        for q in range(n_drop):
            k = _best_free(gain, chosen, banned)
            if np.random.random() < 0.5:
                banned[k] = True
                second = _best_free(gain, chosen, banned)
                banned[k] = False
                if second >= 0 and gain[second] > tol:
                    k = second
            work += 2 * n
            if k < 0:
                k = sites[drop[q]]  # nothing else to open: the closed site comes back
            _, wk = _add(k, r_ptr, r_idx, c_ptr, c_idx, w, count, owner, gain, loss, chosen)
            work += wk
            sites[drop[q]] = k
        for j in range(n):
            banned[j] = not movable[j]
        work += _local_search(sites, movable, r_ptr, r_idx, c_ptr, c_idx, w, count, owner, gain, loss, chosen,
                              banned, touched, mark, np.random.permutation(m), tol, max_passes)
        value = _covered(count, w)
        work += n_rows
        if value > best_value + tol:
            best, best_value, last = sites.copy(), value, done
        # acceptance: at least eta of the way from the mean of recent local optima to their best
        recent[done % _WINDOW] = value
        high, mean = recent.max(), recent.mean()
        threshold = high - eta * (high - mean)
        if value >= threshold - tol:
            accepted += 1
            reference[:] = sites
        else:  # back to the reference
            for q in range(m):
                ref_chosen[reference[q]] = True
            for q in range(m):
                if not ref_chosen[sites[q]]:
                    _, n_t, wk = _remove(sites[q], r_ptr, r_idx, c_ptr, c_idx, w, count, owner, gain, loss, chosen,
                                         touched, 0, mark)
                    for t in range(n_t):
                        mark[touched[t]] = False
                    work += wk
            for q in range(m):
                ref_chosen[reference[q]] = False
                if not chosen[reference[q]]:
                    _, wk = _add(reference[q], r_ptr, r_idx, c_ptr, c_idx, w, count, owner, gain, loss, chosen)
                    work += wk
            sites[:] = reference
        if done % _WINDOW == 0:
            share = accepted / _WINDOW
            eta = min(1.0, max(0.01, eta * _ACCEPT_SHARE / max(share, 0.01)))
            accepted = 0
    return best, best_value, done, work
