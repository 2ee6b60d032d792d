"""The private names of other libraries that siting uses still exist, with the call shapes it
relies on. pyproject.toml bounds these libraries; this test is what `make test-latest` trips on
first when a new release moves them, instead of a user's broken ingest or map."""
from __future__ import annotations

import inspect

import pytest


@pytest.mark.parametrize("module, name, params", [
    ("osmnx._osm_xml", "_OSMContentHandler", None),
    ("osmnx.features", "_create_gdf", ("response_jsons", "polygon", "tags")),
    ("osmnx.graph", "_create_graph", ("response_jsons", "bidirectional")),
    ("osmnx._overpass", "_download_overpass_network", ("polygon", "network_type", "custom_filter")),
    ("osmnx._overpass", "_download_overpass_features", ("polygon", "tags")),
    ("osmnx._errors", "InsufficientResponseError", None),
    ("osmnx._errors", "ResponseStatusCodeError", None),
])
def test_osmnx_internals_that_ingest_uses(module, name, params):
    import importlib

    obj = getattr(importlib.import_module(module), name)
    if params is not None:
        assert tuple(inspect.signature(obj).parameters)[: len(params)] == params


def test_osmnx_settings_that_ingest_sets():
    import osmnx as ox

    for name in ("useful_tags_way", "use_cache", "cache_folder"):
        assert hasattr(ox.settings, name)


def test_folium_element_ids_and_children_that_maps_rely_on():
    import folium

    m = folium.Map()
    marker = folium.Marker([0, 0]).add_to(m)
    assert isinstance(marker._id, str) and marker._name == "Marker"
    assert list(m._children.values())[-1] is marker and hasattr(m._children, "move_to_end")
