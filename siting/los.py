"""Deterministic line of sight over OSM buildings (DOMAIN §2): building heights
rasterised on a square grid, rays sampled between sites and demand points.

Building heights come from :func:`siting.buildings.heights_m`; the radio model of
:mod:`siting.radio` then uses the LOS or NLOS path loss per pair.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from siting.buildings import heights_m
from siting.config import RadioParams
from siting.errors import ConfigError, ResourceError
from siting.radio import BANDS, C_LIGHT

#: largest building-height raster the LOS test builds (float32 + int32: 8 bytes a cell → 1.6 GB) [A]
MAX_LOS_CELLS = 200_000_000


@dataclass(frozen=True)
class HeightGrid:
    """Building heights rasterised on a square grid in the area's metric CRS.

    ``heights[r, c]`` is the building height [m] (0 = open ground) of the cell whose
    top-left corner is ``(x0 + c·cell_m, y0 − r·cell_m)``; ``ids[r, c]`` numbers the
    building (1-based, 0 = none) so that a ray ignores the buildings its ends stand in.
    """

    heights: np.ndarray
    ids: np.ndarray
    x0: float
    y0: float
    cell_m: float

    def cells(self, x, y):
        """(row, col, inside) of the cells holding points ``x, y``."""
        col = np.floor((np.asarray(x) - self.x0) / self.cell_m).astype(np.int64)
        row = np.floor((self.y0 - np.asarray(y)) / self.cell_m).astype(np.int64)
        inside = (row >= 0) & (row < self.heights.shape[0]) & (col >= 0) & (col < self.heights.shape[1])
        return np.where(inside, row, 0), np.where(inside, col, 0), inside

    def sample(self, x, y):
        """(height, building id) at points; 0 outside the grid."""
        row, col, inside = self.cells(x, y)
        return (np.where(inside, self.heights[row, col], 0.0), np.where(inside, self.ids[row, col], 0))


def building_height_grid(buildings, cell_m: float, *, storey_height_m: float, default_height_m: float,
                         bounds=None) -> HeightGrid:
    """Rasterise building footprints to a :class:`HeightGrid` (``rasterio.features``).

    Heights from :func:`siting.buildings.heights_m` (``default_height_m`` when a building has
    neither height nor levels). Where footprints overlap the taller one wins.
    ``bounds`` (minx, miny, maxx, maxy) defaults to the buildings' extent.
    """
    from affine import Affine
    from rasterio.features import rasterize

    if cell_m <= 0:
        raise ConfigError("LOS grid cell size must be positive: set radio.los_cell_m > 0")
    geoms = buildings.geometry.to_numpy()
    usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    minx, miny, maxx, maxy = buildings.total_bounds if bounds is None else bounds
    if not usable.any() or not np.all(np.isfinite([minx, miny, maxx, maxy])):
        return HeightGrid(np.zeros((1, 1), np.float32), np.zeros((1, 1), np.int32), 0.0, 0.0, float(cell_m))
    ncol = max(1, int(np.ceil((maxx - minx) / cell_m)))
    nrow = max(1, int(np.ceil((maxy - miny) / cell_m)))
    if nrow * ncol > MAX_LOS_CELLS:
        raise ResourceError(f"the building-height raster for the LOS test would have {nrow * ncol:,} cells "
                            f"({cell_m:g} m): raise radio.los_cell_m or plan a smaller area")
    transform = Affine(cell_m, 0.0, minx, 0.0, -cell_m, maxy)
    heights = heights_m(buildings, storey_height_m, default_height_m)
    order = np.flatnonzero(usable)[np.argsort(heights[usable], kind="stable")]   # low first: the tallest wins
    geoms = geoms[order]
    h_img = rasterize(zip(geoms, heights[order]), out_shape=(nrow, ncol), transform=transform,
                      fill=0.0, dtype="float32")
    id_img = rasterize(zip(geoms, (order + 1).astype("int32")), out_shape=(nrow, ncol), transform=transform,
                       fill=0, dtype="int32")
    return HeightGrid(h_img, id_img, float(minx), float(maxy), float(cell_m))


def line_of_sight(grid: HeightGrid, tx_xy, tx_h, rx_xy, rx_h, step_m: float | None = None,
                  fresnel_clearance: float = 0.0, fc_ghz: float = 3.5, max_samples: int = 2_000_000) -> np.ndarray:
    """Deterministic LOS per pair over flat ground (§2): clear if every sample of the
    straight TX→RX ray is above the buildings under it.

    ``tx_xy``/``rx_xy`` are (n, 2) arrays, heights above ground. Samples every
    ``step_m`` (default: the grid cell); samples inside the building a ray starts or
    ends in are ignored (a rooftop mast, an indoor user: O2I loss covers that wall).
    With ``fresnel_clearance`` > 0 the ray must also clear that share of the first
    Fresnel zone radius ``sqrt(λ·d1·d2/(d1+d2))`` at ``fc_ghz`` (§2: 0.6·r1).
    Pairs are processed sorted by length in chunks of at most ``max_samples`` samples.
    """
    tx_xy = np.atleast_2d(np.asarray(tx_xy, dtype=float))
    rx_xy = np.atleast_2d(np.asarray(rx_xy, dtype=float))
    tx_xy, rx_xy = np.broadcast_arrays(tx_xy, rx_xy)
    n = len(tx_xy)
    tx_h = np.broadcast_to(np.asarray(tx_h, dtype=float), (n,))
    rx_h = np.broadcast_to(np.asarray(rx_h, dtype=float), (n,))
    step = grid.cell_m if step_m is None else float(step_m)
    length = np.hypot(*(rx_xy - tx_xy).T)
    order = np.argsort(length, kind="stable")
    n_samples = np.maximum(1, np.ceil(length[order] / step).astype(np.int64))
    _, tx_id = grid.sample(tx_xy[:, 0], tx_xy[:, 1])
    _, rx_id = grid.sample(rx_xy[:, 0], rx_xy[:, 1])
    clear = np.ones(n, dtype=bool)
    start = 0
    while start < n:                              # chunks of pairs, not a loop per pair
        end = min(n, start + max(1, max_samples // int(n_samples[start])))
        end = min(end, start + max(1, max_samples // int(n_samples[end - 1])))
        idx, k = order[start:end], n_samples[start:end, None]
        j = np.arange(int(k.max()))
        s = np.minimum((j + 0.5) / k, 1.0)          # per-pair sample positions along the ray
        x = tx_xy[idx, 0, None] + s * (rx_xy[idx, 0] - tx_xy[idx, 0])[:, None]
        y = tx_xy[idx, 1, None] + s * (rx_xy[idx, 1] - tx_xy[idx, 1])[:, None]
        ray = tx_h[idx, None] + s * (rx_h[idx] - tx_h[idx])[:, None]
        if fresnel_clearance > 0:
            wavelength = C_LIGHT / (fc_ghz * 1e9)
            ray = ray - fresnel_clearance * np.sqrt(wavelength * s * (1.0 - s) * length[idx, None])
        h, bid = grid.sample(x, y)
        own = (bid == tx_id[idx, None]) | (bid == rx_id[idx, None])
        clear[idx] = ~np.any((h > ray) & ~own & (j < k), axis=1)
        start = end
    return clear


def buildings_los(buildings, tx_xy, tx_h, rx_xy, params: RadioParams, storey_height_m: float,
                  test=None) -> np.ndarray:
    """LOS per pair from OSM building heights (``params.los_from_buildings``, §2):
    rasterise the buildings around the pairs at ``params.los_cell_m`` and ray-test, the
    ray clearing ``params.los_fresnel_clearance`` of the first Fresnel zone.

    ``test`` (bool per pair) limits the ray test to the pairs whose LOS state can
    change a decision, e.g. ``(margin if LOS >= 0) & (margin if NLOS < 0)``; the
    others are returned as NLOS. Coverage decisions are then the same as testing all.
    """
    cell = params.los_cell_m
    tx_xy, rx_xy = np.broadcast_arrays(np.atleast_2d(tx_xy), np.atleast_2d(rx_xy))
    tx_h = np.broadcast_to(np.asarray(tx_h, dtype=float), (len(tx_xy),))
    los = np.zeros(len(tx_xy), dtype=bool)
    idx = np.arange(len(tx_xy)) if test is None else np.flatnonzero(test)
    if len(idx) == 0:
        return los
    xy = np.vstack([tx_xy[idx], rx_xy[idx]])
    bounds = (*(xy.min(axis=0) - cell), *(xy.max(axis=0) + cell))
    grid = building_height_grid(buildings, cell, storey_height_m=storey_height_m,
                                default_height_m=params.default_building_height_m, bounds=bounds)
    los[idx] = line_of_sight(grid, tx_xy[idx], tx_h[idx], rx_xy[idx], params.h_ut_m,
                             fresnel_clearance=params.los_fresnel_clearance, fc_ghz=BANDS[params.band].fc_ghz)
    return los
