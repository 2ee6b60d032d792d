"""The demand surface: where people and traffic are, on a square grid and along roads.

:func:`build_demand` turns an :class:`~siting.area.Area` into a :class:`Demand`:

- **residents** per cell by dasymetric allocation from building footprints
  (footprint × floors × floor efficiency × residential share / m² per person,
  ``DOMAIN.md`` §5), or from a population raster (spread inside each pixel by the
  buildings), or from ``landuse=residential`` where buildings are unmapped;
- the **built-up model** (:mod:`siting.builtup`, ``demand.builtup_model``) where
  buildings are unmapped: neighbourhood building cover, floor area, residents and workers
  estimated from roads, POIs and landuse (``source="model"``) and the environment class
  from the cover and floors (``env_source="model"``);
- **sparse areas** (most roads in neighbourhoods without mapped buildings, as in much
  of Chinese OSM) put the part of a census total their buildings do not explain where
  the model puts floor area (along the unmapped roads with the model off, ``"roads"``);
  a census total below ``census_min_share`` of the buildings' residents is refused;
- **workers** per cell from the floor area of offices, shops and industry;
- calibration to a census total (``params.population``);
- **road demand** points every ``road_point_spacing_m`` along drivable roads;
- a **priority** multiplier near transport hubs, industrial parks, scenic areas,
  important public places;
- an **environment class** per cell (dense_urban / urban / suburban / rural) from the
  building cover, floors and road density of its neighbourhood; where buildings are
  unmapped and a census total or a population raster counts the people, at least the
  class their density says (DEGURBA thresholds, ``env_source="census"`` or ``"raster"``).

Everything is vectorised over buildings, cells and road samples.
"""
from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting import builtup
from siting.area import Area
from siting.buildings import tagged_floors, type_floors
from siting.builtup import ratio, smooth, window_cells
from siting.config import DemandParams
from siting.errors import InputError
from siting.grid import GridSpec, PopulationSamples, polygon_cell_areas
from siting.vocab import ENV_CLASSES_SPARSEST_FIRST, ROAD_GROUPS, road_class

#: columns of :attr:`Demand.points`, in order (``docs/interfaces.md``)
POINT_COLUMNS: tuple[str, ...] = ("demand_id", "kind", "residents", "workers", "road_m", "building_cover",
                                  "env_class", "priority", "weight", "source", "geometry")
#: where residents can come from
SOURCES: tuple[str, ...] = ("buildings", "raster", "landuse", "model", "roads")
#: where a cell's environment class comes from (``"none"``: no buildings, roads or POIs around it: rural;
#: ``"census"``, ``"raster"``: raised by the residents density those counted, :func:`_density_class`)
ENV_SOURCES: tuple[str, ...] = ("buildings", "model", "census", "raster", "none")
#: landuse values that hold workplaces where buildings are unmapped
WORK_LANDUSE: tuple[str, ...] = ("commercial", "retail", "industrial")


@dataclass(frozen=True)
class Demand:
    """The demand surface of one area.

    ``points``: the optimisers' demand points (:data:`POINT_COLUMNS`): one per cell with
    residents or workers (``kind="cell"``, at the cell centre, ``road_m`` 0) and one per
    road sample (``kind="road"``, ``road_m`` = road length it stands for).
    ``grid``: every cell touching the area, with ``row``, ``col``, ``residents``,
    ``workers``, ``road_m``, ``road_m_<class>`` (:data:`ROAD_GROUPS`), ``building_cover``,
    ``floors``, ``env_class``, ``priority``, ``weight``, ``source`` (``"none"`` when empty),
    ``env_source`` (:data:`ENV_SOURCES`) and the cell polygon. ``spec``: the grid's CRS, transform and shape (for GeoTIFFs).
    ``info``: demand source, totals, calibration factor, counts per environment class,
    ``by_class`` (cells, class sources and residents' sources per class) and
    ``builtup_model`` (cells and residents it gave, its spatial-CV errors).
    """

    points: gpd.GeoDataFrame
    grid: gpd.GeoDataFrame
    spec: GridSpec
    info: dict


def build_demand(area: Area, params: DemandParams, population: PopulationSamples | None = None) -> Demand:
    """The demand surface of ``area`` (see the module docstring).

    Parameters
    ----------
    area
        The area (:func:`siting.load_area`).
    params
        The demand parameters (``Params().demand``).
    population
        A population raster (WorldPop, GHS-POP) sampled onto :func:`demand_grid`
        (:func:`siting.io.raster.population_samples`) whose values replace the building
        estimate of residents; ``params.population`` then rescales it.

    Returns
    -------
    Demand
        The demand points, the grid and where the demand came from.

    Raises
    ------
    InputError
        For an unusable raster or when a population total is given for an area with
        nothing to put it on.
    """
    hood = neighbourhood(area, params)
    if population is not None and population.grid != hood.spec:
        raise ValueError("population samples are on another grid: sample the raster onto demand_grid(area, params)")
    spec, boundary, cell_area, in_area = hood.spec, hood.boundary, hood.cell_area, hood.in_area
    ncell = spec.shape[0] * spec.shape[1]
    rows, cols = np.divmod(np.arange(ncell), spec.shape[1])
    cell_geoms = spec.boxes(rows, cols)
    roads, road_by_group, bld, cover_ctx = hood.roads, hood.road_by_group, hood.buildings, hood.cover_ctx
    road_m = road_by_group.sum(axis=1)
    cover = np.divide(bld["footprint"], cell_area, out=np.zeros(ncell), where=cell_area > 0).clip(0, 1)

    # where buildings are unmapped, the built-up model estimates cover and floor area from roads and POIs
    modelled = hood.model_cells(params)
    built = (builtup.shipped_model().predict(hood.features[modelled]) if modelled.any()
             else {t: np.empty(0) for t in builtup.TARGETS})
    env_cover, env_far = cover_ctx.copy(), hood.far_ctx.copy()
    env_cover[modelled], env_far[modelled] = built["cover"], built["far"]
    env = _env_class(env_cover, ratio(env_far, env_cover), hood.road_density_ctx, params)
    env_source = np.select([modelled, cover_ctx > 0], ["model", "buildings"], "none")

    # sparse: most roads run through neighbourhoods without mapped buildings (DOMAIN §4.2)
    mapped = cover_ctx >= params.mapped_cover_min
    mapped_road_share = float(road_m[mapped].sum() / road_m.sum()) if road_m.sum() > 0 else float(bld["footprint"].sum() > 0)
    sparse = mapped_road_share < params.sparse_mapped_share

    model_res, model_work = (np.zeros(ncell) for _ in range(2))
    if modelled.any():  # the model's people per hectare of the cell's neighbourhood, on the cell's land
        model_res[modelled] = built["residents_per_ha"] * cell_area[modelled] / 1e4
        model_work[modelled] = built["workers_per_ha"] * cell_area[modelled] / 1e4
    sources, workers = _people(area, spec, bld, cover_ctx, population, params, modelled, model_res, model_work)
    sources = {s: np.where(in_area, v, 0.0) for s, v in sources.items()}  # buildings just outside the boundary
    workers = np.where(in_area, workers, 0.0)
    estimate = float(sum(v.sum() for v in sources.values()))
    factor = 1.0
    if params.population is not None:
        _check_census(area.name, params.population, params.census_min_share, float(sources["buildings"].sum()))
        if population is None and (sparse or estimate <= 0) and params.population > estimate:
            # what buildings and landuse do not explain lives where the model puts floor area, else along the roads
            unmapped = in_area & ~mapped
            along = np.where(unmapped, sources["model"], 0.0)
            target = "model"
            if along.sum() <= 0:
                along, target = np.where(unmapped, _road_person_weights(road_by_group, params), 0.0), "roads"
            if along.sum() > 0:
                rest = params.population - (estimate - float(sources[target].sum()))
                sources[target] = along * rest / along.sum()
        total = float(sum(v.sum() for v in sources.values()))
        if total <= 0:
            raise InputError(f"area '{area.name}' has no buildings, residential landuse or drivable roads to put "
                             f"population={params.population:g} on: give a population raster or a larger area")
        factor = params.population / total
        sources = {s: v * factor for s, v in sources.items()}
        if population is None:
            workers = workers * factor
    residents = sum(sources.values(), np.zeros_like(sources["buildings"]))
    stacked = np.stack([sources[s] for s in SOURCES])
    cell_source = np.where(stacked.max(axis=0) > 0, np.array(SOURCES)[stacked.argmax(axis=0)], "none")
    if not (residents[in_area].sum() > 0 or workers.sum() > 0 or road_m[in_area].sum() > 0):
        raise InputError(f"area '{area.name}' has no buildings, landuse or usable roads (drivable highway classes: "
                         f"{', '.join(params.road_weight_per_km)}) inside its boundary: check the boundary and the OSM file")

    if params.population is not None or population is not None:  # people counted, not estimated: their density
        density_env = _density_class(residents, cell_area, spec, params)
        lift = (env_source != "buildings") & (residents > 0) & in_area & (density_env > env)
        env = np.where(lift, density_env, env)
        env_source = np.where(lift, "raster" if population is not None else "census", env_source)

    cx, cy = spec.centres(rows, cols)
    priority = _priority(np.asarray(cx), np.asarray(cy), area, params)
    cell_weight = (residents + params.worker_share * workers) * priority

    grid = gpd.GeoDataFrame({
        "row": rows, "col": cols, "residents": residents, "workers": workers, "road_m": road_m,
        **{f"road_m_{g}": road_by_group[:, i] for i, g in enumerate(ROAD_GROUPS)},
        "building_cover": cover, "floors": bld["floors"], "env_class": np.array(ENV_CLASSES_SPARSEST_FIRST)[env],
        "priority": priority, "weight": cell_weight, "source": cell_source, "env_source": env_source,
    }, geometry=cell_geoms, crs=area.crs)[in_area].reset_index(drop=True)

    points = _points(grid, roads, spec, env, cover, area, boundary, params)
    info = {
        "demand_source": _main_source(sources, sparse),
        "sparse": bool(sparse),
        "mapped_road_share": mapped_road_share,
        "residents_by_source": {s: float(v.sum()) for s, v in sources.items()},
        "residents_total": float(residents.sum()),
        "workers_total": float(workers.sum()),
        "residents_estimate": estimate,
        "calibration": "population" if params.population is not None else ("raster" if population is not None else None),
        "calibration_factor": factor,
        "buildings": int(len(area.buildings)),
        "cells": int(in_area.sum()),
        "cell_points": int((points["kind"] == "cell").sum()),
        "road_points": int((points["kind"] == "road").sum()),
        "road_km": float(road_m.sum() / 1000.0),
        "env_classes": {c: int((grid["env_class"] == c).sum()) for c in ENV_CLASSES_SPARSEST_FIRST},
        "by_class": _by_class(grid),
        "builtup_model": _model_info(grid, modelled[in_area], params),
        "cell_size_m": params.cell_size_m,
    }
    return Demand(points=points, grid=grid, spec=spec, info=info)


@dataclass(frozen=True)
class Neighbourhood:
    """Per-cell inputs of the demand surface (flat grid order): what the buildings say and
    what roads, POIs and landuse say (the built-up model's features)."""

    spec: GridSpec
    boundary: shapely.Geometry
    cell_area: np.ndarray
    in_area: np.ndarray
    roads: gpd.GeoDataFrame
    road_by_group: np.ndarray
    buildings: dict[str, np.ndarray]
    cover_ctx: np.ndarray          # neighbourhood building cover (m²/m²)
    far_ctx: np.ndarray            # neighbourhood floor-area ratio (floor m² per m² of land)
    road_density_ctx: np.ndarray   # neighbourhood drivable road km/km²
    features: pd.DataFrame         # :func:`siting.builtup.cell_features`

    def model_cells(self, params: DemandParams) -> np.ndarray:
        """Cells inside the area whose neighbourhood has no mapped buildings but has roads or POIs."""
        if not params.builtup_model:
            return np.zeros(len(self.cell_area), dtype=bool)
        return self.in_area & (self.cover_ctx < params.mapped_cover_min) & builtup.seen(self.features)


def demand_grid(area: Area, params: DemandParams) -> GridSpec:
    """The square grid of ``area``'s demand surface: cells of ``params.cell_size_m`` covering its boundary."""
    return GridSpec.covering(area.boundary, area.crs, params.cell_size_m)


def neighbourhood(area: Area, params: DemandParams) -> Neighbourhood:
    """The grid of ``area`` with its buildings, roads and built-up features per cell."""
    spec = demand_grid(area, params)
    ncell = spec.shape[0] * spec.shape[1]
    cell_geoms = spec.boxes(*np.divmod(np.arange(ncell), spec.shape[1]))
    boundary = shapely.normalize(area.boundary)  # a private copy, prepared for the many point tests
    shapely.prepare(boundary)
    cell_area = _cell_areas_inside(cell_geoms, boundary, params.cell_size_m)
    roads = _drivable_roads(area.road_edges, params)
    road_by_group = _road_length_by_group(roads, spec, boundary)
    bld = _buildings(area.buildings, area.landuse, spec, params)
    window = window_cells(params.context_window_m, params.cell_size_m)
    land = smooth(cell_area, spec, window)
    return Neighbourhood(
        spec=spec, boundary=boundary, cell_area=cell_area, in_area=cell_area > 0, roads=roads,
        road_by_group=road_by_group, buildings=bld,
        cover_ctx=ratio(smooth(bld["footprint"], spec, window), land),
        far_ctx=ratio(smooth(bld["footprint"] * bld["floors"], spec, window), land),
        road_density_ctx=1000.0 * ratio(smooth(road_by_group.sum(axis=1), spec, window), land),
        features=builtup.cell_features(area, spec, boundary, cell_area, road_by_group))


def _check_census(name: str, population: float, min_share: float, building_residents: float) -> None:
    """Refuse a census total far below what the mapped buildings already hold."""
    if population < min_share * building_residents:
        raise InputError(f"population={population:g} for area '{name}' is far below the "
                         f"{building_residents:,.0f} residents its mapped buildings hold (less than "
                         f"{min_share:.0%}): check the census figure and that it is for this area")


def _people(area: Area, spec: GridSpec, bld: dict[str, np.ndarray], cover_ctx: np.ndarray,
            population: PopulationSamples | None, params: DemandParams, modelled: np.ndarray, model_res: np.ndarray,
            model_work: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Uncalibrated residents per cell by source (:data:`SOURCES`), and workers per cell.

    Residents come from the raster when one is given, else from buildings; in
    neighbourhoods where buildings are barely mapped (``mapped_cover_min``) the built-up
    model fills the ``modelled`` cells, and landuse the other cells without buildings.
    The same fill adds workers.
    """
    ncell = spec.shape[0] * spec.shape[1]
    sources = {s: np.zeros(ncell) for s in SOURCES}
    unmapped = (cover_ctx < params.mapped_cover_min) & (bld["footprint"] == 0)
    lu_res, lu_work = _landuse_people(area.landuse, spec, params)
    by_model = unmapped & modelled
    by_landuse = unmapped & ~modelled
    if population is not None:
        sources["raster"] = _raster_people(population, bld["residents"], params)
    else:
        sources["buildings"] = bld["residents"]
        sources["landuse"] = np.where(by_landuse, lu_res, 0.0)
        sources["model"] = np.where(by_model, model_res, 0.0)
    return sources, bld["workers"] + np.where(by_landuse, lu_work, 0.0) + np.where(by_model, model_work, 0.0)


def _raster_people(population: PopulationSamples, building_residents: np.ndarray, params: DemandParams) -> np.ndarray:
    """Raster residents per cell, spread inside each pixel by the building estimate.

    ``raster_dasymetric_share`` of every pixel's population goes to its cells in
    proportion to their building residents (when the pixel has any), the rest evenly;
    each pixel keeps its total, so a coarse GHS-POP 1 km pixel lands on its housing.
    """
    cell, pixel, value = population.cell, population.pixel, population.persons
    if value.sum() <= 0:
        raise InputError(f"population raster {population.source} holds no population inside the area (only nodata "
                         f"or zeros): use a population raster (WorldPop, GHS-POP) that covers it")
    _, pix = np.unique(pixel, return_inverse=True)
    housing = building_residents[cell]
    pixel_housing = np.bincount(pix, housing)[pix]
    even = 1.0 / np.bincount(pix)[pix]
    u = params.raster_dasymetric_share
    share = np.where(pixel_housing > 0, u * np.divide(housing, pixel_housing, out=np.zeros_like(housing),
                                                      where=pixel_housing > 0) + (1 - u) * even, even)
    return np.bincount(cell, np.bincount(pix, value)[pix] * share, minlength=population.grid.shape[0] * population.grid.shape[1]).astype(float)


def _cell_areas_inside(cells: np.ndarray, boundary: shapely.Geometry, cell_size: float) -> np.ndarray:
    """Area of every cell inside the (prepared) boundary; only the cells on its edge are intersected."""
    inside = shapely.contains_properly(boundary, cells)
    edge = shapely.intersects(boundary, cells) & ~inside
    out = np.where(inside, cell_size * cell_size, 0.0)
    out[edge] = shapely.area(shapely.intersection(cells[edge], boundary))
    return out


# --------------------------------------------------------------------------- buildings

def _buildings(buildings: gpd.GeoDataFrame, landuse: gpd.GeoDataFrame, spec: GridSpec,
               params: DemandParams) -> dict[str, np.ndarray]:
    """Per-cell footprint (m²), footprint-weighted floors, residents and workers from buildings."""
    ncell = spec.shape[0] * spec.shape[1]
    geoms = buildings.geometry.to_numpy()
    bi, cell, share = polygon_cell_areas(geoms, spec)
    btype = buildings["building"].fillna("yes").astype(str).str.lower().to_numpy()
    grounds = np.isin(btype, params.grounds_types) & (shapely.area(geoms) > params.grounds_footprint_m2)
    built = ~grounds[bi]
    footprint = np.bincount(cell[built], share[built], minlength=ncell)

    known = tagged_floors(buildings, params.storey_height_m)
    known[grounds] = np.nan

    # context: footprint-weighted known floors of the neighbourhood
    has = ~np.isnan(known[bi])
    window = window_cells(params.context_window_m, params.cell_size_m)
    ctx_den = smooth(np.bincount(cell[has], share[has], minlength=ncell), spec, window)
    ctx = ratio(smooth(np.bincount(cell[has], share[has] * known[bi][has], minlength=ncell), spec, window), ctx_den)
    ctx_weight = np.bincount(bi, share * (ctx_den[cell] > 1e-9), minlength=len(geoms))  # as ratio: sums leave ~1e-13
    ctx_b = ratio(np.bincount(bi, share * ctx[cell], minlength=len(geoms)), ctx_weight)
    contextual = (ctx_weight > 0) & ~np.isin(btype, params.fixed_floor_types)
    default = type_floors(btype, params.default_floors)
    floors = np.where(grounds, params.grounds_plot_ratio, np.where(~np.isnan(known), known, np.where(contextual, ctx_b, default)))

    res_share, work_share = _use_shares(buildings, btype, landuse, params)
    per_worker = np.where(np.isin(btype, params.industrial_types), params.m2_per_worker_industrial, params.m2_per_worker)
    floor_area = share * floors[bi] * params.floor_efficiency
    out = {
        "footprint": footprint,
        "floors": ratio(np.bincount(cell[built], (share * floors[bi])[built], minlength=ncell), footprint),
        "residents": np.bincount(cell, floor_area * res_share[bi] / params.m2_per_person, minlength=ncell),
        "workers": np.bincount(cell, floor_area * work_share[bi] / per_worker[bi], minlength=ncell),
    }
    return {k: v.astype(float) for k, v in out.items()}  # bincount of nothing is int


def _use_shares(buildings: gpd.GeoDataFrame, btype: np.ndarray, landuse: gpd.GeoDataFrame,
                params: DemandParams) -> tuple[np.ndarray, np.ndarray]:
    """Housing and workplace shares of each building's floor area, by type and landuse."""
    residential = np.isin(btype, params.residential_types)
    work = np.isin(btype, params.worker_types)
    untyped = btype == "yes"
    lu = _landuse_at(buildings.geometry.to_numpy(), landuse)
    res_share = np.where(residential, 1.0, 0.0)
    res_share = np.where(untyped, np.select([lu == "residential", np.isin(lu, WORK_LANDUSE)],
                                            [1.0, 0.0], params.untyped_residential_share), res_share)
    work_share = np.where(work, 1.0, np.where(untyped, 1.0 - res_share, 0.0))
    return res_share, work_share


def _landuse_at(geoms: np.ndarray, landuse: gpd.GeoDataFrame) -> np.ndarray:
    """The landuse value under each geometry's representative point ("" where none)."""
    out = np.full(len(geoms), "", dtype=object)
    if len(geoms) == 0 or len(landuse) == 0:
        return out
    tree = shapely.STRtree(landuse.geometry.to_numpy())
    src, hit = tree.query(shapely.point_on_surface(geoms), predicate="within")
    first = np.unique(src, return_index=True)[1]
    out[src[first]] = landuse["landuse"].astype(str).to_numpy()[hit[first]]
    return out


def _landuse_people(landuse: gpd.GeoDataFrame, spec: GridSpec, params: DemandParams) -> tuple[np.ndarray, np.ndarray]:
    """Residents and workers per cell from landuse polygons at the configured densities."""
    ncell = spec.shape[0] * spec.shape[1]
    if len(landuse) == 0:
        return np.zeros(ncell), np.zeros(ncell)
    kind = landuse["landuse"].astype(str).to_numpy()
    li, cell, share = polygon_cell_areas(landuse.geometry.to_numpy(), spec)
    res = np.bincount(cell, share * (kind[li] == "residential") * params.landuse_residents_per_km2 / 1e6, minlength=ncell)
    work = np.bincount(cell, share * np.isin(kind[li], WORK_LANDUSE) * params.landuse_workers_per_km2 / 1e6, minlength=ncell)
    return res, work


# --------------------------------------------------------------------------- roads

def _drivable_roads(edges: gpd.GeoDataFrame, params: DemandParams) -> gpd.GeoDataFrame:
    """One row per road (two directions of a two-way road counted once) with ``road_class``."""
    roads = gpd.GeoDataFrame({"road_class": road_class(edges["highway"]).to_numpy()}, geometry=edges.geometry.to_numpy(), crs=edges.crs)
    roads = roads[roads["road_class"].isin(list(params.road_weight_per_km)) & ~roads.geometry.is_empty]
    key = pd.Series(shapely.to_wkb(shapely.normalize(roads.geometry.to_numpy())), index=roads.index)
    return roads[~key.duplicated().to_numpy()].reset_index(drop=True)


def sample_lines(geoms: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points every ~``step`` metres along lines, centred in equal pieces.

    Returns (line index, point geometries, metres of line each point stands for); the
    lengths of one line's points add up to its length.
    """
    length = shapely.length(geoms)
    n = np.maximum(np.ceil(length / step), 1).astype(np.int64)
    line = np.repeat(np.arange(len(geoms)), n)
    piece = np.repeat(length / n, n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    pts = shapely.line_interpolate_point(geoms[line], (k + 0.5) * piece)
    return line, pts, piece


def _road_length_by_group(roads: gpd.GeoDataFrame, spec: GridSpec, boundary: shapely.Geometry) -> np.ndarray:
    """Road metres per cell and :data:`ROAD_GROUPS` column, inside the boundary."""
    ncell = spec.shape[0] * spec.shape[1]
    out = np.zeros((ncell, len(ROAD_GROUPS)))
    if len(roads) == 0:
        return out
    line, pts, piece = sample_lines(roads.geometry.to_numpy(), spec.cell_size / 5.0)
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    cell = spec.cell_of(x, y)
    keep = (cell >= 0) & shapely.contains_xy(boundary, x, y)
    names = roads["road_class"].to_numpy()[line]
    group = np.where(np.isin(names, ROAD_GROUPS[:-1]), names, "minor")
    gi = pd.Categorical(group, categories=ROAD_GROUPS).codes
    flat = cell[keep] * len(ROAD_GROUPS) + gi[keep]
    return np.bincount(flat, piece[keep], minlength=ncell * len(ROAD_GROUPS)).reshape(ncell, len(ROAD_GROUPS))


def _road_person_weights(road_by_group: np.ndarray, params: DemandParams) -> np.ndarray:
    """Per-cell share of roads-only population: road length weighted like road demand."""
    w = params.road_weight_per_km
    group_w = np.array([w.get(g, 0.0) for g in ROAD_GROUPS[:-1]] + [w.get("residential", 0.0)])
    return road_by_group @ group_w


# --------------------------------------------------------------------------- classes, priority, points

def _env_class(cover: np.ndarray, floors: np.ndarray, road_density: np.ndarray, params: DemandParams) -> np.ndarray:
    """Index into :data:`ENV_CLASSES_SPARSEST_FIRST` per cell from neighbourhood cover, floors and road km/km²."""
    return np.select(
        [((cover >= params.dense_urban_cover) & (floors >= params.dense_urban_floors))
         | (cover >= params.dense_urban_cover_any_height),
         (cover >= params.urban_cover) | (road_density >= params.urban_road_km_per_km2),
         (cover >= params.suburban_cover) | (road_density >= params.suburban_road_km_per_km2)],
        [3, 2, 1], 0)


def _density_class(residents: np.ndarray, cell_area: np.ndarray, spec: GridSpec, params: DemandParams) -> np.ndarray:
    """Index into :data:`ENV_CLASSES_SPARSEST_FIRST` per cell that the residents per km² of land
    within ``density_window_m`` give alone: urban from ``urban_residents_per_km2``, suburban from
    ``suburban_residents_per_km2`` (the density thresholds of DEGURBA's urban centres and clusters)."""
    window = window_cells(params.density_window_m, params.cell_size_m)
    per_km2 = 1e6 * ratio(smooth(residents, spec, window), smooth(cell_area, spec, window))
    return np.select([per_km2 >= params.urban_residents_per_km2, per_km2 >= params.suburban_residents_per_km2],
                     [2, 1], 0)


def _priority(x: np.ndarray, y: np.ndarray, area: Area, params: DemandParams) -> np.ndarray:
    """``priority_weight`` within ``priority_radius_m`` of a priority POI or landuse, else 1."""
    places = np.concatenate([
        area.pois.geometry.to_numpy()[area.pois["category"].isin(params.priority_categories).to_numpy()],
        area.landuse.geometry.to_numpy()[area.landuse["landuse"].isin(params.priority_landuse).to_numpy()],
    ])
    out = np.ones(len(x))
    if len(places) == 0 or len(x) == 0:
        return out
    hit, _ = shapely.STRtree(places).query(shapely.points(x, y), predicate="dwithin", distance=params.priority_radius_m)
    out[np.unique(hit)] = params.priority_weight
    return out


def _points(grid: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, spec: GridSpec, env: np.ndarray,
            cover: np.ndarray, area: Area, boundary: shapely.Geometry, params: DemandParams) -> gpd.GeoDataFrame:
    """Cell points (cells with people) followed by road points inside the area."""
    cells = grid[(grid["residents"] + grid["workers"]) > 0]
    cx, cy = spec.centres(cells["row"].to_numpy(), cells["col"].to_numpy())
    cell_pts = pd.DataFrame({
        "kind": "cell", "residents": cells["residents"].to_numpy(), "workers": cells["workers"].to_numpy(),
        "road_m": 0.0, "building_cover": cells["building_cover"].to_numpy(), "env_class": cells["env_class"].to_numpy(),
        "priority": cells["priority"].to_numpy(), "weight": cells["weight"].to_numpy(),
        "source": cells["source"].to_numpy(), "geometry": shapely.points(cx, cy),
    })
    line, pts, piece = sample_lines(roads.geometry.to_numpy(), params.road_point_spacing_m)
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    cell = spec.cell_of(x, y)
    keep = (cell >= 0) & shapely.contains_xy(boundary, x, y)
    line, x, y, piece, cell = line[keep], x[keep], y[keep], piece[keep], cell[keep]
    priority = _priority(x, y, area, params)
    per_m = roads["road_class"].map(params.road_weight_per_km).to_numpy(dtype=float)[line] / 1000.0
    road_pts = pd.DataFrame({
        "kind": "road", "residents": 0.0, "workers": 0.0, "road_m": piece, "building_cover": cover[cell],
        "env_class": np.array(ENV_CLASSES_SPARSEST_FIRST)[env[cell]], "priority": priority, "weight": per_m * piece * priority,
        "source": "roads", "geometry": shapely.points(x, y),
    })
    both = pd.concat([cell_pts, road_pts], ignore_index=True)
    both.insert(0, "demand_id", np.arange(len(both), dtype=np.int64))
    return gpd.GeoDataFrame(both[list(POINT_COLUMNS)], geometry="geometry", crs=area.crs)


def environment_layer(demand: Demand) -> gpd.GeoDataFrame:
    """The demand cells as polygons with their environment class and where it came from (for the map)."""
    cols = ["row", "col", "env_class", "env_source", "residents", "workers", "source"]
    return demand.grid[cols + ["geometry"]].copy()


def _by_class(grid: gpd.GeoDataFrame) -> dict[str, dict]:
    """Per environment class: cells, where the class came from and where its residents came from."""
    out: dict[str, dict] = {}
    for c in ENV_CLASSES_SPARSEST_FIRST:
        g = grid[grid["env_class"] == c]
        out[c] = {"cells": int(len(g)),
                  "env_source": {s: int((g["env_source"] == s).sum()) for s in ENV_SOURCES},
                  "residents_by_source": {s: round(float(g.loc[g["source"] == s, "residents"].sum()), 1)
                                          for s in SOURCES}}
    return out


def _model_info(grid: gpd.GeoDataFrame, modelled: np.ndarray, params: DemandParams) -> dict:
    """How much of the area the built-up model classed and populated, with its cross-validated errors."""
    residents = grid["residents"].to_numpy()
    total = float(residents.sum())
    info = {"used": bool(params.builtup_model), "cells": int(modelled.sum()),
            "cell_share": round(float(modelled.mean()), 4) if len(modelled) else 0.0,
            "residents_share": round(float(residents[grid["source"].to_numpy() == "model"].sum()) / total, 4)
            if total > 0 else 0.0}
    if params.builtup_model:
        info.update(builtup.shipped_model().reported_errors())
    return info


def _main_source(sources: dict[str, np.ndarray], sparse: bool) -> str:
    """The source carrying most residents; ``"roads"`` when there are none, or when the
    area is sparse and the few mapped buildings would otherwise be named."""
    totals = {s: float(v.sum()) for s, v in sources.items()}
    best = max(SOURCES, key=lambda s: totals[s])
    return best if totals[best] > 0 and not (sparse and best == "buildings") else "roads"
