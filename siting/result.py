"""The result of planning one area: layers and a summary, ready to export or map."""
from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd

#: columns every ``sites`` layer has (charging adds ``piles_fast``, ``piles_slow``, ``sessions``)
SITE_COLUMNS = ("site_id", "status", "rank", "source", "height_m", "served_demand", "marginal_gain")


@dataclass(frozen=True)
class PlanResult:
    """What a planner produced for one area and facility kind.

    ``layers`` maps a layer name to a GeoDataFrame in the area's metric CRS:

    - ``sites``: points; :data:`SITE_COLUMNS`; ``status`` is ``"existing"`` or
      ``"proposed"``; ``rank`` is the order of choice (1 = first proposed, 0 = existing).
    - ``coverage``: polygons with ``layer`` (``"outdoor"``, ``"indoor"`` or
      ``"service_area"``) and ``state`` (``"before"`` = existing sites only,
      ``"after"`` = with proposed sites).
    - ``gaps``: polygons of demand left uncovered, with ``population`` and ``demand``.
    - ``demand``: the demand points with ``covered_before`` and ``covered_after``.
    - optional extras (``capacity_gaps``, ``suitability``, ``terrain_shadow``...).

    ``summary`` is the JSON-ready dict written to ``summary.json``.
    """

    kind: str
    area_slug: str
    crs: str
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
