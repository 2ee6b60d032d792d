"""The result of planning one area: layers and a summary, ready to export or map."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import geopandas as gpd

from siting.layers import map_coverage

#: columns every ``sites`` layer has (charging adds ``piles_fast``, ``piles_slow``, ``sessions``)
SITE_COLUMNS = ("site_id", "user_id", "status", "rank", "source", "height_m", "served_demand", "marginal_gain")
#: prefix of the candidate ids of the user's existing sites (``siting.candidates``)
USER_PREFIX = "existing/"


@dataclass(frozen=True)
class PlanResult:
    """What a planner produced for one area and facility kind.

    ``layers`` maps a layer name to a GeoDataFrame in the area's metric CRS:

    - ``sites``: points; :data:`SITE_COLUMNS`; ``status`` is ``"existing"`` or
      ``"proposed"``; ``rank`` is the order of choice (1 = first proposed, 0 = existing);
      ``user_id`` is the id in the user's existing-sites file (None for other sites),
      to join back to the operator's table.
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

    @cached_property
    def coverage_dissolved(self) -> gpd.GeoDataFrame:
        """``coverage`` dissolved into one polygon per layer and state, at full resolution
        (:func:`siting.layers.map_coverage` with no simplification): what ``coverage.geojson``
        and the map draw, simplified. Built on first use and kept, since dissolving a district's
        service areas takes seconds and both need it (issue 16)."""
        return map_coverage(self.layers["coverage"], 0.0)


def sites_layer(chosen: gpd.GeoDataFrame, is_fixed, served, gains, **extra) -> gpd.GeoDataFrame:
    """The ``sites`` layer from the chosen candidate rows, in order of choice.

    ``is_fixed`` marks existing sites (``rank`` 0); proposed sites are ranked 1, 2, ...
    in the order given. ``extra`` columns (piles, sessions, ...) come before ``name``.
    """
    import numpy as np

    is_fixed = np.asarray(is_fixed, dtype=bool)
    ids = chosen["candidate_id"].astype(str)
    user = (chosen["source"].to_numpy() == "existing") & ids.str.startswith(USER_PREFIX).to_numpy()
    columns = {
        "site_id": chosen["candidate_id"].to_numpy(),
        "user_id": np.where(user, ids.str.removeprefix(USER_PREFIX).to_numpy(dtype=object), None),
        "status": np.where(is_fixed, "existing", "proposed"),
        "rank": np.where(is_fixed, 0, np.cumsum(~is_fixed)),
        "source": chosen["source"].to_numpy(),
        "height_m": chosen["height_m"].to_numpy(dtype=float),
        "served_demand": np.round(np.asarray(served, dtype=float), 3),
        "marginal_gain": np.round(np.asarray(gains, dtype=float), 3),
        **extra,
        "name": chosen["name"].to_numpy(),
    }
    return gpd.GeoDataFrame(columns, geometry=chosen.geometry.to_numpy(), crs=chosen.crs)
