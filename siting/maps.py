"""Folium maps of a plan: self-contained HTML that draws every layer with no network.

Folium loads Leaflet, jQuery, Bootstrap and icon fonts from public CDNs by default;
offline, and on networks where those CDNs are unreachable, such a page is blank. Here
every folium CDN link is dropped and Leaflet and Leaflet.markercluster are inlined from
the installed XStatic packages, together with ``siting/assets`` (layer drawing, legend
and summary panels, fullscreen and distance-measure controls). Only base-map tiles use
the network, and ``tiles="none"`` needs none at all.

Amap and Tencent tiles are drawn in GCJ-02, so when one is chosen every drawn geometry is shifted
to GCJ-02 (the legend says so); files written for GIS stay WGS-84.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, cast

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Figure

from siting.config import MapParams
from siting.errors import InputError
from siting.vocab import CHARGING_KINDS
from siting.io.export import geojson_dict, write_text
from siting.layers import map_coverage
from siting.map_html import GeoLayer, MapScript, RawHtml, assets_html, js, offline
from siting.map_style import (
    COVERAGE_COLOURS,
    COVERAGE_LABELS,
    DEMAND_COLOURS,
    DISTRICT_COLOURS,
    ENV_COLOURS,
    EXISTING_STYLE,
    EXTRA_LAYERS,
    GAP_STYLE,
    OSM_ATTRIBUTION,
    PROPOSED_STYLE,
    REASON_COLOURS,
    REASON_LABELS,
    SITE_FIELDS,
    STATE_LABELS,
    TileSource,
    class_labels,
    classify,
    tile_source,
)


def to_gcj02(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Shift every coordinate of a WGS-84 layer to GCJ-02 (for Amap/Tencent base maps)."""
    from siting.datums import wgs84_to_gcj02

    def shift(xy: np.ndarray) -> np.ndarray:
        lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    return gdf.set_geometry(shapely.transform(gdf.geometry.values, shift), crs="EPSG:4326")


def _metric(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        raise InputError("a map layer has no CRS: give every layer its CRS (the area's metric CRS or EPSG:4326)")
    return gdf.to_crs(gdf.estimate_utm_crs()) if gdf.crs.is_geographic else gdf


def _drawable(gdf: gpd.GeoDataFrame, params: MapParams, gcj02: bool) -> gpd.GeoDataFrame:
    """Simplified in metres, in WGS-84 (or GCJ-02 when the base map needs it), empties dropped."""
    gdf = _metric(gdf)
    gdf = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
    if params.simplify_m > 0:
        gdf = gdf.set_geometry(shapely.simplify(gdf.geometry.values, params.simplify_m, preserve_topology=True))
    gdf = gdf.to_crs("EPSG:4326")
    return to_gcj02(gdf) if gcj02 else gdf




def aggregate_demand(demand: gpd.GeoDataFrame, cell_m: float) -> gpd.GeoDataFrame:
    """Demand summed on squares of ``cell_m`` metres (metric CRS), so big areas stay small in HTML.

    Columns: ``demand`` (sum of ``weight``), ``population`` (residents), ``workers``,
    ``points``, ``covered_before``/``covered_after`` (share of demand covered) where known.
    """
    demand = _metric(demand)
    centre = demand.geometry.centroid
    ix = np.floor(centre.x.to_numpy() / cell_m).astype(np.int64)
    iy = np.floor(centre.y.to_numpy() / cell_m).astype(np.int64)
    weight = demand["weight"].to_numpy(float) if "weight" in demand else np.ones(len(demand))
    frame = pd.DataFrame({"ix": ix, "iy": iy, "demand": weight, "points": 1})
    for column, out in (("residents", "population"), ("workers", "workers")):
        if column in demand:
            frame[out] = demand[column].to_numpy(float)
    for state in ("covered_before", "covered_after"):
        if state in demand:
            frame[state] = weight * demand[state].to_numpy(bool)
    cells = frame.groupby(["ix", "iy"], sort=True).sum().reset_index()
    for state in ("covered_before", "covered_after"):
        if state in cells:
            cells[state] = cells[state] / cells["demand"].where(cells["demand"] > 0, np.inf)  # 0 where no demand
    x0, y0 = cells["ix"].to_numpy() * cell_m, cells["iy"].to_numpy() * cell_m
    boxes = shapely.box(x0, y0, x0 + cell_m, y0 + cell_m)
    return gpd.GeoDataFrame(cells.drop(columns=["ix", "iy"]), geometry=boxes, crs=demand.crs)


def _rounded(gdf: gpd.GeoDataFrame, columns: list[str]) -> gpd.GeoDataFrame:
    """Only ``columns`` (those present), floats rounded to 3 decimals, for small HTML."""
    keep = [c for c in columns if c in gdf.columns]
    out = gdf[keep + [gdf.geometry.name]].copy()
    for c in keep:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].round(3)
    return out


def _feature_collection(gdf: gpd.GeoDataFrame, columns: list[str], params: MapParams) -> dict:
    return geojson_dict(_rounded(gdf, columns), precision=params.precision)


def _legend_item(colour: str, label: str, dot: bool = False, outline: str | None = None) -> str:
    border = f"border-color:{outline};" if outline else ""
    return f'<div><i class="{"dot" if dot else ""}" style="background:{colour};{border}"></i>{html.escape(label)}</div>'


@dataclass
class _Builder:
    """Collects layers and legend entries for one map."""

    m: folium.Map
    params: MapParams
    gcj02: bool
    legend: list[str]
    bounds: list[np.ndarray]
    classes: list[str] = field(default_factory=list)  # headed choropleth legends, after the plain entries

    def add(self, gdf: gpd.GeoDataFrame, name: str, style: dict, columns: list[str], *, tooltip=(), popup=(),
            title: str | None = None, point: str = "circle", cluster: bool = False, show: bool = True) -> None:
        drawn = _drawable(gdf, self.params, self.gcj02)
        if drawn.empty:
            return
        self.bounds.append(np.asarray(drawn.total_bounds))
        data = _feature_collection(drawn, columns, self.params)
        GeoLayer(name, data, style, tooltip=tooltip, popup=popup, title=title, point=point, cluster=cluster,
                  show=show).add_to(self.m)


def _base_map(source: TileSource | None) -> folium.Map:
    m = folium.Map(location=(0.0, 0.0), zoom_start=2, tiles=None)
    m.options["maxZoom"] = source.max_zoom if source else 19  # markercluster needs it even without tiles
    if source is not None:
        folium.TileLayer(source.url, attr=source.attribution, name=source.label, subdomains=source.subdomains,
                         max_zoom=source.max_zoom, max_native_zoom=source.max_zoom).add_to(m)
        if source.labels_url:
            folium.TileLayer(source.labels_url, attr=source.attribution, name=f"{source.label} labels",
                             subdomains=source.subdomains, max_zoom=source.max_zoom, overlay=True).add_to(m)
    cast(Figure, m.get_root()).header.add_child(RawHtml(assets_html()), name="siting_assets")
    return m


def _finish(m: folium.Map, bounds: list[np.ndarray], legend: list[str], title: str, panel: str) -> folium.Map:
    """Page title, panels, controls, attribution and the layer control; fit the view to the drawn data."""
    cast(Figure, m.get_root()).title = html.escape(title)
    legend_html = '<div class="siting-legend"><h4>Legend</h4>' + "".join(legend) + "</div>"
    code = [f"map.attributionControl.addAttribution({js(OSM_ATTRIBUTION)});",
            "L.control.scale({imperial: false}).addTo(map);",
            "new siting.Fullscreen().addTo(map);",
            "map.sitingMeasure = new siting.Measure().addTo(map);",
            f"siting.panel('bottomright', {js(legend_html)}).addTo(map);",
            f"siting.panel('bottomleft', {js(panel)}).addTo(map);"]
    MapScript("\n".join(code)).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    if bounds:  # fitted before any layer is added, so clusters are built once at the final zoom
        b = np.vstack(bounds)
        box = [[float(b[:, 1].min()), float(b[:, 0].min())], [float(b[:, 3].max()), float(b[:, 2].max())]]
        fit = MapScript(f"map.fitBounds({js(box)}, {{animate: false}});")
        m.add_child(fit, name="siting_fit")
        m._children.move_to_end("siting_fit", last=False)  # branca renders children in insertion order
    return m


def _panel_html(title: str, rows: list[tuple[str, str]], details: Sequence[tuple[str, str]] = ()) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    extra = ""
    if details:
        items = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in details)
        extra = f'<details><summary>Parameters</summary><table class="siting-table">{items}</table></details>'
    return f'<h4>{html.escape(title)}</h4><table class="siting-table">{body}</table>{extra}'


def _flatten(d: dict, prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for k, v in sorted(d.items()):
        if isinstance(v, dict):
            out.extend(_flatten(v, f"{prefix}{k}."))
        else:
            out.append((f"{prefix}{k}", json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v))
    return out


def _pct(x) -> str:
    return f"{100 * float(x):.1f} %"


def headline(summary: dict) -> dict | None:
    """The plan's headline figure: ``summary["headline"]`` when the planner wrote one, else
    derived from older fields (sessions served for charging, busy-hour traffic served with
    capacity, demand covered otherwise). Keys: ``label``, ``value``, ``target``, ``measure``."""
    given = summary.get("headline")
    if isinstance(given, dict) and given.get("value") is not None:
        return given
    target = (summary.get("request") or {}).get("target")
    capacity = summary.get("capacity") or {}
    if "piles_total" in summary and "served_ratio" in summary:
        share = summary.get("sessions_served_ratio", summary["served_ratio"])
        return {"label": "Sessions the piles can serve", "value": share, "target": target,
                "measure": "charging sessions served"}
    if isinstance(capacity, dict) and "served_ratio" in capacity:
        return {"label": "Busy-hour traffic served", "value": capacity["served_ratio"], "target": target,
                "measure": "busy-hour traffic served"}
    if "coverage_ratio" in summary:
        return {"label": "Demand covered", "value": summary["coverage_ratio"], "target": target,
                "measure": "demand covered"}
    return None


def summary_rows(summary: dict, sites: gpd.GeoDataFrame | None) -> list[tuple[str, str]]:
    """The summary panel's rows: the headline figure and its target first, then piles, site
    counts, coverage before → after, the request, plan and date."""
    rows: list[tuple[str, str]] = []
    area = summary.get("area")
    if area:
        rows.append(("Area", str(area.get("name", "")) if isinstance(area, dict) else str(area)))
    if summary.get("kind"):
        rows.append(("Facility", str(summary["kind"])))
    head = headline(summary)
    if head is not None:
        rows.append((str(head.get("label") or "Headline"), _pct(head["value"])))
        if head.get("target") is not None:
            measure = str(head.get("measure") or "").replace("_", " ")
            target = _pct(head["target"]) if float(head["target"]) <= 1 else str(head["target"])
            rows.append(("Target", f"{target} of {measure}" if measure else target))
    charging = "piles_total" in summary
    if summary.get("piles_total"):
        rows.append(("Charging piles", f"{summary['piles_total']:,}"))
    if sites is not None and "status" in sites:
        rows.append(("Existing sites", str(int((sites["status"] == "existing").sum()))))
        rows.append(("Proposed sites", str(int((sites["status"] == "proposed").sum()))))
    if "coverage_ratio" in summary:
        before, after = _pct(summary.get("coverage_ratio_before", 0)), _pct(summary["coverage_ratio"])
        label = "Demand within a service area" if charging else "Demand covered"
        rows.append((f"{label}, before → after", f"{before} → {after}"))
    if summary.get("population_total"):
        covered, total = summary.get("population_covered", 0), summary["population_total"]
        rows.append(("Residents covered", f"{covered:,.0f} of {total:,.0f}"))
    request = summary.get("request") or {}
    for key, label in (("count", "Sites requested"), ("piles", "Piles requested")):
        if request.get(key) is not None:
            rows.append((label, str(request[key])))
    provenance = summary.get("provenance") or {}
    if provenance.get("plan_id"):
        rows.append(("Plan", str(provenance["plan_id"])))
    if "gaps" in summary:
        rows.append(("Coverage gaps", str(summary["gaps"])))
    if provenance.get("created"):
        rows.append(("Date", str(provenance["created"])))
    return rows


def plan_map(layers: dict[str, gpd.GeoDataFrame], summary: dict, tiles: str = "osm",
             params: MapParams | None = None,
             images: dict[str, tuple[np.ndarray, tuple]] | None = None) -> folium.Map:
    """One switchable-layer map of a plan (layers of :class:`~siting.result.PlanResult`, any CRS).

    Layers drawn: ``boundary``, ``demand`` (summed on squares), ``coverage`` (one layer
    per ``layer``/``state``), ``gaps``, ``capacity_gaps``, any other extra, and
    ``sites`` (existing as grey dots, proposed numbered by rank, clustered when many).
    ``images`` maps a layer name to ``(rgba, ((south, west), (north, east)))`` in WGS-84
    on a Web-Mercator grid, e.g. :func:`siting.terrain.hillshade`; they are embedded as PNG.
    """
    params = params or MapParams()
    source = tile_source(tiles, params)
    gcj02 = bool(source and source.gcj02)
    m = _base_map(source)
    b = _Builder(m, params, gcj02, [], [])
    layers = {k: v for k, v in layers.items() if v is not None and len(v)}

    if "boundary" in layers:
        b.add(layers["boundary"], "Boundary", {"color": "#333333", "weight": 2, "dashArray": "6 4", "fill": False,
                                               "className": "siting-boundary"}, ["name"])
        b.legend.append(_legend_item("transparent", "Area boundary", outline="#333333"))
    if "demand" in layers:
        cells = aggregate_demand(layers["demand"], params.demand_cell_m)
        colours, classes = classify(cells["demand"].to_numpy(), DEMAND_COLOURS)
        cells["_color"] = colours
        fields = [("demand", "Demand"), ("population", "Residents"), ("workers", "Workers"),
                  ("covered_before", "Share covered before"), ("covered_after", "Share covered after")]
        b.add(cells, f"Demand ({params.demand_cell_m:g} m squares)",
              {"stroke": False, "fillOpacity": 0.6, "className": "siting-demand"},
              [f for f, _ in fields] + ["_color"], tooltip=fields, show=False)
        unit = "charging sessions a day" if summary.get("kind") in CHARGING_KINDS else "people-equivalents"
        b.classes.append(f"<div><b>Demand</b> ({unit} per {params.demand_cell_m:g} m square)</div>")
        b.classes += [_legend_item(c.colour, t) for c, t in zip(classes, class_labels(classes))]
    if "coverage" in layers:
        cov = map_coverage(_metric(layers["coverage"]), params.simplify_m)
        keys = cov[["layer", "state"]].drop_duplicates()
        order = sorted(keys.itertuples(index=False), key=lambda k: (list(COVERAGE_COLOURS).index(k.layer)
                                                                   if k.layer in COVERAGE_COLOURS else 9, k.layer,
                                                                   k.state != "before"))
        for layer, state in order:
            colour = COVERAGE_COLOURS.get(layer, ("#7570b3", "#7570b3"))[state == "after"]
            label = f"{COVERAGE_LABELS.get(layer, layer)} {STATE_LABELS.get(state, state)}"
            part = cov[(cov["layer"] == layer) & (cov["state"] == state)]
            style = {"color": colour, "weight": 1.5 if state == "after" else 1, "fillColor": colour,
                     "fillOpacity": 0.2, "dashArray": "4 3" if layer == "indoor" else None,
                     "className": f"siting-coverage siting-{layer}-{state}"}
            b.add(part, label, style, ["layer", "state", "population", "demand", "area_km2"],
                  tooltip=[("population", "Residents covered"), ("demand", "Demand covered"),
                           ("area_km2", "Area (km²)")],
                  show=(state == "after" and layer in ("outdoor", "service_area")))
            b.legend.append(_legend_item(colour, label))
    if "gaps" in layers:
        b.add(layers["gaps"], "Coverage gaps", GAP_STYLE, ["gap_id", "population", "workers", "demand", "area_km2"],
              tooltip=[("gap_id", "Gap"), ("population", "Residents uncovered"), ("workers", "Workers"),
                       ("demand", "Demand uncovered"), ("area_km2", "Area (km²)")])
        b.legend.append(_legend_item(GAP_STYLE["fillColor"], "Coverage gap (tooltip: residents)"))
    for name, (rgba, box) in sorted((images or {}).items()):
        _add_image(b, name, rgba, box)
    known = {"boundary", "demand", "coverage", "gaps", "sites"}
    for name in sorted(set(layers) - known):
        _add_extra(b, name, layers[name])
    if "sites" in layers:
        _add_sites(b, layers["sites"])
    if gcj02:
        b.legend.append('<div class="note">Drawn in GCJ-02 to match the base map; exported files are WGS-84.</div>')
    title = f"siting plan: {summary.get('kind', '')}".rstrip(": ")
    provenance = summary.get("provenance") or {}
    panel = _panel_html(title, summary_rows(summary, layers.get("sites")),
                        _flatten(provenance.get("parameters") or {}))
    area = summary.get("area")
    area_name = area.get("name") if isinstance(area, dict) else area
    return _finish(m, b.bounds, b.legend + b.classes, f"{title} — {area_name}" if area_name else title, panel)


def _add_image(b: _Builder, name: str, rgba: np.ndarray, box: tuple) -> None:
    """An RGBA image overlay (hillshade...) embedded as a PNG data URI; shifted with the data for GCJ-02."""
    (south, west), (north, east) = box
    if b.gcj02:  # the GCJ-02 offset varies by metres across a district: shift by its value at the centre
        from siting.datums import wgs84_to_gcj02

        lon, lat = wgs84_to_gcj02((west + east) / 2, (south + north) / 2)
        dlon, dlat = float(lon) - (west + east) / 2, float(lat) - (south + north) / 2
        south, north, west, east = south + dlat, north + dlat, west + dlon, east + dlon
    folium.raster_layers.ImageOverlay(np.asarray(rgba), bounds=[[south, west], [north, east]],
                                      name=name.replace("_", " ").capitalize(), mercator_project=False,
                                      overlay=True, show=False).add_to(b.m)
    b.bounds.append(np.array([west, south, east, north]))


def _add_extra(b: _Builder, name: str, gdf: gpd.GeoDataFrame) -> None:
    """An extra layer (``capacity_gaps``, ``suitability``, terrain...): coloured by its score if it has one."""
    if name == "environment":
        _add_environment(b, gdf)
        return
    columns = [c for c in gdf.columns if c != gdf.geometry.name][:8]
    label = name.replace("_", " ").capitalize()
    style: dict[str, Any] = {"color": "#c51b7d", "weight": 1, "fillColor": "#de77ae", "fillOpacity": 0.4, "radius": 4,
             "className": f"siting-extra siting-{name}"}
    style, legend, show = EXTRA_LAYERS.get(name, (style, label, name == "capacity_gaps"))
    numeric = [c for c in ("score", "suitability", "value") if c in gdf and pd.api.types.is_numeric_dtype(gdf[c])]
    score = numeric[0] if numeric else None
    if score:
        gdf = gdf.assign(_color=classify(gdf[score].to_numpy(), DEMAND_COLOURS)[0])
        style = {**style, "stroke": False, "fillOpacity": 0.5}
    points = bool(gdf.geom_type.isin(["Point", "MultiPoint"]).all())
    b.add(gdf, label, style, columns + (["_color"] if score else []),
          tooltip=[(c, c.replace("_", " ")) for c in columns], show=show,
          cluster=points and len(gdf) > b.params.cluster_above)
    b.legend.append(_legend_item(style["color"] if name in EXTRA_LAYERS else style["fillColor"], legend,
                                 dot=points))


def _add_environment(b: _Builder, cells: gpd.GeoDataFrame) -> None:
    """Demand cells' environment class (and where it came from), dissolved per class; off at first."""
    keys = [c for c in ("env_class", "env_source") if c in cells]
    if "env_class" not in keys:
        return
    shapes = _metric(cells)[keys + [cells.geometry.name]]
    shapes = shapes.assign(**{k: shapes[k].astype(str) for k in keys}).dissolve(by=keys, sort=True).reset_index()
    shapes["_color"] = shapes["env_class"].map(ENV_COLOURS).fillna("#bdbdbd")
    b.add(shapes, "Environment class", {"stroke": False, "fillOpacity": 0.45, "className": "siting-environment"},
          keys + ["_color"], tooltip=[("env_class", "Environment"), ("env_source", "Classified from")], show=False)
    b.classes.append("<div><b>Environment class</b></div>")
    present = set(shapes["env_class"])
    b.classes += [_legend_item(c, k.replace("_", " ")) for k, c in ENV_COLOURS.items() if k in present]


def _phase_text(value) -> str:
    """A phase as written in the plan: ``2020``, not ``2020.0`` (GeoJSON reads whole numbers as floats)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _add_sites(b: _Builder, sites: gpd.GeoDataFrame, numbered: bool = True, cluster: bool | None = None) -> None:
    """Existing sites as grey dots; proposed sites numbered by rank (or dots when ``numbered`` is
    false), coloured by ``reason`` where known, one layer per ``phase`` where known."""
    status = sites["status"] if "status" in sites else pd.Series("proposed", index=sites.index)
    columns = ["site_id"] + [f for f, _ in SITE_FIELDS]
    existing, proposed = sites[status == "existing"], sites[status != "existing"]

    def clustered(layer: gpd.GeoDataFrame) -> bool:
        return cluster if cluster is not None else len(layer) > b.params.cluster_above

    if len(existing):
        b.add(existing, "Existing sites", EXISTING_STYLE, columns, tooltip=[("site_id", "Existing site")],
              popup=SITE_FIELDS, title="site_id", cluster=clustered(existing))
        b.legend.append(_legend_item(EXISTING_STYLE["fillColor"], "Existing site", dot=True))
    if not len(proposed):
        return
    if "rank" not in proposed:
        proposed = proposed.assign(rank=np.arange(1, len(proposed) + 1))
    proposed = proposed.sort_values("rank", kind="mergesort")
    reasons = proposed["reason"].astype(str) if "reason" in proposed else None
    if reasons is not None:
        proposed = proposed.assign(_color=reasons.map(REASON_COLOURS).fillna(REASON_COLOURS["coverage"]))
    groups = [("Proposed sites", proposed)]
    if "phase" in proposed and proposed["phase"].notna().any():
        phase = proposed["phase"].map(lambda v: "unphased" if pd.isna(v) else _phase_text(v))
        groups = [(f"Proposed sites, phase {p}", proposed[phase == p]) for p in sorted(set(phase))]
    style = {} if numbered else PROPOSED_STYLE
    for name, part in groups:
        b.add(part, name, style, columns + ["_color"], tooltip=[("rank", "Proposed site, rank"), ("site_id", "Id")],
              popup=SITE_FIELDS, title="site_id", point="rank" if numbered else "circle", cluster=clustered(part))
    what = "Proposed site, numbered by rank" if numbered else "Proposed site"
    if reasons is None:
        b.legend.append(_legend_item(REASON_COLOURS["coverage"], what, dot=True))
    else:
        b.legend += [_legend_item(REASON_COLOURS[r], f"{what}, {REASON_LABELS[r]}", dot=True)
                     for r in REASON_COLOURS if r in set(reasons)]
    if len(groups) > 1:
        b.legend.append(f"<div>One layer per phase ({html.escape(', '.join(n.rsplit(' ', 1)[1] for n, _ in groups))})"
                        "</div>")


def city_map(districts: gpd.GeoDataFrame, rows: pd.DataFrame, links: dict[str, str], tiles: str = "osm",
             params: MapParams | None = None, sites: gpd.GeoDataFrame | None = None) -> folium.Map:
    """Overview of a batch run: districts coloured by quota and by coverage, the city's sites
    clustered; a click on a district opens the district's map.

    ``districts`` and ``rows`` share a ``district`` column (or ``name``); ``rows`` holds the
    batch figures (``quota``, a ``coverage...`` column, counts); ``links`` maps a district
    to its map (a path relative to the overview HTML); ``sites`` are the merged sites of
    all districts (the batch's ``sites.geojson``).
    """
    params = params or MapParams()
    source = tile_source(tiles, params)
    key = next((k for k in ("district", "name") if k in districts and k in rows), None)
    if key is None:
        raise InputError("districts and batch rows need a common 'district' (or 'name') column")
    merged = districts[[key, districts.geometry.name]].merge(rows, on=key, how="left")
    merged["_link"] = merged[key].map(links)
    fields = [key] + [c for c in rows.columns if c != key][:10]
    m = _base_map(source)
    b = _Builder(m, params, bool(source and source.gcj02), [], [])
    numeric = [c for c in rows.columns if pd.api.types.is_numeric_dtype(rows[c])]
    coverage = next((c for c in ("coverage_after", "coverage_ratio") if c in numeric),
                    next((c for c in numeric if "coverage" in c), None))
    shown = True
    for column, label in (("quota", "Quota (sites)"), (coverage, f"Coverage ({coverage})")):
        if column is None or column not in merged:
            continue
        values = merged[column].to_numpy(float)
        colours, classes = classify(values, DISTRICT_COLOURS)
        layer = merged.assign(_color=colours)
        b.add(layer, f"Districts by {label.split(' (')[0].lower()}",
              {"color": "#08306b", "weight": 1.5, "fillColor": "#bdbdbd", "fillOpacity": 0.6,
               "className": f"siting-district siting-by-{column}"},
              fields + ["_color", "_link"], tooltip=[(f, f.replace("_", " ")) for f in fields], show=shown)
        shown = False
        b.classes.append(f"<div><b>{html.escape(label)}</b></div>")
        labels = class_labels(classes, percent=column != "quota")
        b.classes += [_legend_item(c.colour, t) for c, t in zip(classes, labels)]
        if (colours == None).any():  # noqa: E711 (element-wise)
            b.classes.append(_legend_item("#bdbdbd", "no result (district failed or not run)"))
    if sites is not None and len(sites):
        _add_sites(b, sites, numbered=False, cluster=True)
    b.legend.append("<div>Click a district to open its map.</div>")
    rows_panel = [("Districts", str(len(merged))), ("Maps linked", str(int(merged["_link"].notna().sum())))]
    if "quota" in merged:
        rows_panel.append(("Total quota", f"{merged['quota'].sum():,.0f}"))
    if sites is not None and "status" in sites:
        rows_panel.append(("Existing sites", f"{int((sites['status'] == 'existing').sum()):,}"))
        rows_panel.append(("Proposed sites", f"{int((sites['status'] != 'existing').sum()):,}"))
    panel = _panel_html("siting: city overview", rows_panel)
    return _finish(m, b.bounds, b.legend + b.classes, "siting: city overview", panel)


def render_html(m: folium.Map) -> str:
    """The map as one self-contained HTML page (no CDN links; same inputs give the same bytes)."""
    figure = m.get_root()
    offline(figure)
    return figure.render()


def write_map(m: folium.Map, path: str | Path) -> Path:
    """Write the map's HTML atomically; return the path."""
    write_text(path, render_html(m))
    return Path(path)
