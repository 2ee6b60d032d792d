"""The plan registry: the targets of the plans in ``PLANS.md``, as the plans write them.

Plans are packaged as YAML under ``siting/data/plans/``; users add their own plans as
YAML files with the same schema (:class:`Plan`). :func:`get_plan` finds a plan by id or
path; a schema error names the field and its line. A plan's 5G users and smart poles
become run parameters (:meth:`Plan.param_overrides`); its census is the one population
figure of the plan.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from siting.config import read_yaml_mapping
from siting.errors import ConfigError, InputError, PlanError
from siting.vocab import Kind

#: where the packaged plans live
PLANS_DIR = Path(__file__).parent / "data" / "plans"

Unit = Literal["base_stations", "site_locations", "piles", "facilities"]

class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(_Model):
    """One count a plan sets: e.g. 38,900 5G base stations by 2022."""

    kind: Kind
    count: StrictInt | None = Field(None, ge=0, description="number to reach; None: a target in words only")
    qualifier: Literal["exactly", "more_than", "about"] = "exactly"
    unit: Unit
    category: str | None = None
    existing: StrictInt | None = Field(None, ge=0, description="how many the plan says already exist")
    per_year: bool = False
    note: str = ""

    @property
    def new(self) -> int | None:
        """Sites still to build: ``count`` minus ``existing`` (``count`` when none exist)."""
        if self.count is None:
            return None
        return max(self.count - (self.existing or 0), 0)


class CoverageRequirement(_Model):
    """A coverage requirement in the plan's words, and as numbers where it can be."""

    text: str
    scope: str = ""
    technology: str = "5G"
    indoor: bool = False
    share: float | None = Field(None, ge=0, le=1, description="share of demand to cover")
    rsrp_dbm: float | None = Field(None, le=0, description="SS-RSRP threshold")
    interpretation: str = ""


class CensusFigures(_Model):
    """Census counts of one area: residents, and optionally households and jobs."""

    population: StrictInt = Field(ge=0, description="resident population (常住人口)")
    households: StrictInt | None = Field(None, ge=0, description="family households (家庭户)")
    employment: StrictInt | None = Field(None, ge=0, description="people employed there")


class Census(CensusFigures):
    """The census of a plan's area: its totals, its land area and, optionally, per district."""

    year: StrictInt = Field(ge=1950, le=2100)
    source: str
    area_km2: float | None = Field(None, gt=0, description="land area of the plan's area")
    districts: dict[str, CensusFigures] = Field(default_factory=dict, description="figures by district name")
class PlanPhase(_Model):
    """Sites standing by the end of ``year`` (existing included): one step of a phased plan."""

    year: StrictInt = Field(ge=1990, le=2100)
    count: StrictInt = Field(ge=0)
    note: str = ""


class Subscribers(_Model):
    """The subscriber base behind capacity: ``users_5g`` spread over the plan's census population."""

    users_5g: StrictInt = Field(gt=0)
    year: StrictInt | None = Field(None, ge=1990, le=2100)
    note: str = ""


class Plan(_Model):
    """A plan: who set which targets for which area and year."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    name_zh: str | None = None
    area: str
    area_zh: str | None = None
    year: StrictInt = Field(ge=1990, le=2100)
    source: str
    targets: tuple[Target, ...] = Field(min_length=1)
    coverage: tuple[CoverageRequirement, ...] = ()
    priorities: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    census: Census | None = None
    phases: tuple[PlanPhase, ...] = ()
    subscribers: Subscribers | None = None
    smart_poles: StrictInt | None = Field(None, ge=0, description="smart poles the plan builds: the budget of "
                                          "street-lamp / pole candidates (candidates.smart_pole_budget)")

    def reserve_ratio(self) -> float:
        """Reserve sites per 5G base station: site locations / base stations - 1."""
        counts = {t.unit: t.count for t in self.targets if t.kind == "5g" and t.count}
        if "site_locations" not in counts or "base_stations" not in counts:
            raise PlanError(f"plan {self.id} does not give 5G site locations and base stations: "
                            "pass --reserve as a number, e.g. 0.72")
        return counts["site_locations"] / counts["base_stations"] - 1.0

    def param_overrides(self) -> dict[str, float | int]:
        """Parameter overrides a plan brings to a run: its 5G users drive capacity (spread
        over its census population) and its smart poles cap the street-lamp candidates."""
        out: dict[str, float | int] = {}
        if self.subscribers is not None:
            out["capacity.users"] = float(self.subscribers.users_5g)
            if self.census is not None:
                out["capacity.users_population"] = float(self.census.population)
        if self.smart_poles is not None:
            out["candidates.smart_pole_budget"] = self.smart_poles
        return out

    def target(self, kind: str, category: str | None = None) -> Target:
        """The target with a count for ``kind`` (and ``category`` when several match)."""
        found = [t for t in self.targets if t.kind == kind and t.count is not None
                 and (category is None or t.category == category)]
        if not found:
            raise PlanError(f"plan {self.id} has no {kind} target with a count"
                            f"{f' in category {category}' if category else ''}: pick another --kind or pass --target N")
        if len(found) > 1:
            cats = ", ".join(str(t.category) for t in found)
            raise PlanError(f"plan {self.id} has several {kind} targets (categories: {cats}): pass --category")
        return found[0]


def read_plan(path: str | Path) -> Plan:
    """Read one plan YAML file; a schema error names the field and its line."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"plan file {p} does not exist: check the path")
    data, lines = read_yaml_mapping(p, "plan file", "id:, name:, targets:, ...")
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        line = next((lines[k] for k in _prefixes(loc) if k in lines), None)
        where = f" (line {line})" if line else ""
        if err["type"] == "extra_forbidden":
            raise ConfigError(f"plan file {p}: unknown field '{loc}'{where}: remove it or check its spelling") from None
        raise ConfigError(f"plan file {p}: field '{loc}'{where}: {err['msg']}") from None


def _prefixes(loc: str) -> list[str]:
    """``a.b.c``, ``a.b``, ``a``: the field, then its parents (a missing field has no line)."""
    parts = loc.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


def load_plans(plans_dir: str | Path | None = None) -> dict[str, Plan]:
    """The packaged plans plus the ``*.yaml`` plans in ``plans_dir``, by id."""
    files = sorted(PLANS_DIR.glob("*.yaml"))
    if plans_dir is not None:
        d = Path(plans_dir)
        if not d.is_dir():
            raise InputError(f"plans directory {d} does not exist: check --plans-dir")
        files += sorted(d.glob("*.yaml")) + sorted(d.glob("*.yml"))
    plans: dict[str, Plan] = {}
    origin: dict[str, Path] = {}
    for f in files:
        plan = read_plan(f)
        if plan.id in plans:
            raise ConfigError(f"plan id '{plan.id}' is defined in both {origin[plan.id]} and {f}: rename one")
        plans[plan.id] = plan
        origin[plan.id] = f
    return plans


def get_plan(ref: str | Path, plans_dir: str | Path | None = None) -> Plan:
    """A plan by id (packaged or in ``plans_dir``) or from a YAML file path."""
    if str(ref).endswith((".yaml", ".yml")) or Path(ref).is_file():
        return read_plan(ref)
    plans = load_plans(plans_dir)
    if str(ref) not in plans:
        raise InputError(f"no plan '{ref}' (known: {', '.join(sorted(plans))}): "
                         "run 'siting plans list' or pass a plan YAML file")
    return plans[str(ref)]


# --- text for the command line ---------------------------------------------------------

def format_target(t: Target) -> str:
    """``> 30,000 base stations (5g)``, ``about 955 facilities (charging, public)``, ``in words: ...``."""
    if t.count is None:
        return f"{t.kind}: in words only: {t.note}"
    sign = {"exactly": "", "more_than": "> ", "about": "about "}[t.qualifier]
    what = ", ".join(x for x in (t.kind, t.category) if x)
    text = f"{sign}{t.count:,} {t.unit.replace('_', ' ')} ({what}{', a year' if t.per_year else ''})"
    return text + (f", {t.existing:,} existing" if t.existing else "")


def format_plan(plan: Plan) -> str:
    """A plan as readable lines: title, targets with notes, coverage requirements, notes."""
    lines = [f"{plan.id}: {plan.name}", f"area: {plan.area}{f' ({plan.area_zh})' if plan.area_zh else ''}, "
             f"year {plan.year}; source: {plan.source}", "targets:"]
    lines += [f"  - {format_target(t)}" + (f": {t.note}" if t.count is not None and t.note else "")
              for t in plan.targets]
    if plan.coverage:
        lines.append("coverage:")
        for c in plan.coverage:
            nums = ", ".join(x for x in (f"share {c.share:g}" if c.share is not None else "",
                                         f"RSRP >= {c.rsrp_dbm:g} dBm" if c.rsrp_dbm is not None else "",
                                         "indoor" if c.indoor else "") if x)
            lines.append(f"  - {c.text}" + (f" [{nums}]" if nums else "")
                         + (f" ({c.interpretation})" if c.interpretation else ""))
    if plan.phases:
        lines.append("phases: " + ", ".join(f"{p.year}: {p.count:,}" for p in plan.phases))
    if plan.subscribers:
        lines.append(f"5G users: {plan.subscribers.users_5g:,}" + (
            f" of {plan.census.population:,} residents" if plan.census else ""))
    if plan.smart_poles:
        lines.append(f"smart poles: {plan.smart_poles:,} (the budget of street-lamp / pole candidates)")
    if plan.priorities:
        lines.append("priorities: " + ", ".join(plan.priorities))
    lines += [f"note: {n}" for n in plan.notes]
    if plan.census is not None:
        census = plan.census
        lines.append(f"census {census.year}: {census.population:,} residents"
                     + (f", {census.households:,} households" if census.households else "")
                     + (f", {census.area_km2:,.0f} km²" if census.area_km2 else "") + f" ({census.source})")
    return "\n".join(lines)
