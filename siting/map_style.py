"""How siting's maps look: base-map tile sources, colours and styles of each layer, classes and labels."""
from __future__ import annotations

import os
from dataclasses import dataclass

from typing import Any

import numpy as np

from siting.config import MapParams
from siting.errors import ConfigError

#: data attribution shown on every map, tiles or not
OSM_ATTRIBUTION = ('Data &copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> '
                   'contributors, ODbL')


@dataclass(frozen=True)
class TileSource:
    """A base map: URL template, attribution, and whether it is drawn in GCJ-02."""

    label: str
    url: str
    attribution: str
    subdomains: str = "abc"
    max_zoom: int = 19
    gcj02: bool = False
    labels_url: str | None = None  # a second, transparent layer of place names


TILES: dict[str, TileSource | None] = {
    "osm": TileSource("OpenStreetMap", "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                      "Tiles &copy; OpenStreetMap contributors", subdomains="abc"),
    "tianditu": TileSource("Tianditu 天地图",
                           "https://t{s}.tianditu.gov.cn/DataServer?T=vec_w&x={x}&y={y}&l={z}&tk={key}",
                           "Tiles &copy; 天地图 Tianditu (CGCS2000, WGS-84 within 1 m)", subdomains="01234567",
                           max_zoom=18,
                           labels_url="https://t{s}.tianditu.gov.cn/DataServer?T=cva_w&x={x}&y={y}&l={z}&tk={key}"),
    "amap": TileSource("Amap 高德", "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
                       "&x={x}&y={y}&z={z}", "Tiles &copy; 高德地图 AutoNavi (GCJ-02)", subdomains="1234",
                       max_zoom=18, gcj02=True),
    # Leaflet.ChineseTmsProviders' template; {-y}: Tencent counts tile rows from the south
    "tencent": TileSource("Tencent 腾讯", "https://rt{s}.map.gtimg.com/tile?z={z}&x={x}&y={-y}&type=vector&styleid=3",
                          "Tiles &copy; 腾讯地图 Tencent (GCJ-02)", subdomains="0123", max_zoom=18, gcj02=True),
    "none": None,
}

#: demand choropleth classes, light to dark (ColorBrewer YlOrBr-5)
DEMAND_COLOURS = ("#ffffd4", "#fed98e", "#fe9929", "#d95f0e", "#993404")
#: district choropleth classes (ColorBrewer Blues-5)
DISTRICT_COLOURS = ("#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c")
#: coverage colour per coverage ``layer``: (before, after)
COVERAGE_COLOURS = {"outdoor": ("#2c7bb6", "#1a9641"), "indoor": ("#74add1", "#66bd63"),
                    "service_area": ("#8073ac", "#542788")}
COVERAGE_LABELS = {"outdoor": "Outdoor coverage", "indoor": "Indoor coverage", "service_area": "Charging service area"}
STATE_LABELS = {"before": "before (existing sites)", "after": "after (with proposed sites)"}
GAP_STYLE: dict[str, Any] = {"color": "#99000d", "weight": 1.5, "fillColor": "#e31a1c", "fillOpacity": 0.55, "className": "siting-gap"}
EXISTING_STYLE: dict[str, Any] = {"radius": 6, "color": "#ffffff", "weight": 1.5, "fillColor": "#404040", "fillOpacity": 1.0,
                  "className": "siting-existing"}
#: colour of a proposed site by why it was placed (``reason``)
REASON_COLOURS = {"coverage": "#f46d43", "capacity": "#7b3294", "redundancy": "#1b7837"}
REASON_LABELS = {"coverage": "for coverage", "capacity": "for capacity (busy-hour load)",
                 "redundancy": "for redundancy (a second server)"}
#: proposed sites drawn as dots (city overview), coloured by reason where known
PROPOSED_STYLE: dict[str, Any] = {"radius": 5, "color": "#ffffff", "weight": 1, "fillColor": REASON_COLOURS["coverage"],
                  "fillOpacity": 1.0, "className": "siting-proposed"}
#: environment classes, sparsest first (``siting.vocab.ENV_CLASSES_SPARSEST_FIRST``; ColorBrewer YlGn/Oranges)
ENV_COLOURS = {"rural": "#d9f0a3", "suburban": "#78c679", "urban": "#fd8d3c", "dense_urban": "#d94801"}
#: layers of other stages with a style of their own: (style, legend label, shown at first)
EXTRA_LAYERS: dict[str, tuple[dict[str, Any], str, bool]] = {
    "reserve_sites": ({"radius": 4, "color": "#d73027", "weight": 2, "fillColor": "#ffffff", "fillOpacity": 1.0,
                       "className": "siting-extra siting-reserve_sites"}, "Reserve site (alternate location)", True),
    "search_rings": ({"color": "#d73027", "weight": 1.5, "dashArray": "5 4", "fillColor": "#d73027",
                      "fillOpacity": 0.05, "className": "siting-extra siting-search_rings"},
                     "Search ring (where a site's alternates stand)", True),
}
SITE_FIELDS = [("status", "Status"), ("rank", "Rank"), ("reason", "Placed for"), ("phase", "Phase"),
               ("source", "Source"), ("height_m", "Mounting height (m)"),
               ("served_demand", "Served demand"), ("sessions", "Sessions / day"), ("marginal_gain", "Marginal gain"),
               ("piles_fast", "Fast piles"), ("piles_slow", "Slow piles"), ("capacity", "Capacity"), ("name", "Name")]


def tile_source(tiles: str, params: MapParams) -> TileSource | None:
    """The base map named ``tiles`` (``osm``, ``none``, ``tianditu``, ``amap``, ``tencent``), key filled in."""
    if tiles not in TILES:
        raise ConfigError(f"unknown tiles '{tiles}': use one of {', '.join(TILES)}")
    source = TILES[tiles]
    if source is None or "{key}" not in source.url:
        return source
    key = params.tianditu_key or os.environ.get("SITING_TIANDITU_KEY")
    if not key:
        raise ConfigError("Tianditu tiles need a key: set SITING_TIANDITU_KEY or map.tianditu_key "
                          "(free at console.tianditu.gov.cn), or use --tiles osm|amap|none")
    return TileSource(**{**source.__dict__, "url": source.url.replace("{key}", key),
                         "labels_url": source.labels_url.replace("{key}", key) if source.labels_url else None})


@dataclass(frozen=True)
class Class:
    """One class of a choropleth: its colour and the smallest and largest value drawn in it."""

    colour: str
    low: float
    high: float


def classify(values: np.ndarray, colours: tuple[str, ...]) -> tuple[np.ndarray, list[Class]]:
    """Quantile classes: a colour per value (None where missing) and the classes drawn, lightest first.

    Class breaks are observed values (the inverted-CDF quantiles), so integer data gets
    integer breaks and no class is empty; each :class:`Class` holds the range of the
    values it colours, so a legend built from it always matches the map.
    """
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    if not finite.any():
        return np.full(values.shape, None, dtype=object), []
    ordered, k = np.sort(values[finite]), len(colours)
    bounds = np.unique(ordered[(len(ordered) * np.arange(1, k + 1) + k - 1) // k - 1])  # exact integer ranks
    index = np.clip(np.searchsorted(bounds, values, side="left"), 0, len(bounds) - 1)
    palette = np.array(colours, dtype=object)[np.linspace(0, len(colours) - 1, len(bounds)).round().astype(int)]
    classes = [Class(str(palette[k]), float(values[finite & (index == k)].min()),
                     float(values[finite & (index == k)].max())) for k in np.unique(index[finite])]
    return np.where(finite, palette[index], np.array(None, dtype=object)), classes


def class_labels(classes: list[Class], percent: bool = False) -> list[str]:
    """Legend labels ``"low–high"`` (one value where they are equal): whole numbers when every
    class ends on one, else with just enough digits that neighbouring classes read apart."""
    whole = not percent and all(float(c.low).is_integer() and float(c.high).is_integer() for c in classes)

    def fmt(v: float, digits: int) -> str:
        if percent:
            return f"{100 * v:.{digits - 2}f} %"
        return f"{v:,.0f}" if whole or abs(v) >= 10 ** digits else f"{v:.{digits}g}"

    for digits in range(3, 10):
        ends = [(fmt(c.low, digits), fmt(c.high, digits)) for c in classes]
        if all(a[1] != b[0] for a, b in zip(ends, ends[1:])):
            break
    return [lo if lo == hi else f"{lo}–{hi}" for lo, hi in ends]
