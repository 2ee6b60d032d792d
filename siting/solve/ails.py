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

Don't-look bits: a chosen site is re-examined only when a site sharing demand with it was
opened or closed since it was last examined (``dirty``), or when the best free candidate's
gain exceeds its loss (then a swap with that candidate may pay, wherever it is).

:func:`search` is the adaptive iterated local search of Máximo, Cordeau & Nascimento (ITOR
2023, "An adaptive iterated local search heuristic for the maximal covering location
problem"): perturb the reference solution (close ``omega`` sites, chosen at random or
nearest a random one, and open as many others, at random, next to the closed ones or by
randomised greedy), run the swap local search, and accept the result as the new reference
when it reaches an adaptive threshold between the best and the mean of recent local optima,
the threshold's factor adapted so that a target share of rounds is accepted. Each of the two
removals has its own ``omega``, adapted so that a local optimum differs from its reference in
about ``_TARGET_DISTANCE`` sites. A share of the rounds relinks instead (path relinking, as
the paper's AILS-PR): the reference moves half way toward one of the best distinct local
optima found so far.

Limits are work-based (matrix entries scanned), so a seed gives the same sites on any machine.
The compiled functions release the GIL, so two searches can run in two threads.
"""
from __future__ import annotations

import numpy as np
from numba import njit

#: rounds between adaptations of the acceptance threshold and of omega, and the share of rounds
#: accepted (AILS: gamma, kappa)
_WINDOW = 30
_ACCEPT_SHARE = 0.4
#: sites a local optimum should differ from its reference by (AILS: d-bar)
_TARGET_DISTANCE = 10.0
#: elite plans kept for relinking, and the share of rounds that relink instead of perturbing
_ELITE = 10
_RELINK_SHARE = 0.15
#: the acceptance threshold's factor stays at least this
_ETA_MIN = 0.01


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def _mark_near(j, r_ptr, r_idx, c_ptr, c_idx, chosen, dirty):
    """Set the don't-look bit off for every chosen site sharing demand with ``j``; returns work."""
    work = c_ptr[j + 1] - c_ptr[j]
    for t in range(c_ptr[j], c_ptr[j + 1]):
        i = c_idx[t]
        for u in range(r_ptr[i], r_ptr[i + 1]):
            k = r_idx[u]
            if chosen[k]:
                dirty[k] = True
        work += r_ptr[i + 1] - r_ptr[i]
    return work


@njit(cache=True, nogil=True)
def _best_free(gain, chosen, banned):
    """Candidate of largest gain that is neither chosen nor banned (ties: lowest index); -1 if none."""
    best, value = -1, -np.inf
    for k in range(len(gain)):
        if not chosen[k] and not banned[k] and gain[k] > value:
            best, value = k, gain[k]
    return best


@njit(cache=True, nogil=True)
def _local_search(sites, r_ptr, r_idx, c_ptr, c_idx, w, count, owner, gain, loss, chosen, banned,
                  touched, mark, dirty, order, tol, max_passes):
    """1-swap local search (first improvement, sites in the order of ``order``'s permutation of
    ``sites``, don't-look bits ``dirty``) until a pass finds no improving swap or ``max_passes``
    passes.

    ``sites`` (the chosen movable sites) is updated in place. Returns (change in covered
    weight, matrix entries scanned).
    """
    work = 0
    delta = 0.0
    top = _best_free(gain, chosen, banned)
    work += len(gain)
    for _ in range(max_passes):
        improved = False
        for q in range(len(order)):
            pos = order[q]
            s = sites[pos]
            if not dirty[s] and (top < 0 or gain[top] <= loss[s] + tol):
                continue
            dirty[s] = False
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
                delta += value - lost
                sites[pos] = best
                improved = True
                work += wk + _mark_near(s, r_ptr, r_idx, c_ptr, c_idx, chosen, dirty)
                work += _mark_near(best, r_ptr, r_idx, c_ptr, c_idx, chosen, dirty)
                top = _best_free(gain, chosen, banned)
                work += len(gain)
            else:
                _, wk = _add(s, r_ptr, r_idx, c_ptr, c_idx, w, count, owner, gain, loss, chosen)
                work += wk
        if not improved:
            break
    return delta, work


@njit(cache=True, nogil=True)
def _covered(count, w):
    total = 0.0
    for i in range(len(count)):
        if count[i] > 0:
            total += w[i]
    return total


@njit(cache=True, nogil=True)
def _nearest(centre, size, sites, position, r_ptr, r_idx, c_ptr, c_idx, chosen, movable, mark, drop):
    """Positions in ``sites`` of up to ``size`` movable chosen sites found breadth-first from
    ``sites[centre]`` through shared demand (the centre first), written to ``drop``. Returns
    (how many, matrix entries scanned)."""
    drop[0] = centre
    n_drop, head, work = 1, 0, 0
    mark[sites[centre]] = True
    while head < n_drop and n_drop < size:
        j = sites[drop[head]]
        head += 1
        for t in range(c_ptr[j], c_ptr[j + 1]):
            i = c_idx[t]
            for u in range(r_ptr[i], r_ptr[i + 1]):
                k = r_idx[u]
                if chosen[k] and movable[k] and not mark[k] and n_drop < size:
                    mark[k] = True
                    drop[n_drop] = position[k]
                    n_drop += 1
            work += r_ptr[i + 1] - r_ptr[i]
    for q in range(n_drop):
        mark[sites[drop[q]]] = False
    return n_drop, work


@njit(cache=True, nogil=True)
def _random_positions(n_drop, size, m, drop):
    """Fill ``drop`` from ``n_drop`` to ``size`` with distinct random positions out of ``m``."""
    while n_drop < size:
        pos = np.random.randint(m)
        seen = False
        for q in range(n_drop):
            if drop[q] == pos:
                seen = True
        if not seen:
            drop[n_drop] = pos
            n_drop += 1
    return n_drop


@njit(cache=True, nogil=True)
def _insertion(s, near, r_ptr, r_idx, c_ptr, c_idx, chosen, banned, n):
    """A site to open for the closed ``s``: a random free candidate sharing demand with ``s``
    (``near``) or anywhere, -1 if none was found in a few tries."""
    for _ in range(16):
        if near and c_ptr[s + 1] > c_ptr[s]:
            i = c_idx[c_ptr[s] + np.random.randint(c_ptr[s + 1] - c_ptr[s])]
            k = r_idx[r_ptr[i] + np.random.randint(r_ptr[i + 1] - r_ptr[i])]
        else:
            k = np.random.randint(n)
        if not chosen[k] and not banned[k]:
            return k
    return -1


@njit(cache=True, nogil=True)
def _greedy_pick(gain, chosen, banned, tol):
    """Randomised greedy: the free candidate of largest gain, or (one time in two) the second."""
    k = _best_free(gain, chosen, banned)
    if k >= 0 and np.random.random() < 0.5:
        banned[k] = True
        second = _best_free(gain, chosen, banned)
        banned[k] = False
        if second >= 0 and gain[second] > tol:
            k = second
    return k


@njit(cache=True, nogil=True)
def _keep_elite(sites, value, elite, elite_value, n_elite, flag, tol):
    """Add the local optimum ``sites`` to the elite plans (the best distinct ones), replacing
    the worst when full; returns the new number of elite plans."""
    m = len(sites)
    worst = 0
    for e in range(n_elite):
        if elite_value[e] < elite_value[worst]:
            worst = e
    if n_elite == len(elite_value) and value <= elite_value[worst] + tol:
        return n_elite
    for q in range(m):
        flag[sites[q]] = True
    duplicate = False
    for e in range(n_elite):
        if abs(elite_value[e] - value) <= tol:
            same = True
            for q in range(m):
                if not flag[elite[e, q]]:
                    same = False
                    break
            duplicate = duplicate or same
    for q in range(m):
        flag[sites[q]] = False
    if duplicate:
        return n_elite
    slot = n_elite if n_elite < len(elite_value) else worst
    elite[slot, :] = sites
    elite_value[slot] = value
    return max(n_elite, slot + 1)


@njit(cache=True, nogil=True)
def search(r_ptr, r_idx, c_ptr, c_idx, w, fixed, start, movable, tol, rounds, work_limit, max_drop, seed,
           stop_value, max_passes, patience):
    """Adaptive iterated local search from ``fixed`` + ``start`` (``start``: movable sites).

    Each round perturbs the reference plan and runs the swap local search: it closes
    ``omega`` (at most ``max_drop``) chosen sites, at random or nearest a random one, and opens
    as many free candidates, at random, next to a closed site or by randomised greedy (the
    closed ones excluded); or it relinks: it swaps half of the sites by which the reference
    differs from a random elite plan (the best distinct local optima) for that plan's. The
    result is accepted by the AILS threshold. Stops after ``rounds`` rounds, ``work_limit``
    matrix entries, ``patience`` rounds without a better best, or once ``stop_value`` is
    covered. Returns (best movable sites, their covered weight including ``fixed``, rounds
    run, work done, the elite plans (one per row), and per candidate the number of accepted
    local optima that contained it).
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
    dirty = np.ones(n, np.bool_)
    position = np.zeros(n, np.int64)
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
        return sites, _covered(count, w), 0, work, np.empty((0, 0), np.int64), np.zeros(n)
    _, wk = _local_search(sites, r_ptr, r_idx, c_ptr, c_idx, w, count, owner, gain, loss, chosen, banned,
                          touched, mark, dirty, np.random.permutation(m), tol, max_passes)
    work += wk
    value = _covered(count, w)
    best, best_value = sites.copy(), value
    reference, ref_value = sites.copy(), value
    recent = np.full(_WINDOW, value)
    eta, accepted, done = 0.5, 0, 0
    ref_chosen = np.zeros(n, np.bool_)
    omega = np.full(2, min(float(max_drop), max(1.0, m / 4.0)))
    distance = np.zeros((2, _WINDOW))
    tried = np.zeros(2, np.int64)
    drop = np.empty(m, np.int64)
    closed = np.empty(m, np.int64)
    opening = np.empty(m, np.int64)
    elite = np.empty((_ELITE, m), np.int64)
    elite_value = np.full(_ELITE, -np.inf)
    n_elite = _keep_elite(sites, value, elite, elite_value, 0, mark, tol)
    last = 0
    visits = np.zeros(n)
    while done < rounds and work < work_limit and best_value < stop_value and done - last < patience:
        done += 1
        kind = np.random.randint(2)
        if n_elite > 1 and np.random.random() < _RELINK_SHARE:
            kind = 2
        n_drop = 0
        if kind == 2:  # relink: toward a random elite plan, half way
            e = np.random.randint(n_elite)
            for q in range(m):
                mark[elite[e, q]] = True
            for q in np.random.permutation(m):
                if not mark[sites[q]]:
                    drop[n_drop] = q
                    n_drop += 1
            n_open = 0
            for q in np.random.permutation(m):
                k = elite[e, q]
                mark[k] = False
                if not chosen[k]:
                    opening[n_open] = k
                    n_open += 1
            n_drop = (n_drop + 1) // 2
            if n_drop == 0:
                kind = np.random.randint(2)
        if kind < 2:  # close `size` chosen sites, at random or nearest a random one
            size = min(max(1, int(omega[kind] + np.random.random())), m)
            if kind == 1:
                for q in range(m):
                    position[sites[q]] = q
                n_drop, wk = _nearest(np.random.randint(m), size, sites, position, r_ptr, r_idx, c_ptr, c_idx,
                                      chosen, movable, mark, drop)
                work += wk
            n_drop = _random_positions(n_drop, size, m, drop)  # kind 0, or too few neighbours
        how = np.random.randint(3)
        for q in range(n_drop):
            s = sites[drop[q]]
            closed[q] = s
            lost, n_t, wk = _remove(s, r_ptr, r_idx, c_ptr, c_idx, w, count, owner, gain, loss, chosen, touched,
                                    0, mark)
            for t in range(n_t):
                mark[touched[t]] = False
            banned[s] = True
            value -= lost
            work += wk + _mark_near(s, r_ptr, r_idx, c_ptr, c_idx, chosen, dirty)
            if kind == 2:
                k = opening[q]
            elif how < 2:
                k = _insertion(s, how == 0, r_ptr, r_idx, c_ptr, c_idx, chosen, banned, n)
            else:
                k = _greedy_pick(gain, chosen, banned, tol)
                work += 2 * n
            if k < 0:
                k = _best_free(gain, chosen, banned)
                work += n
            if k < 0:
                k = s  # nothing else to open: the closed site comes back
            new, wk = _add(k, r_ptr, r_idx, c_ptr, c_idx, w, count, owner, gain, loss, chosen)
            value += new
            work += wk + _mark_near(k, r_ptr, r_idx, c_ptr, c_idx, chosen, dirty)
            sites[drop[q]] = k
        for q in range(n_drop):
            banned[closed[q]] = not movable[closed[q]]
        delta, wk = _local_search(sites, r_ptr, r_idx, c_ptr, c_idx, w, count, owner, gain, loss, chosen,
                                  banned, touched, mark, dirty, np.random.permutation(m), tol, max_passes)
        value += delta
        work += wk
        if value > best_value + tol:
            value = _covered(count, w)  # exact, not a running sum
            work += n_rows
            if value > best_value + tol:
                best, best_value, last = sites.copy(), value, done
        n_elite = _keep_elite(sites, value, elite, elite_value, n_elite, mark, tol)
        work += m * n_elite
        # omega: toward the distance target, per perturbation kind
        for q in range(m):
            ref_chosen[reference[q]] = True
        differ = 0
        for q in range(m):
            if not ref_chosen[sites[q]]:
                differ += 1
        if kind < 2:
            distance[kind, tried[kind] % _WINDOW] = differ
            tried[kind] += 1
            if tried[kind] % _WINDOW == 0:
                mean = max(distance[kind].mean(), 1.0)
                omega[kind] = min(float(min(max_drop, m)), max(1.0, omega[kind] * _TARGET_DISTANCE / mean))
        # acceptance: at least eta of the way from the mean of recent local optima to their best
        recent[done % _WINDOW] = value
        high, mean = recent.max(), recent.mean()
        threshold = high - eta * (high - mean)
        if value >= threshold - tol:
            accepted += 1
            for q in range(m):
                visits[sites[q]] += 1.0
            for q in range(m):
                ref_chosen[reference[q]] = False
            reference[:] = sites
            ref_value = value
        else:  # back to the reference
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
            value = ref_value
            for q in range(m):
                dirty[sites[q]] = False
        if done % _WINDOW == 0:
            share = accepted / _WINDOW
            eta = min(1.0, max(_ETA_MIN, eta * _ACCEPT_SHARE / max(share, 0.01)))
            accepted = 0
    return best, best_value, done, work, elite[:n_elite], visits
