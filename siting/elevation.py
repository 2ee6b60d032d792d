"""The elevation grid that terrain profiles are sampled from (read by :func:`siting.io.dem.read_dem`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from affine import Affine


@dataclass(frozen=True, eq=False)
class Dem:
    """Elevation on a north-up metric grid: ``elevation[row, col]`` at cell centres."""

    elevation: np.ndarray        # float32 metres above sea level, no NaN
    transform: Affine            # cell (col, row) -> (x, y) of the cell's corner, in ``crs``
    crs: str                     # the area's metric CRS
    resolution_m: float          # cell size (square cells)
    voids_filled: int            # source cells that were nodata and were interpolated
    source: str                  # one-line description: files, format, native and target grid
    files: tuple[str, ...] = ()  # file names (no directories) for summary.json
    notes: tuple[str, ...] = ()  # what was accepted with a remark (uint8 metres, feet converted, ...)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) of the grid in ``crs``."""
        rows, cols = self.elevation.shape
        minx, maxy = self.transform.c, self.transform.f
        return (minx, maxy - rows * self.resolution_m, minx + cols * self.resolution_m, maxy)
