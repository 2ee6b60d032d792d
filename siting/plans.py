"""Plan targets and their allocation to districts.

A plan (:class:`siting.registry.Plan`) sets a city's target; here it meets the districts.
:func:`district_quotas` splits a city target across districts in proportion to demand,
minus the sites each district already has, as integers that sum exactly to the target.
Census figures (population, households, employment) per district come from a column of
the districts file or from the plan's ``census`` block (:func:`district_census`).
"""
from __future__ import annotations

from typing import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.errors import InputError, PlanError
from siting.registry import Plan

#: demand measures a quota can follow (columns of :func:`demand_by_district`)
DEMAND_MEASURES = ("residents", "workers", "road_km")

#: column names tried, in order, when a districts file does not say which holds the name
NAME_COLUMNS = ("district", "name", "name_zh", "name:zh", "NAME", "Name", "DISTRICT")

#: census columns a districts file may carry (people, households, jobs per district)
CENSUS_COLUMNS = ("population", "households", "employment")


# --- districts -------------------------------------------------------------------------

def validate_districts(gdf: gpd.GeoDataFrame, name_column: str | None = None, *, source: str = "districts",
                       overlap_tolerance: float = 0.001) -> gpd.GeoDataFrame:
    """Check names, geometry and overlaps; return ``district`` + geometry in EPSG:4326."""
    if gdf.empty:
        raise InputError(f"{source} holds no districts: pass a file with one polygon per district")
    if name_column is None:
        name_column = next((c for c in NAME_COLUMNS if c in gdf.columns), None)
        if name_column is None:
            cols = ", ".join(c for c in gdf.columns if c != gdf.geometry.name) or "none"
            raise InputError(f"{source} has no district name column (columns: {cols}): pass --name-column")
    elif name_column not in gdf.columns:
        raise InputError(f"{source} has no column '{name_column}' (columns: "
                         f"{', '.join(c for c in gdf.columns if c != gdf.geometry.name)}): check --name-column")
    names = gdf[name_column].astype("string").str.strip()
    if names.isna().any() or (names == "").any():
        raise InputError(f"{source}: {int(names.isna().sum() + (names == '').sum())} districts have no name "
                         f"in column '{name_column}': fill them in")
    dup = sorted(set(names[names.duplicated()]))
    if dup:
        raise InputError(f"{source}: duplicate district names {', '.join(dup[:5])}: make names unique")
    geoms = gdf.geometry.values
    kinds = shapely.get_type_id(geoms)
    bad = names[(kinds != 3) & (kinds != 6) | shapely.is_empty(geoms)]
    if len(bad):
        raise InputError(f"{source}: districts {', '.join(bad[:5])} are not polygons: pass one polygon per district")
    if gdf.crs is None:
        gdf = gdf.set_crs("EPSG:4326")
    columns = {"district": names.astype(str).to_numpy(), **_census_columns(gdf, names, source)}
    out = gpd.GeoDataFrame(columns, geometry=shapely.make_valid(gdf.to_crs("EPSG:4326").geometry.values),
                           crs="EPSG:4326")
    _check_overlaps(out, overlap_tolerance, source)
    return out


def _census_columns(gdf: gpd.GeoDataFrame, names: pd.Series, source: str) -> dict[str, np.ndarray]:
    """The :data:`CENSUS_COLUMNS` present in ``gdf``, as whole numbers >= 0 in every row."""
    out = {}
    for col in (c for c in CENSUS_COLUMNS if c in gdf.columns):
        raw = gdf[col]
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna() | (values < 0) | ~np.isfinite(values.to_numpy(float, na_value=np.nan))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            what = "is empty" if pd.isna(raw.iloc[i]) else f"holds '{raw.iloc[i]}'"
            raise InputError(f"{source}: column '{col}' {what} for district {names.iloc[i]} ({int(bad.sum())} "
                             f"such rows): give every district a number of {col} >= 0, or drop the column")
        out[col] = values.round().astype(np.int64).to_numpy()
    return out


def _check_overlaps(districts: gpd.GeoDataFrame, tolerance: float, source: str) -> None:
    metric = districts.to_crs(districts.estimate_utm_crs())
    geoms = metric.geometry.values
    i, j = metric.sindex.query(geoms, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    if not len(i):
        return
    shared = shapely.area(shapely.intersection(geoms[i], geoms[j]))
    smaller = np.minimum(shapely.area(geoms[i]), shapely.area(geoms[j]))
    over = shared > tolerance * smaller
    if over.any():
        names = districts["district"].to_numpy()
        pairs = [f"{names[a]} / {names[b]}" for a, b in zip(i[over][:3], j[over][:3])]
        raise InputError(f"{source}: districts overlap ({'; '.join(pairs)}): fix the boundaries so each place "
                         "belongs to one district")


def check_extent(districts: gpd.GeoDataFrame, extent_wgs84, min_share: float) -> None:
    """Refuse districts that lie mostly outside the OSM extent (``extent_wgs84``)."""
    metric_crs = districts.estimate_utm_crs()
    metric = districts.to_crs(metric_crs).geometry.values
    extent = gpd.GeoSeries([extent_wgs84], crs="EPSG:4326").to_crs(metric_crs).iloc[0]
    inside = shapely.area(shapely.intersection(metric, extent)) / shapely.area(metric)
    out = districts["district"].to_numpy()[inside < min_share]
    if len(out):
        raise InputError(f"districts {', '.join(out[:5])} lie outside the OSM extent (less than {min_share:.0%} "
                         "inside): pass an OSM file that covers them or drop them from the districts file")


def demand_by_district(districts: gpd.GeoDataFrame, demand_points: gpd.GeoDataFrame,
                       road_edges: gpd.GeoDataFrame) -> pd.DataFrame:
    """Residents, workers (sums of demand points inside) and road km (clipped) per district.

    ``districts`` in any CRS; ``demand_points`` and ``road_edges`` in one metric CRS.
    """
    crs = demand_points.crs if demand_points.crs is not None else road_edges.crs
    d = districts.to_crs(crs)
    geoms = d.geometry.values
    out = pd.DataFrame(0.0, index=pd.Index(d["district"], name="district"), columns=list(DEMAND_MEASURES))
    if len(demand_points):
        pt, poly = d.sindex.query(demand_points.geometry.values, predicate="intersects")
        first = ~pd.Series(pt).duplicated().to_numpy()  # a point on a shared border counts once
        pt, poly = pt[first], poly[first]
        for col in ("residents", "workers"):
            sums = np.bincount(poly, weights=demand_points[col].to_numpy(float)[pt], minlength=len(d))
            out[col] = sums
    if len(road_edges):
        edge, poly = d.sindex.query(road_edges.geometry.values, predicate="intersects")
        inside = shapely.length(shapely.intersection(road_edges.geometry.values[edge], geoms[poly]))
        out["road_km"] = np.bincount(poly, weights=inside, minlength=len(d)) / 1000.0
    return out


def existing_by_district(districts: gpd.GeoDataFrame, sites: gpd.GeoDataFrame | None) -> pd.Series:
    """How many existing sites lie in each district (0 where none or no sites given)."""
    counts = pd.Series(0, index=pd.Index(districts["district"], name="district"), name="existing")
    if sites is None or sites.empty:
        return counts
    d = districts.to_crs(sites.crs)
    pt, poly = d.sindex.query(sites.geometry.values, predicate="intersects")
    first = ~pd.Series(pt).duplicated().to_numpy()
    counts[:] = np.bincount(poly[first], minlength=len(d))
    return counts


# --- census ----------------------------------------------------------------------------

def district_census(districts: gpd.GeoDataFrame, plan: Plan | None, modelled_residents: pd.Series,
                    city_share: float, min_cover_share: float) -> pd.DataFrame:
    """Census figures per district, and where they come from.

    In order: the districts file's :data:`CENSUS_COLUMNS`; the plan's ``census.districts``
    when it names every district; the plan's city totals spread over the districts in
    proportion to ``modelled_residents`` when the districts cover at least
    ``min_cover_share`` of the plan's area (``city_share``: their area / the plan's).
    Returns one row per district (``population``, ``households``, ``employment``, NaN where
    unknown) with ``census_source``; an empty frame when there are no census figures.
    """
    names = districts["district"].astype(str).to_numpy()
    out = pd.DataFrame(np.nan, index=pd.Index(names, name="district"), columns=list(CENSUS_COLUMNS))
    given = [c for c in CENSUS_COLUMNS if c in districts.columns]
    census = plan.census if plan is not None else None
    origin = f"plan {plan.id}" if plan is not None else "plan"
    if given:
        for col in given:
            out[col] = districts[col].to_numpy(float)
        return out.assign(census_source="districts file")
    if census is not None and census.districts and set(names) <= set(census.districts):
        for col in CENSUS_COLUMNS:
            out[col] = [getattr(census.districts[n], col) for n in names]
        return out.astype({c: float for c in CENSUS_COLUMNS}).assign(census_source=f"{origin} census")
    if census is not None and city_share >= min_cover_share:
        model = modelled_residents.reindex(names).fillna(0.0).to_numpy(float)
        share = model / model.sum() if model.sum() > 0 else np.full(len(names), 1.0 / len(names))
        for col in CENSUS_COLUMNS:
            total = getattr(census, col)
            if total is not None:
                out[col] = _largest_remainder(share * total, int(total), names).astype(float)
        return out.assign(census_source=f"{origin} census total, spread by modelled residents")
    return out.iloc[0:0].assign(census_source=pd.Series(dtype=str))


def with_census(demand: pd.DataFrame, census: pd.DataFrame) -> pd.DataFrame:
    """Demand per district with census residents (``population``) and workers (``employment``)
    in place of the modelled ones where the census gives them."""
    out = demand.copy()
    for measure, col in (("residents", "population"), ("workers", "employment")):
        if col in census and census[col].notna().all() and len(census):
            out[measure] = census[col].reindex(out.index).to_numpy(float)
    return out


def check_plan_area(plan: Plan, kind: str, target: int, districts_km2: float, max_sites_per_km2: float,
                    min_area_share: float) -> str | None:
    """A warning when a whole plan's target lands on districts that are not its city, else None.

    Two signs: the districts cover less than ``min_area_share`` of the plan's census area,
    or the target puts more than ``max_sites_per_km2`` new sites on each of their km².
    """
    city_km2 = plan.census.area_km2 if plan.census is not None else None
    density = target / districts_km2 if districts_km2 > 0 else float("inf")
    small = city_km2 is not None and districts_km2 < min_area_share * city_km2
    if not small and density <= max_sites_per_km2:
        return None
    where = f"{plan.area}" + (f" ({city_km2:,.0f} km²)" if city_km2 else "")
    return (f"plan {plan.id} is for {where}, but these districts cover {districts_km2:,.1f} km²: all of its "
            f"{target:,} new {kind} sites go to them ({density:,.0f} per km²); if they are not the whole of "
            f"{plan.area}, pass --target N for their share")


def check_quotas_fit(quotas: pd.DataFrame, candidates: pd.Series) -> None:
    """Refuse quotas that exceed the new candidate sites of their districts (``candidates``, by
    district), with the numbers: no district can be planned then."""
    room = candidates.reindex(quotas["district"].astype(str)).fillna(0).to_numpy(int)
    quota = quotas["quota"].to_numpy(int)
    over = np.flatnonzero(quota > room)
    if not len(over):
        return
    names = quotas["district"].astype(str).to_numpy()
    shown = "; ".join(f"{names[i]} {quota[i]:,} > {room[i]:,}" for i in over[:4])
    more = f"; {len(over) - 4} more" if len(over) > 4 else ""
    raise PlanError(f"quotas exceed the candidate sites in {len(over)} of {len(names)} districts ({shown}{more}): "
                    f"these districts hold {int(room.sum()):,} candidates for {int(quota.sum()):,} new sites; "
                    "pass a smaller --target, or a plan for this city")


# --- quotas ----------------------------------------------------------------------------

def district_quotas(districts: gpd.GeoDataFrame, demand_by_district: pd.DataFrame, target: int,
                    existing_by_district: pd.Series | Mapping[str, int] | None = None,
                    weights: Mapping[str, float] | None = None, minimum: int = 0) -> gpd.GeoDataFrame:
    """Split ``target`` new sites across districts in proportion to demand, minus existing sites.

    Each district's demand share is the weighted mean of its shares of the city's
    residents, workers and road km (``weights``; a measure that is zero everywhere drops
    out). The city total after building, ``target + existing``, is divided by share;
    a district's need is its due count minus the sites it has (never below zero); needs
    are scaled to ``target``, raised to ``minimum`` where lower (the others scaled down),
    and rounded by largest remainder (ties to the earlier name), so the integer quotas
    sum exactly to ``target``.

    Returns ``districts`` with ``residents``, ``workers``, ``road_km``, ``demand_share``,
    ``existing``, ``due``, ``quota`` and ``explanation`` columns.
    """
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or target < 0:
        raise PlanError(f"target {target!r} must be a whole number of sites >= 0")
    n = len(districts)
    if minimum * n > target:
        raise PlanError(f"minimum {minimum} per district x {n} districts = {minimum * n} exceeds the target "
                        f"{target}: lower the minimum or raise the target")
    weights = dict(weights or {"residents": 0.5, "workers": 0.3, "road_km": 0.2})
    unknown = sorted(set(weights) - set(DEMAND_MEASURES))
    if unknown:
        raise PlanError(f"unknown quota weight {', '.join(unknown)}: use {', '.join(DEMAND_MEASURES)}")
    names = districts["district"].astype(str)
    demand = demand_by_district.reindex(names).fillna(0.0)
    totals = {k: float(demand[k].sum()) for k in weights if weights[k] > 0}
    used = {k: w for k, w in weights.items() if w > 0 and totals.get(k, 0) > 0}
    if not used:
        raise PlanError("no demand in any district (no residents, workers or roads found): "
                        "check the OSM extract covers the districts")
    wsum = sum(used.values())
    shares = {k: demand[k].to_numpy(float) / totals[k] for k in used}
    share = sum(used[k] / wsum * shares[k] for k in used)
    if existing_by_district is None:
        existing = np.zeros(n, dtype=int)
    else:
        existing = pd.Series(existing_by_district).reindex(names).fillna(0).to_numpy(int)
    total = target + int(existing.sum())
    due = total * share
    need = np.clip(due - existing, 0, None)
    if need.sum() <= 0:
        need = share.copy()
    ideal, raised = _with_minimum(need, target, minimum)
    quota = _largest_remainder(ideal, target, names.to_numpy())
    out = districts.copy()
    for k in DEMAND_MEASURES:
        out[k] = demand[k].to_numpy(float)
    out["demand_share"] = share
    out["existing"] = existing
    out["due"] = due
    out["quota"] = quota
    out["explanation"] = _explain(share, shares, due, total, existing, quota, need, raised)
    return out


def district_pole_budgets(budget: int, quotas: np.ndarray, names: np.ndarray) -> np.ndarray:
    """A city's smart-pole budget (``candidates.smart_pole_budget``) split over its districts
    as their new sites are (by quota share, largest remainder, ties to the earlier name), so
    the district budgets sum to the plan's (Guangzhou: 34,000 poles, PLANS.md)."""
    q = np.asarray(quotas, dtype=float)
    share = q / q.sum() if q.sum() > 0 else np.full(len(q), 1.0 / max(len(q), 1))
    return _largest_remainder(share * int(budget), int(budget), np.asarray(names))


def _with_minimum(need: np.ndarray, target: int, minimum: int) -> tuple[np.ndarray, np.ndarray]:
    """Scale ``need`` to sum to ``target`` with every entry >= ``minimum`` (water-filling).

    Returns the real-valued quotas and which districts were raised to the minimum.
    """
    fixed = np.zeros(len(need), dtype=bool)
    while True:
        free = ~fixed
        rest = target - minimum * int(fixed.sum())
        base = need[free].sum()
        scaled = need / base * rest if base > 0 else np.full(len(need), rest / max(int(free.sum()), 1))
        ideal = np.where(fixed, float(minimum), scaled)
        newly = free & (ideal < minimum)
        if not newly.any():
            return ideal, fixed
        fixed |= newly


def _largest_remainder(ideal: np.ndarray, target: int, names: np.ndarray) -> np.ndarray:
    """Integers summing to ``target``: floors, then +1 for the largest remainders."""
    floors = np.floor(ideal + 1e-9).astype(int)
    short = target - int(floors.sum())
    order = np.lexsort((names, -np.round(ideal - floors, 9)))  # float noise must not break a tie
    floors[order[:short]] += 1
    return floors


def _explain(share, shares, due, total, existing, quota, need, raised) -> list[str]:
    labels = {"residents": "residents", "workers": "workers", "road_km": "road km"}
    out = []
    for i in range(len(share)):
        parts = ", ".join(f"{labels[k]} {shares[k][i]:.1%}" for k in shares)
        text = (f"{share[i]:.1%} of demand ({parts}) -> due {due[i]:.1f} of {total} sites; "
                f"{int(existing[i])} existing -> {int(quota[i])} new")
        if need[i] <= 0 and existing[i] > 0:
            text += " (already at or above its share)"
        if raised[i]:
            text += " (raised to the minimum per district)"
        out.append(text)
    return out
