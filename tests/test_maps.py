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
    from siting.io.sites import wgs84_to_gcj02

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
    from siting.maps import DEMAND_COLOURS, classify

    colours, bounds = classify(np.arange(1, 101, dtype=float), DEMAND_COLOURS)
    assert bounds == pytest.approx([20.8, 40.6, 60.4, 80.2, 100.0])
    assert list(colours[[0, 20, 21, 99]]) == [DEMAND_COLOURS[0], DEMAND_COLOURS[1], DEMAND_COLOURS[1], DEMAND_COLOURS[4]]
    colours, bounds = classify(np.full(4, 7.0), DEMAND_COLOURS)  # one value: one class, no error
    assert bounds == [7.0] and set(colours) == {DEMAND_COLOURS[0]}


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
    from siting.maps import read_outputs

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
    from siting.io.sites import wgs84_to_gcj02

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
    from siting.maps import DEMAND_COLOURS

    layers = synthetic_layers(2)
    cells = shapely.box(X0 + np.arange(5) * 200, Y0, X0 + np.arange(5) * 200 + 200, Y0 + 200)
    layers["suitability"] = gpd.GeoDataFrame({"score": [0.1, 0.2, 0.3, 0.4, 0.5]}, geometry=cells, crs=CRS)
    layers["capacity_gaps"] = layers["gaps"].iloc[:1].assign(sessions_unserved=12.0)
    text = render(layers)
    colours = [f["properties"]["_color"] for f in _layer_data(text, "Suitability")["features"]]
    assert colours == list(DEMAND_COLOURS)  # five scores, five quantile classes, light to dark
    capacity = _layer_data(text, "Capacity gaps")["features"]
    assert capacity[0]["properties"]["sessions_unserved"] == 12.0
