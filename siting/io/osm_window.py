"""Per-district windows of a city's OSM XML file, so that no process holds the whole city.

:func:`split_windows` streams the city's file once to collect node coordinates, once more
to write one gzip OSM XML file per window (a district's bounding box plus the clip
buffer): every node inside the window, every way with a node inside it together with all
of that way's nodes (so roads and buildings stay whole), and a ``<bounds>`` element of the
window. Relations are not copied (multipolygon buildings and landuse mapped as relations
are lost; the road network and ordinary ways are complete). Memory is that of the node
coordinates (24 bytes a node) and the window memberships, not of the parsed city.

:func:`read_window` loads one window with :func:`siting.io.osm.load_area` (its
normalised layers cached beside the window, so the second read of a district is a
GeoPackage read) in the city's CRS.
"""
from __future__ import annotations

import bz2
import gzip
import json
import xml.etree.ElementTree as ET
from array import array
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Iterator
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import numpy as np

from siting.area import Area
from siting.errors import InputError
from siting.provenance import sha256_file, sha256_text

#: bumped when the window files' format changes (cached windows are rebuilt)
WINDOWS_VERSION = 1


@dataclass(frozen=True)
class Windows:
    """Where each district's window file is, and what the city's data is."""

    folder: Path
    files: dict[str, Path]        # district name -> window file
    crs: str                      # the city's metric CRS (every window is read in it)
    source_hash: str              # SHA-256 of the city's OSM file
    extent_wgs84: tuple[float, float, float, float]  # bbox of all nodes (lon/lat)


def _open(path: Path) -> IO[bytes]:
    name = path.name.lower()
    opener: Any = bz2.open if name.endswith(".bz2") else gzip.open if name.endswith(".gz") else open
    return opener(path, "rb")


def _elements(path: Path, tags: set[str]) -> Iterator[ET.Element]:
    """The top-level ``tags`` elements of an OSM XML file, one at a time (memory freed as it goes)."""
    try:
        with _open(path) as f:
            context = ET.iterparse(f, events=("start", "end"))
            _, root = next(context)
            depth = 0
            for event, elem in context:
                depth += 1 if event == "start" else -1
                if event == "end" and depth == 0:  # a child of <osm> is complete
                    if elem.tag in tags:
                        yield elem
                    root.clear()
    except (ET.ParseError, OSError, EOFError) as exc:
        raise InputError(f"{path.name} is not a readable OSM XML file ({exc}): re-export or re-download it") from None


def _node_table(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Node ids (sorted) and their lon/lat (n × 2)."""
    ids, lon, lat = array("q"), array("d"), array("d")
    for elem in _elements(path, {"node"}):
        ids.append(int(elem.get("id", "0")))
        lon.append(float(elem.get("lon", "nan")))
        lat.append(float(elem.get("lat", "nan")))
    order = np.argsort(np.frombuffer(ids, dtype=np.int64), kind="stable")
    xy = np.column_stack([np.frombuffer(lon), np.frombuffer(lat)])[order]
    return np.frombuffer(ids, dtype=np.int64)[order], xy


def _inside(xy: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(points × windows) membership as (point index, window index) pairs."""
    pts, wins = [], []
    for w, (west, south, east, north) in enumerate(boxes):
        hit = np.flatnonzero((xy[:, 0] >= west) & (xy[:, 0] <= east) & (xy[:, 1] >= south) & (xy[:, 1] <= north))
        pts.append(hit)
        wins.append(np.full(len(hit), w, dtype=np.int32))
    return np.column_stack([np.concatenate(pts), np.concatenate(wins)]) if pts else np.zeros((0, 2), int)


def split_windows(osm: Path, windows: dict[str, tuple[float, float, float, float]], folder: Path,
                  crs: str) -> Windows:
    """Write ``<folder>/<i>.osm.xml.gz`` for each window (district name -> lon/lat bbox) of ``osm``.

    Built once: a folder that already holds the windows of this file and these boxes
    (``windows.json``) is reused as it is.
    """
    osm = Path(osm)
    source_hash = sha256_file(osm)
    names = list(windows)
    boxes = np.array([windows[n] for n in names], dtype=float).reshape(-1, 4)
    key = sha256_text(json.dumps([source_hash, boxes.tolist(), names, WINDOWS_VERSION]))
    index = folder / "windows.json"
    files = {n: folder / f"{i:04d}.osm.xml.gz" for i, n in enumerate(names)}
    if index.is_file():
        meta = json.loads(index.read_text(encoding="utf-8"))
        if meta.get("key") == key and all(f.is_file() for f in files.values()):
            return Windows(folder, files, crs, source_hash, tuple(meta["extent"]))
    folder.mkdir(parents=True, exist_ok=True)
    ids, xy = _node_table(osm)
    if not len(ids):
        raise InputError(f"{osm.name} holds no OSM nodes: export a non-empty area")
    extent = (float(np.nanmin(xy[:, 0])), float(np.nanmin(xy[:, 1])), float(np.nanmax(xy[:, 0])),
              float(np.nanmax(xy[:, 1])))
    node_win = _inside(xy, boxes)            # nodes inside each window
    way_win: dict[int, np.ndarray] = {}      # way id -> windows it enters
    extra = []                               # (node index, window) of way nodes outside the window
    for elem in _elements(osm, {"way"}):
        refs = np.array([int(nd.get("ref", "0")) for nd in elem.iter("nd")], dtype=np.int64)
        at = np.clip(np.searchsorted(ids, refs), 0, len(ids) - 1)
        at = at[ids[at] == refs]
        if not len(at):
            continue
        wins = np.unique(_inside(xy[at], boxes)[:, 1])
        if len(wins):
            way_win[int(elem.get("id", "0"))] = wins
            extra.append(np.column_stack([np.repeat(at, len(wins)), np.tile(wins, len(at))]))
    pairs = np.unique(np.concatenate([node_win, *extra]), axis=0) if extra else node_win
    node_start = np.searchsorted(pairs[:, 0], np.arange(len(ids) + 1))
    outs = [gzip.open(f, "wt", encoding="utf-8", compresslevel=1) for f in files.values()]
    try:
        for out, (west, south, east, north) in zip(outs, boxes.tolist()):
            out.write("<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\" generator=\"siting windows\">\n"
                      f'  <bounds minlon="{west!r}" minlat="{south!r}" maxlon="{east!r}" maxlat="{north!r}"/>\n')
        for elem in _elements(osm, {"node", "way"}):
            if elem.tag == "node":
                i = int(np.searchsorted(ids, int(elem.get("id", "0"))))
                targets = pairs[node_start[i]:node_start[i + 1], 1]
            else:
                targets = way_win.get(int(elem.get("id", "0")), np.zeros(0, int))
            if len(targets):
                text = _xml(elem)
                for w in targets:
                    outs[w].write(text)
        for out in outs:
            out.write("</osm>\n")
    finally:
        for out in outs:
            out.close()
    index.write_text(json.dumps({"key": key, "extent": extent, "districts": {n: f.name for n, f in files.items()}},
                                ensure_ascii=False, indent=1), encoding="utf-8")
    return Windows(folder, files, crs, source_hash, extent)


def _xml(elem: ET.Element) -> str:
    """An OSM element as XML text (a few times faster than ``ET.tostring``)."""
    attrs = "".join(f" {k}={quoteattr(v)}" for k, v in elem.attrib.items())
    inner = "".join(_xml(child) for child in elem)
    return f"<{elem.tag}{attrs}>{inner}</{elem.tag}>\n" if inner else f"<{elem.tag}{attrs}/>\n"


def read_window(path: Path, crs: str) -> Area:
    """One window as an Area in ``crs`` (the city's), its layers cached beside the file."""
    from siting.io.osm import load_area

    area = load_area(path, cache_dir=None, processed_dir=Path(path).parent / "processed")
    return area if area.crs == crs else _to_crs(area, crs)


def _to_crs(area: Area, crs: str) -> Area:
    """``area`` with every layer in ``crs`` (a window whose own UTM zone is not the city's)."""
    def move(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        return gdf.to_crs(crs)

    nodes = move(area.road_nodes)
    nodes["x"], nodes["y"] = nodes.geometry.x.to_numpy(), nodes.geometry.y.to_numpy()
    boundary = gpd.GeoSeries([area.boundary_wgs84], crs="EPSG:4326").to_crs(crs).iloc[0]
    return replace(area, crs=crs, boundary=boundary, buildings=move(area.buildings), road_nodes=nodes,
                   road_edges=move(area.road_edges), pois=move(area.pois), landuse=move(area.landuse))
