"""Floors and heights of OSM buildings, from their tags: the one rule every stage uses.

A building's ``levels`` (``building:levels``) and ``height_m`` (``height``) are both
optional in OSM (Area contract, :mod:`siting.area`). Floors come from the levels, else
from the height at ``storey_height_m`` a floor; heights from the height tag, else from
the levels at the same storey height (DOMAIN §4.1/§5: 3 m a floor). Where neither tag
is given, callers choose the fallback: floors by building type
(:func:`type_floors`), a default height, or a neighbourhood estimate (the demand stage).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd


def _tag(buildings: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(buildings[column], errors="coerce").to_numpy(dtype=float)


def tagged_floors(buildings: pd.DataFrame, storey_height_m: float) -> np.ndarray:
    """Floors per building from its tags: ``levels`` (at least 1), else ``height_m`` /
    ``storey_height_m`` rounded (at least 1); NaN when neither is tagged."""
    levels, height = _tag(buildings, "levels"), _tag(buildings, "height_m")
    by_height = np.maximum(1.0, np.round(height / storey_height_m))
    return np.where(levels >= 1, levels, np.where(height > 0, by_height, np.nan))


def type_floors(building_type: pd.Series | np.ndarray, default_floors: Mapping[str, float]) -> np.ndarray:
    """Floors by building type (``DemandParams.default_floors``); types not listed use 'yes'."""
    other = default_floors.get("yes", 1.0)
    return pd.Series(np.asarray(building_type, dtype=object)).map(default_floors).fillna(other).to_numpy(dtype=float)


def heights_m(buildings: pd.DataFrame, storey_height_m: float, default_m: float = np.nan) -> np.ndarray:
    """Height per building [m]: ``height_m``, else ``levels`` (at least 1) × storey height,
    else ``default_m``."""
    levels, height = _tag(buildings, "levels"), _tag(buildings, "height_m")
    return np.where(height > 0, height, np.where(levels >= 1, levels * storey_height_m, default_m))
