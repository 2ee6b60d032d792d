"""What to plan: one validated request, checked once before any work.

A :class:`PlanRequest` names the facility kind, exactly one goal (``count`` sites in
total, existing included; a coverage ``target``; or, for charging kinds, ``piles``),
the 5G extras (nested ``phases``, a ``reserve`` ratio), the plan it serves
(``plan_id``) and the files it was read from (recorded in ``summary.json``).
Errors name the parameter between backticks (:meth:`siting.errors.SitingError.worded`),
so that the CLI can say ``--count`` where Python says ``count``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from siting.vocab import KINDS
from siting.errors import PlanError
from siting.phases import Phase, resolve_phases
from siting.reserve import resolve_ratio

#: facility kinds siting plans; all but "5g" are planned on the road network


class PlanRequest(BaseModel):
    """One planning request, validated when it is made.

    Parameters
    ----------
    kind
        ``"5g"`` or a charging kind (:data:`KINDS`).
    count
        Sites standing in the area when the plan is built, existing included. With
        ``phases`` it is the last phase's count (taken from the phases when not given).
    target
        Coverage share to reach, in (0, 1] (charging: share of the day's sessions served).
    piles
        Charging kinds: piles in total, existing included.
    phases
        5G: ``"2020:12000,2022:30000"``, a plan id whose phases give the years (scaled to
        ``count`` when it is given), or ``(year, count)`` pairs; resolved here to
        :class:`siting.phases.Phase` values.
    reserve
        5G: reserve sites per proposed site, or a plan id (its site locations per base
        station - 1); resolved here to the ratio.
    plan_id
        The plan this request serves (registry id or plan YAML): its 5G users drive
        capacity (:meth:`siting.plans.Plan.capacity_overrides`) and provenance records it.
    source
        The OSM input as recorded (a file name or a place name, never a machine path).
    existing, raster, dem, existing_crs
        The files the existing sites, population raster and elevation came from, and the
        datum of the existing sites; recorded (and hashed) in the provenance block.
    district, quota
        ``siting batch``: the district and its quota of new sites, recorded only.

    Raises
    ------
    siting.errors.PlanError
        For a request that cannot be planned: no goal or more than one, a target outside
        (0, 1], piles for 5G, phases or reserve for charging, phases with a target, bad
        phase text or a negative reserve.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = "5g"
    count: int | None = None
    target: float | None = None
    piles: int | None = None
    phases: tuple[Phase, ...] | None = None
    reserve: float | None = None
    plan_id: str | None = None
    source: str | None = None
    existing: Path | None = None
    existing_crs: str = "wgs84"
    raster: Path | None = None
    dem: tuple[Path, ...] = ()
    district: str | None = None
    quota: int | None = None

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:  # a wrong type: one line naming the parameter
            err = exc.errors()[0]
            name = ".".join(str(x) for x in err["loc"]) or "request"
            raise PlanError(f"`{name}` {err.get('input')!r}: {err['msg'].lower()}: "
                            "check the plan request") from None

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any) -> Any:
        """Check the request as a whole and resolve phase text and plan ids (once)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        kind = data.get("kind", "5g")
        if kind not in KINDS:
            raise PlanError(f"unknown facility kind '{kind}': use one of {', '.join(KINDS)}")
        if kind != "5g" and (data.get("phases") is not None or data.get("reserve") is not None):
            raise PlanError("`phases` and `reserve` apply to 5g plans only: drop them for charging kinds")
        if data.get("phases") is not None:
            if data.get("target") is not None:
                raise PlanError("`phases` sets the site count of each phase: drop `target`")
            data["phases"] = resolve_phases(data["phases"], data.get("count"))
            data["count"] = data["phases"][-1].count
        if data.get("reserve") is not None:
            data["reserve"] = resolve_ratio(data["reserve"])
        goals = [data.get(k) for k in ("count", "target", "piles")]
        if sum(g is not None for g in goals) != 1:
            raise PlanError("give exactly one of `count`, `target` or `piles`")
        target, count, piles = data.get("target"), data.get("count"), data.get("piles")
        if target is not None and not 0 < float(target) <= 1:
            raise PlanError(f"`target` {target} is outside (0, 1]: give a coverage share such as 0.98")
        if kind == "5g" and piles is not None:
            raise PlanError("`piles` applies to charging kinds only: use `count` or `target` for 5g")
        for name, value in (("count", count), ("piles", piles)):
            if isinstance(value, int) and value < 0:
                raise PlanError(f"`{name}` {value} is negative: give a number of {name.replace('count', 'sites')}")
        return data

    def record(self) -> dict[str, Any]:
        """The ``request`` block of ``summary.json``: the goal, the datum of the existing
        sites (when there are any) and the input's name; phases, reserve, plan and
        district only when given."""
        out: dict[str, Any] = {"kind": self.kind, "count": self.count, "target": self.target, "piles": self.piles,
                               "existing_crs": self.existing_crs if self.existing else None, "source": self.source}
        given = {"phases": None if self.phases is None else ",".join(f"{p.year}:{p.count}" for p in self.phases),
                 "reserve": self.reserve, "plan_id": self.plan_id, "district": self.district, "quota": self.quota}
        out.update({k: v for k, v in given.items() if v is not None})
        return out

    def inputs(self) -> dict[str, Path]:
        """The files of this request by provenance role (``existing``, ``raster``, ``dem0``...)."""
        roles = {"existing": self.existing, "raster": self.raster, **{f"dem{i}": p for i, p in enumerate(self.dem)}}
        return {role: path for role, path in roles.items() if path is not None}
