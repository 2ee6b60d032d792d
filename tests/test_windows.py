"""The windows of an OSM file: every node inside a window, and every way entering it whole."""
from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from siting.io import osm_window
from siting.io.osm_window import split_windows

#: two overlapping windows and a third apart (lon/lat boxes)
BOXES = {"west": (0.0, 0.0, 1.0, 1.0), "east": (0.9, 0.0, 2.0, 1.0), "north": (0.0, 2.0, 1.0, 3.0)}


def city(rng: np.random.Generator, n_nodes: int = 300, n_ways: int = 120) -> tuple[str, dict, list]:
    """An OSM file of random nodes (ids out of order) and ways (some with a missing node)."""
    ids = rng.permutation(np.arange(1, n_nodes + 1) * 7)
    xy = {int(i): (float(rng.uniform(-0.5, 2.5)), float(rng.uniform(-0.5, 3.5))) for i in ids}
    ways = [[int(r) for r in rng.choice(ids, int(rng.integers(2, 8)))] + ([999_999] if k % 10 == 0 else [])
            for k in range(n_ways)]
    nodes = "".join(f'<node id="{i}" lat="{y!r}" lon="{x!r}"><tag k="n" v="{i}"/></node>\n' for i, (x, y) in xy.items())
    text = "".join(f'<way id="{k + 1}">{"".join(f"<nd ref={chr(34)}{r}{chr(34)}/>" for r in refs)}'
                   f'<tag k="highway" v="residential"/></way>\n' for k, refs in enumerate(ways))
    return f"<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\">\n{nodes}{text}</osm>\n", xy, ways


def expected(xy: dict, ways: list, box: tuple) -> tuple[list, list]:
    """A window by its definition: the ways with a node inside, and their nodes and the nodes inside, in file order."""
    west, south, east, north = box
    inside = {i for i, (x, y) in xy.items() if west <= x <= east and south <= y <= north}
    entering = [k + 1 for k, refs in enumerate(ways) if inside & set(refs)]
    wanted = inside | {r for k in entering for r in ways[k - 1] if r in xy}
    return [i for i in xy if i in wanted], entering


@pytest.mark.parametrize("chunk", [4, 1 << 16])
def test_each_window_holds_the_nodes_inside_it_and_every_way_entering_it_whole(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(osm_window, "CHUNK", chunk)
    monkeypatch.setattr(osm_window, "BLOCK_CELLS", 5)  # membership a point or two at a time
    text, xy, ways = city(np.random.default_rng(3))
    osm = tmp_path / "city.osm"
    osm.write_text(text, encoding="utf-8")
    windows = split_windows(osm, BOXES, tmp_path / "windows", "EPSG:4326")
    for name, box in BOXES.items():
        root = ET.parse(gzip.open(windows.files[name])).getroot()
        nodes, entering = expected(xy, ways, box)
        assert [int(n.get("id")) for n in root.findall("node")] == nodes
        assert [int(w.get("id")) for w in root.findall("way")] == entering
        assert root.find("node/tag").get("k") == "n" and len(root.find("way").findall("nd")) >= 2
        assert root.find("bounds").get("minlon") == repr(box[0])
    lon, lat = np.array(list(xy.values())).T
    assert windows.extent_wgs84 == (lon.min(), lat.min(), lon.max(), lat.max())
