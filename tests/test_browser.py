"""Generated maps in headless Chromium with no network: no JS errors, every layer listed and drawn."""
from __future__ import annotations

import math
import os
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from siting.maps import city_map, plan_map, write_map
from test_maps import SUMMARY, synthetic_layers

pytestmark = pytest.mark.browser

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
TILE_HOSTS = ("tile.openstreetmap.org", ".is.autonavi.com", ".map.gtimg.com", ".tianditu.gov.cn")  # unreachable here: allowed to fail
PLAN_LAYERS = ["Boundary", "Demand (250 m squares)", "Outdoor coverage before (existing sites)",
               "Outdoor coverage after (with proposed sites)", "Indoor coverage before (existing sites)",
               "Indoor coverage after (with proposed sites)", "Coverage gaps", "Existing sites", "Proposed sites"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    # Debian's chromedriver, named below, so Selenium Manager downloads nothing; and no usage statistics
    os.environ["SE_AVOID_STATS"] = "true"
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,900",
                 "--host-resolver-rules=MAP * ~NOTFOUND",  # no network, as on an isolated machine
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def open_map(driver, path: Path) -> list[dict]:
    """Load a map from file:// and return its SEVERE console entries (tile fetches aside)."""
    driver.get_log("browser")  # drop entries of earlier pages
    driver.get(path.as_uri())
    log = driver.get_log("browser")
    return [e for e in log if e["level"] == "SEVERE"
            and not (e.get("source") == "network" and any(host in e["message"] for host in TILE_HOSTS))]


def layer_names(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.leaflet-control-layers label span span, "
        ".leaflet-control-layers label > span')).map(function (s) { return s.textContent.trim(); })"
        ".filter(function (t) { return t.length; });")


def count(driver, selector: str) -> int:
    return driver.execute_script(f"return document.querySelectorAll({selector!r}).length;")


@pytest.mark.parametrize("tiles", ["none", "osm", "amap"])
def test_plan_map_draws_every_layer_offline(browser, tmp_path, tiles):
    path = write_map(plan_map(synthetic_layers(12), SUMMARY, tiles=tiles), tmp_path / "map.html")
    assert open_map(browser, path) == []
    names = layer_names(browser)
    for name in PLAN_LAYERS:
        assert name in names
    assert count(browser, ".siting-rank") == 12  # proposed sites numbered 1..12
    ranks = browser.execute_script("return Array.from(document.querySelectorAll('.siting-rank'))"
                                   ".map(function (e) { return +e.textContent; });")
    assert sorted(ranks) == list(range(1, 13))
    assert count(browser, "path.siting-gap") == 2
    assert count(browser, "path.siting-existing") == 3
    assert "OpenStreetMap" in browser.find_element("css selector", ".leaflet-control-attribution").text
    assert "90.0 %" in browser.find_element("css selector", ".leaflet-bottom.leaflet-left .siting-panel").text
    assert browser.title == "siting plan: 5g — Test district"
    legend = browser.find_element("css selector", ".siting-legend").text
    assert ("Drawn in GCJ-02" in legend) == (tiles == "amap")
    browser.save_screenshot(str(tmp_path / "map.png"))
    assert (tmp_path / "map.png").stat().st_size > 10_000


def test_popups_and_tooltips_show_what_planners_ask(browser, tmp_path):
    from selenium.webdriver import ActionChains

    layers = synthetic_layers(5)
    path = write_map(plan_map(layers, SUMMARY, tiles="none"), tmp_path / "map.html")
    assert open_map(browser, path) == []
    first = [e for e in browser.find_elements("css selector", ".siting-rank") if e.text == "1"][0]
    first.click()
    popup = browser.find_element("css selector", ".leaflet-popup-content").get_attribute("textContent")
    site = layers["sites"][layers["sites"]["rank"] == 1].iloc[0]
    assert site["site_id"] in popup and "Mounting height (m)" in popup and "Marginal gain" in popup
    assert f"{site['height_m']:g}" in popup and "building" in popup
    browser.find_element("css selector", ".leaflet-popup-close-button").click()
    gap = browser.find_elements("css selector", "path.siting-gap")[0]
    ActionChains(browser).move_to_element(gap).pause(0.2).perform()
    tooltip = browser.find_element("css selector", ".leaflet-tooltip").get_attribute("textContent")
    assert "Residents uncovered" in tooltip and ("812" in tooltip or "95" in tooltip)


def test_nanjing_plan_map_in_the_browser(browser, tmp_path, shared_data):
    """The map ``siting plan`` writes for a real district: small, offline, every site drawn."""
    from siting.cli import main

    osm = shared_data / "osm" / "nanjing_xinjiekou_osm" / "osm_bbox.osm.xml"
    main(["plan", str(osm), "--kind", "5g", "--count", "30", "--out", str(tmp_path / "nj"), "--quiet"])
    main(["map", str(tmp_path / "nj"), "--tiles", "none", "--out", str(tmp_path / "nj" / "offline.html")])
    for name in ("map.html", "offline.html"):
        path = tmp_path / "nj" / name
        assert path.stat().st_size < 5 * 1024 * 1024
        assert open_map(browser, path) == []
        names = layer_names(browser)
        assert {"Boundary", "Coverage gaps", "Proposed sites"} <= set(names)
        assert count(browser, ".siting-rank") + count(browser, ".marker-cluster") >= 1
        assert count(browser, "path.siting-gap") >= 1
    browser.save_screenshot(str(tmp_path / "nanjing.png"))


def test_many_proposed_sites_are_clustered(browser, tmp_path):
    path = write_map(plan_map(synthetic_layers(80), SUMMARY, tiles="none"), tmp_path / "map.html")
    assert open_map(browser, path) == []
    clusters = count(browser, ".marker-cluster")
    singles = count(browser, ".siting-rank")
    assert clusters >= 1 and singles < 80
    total = browser.execute_script(
        "return Array.from(document.querySelectorAll('.marker-cluster')).reduce(function (s, e) "
        "{ return s + (+e.textContent); }, 0);")
    assert total + singles == 80  # every proposed site is in a cluster or drawn alone
    browser.save_screenshot(str(tmp_path / "clustered.png"))


def test_measure_tool_reports_great_circle_distance(browser, tmp_path):
    path = write_map(plan_map(synthetic_layers(4), SUMMARY, tiles="none"), tmp_path / "map.html")
    assert open_map(browser, path) == []
    a, b = (32.04, 118.78), (32.05, 118.79)
    label = browser.execute_script(
        "var map = Object.values(window).find(function (v) { return v instanceof L.Map; });"
        "map.sitingMeasure.toggle();"
        f"map.fire('click', {{latlng: L.latLng({a[0]}, {a[1]})}});"
        f"map.fire('click', {{latlng: L.latLng({b[0]}, {b[1]})}});"
        "return document.querySelector('.siting-measure-label').textContent;")
    p1, p2, dl = math.radians(a[0]), math.radians(b[0]), math.radians(b[1] - a[1])
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    expected = 2 * 6371000 * math.asin(math.sqrt(h))  # haversine on Leaflet's 6371 km sphere
    assert label == f"{expected / 1000:.2f} km"
    browser.find_element("css selector", ".siting-fullscreen a").click()
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_city_map_links_each_district(browser, tmp_path):
    layers = synthetic_layers(3)
    box = layers["boundary"].geometry.iloc[0]
    west, east = shapely.clip_by_rect(box, *box.bounds[:2], box.centroid.x, box.bounds[3]), \
        shapely.clip_by_rect(box, box.centroid.x, *box.bounds[1:])
    districts = gpd.GeoDataFrame({"district": ["West", "East"]}, geometry=[west, east], crs=layers["boundary"].crs)
    rows = pd.DataFrame({"district": ["West", "East"], "status": ["done", "failed"], "quota": [10, 30],
                         "proposed": [10, None], "coverage_before": [0.2, None], "coverage_after": [0.8, None]})
    write_map(plan_map(layers, SUMMARY, tiles="none"), tmp_path / "west" / "map.html")
    path = write_map(city_map(districts, rows, {"West": "west/map.html"}, tiles="none"), tmp_path / "city.html")
    assert open_map(browser, path) == []
    assert {"Districts by quota", "Districts by coverage"} <= set(layer_names(browser))
    assert count(browser, "path.siting-by-quota") == 2
    [label] = [e for e in browser.find_elements("css selector", ".leaflet-control-layers label")
               if e.text.strip() == "Districts by coverage"]
    label.click()  # switch the coverage colouring on
    fills = browser.execute_script("return Array.from(document.querySelectorAll('path.siting-by-coverage_after'))"
                                   ".map(function (p) { return p.getAttribute('fill'); });")
    assert sorted(fills) == ["#bdbdbd", "#eff3ff"]  # the failed district is grey, not the darkest class
    browser.save_screenshot(str(tmp_path / "city.png"))
    browser.execute_script(
        "var map = Object.values(window).find(function (v) { return v instanceof L.Map; });"
        "map.eachLayer(function (l) { if (l.feature && l.feature.properties.district === 'West') l.fire('click'); });")
    assert browser.current_url.endswith("west/map.html")
    assert count(browser, ".siting-rank") == 3


def test_sites_coloured_by_reason_per_phase_and_city_sites_drawn(browser, tmp_path):
    from siting.map_style import REASON_COLOURS

    layers = synthetic_layers(4)
    sites = layers["sites"]
    sites["reason"] = [None] * 3 + ["coverage", "coverage", "capacity", "redundancy"]
    sites["phase"] = [None] * 3 + [2020, 2020, 2022, 2022]
    path = write_map(plan_map(layers, SUMMARY, tiles="none"), tmp_path / "map.html")
    assert open_map(browser, path) == []
    assert {"Proposed sites, phase 2020", "Proposed sites, phase 2022"} <= set(layer_names(browser))
    colours = browser.execute_script(
        "return Array.from(document.querySelectorAll('.siting-rank')).map(function (e) "
        "{ return [+e.textContent, getComputedStyle(e).backgroundColor]; });")

    def rgb(hex_colour: str) -> str:
        return "rgb({}, {}, {})".format(*(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)))

    assert sorted(colours) == [[1, rgb(REASON_COLOURS["coverage"])], [2, rgb(REASON_COLOURS["coverage"])],
                               [3, rgb(REASON_COLOURS["capacity"])], [4, rgb(REASON_COLOURS["redundancy"])]]
    districts = gpd.GeoDataFrame({"district": ["All"]}, geometry=list(layers["boundary"].geometry),
                                 crs=layers["boundary"].crs)
    rows = pd.DataFrame({"district": ["All"], "status": ["ok"], "quota": [4], "coverage_after": [0.9]})
    path = write_map(city_map(districts, rows, {}, tiles="none", sites=sites), tmp_path / "city.html")
    assert open_map(browser, path) == []
    assert {"Existing sites", "Proposed sites, phase 2020"} <= set(layer_names(browser))
    drawn = count(browser, "path.siting-proposed") + count(browser, "path.siting-existing")
    clustered = browser.execute_script(
        "return Array.from(document.querySelectorAll('.marker-cluster')).reduce(function (s, e) "
        "{ return s + (+e.textContent); }, 0);")
    assert drawn + clustered == 7  # every site of the city is drawn, alone or in a cluster
