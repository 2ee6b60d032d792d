"""Population rasters: read a WorldPop / GHS-POP GeoTIFF onto the demand grid, write the grid back.

Reading is *sum-preserving*: every valid source pixel is split into ``k × k`` sub-pixels
that carry ``value / k²`` each, their centres are projected into the grid's CRS and
summed per cell (``k`` is chosen so that a sub-pixel is at most half a cell wide). The
total of the result is therefore the raster's own total over the area, whatever the
two grids' CRS, resolution and alignment; resampling by interpolation would not keep it.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shapely
from affine import Affine
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from siting.errors import InputError
from siting.grid import GridSpec, PopulationSamples, apply_affine
from siting.io.export import atomic_path

if TYPE_CHECKING:
    from siting.demand import Demand

#: nodata value of the population GeoTIFFs siting writes (cells outside the area)
NODATA = -9999.0
#: at most this many sub-pixels per source pixel side
MAX_SPLIT = 32


def read_population(path: str | Path, grid: GridSpec, boundary: BaseGeometry | None = None) -> np.ndarray:
    """Population per grid cell, shape ``grid.shape``, from a population GeoTIFF.

    ``boundary`` (in ``grid.crs``) keeps only the population inside the area. Nodata,
    non-finite and negative pixels count as no population. Raises
    :class:`~siting.errors.InputError` if the file is missing or unreadable, has no CRS,
    or does not overlap the grid (or the boundary).
    """
    samples = population_samples(path, grid, boundary)
    return np.bincount(samples.cell, weights=samples.persons,
                       minlength=grid.shape[0] * grid.shape[1]).reshape(grid.shape)


def population_samples(path: str | Path, grid: GridSpec, boundary: BaseGeometry | None = None) -> PopulationSamples:
    """The raster's population as sub-pixel samples on the grid (flat cell, source pixel, persons).

    Each valid pixel becomes ``k × k`` samples of ``value / k²`` (``k`` such that a sample is
    at most half a cell wide); only samples on the grid and inside ``boundary`` are kept,
    so the persons add up to the raster's own total over the area. Errors as
    :func:`read_population`.
    """
    import rasterio
    from rasterio.errors import RasterioIOError, WindowError
    from rasterio.warp import transform_bounds
    from rasterio.windows import Window, from_bounds

    path = Path(path)
    if boundary is not None:  # a private copy, prepared for the many point tests
        boundary = shapely.normalize(boundary)
        shapely.prepare(boundary)
    if not path.is_file():
        raise InputError(f"population raster {path} does not exist: check the path")
    try:
        src = rasterio.open(path)
    except RasterioIOError:
        raise InputError(f"population raster {path} is not a readable GeoTIFF: pass a WorldPop or GHS-POP GeoTIFF") from None
    with src:
        if src.crs is None:
            raise InputError(f"population raster {path.name} has no CRS: assign one "
                             f"(e.g. gdal_edit.py -a_srs EPSG:4326 {path.name}) and retry")
        nrows, ncols = grid.shape
        left, top = apply_affine(grid.transform, 0, 0)
        right, bottom = apply_affine(grid.transform, ncols, nrows)
        bounds = transform_bounds(grid.crs, src.crs, left, bottom, right, top, densify_pts=21)
        full = Window(0, 0, src.width, src.height)
        exact = from_bounds(*bounds, transform=src.transform)
        col0, row0 = np.floor(exact.col_off), np.floor(exact.row_off)
        window = Window(col0, row0, np.ceil(exact.col_off + exact.width) - col0 + 1,
                        np.ceil(exact.row_off + exact.height) - row0 + 1)
        try:
            window = window.intersection(full)
        except WindowError:  # disjoint
            window = None
        if window is None or window.width < 1 or window.height < 1:
            raise _no_overlap(path)
        data = src.read(1, window=window, masked=True)
        win_transform = src.transform @ Affine.translation(window.col_off, window.row_off)
        to_grid = Transformer.from_crs(src.crs, grid.crs, always_xy=True)
        values = np.ma.filled(data.astype("float64"), np.nan)

    index = np.indices(values.shape)
    rows, cols = index[0], index[1]
    cx, cy = to_grid.transform(*apply_affine(win_transform, cols.ravel() + 0.5, rows.ravel() + 0.5))
    if not _any_inside(np.asarray(cx), np.asarray(cy), grid, boundary):
        raise _no_overlap(path)

    valid = np.isfinite(values) & (values > 0)
    r, c, v = rows[valid], cols[valid], values[valid]
    k = _split_factor(win_transform, to_grid, values.shape, abs(grid.transform.a))
    offsets = (np.arange(k) + 0.5) / k
    sub_c = (c[:, None, None] + offsets[None, None, :]).repeat(k, axis=1).ravel()
    sub_r = (r[:, None, None] + offsets[None, :, None]).repeat(k, axis=2).ravel()
    pixel = np.repeat(r * values.shape[1] + c, k * k)
    sub_v = np.repeat(v / (k * k), k * k)
    x, y = (np.asarray(a) for a in to_grid.transform(*apply_affine(win_transform, sub_c, sub_r)))
    cell = grid.cell_of(x, y)
    keep = cell >= 0
    if boundary is not None:
        keep &= shapely.contains_xy(boundary, x, y)
    return PopulationSamples(grid, cell[keep], pixel[keep], sub_v[keep], path.name)


def write_population_tif(path: str | Path, demand: Demand) -> None:
    """Write the residents per grid cell of ``demand`` as a float32 GeoTIFF, atomically.

    Cells outside the area are nodata (:data:`NODATA`). Same demand, same bytes.
    """
    import rasterio

    spec = demand.spec
    values = np.full(spec.shape, NODATA, dtype="float32")
    values[demand.grid["row"].to_numpy(), demand.grid["col"].to_numpy()] = demand.grid["residents"].to_numpy()
    profile = {
        "driver": "GTiff", "dtype": "float32", "count": 1, "width": spec.shape[1], "height": spec.shape[0],
        "crs": spec.crs, "transform": spec.transform, "nodata": NODATA, "compress": "deflate",
    }
    with atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(values, 1)
            dst.update_tags(units="residents per cell", source="siting demand")


def _no_overlap(path: Path) -> InputError:
    return InputError(f"population raster {path.name} does not overlap the area: use a raster that covers it "
                      f"(check its CRS and extent with gdalinfo)")


def _any_inside(x: np.ndarray, y: np.ndarray, grid: GridSpec, boundary: BaseGeometry | None) -> bool:
    """Whether any source pixel centre lies on the grid (and inside the boundary)."""
    on_grid = grid.cell_of(x, y) >= 0
    if boundary is not None and on_grid.any():
        on_grid[on_grid] = shapely.contains_xy(boundary, x[on_grid], y[on_grid])
    return bool(on_grid.any())


def _split_factor(win_transform: Affine, to_grid: Transformer, shape: tuple[int, int], cell_size: float) -> int:
    """Sub-pixels per side so that one sub-pixel is at most half a grid cell wide."""
    h, w = shape
    xs, ys = apply_affine(win_transform, [0, w, 0, w], [0, 0, h, h])
    gx, gy = to_grid.transform(xs, ys)
    pixel = max(np.ptp(gx) / max(w, 1), np.ptp(gy) / max(h, 1))
    return int(np.clip(np.ceil(2 * pixel / cell_size), 1, MAX_SPLIT))
