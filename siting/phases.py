"""Phased plans: nested site sets, one per plan year (``--phases 2020:12000,2022:30000``).

Nothing built in one phase can be un-built in the next, so phase ``k`` is planned with
every site of phase ``k - 1`` fixed. What the nesting costs is measured against the best
plan of the same size found without it (from the existing sites alone): the gap in
covered demand, with that unnested plan's proven bound beside it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from siting.errors import PlanError

_PHASE = re.compile(r"^\s*(\d{4})\s*:\s*(\d+)\s*$")
#: a plan id or a plan YAML file name (anything else must be YEAR:COUNT text)
_PLAN_REF = re.compile(r"^([a-z0-9][a-z0-9_-]*|\S+\.ya?ml)$")


@dataclass(frozen=True)
class Phase:
    """Sites standing in the area by the end of ``year`` (existing included)."""

    year: int
    count: int


def resolve_phases(spec: str | Sequence[Phase] | Sequence[tuple[int, int]], count: int | None = None,
                   plans_dir=None) -> tuple[Phase, ...]:
    """Phases from ``YEAR:COUNT,YEAR:COUNT`` text, from a plan id (or plan YAML file)
    whose ``phases`` give the years and counts, or from ``(year, count)`` pairs.

    A plan's counts are the city's; with ``count`` they are scaled so that the last
    phase has ``count`` sites (each earlier phase keeps its share of the last). Explicit
    phases must end at ``count`` when it is given. Raises :class:`PlanError` for phases
    out of order, counts that decrease, or text that is neither form.
    """
    from_plan = isinstance(spec, str) and ":" not in spec and bool(_PLAN_REF.match(spec.strip()))
    if from_plan:
        from siting.registry import get_plan

        plan = get_plan(str(spec), plans_dir)
        if not plan.phases:
            raise PlanError(f"plan {plan.id} has no phases: pass `phases` YEAR:COUNT,YEAR:COUNT")
        phases = tuple(Phase(p.year, p.count) for p in plan.phases)
        if count is not None:
            last = phases[-1].count
            phases = tuple(Phase(p.year, int(round(p.count * count / last)) if last else 0) for p in phases[:-1])
            phases += (Phase(plan.phases[-1].year, int(count)),)
    elif isinstance(spec, str):
        parts = [m for m in (_PHASE.match(x) for x in spec.split(",")) if m is not None]
        if len(parts) != len(spec.split(",")):
            raise PlanError(f"`phases` '{spec}' is not a list of YEAR:COUNT: write e.g. 2020:12000,2022:30000")
        phases = tuple(Phase(int(m.group(1)), int(m.group(2))) for m in parts)
    else:
        phases = tuple(p if isinstance(p, Phase) else Phase(int(p[0]), int(p[1])) for p in spec)
    if not phases:
        raise PlanError("`phases` is empty: give at least one YEAR:COUNT")
    years = [p.year for p in phases]
    if any(b <= a for a, b in zip(years, years[1:])):
        raise PlanError(f"`phases` years {', '.join(map(str, years))} are not in increasing order: "
                        "list each year once, earliest first")
    counts = [p.count for p in phases]
    if any(b < a for a, b in zip(counts, counts[1:])):
        raise PlanError(f"`phases` counts {', '.join(map(str, counts))} decrease: a site built in one phase "
                        "stays in the next, so give non-decreasing counts")
    if count is not None and not from_plan and counts[-1] != count:
        raise PlanError(f"`count` {count} differs from the last phase's {counts[-1]} sites: "
                        "drop `count` or make them agree")
    return phases


def check_phases(phases: Sequence[Phase], existing: int, candidates: int) -> None:
    """Refuse a phase below the ``existing`` sites or above the ``candidates``."""
    if phases[0].count < existing:
        raise PlanError(f"phase {phases[0].year} has {phases[0].count} sites, fewer than the {existing} existing "
                        f"sites: every phase includes them, so give at least {existing}")
    if phases[-1].count > candidates:
        raise PlanError(f"phase {phases[-1].year} asks for {phases[-1].count} sites but there are only "
                        f"{candidates} candidate sites: ask for fewer sites")


@dataclass(frozen=True)
class PhasedPlan:
    """The last phase's choice, each selected site's phase year (0 = existing), and the
    per-phase figures for summary.json."""

    choice: Any  # siting.pipeline's choice of sites
    phase: np.ndarray
    summary: list[dict]


def plan_phases(phases: Sequence[Phase], choose: Callable, covered_weight: Callable, base: np.ndarray,
                base_reasons: np.ndarray, total_weight: float, extra: int = 0) -> PhasedPlan:
    """Plan ``phases`` in turn, each from the previous phase's sites.

    ``choose(base, reasons, total)`` returns a choice with ``.solution.selected``,
    ``.reasons`` and ``.coverage_bound`` (a proven bound on the covered weight, or None)
    for ``total`` sites with ``base`` fixed;
    ``covered_weight(selected)`` the demand weight a site set covers. ``extra``: fixed
    sites that do not count towards a phase (existing sites outside the area).
    """
    rows: list[dict] = []
    sites, reasons = np.asarray(base, dtype=np.int64), np.asarray(base_reasons, dtype=object)
    year_of: dict[int, int] = {int(s): 0 for s in sites}
    choice = None
    for k, p in enumerate(phases):
        choice = choose(sites, reasons, p.count + extra)
        sites, reasons = np.asarray(choice.solution.selected, dtype=np.int64), choice.reasons
        for s in sites:
            year_of.setdefault(int(s), p.year)
        nested = covered_weight(sites)
        free = choice if k == 0 else choose(np.asarray(base, dtype=np.int64), np.asarray(base_reasons, dtype=object),
                                            p.count + extra)  # the first phase is not nested in anything
        unnested = max(covered_weight(free.solution.selected), nested)
        bound = free.coverage_bound
        rows.append({"year": p.year, "sites_total": p.count,
                     "sites_new": int(sum(year_of[int(s)] == p.year for s in sites)),
                     "coverage_ratio": _share(nested, total_weight),
                     "unnested_coverage_ratio": _share(unnested, total_weight),
                     "unnested_bound_ratio": None if bound is None else _share(max(bound, unnested), total_weight),
                     "gap_to_unnested": _share(unnested - nested, total_weight)})
    phase = np.array([year_of[int(s)] for s in sites], dtype=np.int64)
    return PhasedPlan(choice, phase, rows)


def _share(value: float, total: float) -> float:
    return round(float(value) / total, 6) if total else 0.0
