"""Maps: offline-safe HTML, every layer drawn, GCJ-02 shift, sizes, `siting map`."""
from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pytest
import shapely

from siting.config import MapParams
from siting.errors import ConfigError, InputError

CRS = "EPSG:32650"  # UTM 50N: Nanjing
X0, Y0 = 668_000.0, 3_547_000.0  # about 118.78 E, 32.04 N


def synthetic_layers(n_proposed: int = 12, n_existing: int = 3, seed: int = 0,
                     extent_m: float = 3000.0) -> dict[str, gpd.GeoDataFrame]:
    """A plan on an ``extent_m`` square in the area's metric CRS, shaped like PlanResult.layers."""
    rng = np.random.default_rng(seed)
    n = n_existing + n_proposed
    xy = np.column_stack([X0 + rng.uniform(0, extent_m, n), Y0 + rng.uniform(0, extent_m, n)])
    status = np.array(["existing"] * n_existing + ["proposed"] * n_proposed)
    sites = gpd.GeoDataFrame({
        "site_id": [f"s{i}" for i in range(n)], "status": status,
        "rank": np.r_[np.zeros(n_existing, int), np.arange(1, n_proposed + 1)],
        "source": np.where(status == "existing", "existing", "building"),
        "height_m": rng.uniform(15, 40, n).round(1), "served_demand": rng.uniform(100, 900, n).round(3),
        "marginal_gain": rng.uniform(10, 400, n).round(3), "name": ["<b>Tower</b> & co"] + [""] * (n - 1),
    }, geometry=shapely.points(xy), crs=CRS)
    gx, gy = np.meshgrid(np.arange(X0, X0 + extent_m, 100) + 50, np.arange(Y0, Y0 + extent_m, 100) + 50)
    pts = shapely.points(gx.ravel(), gy.ravel())
    dist = np.min(np.hypot(gx.ravel()[:, None] - xy[None, :, 0], gy.ravel()[:, None] - xy[None, :, 1]), axis=1)
    before = np.min(np.hypot(gx.ravel()[:, None] - xy[None, :n_existing, 0],
                             gy.ravel()[:, None] - xy[None, :n_existing, 1]), axis=1) < 400
    demand = gpd.GeoDataFrame({
        "demand_id": np.arange(len(pts)), "kind": "cell", "residents": rng.uniform(0, 300, len(pts)),
        "workers": rng.uniform(0, 50, len(pts)), "weight": rng.uniform(0, 350, len(pts)),
        "covered_before": before, "covered_after": dist < 400}, geometry=pts, crs=CRS)
    discs = {"before": shapely.union_all(shapely.buffer(sites.geometry.values[:n_existing], 400)),
             "after": shapely.union_all(shapely.buffer(sites.geometry.values, 400))}
    coverage = gpd.GeoDataFrame({
        "layer": ["outdoor", "outdoor", "indoor", "indoor"], "state": ["before", "after"] * 2,
        "population": [1000.0, 5000.0, 400.0, 2000.0], "demand": [1.0, 2.0, 3.0, 4.0], "area_km2": [1.0, 2.0, 0.5, 1.0]},
        geometry=[discs["before"], discs["after"], discs["before"].buffer(-250), discs["after"].buffer(-250)], crs=CRS)
    gaps = gpd.GeoDataFrame({"gap_id": [1, 2], "population": [812.4, 95.0], "workers": [10.0, 1.0],
                             "demand": [900.0, 100.0], "area_km2": [0.09, 0.01]},
                            geometry=[shapely.box(X0 + extent_m + 100, Y0, X0 + extent_m + 400, Y0 + 300),
                                      shapely.box(X0 - 200, Y0 + extent_m + 100, X0 - 100, Y0 + extent_m + 200)],
                            crs=CRS)
    boundary = gpd.GeoDataFrame({"name": ["Test district"]},
                                geometry=[shapely.box(X0 - 300, Y0 - 300, X0 + extent_m + 500, Y0 + extent_m + 500)], crs=CRS)
    return {"sites": sites, "demand": demand, "coverage": coverage, "gaps": gaps, "boundary": boundary}


SUMMARY = {"kind": "5g", "area": {"name": "Test district"}, "coverage_ratio_before": 0.2, "coverage_ratio": 0.9,
           "population_total": 1000.0, "population_covered": 900.0, "gaps": 2,
           "request": {"count": 12, "target": None},
           "provenance": {"created": "2026-01-01T00:00:00+00:00", "plan_id": "fuzhou-2022",
                          "parameters": {"demand": {"cell_size_m": 100.0}}}}


class _Refs(__import__("html.parser").parser.HTMLParser):
    """Every URL a page would fetch by itself: script src, link href, img src, CSS url()/@import."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe") and a.get("src"):
            self.urls.append(a["src"])
        if tag == "link" and a.get("href"):
            self.urls.append(a["href"])
        self._in_style = tag == "style"

    def handle_data(self, data):
        if self._in_style:
            self.urls += re.findall(r"url\(\s*['\"]?([^'\")]+)", data) + re.findall(r"@import\s+['\"]?([^'\";]+)", data)

    def handle_endtag(self, tag):
        self._in_style = False


def fetched_urls(text: str) -> list[str]:
    parser = _Refs()
    parser.feed(text)
    return [u for u in parser.urls if not u.startswith(("data:", "#"))]


def render(layers=None, tiles="none", **kw) -> str:
    from siting.maps import plan_map, render_html

    return render_html(plan_map(layers or synthetic_layers(), SUMMARY, tiles=tiles, **kw))


@pytest.mark.parametrize("tiles", ["none", "osm", "amap", "tencent", "tianditu"])
def test_page_fetches_nothing_from_the_network(monkeypatch, tiles):
    monkeypatch.setenv("SITING_TIANDITU_KEY", "k123")
    text = render(tiles=tiles)
    assert fetched_urls(text) == []  # no CDN script/stylesheet: Leaflet and markercluster are inline
    assert "jsdelivr" not in text and "code.jquery.com" not in text and "bootstrapcdn" not in text
    tile_templates = re.findall(r'L\.tileLayer\(\s*"([^"]+)"', text)
    assert (tile_templates == []) == (tiles == "none")
    assert "L.map(" in text and "L.markerClusterGroup" in text  # the libraries themselves are in the page
    assert "OpenStreetMap" in text and "ODbL" in text


def test_tianditu_needs_a_key(monkeypatch):
    monkeypatch.delenv("SITING_TIANDITU_KEY", raising=False)
    with pytest.raises(ConfigError, match="SITING_TIANDITU_KEY"):
        render(tiles="tianditu")
    text = render(tiles="tianditu", params=MapParams(tianditu_key="abc"))
    assert "tk=abc" in text and "cva_w" in text  # base map and its place-name layer
    with pytest.raises(ConfigError, match="unknown tiles 'google'"):
        render(tiles="google")


def test_same_inputs_give_the_same_bytes():
    assert render() == render()


def test_every_layer_is_named_and_embedded():
    text = render(synthetic_layers(5))
    for name in ("Boundary", "Demand (250 m squares)", "Outdoor coverage before (existing sites)",
                 "Outdoor coverage after (with proposed sites)", "Indoor coverage after (with proposed sites)",
                 "Coverage gaps", "Existing sites", "Proposed sites"):
        assert f'"{name}"' in text  # layer control entries
    assert text.count("siting.geoLayer(") == 9
    assert "&lt;b&gt;Tower&lt;/b&gt;" not in text  # names are escaped in the browser, not double-escaped here
    assert "\\u003cb\\u003eTower" in text  # and cannot close the <script> element


def _layer_data(text: str, name: str) -> dict:
    """The FeatureCollection of the layer called ``name`` in a rendered page."""
    blocks = re.findall(r"var (siting_layer_\d+) = siting\.geoLayer\((.*?)\);\n", text)
    controls = dict(re.findall(r'"([^"]+)"\s*:\s*(siting_layer_\d+)', text))
    var = controls[name]
    return json.loads(dict(blocks)[var])["data"]


def test_amap_shifts_drawn_geometry_to_gcj02():
    from siting.datums import wgs84_to_gcj02

    # public test vectors of eviltransform (googollee/eviltransform): WGS-84 -> GCJ-02
    wgs = np.array([[121.5272106, 31.1774276], [113.912316, 22.543847], [116.377817, 39.911954]])
    gcj = np.array([[121.531541859215, 31.17530398364597], [113.9171764808363, 22.540796131694766],
                    [116.38404722455657, 39.91334545536069]])
    np.testing.assert_allclose(np.column_stack(wgs84_to_gcj02(wgs[:, 0], wgs[:, 1])), gcj, atol=1e-9)
    sites = gpd.GeoDataFrame({"site_id": ["a", "b", "c"], "status": "proposed", "rank": [1, 2, 3]},
                             geometry=shapely.points(wgs), crs="EPSG:4326")
    params = MapParams(precision=7, simplify_m=0)
    drawn = {tiles: render({"sites": sites}, tiles=tiles, params=params) for tiles in ("amap", "tencent", "osm")}
    coords = {tiles: np.array([f["geometry"]["coordinates"] for f in _layer_data(text, "Proposed sites")["features"]])
              for tiles, text in drawn.items()}
    np.testing.assert_allclose(coords["amap"], gcj, atol=2e-7)
    np.testing.assert_allclose(coords["tencent"], gcj, atol=2e-7)
    np.testing.assert_allclose(coords["osm"], wgs, atol=2e-7)
    assert "Drawn in GCJ-02" in drawn["amap"] and "Drawn in GCJ-02" in drawn["tencent"]
    assert "Drawn in GCJ-02" not in drawn["osm"]


def test_gaps_carry_population_and_sites_their_popup_fields():
    text = render(synthetic_layers(4))
    gaps = _layer_data(text, "Coverage gaps")["features"]
    assert sorted(f["properties"]["population"] for f in gaps) == [95.0, 812.4]
    proposed = _layer_data(text, "Proposed sites")["features"]
    assert [f["properties"]["rank"] for f in proposed] == [1, 2, 3, 4]
    assert {"site_id", "source", "height_m", "served_demand", "marginal_gain"} <= set(proposed[0]["properties"])


def test_demand_is_summed_on_squares():
    from siting.maps import aggregate_demand

    layers = synthetic_layers()
    cells = aggregate_demand(layers["demand"], 500.0)
    assert len(cells) == 36  # 3 km x 3 km of 100 m cells on a 500 m grid (the grid starts on a 500 m line)
    assert cells["demand"].sum() == pytest.approx(layers["demand"]["weight"].sum())
    assert cells["population"].sum() == pytest.approx(layers["demand"]["residents"].sum())
    d = layers["demand"]
    share = (d["weight"] * d["covered_after"]).sum() / d["weight"].sum()
    assert (cells["covered_after"] * cells["demand"]).sum() / cells["demand"].sum() == pytest.approx(share)
    assert np.allclose(cells.geometry.area, 250_000.0)


def test_classify_gives_quantile_classes():
    from siting.map_style import DEMAND_COLOURS, classify

    colours, classes = classify(np.arange(1, 101, dtype=float), DEMAND_COLOURS)
    assert [(c.low, c.high) for c in classes] == [(1, 20), (21, 40), (41, 60), (61, 80), (81, 100)]  # integer breaks
    assert [c.colour for c in classes] == list(DEMAND_COLOURS)
    assert list(colours[[0, 19, 20, 99]]) == [DEMAND_COLOURS[0], DEMAND_COLOURS[0], DEMAND_COLOURS[1], DEMAND_COLOURS[4]]
    colours, classes = classify(np.full(4, 7.0), DEMAND_COLOURS)  # one value: one class, no error
    assert [(c.low, c.high) for c in classes] == [(7.0, 7.0)] and set(colours) == {DEMAND_COLOURS[0]}
    colours, classes = classify(np.array([1.0, 10.0]), DEMAND_COLOURS)  # two values: two classes, not five
    assert [(c.colour, c.low, c.high) for c in classes] == [(DEMAND_COLOURS[0], 1, 1), (DEMAND_COLOURS[4], 10, 10)]


def test_layer_without_crs_is_refused():
    layers = synthetic_layers()
    layers["gaps"] = layers["gaps"].set_crs(None, allow_override=True)
    with pytest.raises(InputError, match="no CRS"):
        render(layers)


@pytest.fixture()
def written_plan(tmp_path):
    from siting.io.export import write_plan
    from siting.result import PlanResult

    out = tmp_path / "plan"
    write_plan(PlanResult(kind="5g", area_slug="test", crs=CRS, layers=synthetic_layers(7), summary=SUMMARY), out)
    return out


def test_siting_map_redraws_from_written_outputs(written_plan, capsys):
    from siting.cli import main

    main(["map", str(written_plan), "--tiles", "none", "--out", str(written_plan / "again.html")])
    text = (written_plan / "again.html").read_text(encoding="utf-8")
    assert "map written" in capsys.readouterr().out
    assert fetched_urls(text) == [] and "L.tileLayer" not in text
    proposed = _layer_data(text, "Proposed sites")["features"]
    assert [f["properties"]["rank"] for f in proposed] == list(range(1, 8))
    assert '"Demand (250 m squares)"' in text  # demand comes back from layers.gpkg
    assert len(_layer_data(text, "Coverage gaps")["features"]) == 2


def test_siting_map_without_gpkg_uses_geojson(written_plan):
    from siting.io.outputs import read_outputs

    (written_plan / "layers.gpkg").unlink()
    layers, summary = read_outputs(written_plan)
    assert {"sites", "coverage", "gaps", "boundary"} <= set(layers) and "demand" not in layers
    assert summary["kind"] == "5g" and len(layers["sites"]) == 10


@pytest.mark.parametrize("case, message", [
    ("empty", "holds no summary.json"),
    ("tianditu", "Tianditu tiles need a key"),
    ("bad_tiles", "unknown tiles 'bing'"),
])
def test_siting_map_user_errors_exit_2(written_plan, tmp_path, capsys, monkeypatch, case, message):
    from siting.cli import main

    monkeypatch.delenv("SITING_TIANDITU_KEY", raising=False)
    args = {"empty": ["map", str(tmp_path / "nothing")],
            "tianditu": ["map", str(written_plan), "--tiles", "tianditu"],
            "bad_tiles": ["map", str(written_plan), "--tiles", "bing"]}[case]
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("siting: error: ") and message in err and err.count("\n") == 1
    assert not (written_plan / "map.html").exists()


def test_hillshade_image_is_embedded_and_follows_gcj02():
    from siting.datums import wgs84_to_gcj02

    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., 3] = 120
    box = ((32.0, 118.7), (32.1, 118.8))
    plain = render(synthetic_layers(2), images={"hillshade": (rgba, box)})
    assert '"Hillshade"' in plain and "data:image/png;base64," in plain and fetched_urls(plain) == []
    assert "[[32.0, 118.7], [32.1, 118.8]]" in plain
    shifted = render(synthetic_layers(2), tiles="amap", images={"hillshade": (rgba, box)})
    lon, lat = wgs84_to_gcj02(118.75, 32.05)
    bounds = json.loads(re.search(r'L\.imageOverlay\(\s*"[^"]+",\s*(\[\[.*?\]\])', shifted).group(1))
    np.testing.assert_allclose(bounds, [[32.0 + lat - 32.05, 118.7 + lon - 118.75],
                                        [32.1 + lat - 32.05, 118.8 + lon - 118.75]], atol=1e-12)


def test_charging_map_shows_service_areas_and_piles():
    layers = synthetic_layers(4)
    sites = layers["sites"].assign(piles_fast=[2, 0, 0, 4, 6, 2, 1], piles_slow=[6, 0, 0, 8, 10, 4, 2],
                                   sessions=[30.5, 0, 0, 50, 80, 20, 10])
    cov = layers["coverage"].iloc[:2].assign(layer="service_area")
    text = render({"sites": sites, "coverage": cov, "gaps": layers["gaps"]})
    assert '"Charging service area before (existing sites)"' in text
    assert '"Charging service area after (with proposed sites)"' in text
    proposed = _layer_data(text, "Proposed sites")["features"]
    assert [(f["properties"]["piles_fast"], f["properties"]["piles_slow"]) for f in proposed] == \
        [(4, 8), (6, 10), (2, 4), (1, 2)]
    assert '["piles_fast","Fast piles"]' in text and '["sessions","Sessions / day"]' in text


def test_extra_layers_are_drawn_and_scored():
    from siting.map_style import DEMAND_COLOURS

    layers = synthetic_layers(2)
    cells = shapely.box(X0 + np.arange(5) * 200, Y0, X0 + np.arange(5) * 200 + 200, Y0 + 200)
    layers["suitability"] = gpd.GeoDataFrame({"score": [0.1, 0.2, 0.3, 0.4, 0.5]}, geometry=cells, crs=CRS)
    layers["capacity_gaps"] = layers["gaps"].iloc[:1].assign(sessions_unserved=12.0)
    text = render(layers)
    colours = [f["properties"]["_color"] for f in _layer_data(text, "Suitability")["features"]]
    assert colours == list(DEMAND_COLOURS)  # five scores, five quantile classes, light to dark
    capacity = _layer_data(text, "Capacity gaps")["features"]
    assert capacity[0]["properties"]["sessions_unserved"] == 12.0


# --- legends, headline, city overview, other stages' layers ----------------------------

def legend_sections(text: str) -> dict[str, list[tuple[str, str]]]:
    """The legend panel of a page as {heading: [(colour, label)]} ("" before the first heading)."""
    import html as html_lib

    raw = json.loads(re.search(r"siting\.panel\('bottomright', (\".*?\")\)\.addTo", text).group(1))
    sections: dict[str, list[tuple[str, str]]] = {"": []}
    current = ""
    for block in re.findall(r"<div>(.*?)</div>", raw):
        heading = re.match(r"<b>(.*?)</b>", block)
        item = re.match(r'<i class="[^"]*" style="background:([^;]+);[^"]*"></i>(.*)', block)
        if heading:
            current = html_lib.unescape(heading.group(1))
            sections[current] = []
        elif item:
            sections[current].append((item.group(1), html_lib.unescape(item.group(2))))
    return sections


def label_range(label: str) -> tuple[float, float]:
    """(low, high) of a legend label such as "1,200–3,400", "7", "25.0 %–98.0 %"."""
    numbers = [float(n.replace(",", "")) for n in re.findall(r"-?[\d,]*\.?\d+(?:e[-+]?\d+)?", label)]
    scale = 0.01 if "%" in label else 1.0
    return numbers[0] * scale, numbers[-1] * scale


def assert_legend_matches(features: list[dict], field: str, entries: list[tuple[str, str]], rel: float = 0.0):
    """Every feature's colour is in the legend with a range holding its value; ranges follow each other."""
    legend = dict(entries)
    assert len(legend) == len(entries)  # one entry per colour
    for f in features:
        p = f["properties"]
        if p.get(field) is None:
            continue
        low, high = label_range(legend[p["_color"]])
        slack = rel * max(abs(low), abs(high)) + 1e-9
        assert low - slack <= p[field] <= high + slack, (p[field], legend[p["_color"]])
    ranges = [label_range(label) for _, label in entries]
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:]))  # lightest first, no overlap


def shown_layers(text: str) -> set[str]:
    controls = dict(re.findall(r'"([^"]+)"\s*:\s*(siting_layer_\d+)', text))
    added = set(re.findall(r"(siting_layer_\d+)\.addTo\(", text))
    return {name for name, var in controls.items() if var in added}


def districts_and_rows(quotas: list[int], coverage: list[float]):
    import pandas as pd

    n = len(quotas)
    districts = gpd.GeoDataFrame({"district": [f"D{i}" for i in range(n)]},
                                 geometry=[shapely.box(X0 + i * 1000, Y0, X0 + i * 1000 + 1000, Y0 + 1000)
                                           for i in range(n)], crs=CRS)
    rows = pd.DataFrame({"district": districts["district"], "status": "ok", "quota": quotas,
                         "coverage_after": coverage})
    return districts, rows


@pytest.mark.parametrize("quotas, coverage", [
    ([7, 12, 30], [0.25, 0.5, 0.98]),  # fewer districts than classes: three classes, not five
    ([3, 8, 8, 8, 9, 11, 15, 40], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]),
])
def test_city_legend_labels_match_their_colours(quotas, coverage):
    from siting.maps import city_map, render_html

    districts, rows = districts_and_rows(quotas, coverage)
    text = render_html(city_map(districts, rows, {}, tiles="none"))
    legend = legend_sections(text)
    quota_entries = legend["Quota (sites)"]
    assert 1 < len(quota_entries) <= min(len(set(quotas)), 5)  # ties may merge classes, never mislabel them
    assert all("." not in label for _, label in quota_entries)  # integer quotas, integer bounds
    assert_legend_matches(_layer_data(text, "Districts by quota")["features"], "quota", quota_entries)
    cov_entries = legend["Coverage (coverage_after)"]
    assert_legend_matches(_layer_data(text, "Districts by coverage")["features"], "coverage_after", cov_entries,
                          rel=1e-3)


def test_demand_legend_matches_its_colours_and_names_its_unit():
    layers = synthetic_layers(3)
    layers["demand"]["weight"] = np.linspace(0.01, 0.4, len(layers["demand"]))  # small weights: no "0–0"
    text = render(layers)
    legend = legend_sections(text)
    [heading] = [h for h in legend if h.startswith("Demand")]
    assert heading == "Demand"
    assert "people-equivalents per 250 m square" in text
    from siting.map_style import DEMAND_COLOURS

    entries = [e for e in legend[heading] if e[0] in DEMAND_COLOURS]  # the layers' own entries follow
    assert len(entries) == 5 and not any(label.startswith("0–0") for _, label in entries)
    assert_legend_matches(_layer_data(text, "Demand (250 m squares)")["features"], "demand", entries, rel=0.01)


def test_city_overview_draws_the_merged_sites_clustered():
    from siting.map_style import REASON_COLOURS
    from siting.maps import city_map, render_html

    districts, rows = districts_and_rows([4, 6], [0.5, 0.9])
    xy = np.column_stack([X0 + np.linspace(100, 1900, 10), np.full(10, Y0 + 500)])
    sites = gpd.GeoDataFrame({"site_id": [f"s{i}" for i in range(10)], "district": ["D0"] * 5 + ["D1"] * 5,
                              "status": ["existing"] * 2 + ["proposed"] * 8, "rank": [0, 0] + list(range(1, 9)),
                              "reason": [None, None] + ["coverage"] * 6 + ["capacity"] * 2},
                             geometry=shapely.points(xy), crs=CRS).to_crs("EPSG:4326")
    text = render_html(city_map(districts, rows, {}, tiles="none", sites=sites))
    proposed = _layer_data(text, "Proposed sites")["features"]
    assert len(proposed) == 8 and len(_layer_data(text, "Existing sites")["features"]) == 2
    assert [f["properties"]["_color"] for f in proposed] == [REASON_COLOURS["coverage"]] * 6 + \
        [REASON_COLOURS["capacity"]] * 2
    options = re.findall(r"siting\.geoLayer\((.*?)\);\n", text)
    assert sum(json.loads(o)["cluster"] for o in options) == 2  # existing and proposed, however few
    labels = [label for _, label in legend_sections(text)[""]]
    assert "Proposed site, for coverage" in labels and "Proposed site, for capacity (busy-hour load)" in labels


def test_proposed_sites_coloured_by_reason_and_drawn_per_phase():
    from siting.map_style import REASON_COLOURS

    layers = synthetic_layers(6)
    sites = layers["sites"]
    proposed = sites["status"] == "proposed"
    sites["reason"] = np.where(proposed, ["coverage"] * 3 + ["coverage", "capacity", "redundancy"] * 2, None)
    sites["phase"] = np.where(proposed, [2020.0] * 3 + [2020.0] * 3 + [2022.0] * 3, np.nan)
    text = render(layers)
    assert '"Proposed sites"' not in text
    early, late = (_layer_data(text, f"Proposed sites, phase {y}")["features"] for y in (2020, 2022))
    assert [f["properties"]["rank"] for f in early] == [1, 2, 3] and [f["properties"]["rank"] for f in late] == \
        [4, 5, 6]
    assert [f["properties"]["_color"] for f in late] == [REASON_COLOURS[r] for r in ("coverage", "capacity",
                                                                                       "redundancy")]
    assert {"Proposed sites, phase 2020", "Proposed sites, phase 2022"} <= shown_layers(text)
    assert "One layer per phase (2020, 2022)" in text


def test_environment_reserve_sites_and_search_rings_are_drawn():
    layers = synthetic_layers(2)
    cells = shapely.box(X0 + np.arange(6) * 100, Y0, X0 + np.arange(6) * 100 + 100, Y0 + 100)
    layers["environment"] = gpd.GeoDataFrame(
        {"env_class": ["urban", "urban", "dense_urban", "rural", "rural", "rural"],
         "env_source": ["buildings"] * 3 + ["roads"] * 3}, geometry=cells, crs=CRS)
    layers["reserve_sites"] = gpd.GeoDataFrame({"site_id": ["r1", "r2", "r3"], "for_site": ["s3", "s3", "s4"]},
                                               geometry=shapely.points([(X0, Y0), (X0 + 50, Y0), (X0, Y0 + 90)]),
                                               crs=CRS)
    layers["search_rings"] = gpd.GeoDataFrame({"site_id": ["s3", "s4"]},
                                              geometry=[shapely.Point(X0, Y0).buffer(120),
                                                        shapely.Point(X0, Y0 + 90).buffer(80)], crs=CRS)
    text = render(layers)
    env = _layer_data(text, "Environment class")["features"]
    assert sorted((f["properties"]["env_class"], f["properties"]["env_source"]) for f in env) == \
        [("dense_urban", "buildings"), ("rural", "roads"), ("urban", "buildings")]  # dissolved per class
    assert "Environment class" not in shown_layers(text)  # off by default
    assert len(_layer_data(text, "Reserve sites")["features"]) == 3
    assert len(_layer_data(text, "Search rings")["features"]) == 2
    assert {"Reserve sites", "Search rings"} <= shown_layers(text)
    labels = {label for _, label in legend_sections(text)["Environment class"]}
    assert labels == {"urban", "dense urban", "rural"}


def test_panel_shows_the_headline_and_what_the_target_measures():
    from siting.maps import summary_rows

    charging = {"kind": "charging", "piles_total": 120, "served_ratio": 0.38, "coverage_ratio": 0.99,
                "coverage_ratio_before": 0.5, "request": {"piles": 120, "target": None},
                "headline": {"label": "Sessions the piles can serve", "value": 0.38, "target": 0.8,
                             "measure": "share of charging sessions served"}}
    rows = summary_rows(charging, None)
    assert rows[1:4] == [("Sessions the piles can serve", "38.0 %"),
                         ("Target", "80.0 % of share of charging sessions served"), ("Charging piles", "120")]
    assert ("Demand within a service area, before → after", "50.0 % → 99.0 %") in rows
    old = {k: v for k, v in charging.items() if k != "headline"}  # an older output: derived from its fields
    assert summary_rows(old, None)[1] == ("Sessions the piles can serve", "38.0 %")
    capacity = {"kind": "5g", "coverage_ratio": 0.988, "capacity": {"served_ratio": 0.71},
                "request": {"count": None, "target": 0.8}}
    rows = summary_rows(capacity, None)
    assert rows[1:3] == [("Busy-hour traffic served", "71.0 %"), ("Target", "80.0 % of busy-hour traffic served")]
    assert not any("Coverage target" in k for k, _ in rows)


# --- gap text ---------------------------------------------------------------------------

def test_gap_text_counts_in_the_right_number_and_one_unit():
    import pandas as pd

    from siting.gaps import area_text, counted, describe_gaps

    assert [counted(1, "gap area"), counted(3, "gap area"), counted(1, "site"), counted(0, "site"),
            counted(1200, "person", "people")] == ["1 gap area", "3 gap areas", "1 site", "0 sites", "1,200 people"]
    assert [area_text(x) for x in (0.0025, 0.09, 0.8, 3.14, 191.0)] == \
        ["0.0025 km²", "0.09 km²", "0.8 km²", "3.1 km²", "191 km²"]
    one = pd.DataFrame({"gap_id": [1], "name": ["Gap 1 (near Xinjiekou)"], "population": [1.0], "area_km2": [0.0004]})
    assert describe_gaps(one) == "1 gap area; the most uncovered demand in Gap 1 (near Xinjiekou): 0.0004 km², 1 person"
    # Gap 1 has the most uncovered demand, Gap 3 the most area: the text says which is which
    many = pd.DataFrame({"gap_id": [1, 2, 3], "name": ["Gap 1", "Gap 2", "Gap 3 (near Zhongshan Road)"],
                         "population": [6240.0, 300.0, 40.0], "area_km2": [0.3, 0.05, 2.4]})
    assert describe_gaps(many) == ("3 gap areas; the most uncovered demand in Gap 1: 0.3 km², 6,200 people; "
                                   "the largest is Gap 3 (near Zhongshan Road): 2.4 km², 40 people")
    assert "m²" not in describe_gaps(many).replace("km²", "")
