"""Digital elevation models: SRTM ``.hgt`` or GeoTIFF tiles onto the area's metric grid.

:func:`read_dem` mosaics the tiles (``rasterio.merge``), fills voids by inverse-distance
interpolation (``rasterio.fill.fillnodata``) and counts them, checks the vertical units
and reprojects the result bilinearly onto a north-up grid in the area's metric CRS
that covers the requested bounds. The :class:`Dem` it returns is what
:mod:`siting.terrain` samples terrain profiles from.
"""
from __future__ import annotations

import math
import warnings
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.fill import fillnodata
from rasterio.merge import merge
from rasterio.warp import calculate_default_transform, reproject, transform_bounds

from siting.elevation import Dem
from siting.errors import InputError, ResourceError

#: Highest point on Earth (Everest, 8,849 m) with a margin: anything above is not metres.
MAX_PLAUSIBLE_M = 9000.0
#: Below this a value is an undeclared nodata sentinel (-9999, -32767, ...), not ground.
MIN_PLAUSIBLE_M = -1000.0
_FEET_UNITS = {"ft", "foot", "feet", "us survey foot", "ftus", "us-ft", "foot_us"}
_FOOT_M = 0.3048
#: Largest output grid (cells): 400 MB of float32, a 60 x 60 km area at 3 m.
MAX_CELLS = 100_000_000


class DemWarning(UserWarning):
    """The DEM was accepted but something about it deserves the user's attention."""


def read_dem(
    paths: list[Path],
    crs: str,
    bounds: tuple[float, float, float, float],
    resolution_m: float | None = None,
) -> Dem:
    """Read DEM tiles and return elevation over ``bounds`` (given in ``crs``) on a grid in ``crs``.

    Parameters
    ----------
    paths
        One or more GeoTIFF / SRTM ``.hgt`` files in one CRS (adjacent tiles are mosaicked).
    crs
        The area's metric CRS, e.g. ``"EPSG:32650"``.
    bounds
        (minx, miny, maxx, maxy) of the area in ``crs``.
    resolution_m
        Output cell size; ``None`` keeps the DEM's native resolution.

    Raises
    ------
    InputError
        A file is missing or not a raster, has no CRS, the tiles mix CRSs, the DEM does not
        overlap the area, or its values are not plausible metres (all zeros, above 9,000 m).
    ResourceError
        The output grid would exceed :data:`MAX_CELLS`.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError("no DEM file given: pass --dem FILE (a GeoTIFF or an SRTM .hgt tile)")
    for p in paths:
        if not p.is_file():
            raise InputError(f"DEM file {p} does not exist: check the path")
    names = tuple(p.name for p in paths)
    label = ", ".join(names)
    with ExitStack() as stack:
        srcs = [_open(stack, p) for p in paths]
        src_crs = srcs[0].crs
        if any(s.crs != src_crs for s in srcs[1:]):
            raise InputError(f"DEM tiles {label} are in different CRSs: reproject them to one CRS first")
        window = _overlap(srcs, crs, bounds, label)
        merged, m_transform = merge(srcs, bounds=window, indexes=[1], dtype="float32", nodata=np.nan)
        elev = merged[0]
        units = (srcs[0].units[0] or "").strip().lower() if srcs[0].units else ""
        dtype = srcs[0].dtypes[0]
        driver = srcs[0].driver
    notes: list[str] = []
    elev, notes = _check_values(elev, units, dtype, label, notes)
    voids = int(np.count_nonzero(~np.isfinite(elev)))
    if voids:
        elev = _fill(elev)
        notes.append(f"{voids} void cells filled by interpolation")
    native = abs(calculate_default_transform(src_crs, crs, elev.shape[1], elev.shape[0],
                                             *rasterio.transform.array_bounds(*elev.shape, m_transform))[0].a)
    res = float(resolution_m or round(native, 1))
    minx, miny, maxx, maxy = bounds
    cols = max(2, math.ceil((maxx - minx) / res) + 2)
    rows = max(2, math.ceil((maxy - miny) / res) + 2)
    if rows * cols > MAX_CELLS:
        raise ResourceError(f"a {res:g} m DEM grid over the area would have {rows * cols:,} cells: "
                            "raise terrain.resolution_m or plan a smaller area")
    d_transform = Affine(res, 0.0, minx - res, 0.0, -res, maxy + res)
    out = np.full((rows, cols), np.nan, dtype="float32")
    reproject(elev, out, src_transform=m_transform, src_crs=src_crs, src_nodata=np.nan,
              dst_transform=d_transform, dst_crs=crs, dst_nodata=np.nan, resampling=Resampling.bilinear)
    outside = int(np.count_nonzero(~np.isfinite(out)))
    if outside == out.size:
        raise InputError(f"DEM {label} does not overlap the area: pass tiles that cover it")
    if outside:
        share = outside / out.size
        if share > 0.01:
            msg = f"DEM {label} covers only {100 * (1 - share):.0f} % of the area; elevation is extended from its edge"
            warnings.warn(msg, DemWarning, stacklevel=2)
            notes.append(msg)
        out = _fill(out)
    source = (f"{label} ({driver}, {dtype}, {src_crs.to_string()}, native {native:.0f} m) "
              f"-> {crs} at {res:g} m, bilinear")
    return Dem(out.astype("float32"), d_transform, crs, res, voids, source, names, tuple(notes))


def _open(stack: ExitStack, path: Path) -> rasterio.io.DatasetReader:
    try:
        src = stack.enter_context(rasterio.open(path))
    except RasterioIOError:
        raise InputError(f"DEM file {path} is not a readable raster: pass a GeoTIFF or an SRTM .hgt file") from None
    if src.crs is None:
        raise InputError(f"DEM file {path.name} has no CRS: assign one (e.g. gdal_edit.py -a_srs EPSG:4326) "
                         "or pass a georeferenced GeoTIFF")
    return src


def _overlap(srcs: list, crs: str, bounds: tuple[float, float, float, float], label: str) -> tuple:
    """Area bounds in the DEM's CRS, widened by two source cells and clipped to the tiles."""
    west, south, east, north = transform_bounds(crs, srcs[0].crs, *bounds, densify_pts=21)
    tl = min(s.bounds.left for s in srcs), min(s.bounds.bottom for s in srcs)
    tr = max(s.bounds.right for s in srcs), max(s.bounds.top for s in srcs)
    rx, ry = max(s.res[0] for s in srcs), max(s.res[1] for s in srcs)
    box = (max(west - 2 * rx, tl[0]), max(south - 2 * ry, tl[1]),
           min(east + 2 * rx, tr[0]), min(north + 2 * ry, tr[1]))
    if box[0] >= box[2] or box[1] >= box[3] or west >= tr[0] or east <= tl[0] or south >= tr[1] or north <= tl[1]:
        raise InputError(f"DEM {label} (covers {tl[0]:.4f},{tl[1]:.4f} to {tr[0]:.4f},{tr[1]:.4f}) does not overlap "
                         f"the area ({west:.4f},{south:.4f} to {east:.4f},{north:.4f}): pass tiles that cover it")
    return box


def _check_values(elev: np.ndarray, units: str, dtype: str, label: str, notes: list[str]) -> tuple:
    """Refuse values that are not metres above sea level; convert declared feet."""
    sentinel = elev < MIN_PLAUSIBLE_M
    if sentinel.any():
        elev = np.where(sentinel, np.nan, elev)
        notes.append(f"{int(sentinel.sum())} cells below {MIN_PLAUSIBLE_M:.0f} m taken as undeclared nodata")
    valid = elev[np.isfinite(elev)]
    if valid.size == 0:
        raise InputError(f"DEM {label} has no valid elevation over the area (all nodata): pass tiles with data")
    if units in _FEET_UNITS:
        elev = elev * np.float32(_FOOT_M)
        valid = valid * np.float32(_FOOT_M)
        msg = f"DEM {label} declares heights in feet; converted to metres"
        warnings.warn(msg, DemWarning, stacklevel=3)
        notes.append(msg)
    top = float(valid.max())
    if top > MAX_PLAUSIBLE_M:
        raise InputError(f"DEM {label} has heights up to {top:,.0f}, above Everest (8,849 m): it is in feet or "
                         "corrupt; convert it to metres")
    if not np.any(valid):
        raise InputError(f"DEM {label} is all zeros over the area: it is empty or a placeholder; "
                         "pass a real DEM or leave out --dem")
    if dtype == "uint8":
        notes.append("stored as uint8: whole metres 0-255 with 0 as nodata, accepted")
        if top >= 255:
            warnings.warn(f"DEM {label} is uint8 and reaches 255: heights may be clipped", DemWarning, stacklevel=3)
    return elev, notes


def _fill(elev: np.ndarray) -> np.ndarray:
    """Fill NaN cells by inverse-distance interpolation from the nearest valid cells."""
    mask = np.isfinite(elev)
    filled = fillnodata(np.where(mask, elev, 0).astype("float32"), mask=mask.astype("uint8"),
                        max_search_distance=float(max(elev.shape)), smoothing_iterations=0)
    return filled
