"""The demand grid: square cells in a metric CRS, and population sampled onto it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine


@dataclass(frozen=True)
class GridSpec:
    """A square grid in a metric CRS: ``transform`` maps (col, row) to the cell's north-west corner."""

    crs: str
    transform: Affine
    shape: tuple[int, int]  # (rows, cols)

    @property
    def cell_size(self) -> float:
        return float(self.transform.a)

    @classmethod
    def covering(cls, boundary: shapely.Geometry, crs: str, cell_size: float) -> GridSpec:
        """The grid aligned to multiples of ``cell_size`` that covers ``boundary``'s bounds."""
        minx, miny, maxx, maxy = boundary.bounds
        x0, y0 = np.floor(minx / cell_size) * cell_size, np.floor(miny / cell_size) * cell_size
        x1, y1 = np.ceil(maxx / cell_size) * cell_size, np.ceil(maxy / cell_size) * cell_size
        ncols = max(int(round((x1 - x0) / cell_size)), 1)
        nrows = max(int(round((y1 - y0) / cell_size)), 1)
        return cls(crs, Affine(cell_size, 0.0, x0, 0.0, -cell_size, y0 + nrows * cell_size), (nrows, ncols))

    def boxes(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Cell polygons for the given rows and columns."""
        x0, y1 = apply_affine(self.transform, cols, rows)
        return shapely.box(x0, y1 - self.cell_size, x0 + self.cell_size, y1)

    def centres(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return apply_affine(self.transform, cols + 0.5, rows + 0.5)

    def cell_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Flat cell index of points (-1 where off the grid)."""
        col, row = apply_affine(~self.transform, x, y)
        col, row = np.floor(col).astype(np.int64), np.floor(row).astype(np.int64)
        on = (col >= 0) & (col < self.shape[1]) & (row >= 0) & (row < self.shape[0])
        return np.where(on, row * self.shape[1] + col, -1)


@dataclass(frozen=True, eq=False)
class PopulationSamples:
    """A population raster on a :class:`GridSpec` (:func:`siting.io.raster.population_samples`):
    ``persons`` of source pixel ``pixel`` fall into flat cell ``cell``; ``source`` names the raster."""

    grid: GridSpec
    cell: np.ndarray
    pixel: np.ndarray
    persons: np.ndarray
    source: str


def apply_affine(transform: Affine, x, y) -> tuple[np.ndarray, np.ndarray]:
    """``transform`` applied to coordinate arrays (``x`` = column, ``y`` = row for a raster transform)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    t = transform
    return t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f


def polygon_cell_areas(geoms: np.ndarray, spec: GridSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(polygon index, flat cell index, intersection area m²) for every polygon-cell overlap.

    Polygons inside one cell take their whole area without any intersection; only the
    rest are cut by the cells their bounding box spans. Parts off the grid are dropped.
    """
    nrows, ncols = spec.shape
    if len(geoms) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    b = shapely.bounds(geoms)
    c0, r0 = apply_affine(~spec.transform, b[:, 0], b[:, 3])
    c1, r1 = apply_affine(~spec.transform, b[:, 2], b[:, 1])
    c0, r0, c1, r1 = (np.floor(v).astype(np.int64) for v in (c0, r0, c1, r1))
    single = (c0 == c1) & (r0 == r1) & (c0 >= 0) & (c0 < ncols) & (r0 >= 0) & (r0 < nrows)
    c0, c1 = np.clip(c0, 0, ncols - 1), np.clip(c1, 0, ncols - 1)
    r0, r1 = np.clip(r0, 0, nrows - 1), np.clip(r1, 0, nrows - 1)
    idx1 = np.flatnonzero(single)
    area1 = shapely.area(geoms[idx1])
    multi = np.flatnonzero(~single)
    nc, nr = c1[multi] - c0[multi] + 1, r1[multi] - r0[multi] + 1
    count = nc * nr
    idx2 = np.repeat(multi, count)
    local = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    rr = np.repeat(r0[multi], count) + local // np.repeat(nc, count)
    cc = np.repeat(c0[multi], count) + local % np.repeat(nc, count)
    area2 = _cell_clip_areas(geoms[idx2], *apply_affine(spec.transform, cc, rr + 1), spec.cell_size)
    keep = area2 > 0
    return (np.concatenate([idx1, idx2[keep]]),
            np.concatenate([r0[idx1] * ncols + c0[idx1], (rr * ncols + cc)[keep]]),
            np.concatenate([area1, area2[keep]]))


def _cell_clip_areas(geoms: np.ndarray, x0: np.ndarray, y0: np.ndarray, size: float) -> np.ndarray:
    """Area of each geometry inside the square ``size`` wide with south-west corner (x0, y0).

    Every geometry is shifted so that its square sits at the origin and then clipped by
    that one fixed rectangle (``clip_by_rect`` only takes scalars; it is several times
    faster than a general intersection, and the shift keeps full precision).
    """
    coords, which = shapely.get_coordinates(geoms, return_index=True)
    shifted = shapely.set_coordinates(geoms.copy(), coords - np.column_stack([x0, y0])[which])
    return shapely.area(shapely.clip_by_rect(shifted, 0.0, 0.0, size, size))
