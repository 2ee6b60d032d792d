"""Per-district windows of a city's OSM XML file, so that no process holds the whole city.

:func:`split_windows` streams the city's file three times (its nodes: the windows each lies
in; its ways: the windows each enters; everything: the writing) to write one gzip OSM XML
file per window (a district's bounding box plus the clip buffer): every node inside the
window, every way with a node inside it together with all of that way's nodes (so roads
and buildings stay whole), and a ``<bounds>`` element of the window. Relations are not
copied (multipolygon buildings and landuse mapped as relations are lost; the road network
and ordinary ways are complete). Memory is 16 bytes a node
(its id, and a code for the set of windows it lies in and for the set it is written to) and
4 bytes a way, coordinates and way nodes being held a chunk at a time; not the parsed city.

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


#: nodes, or way node references, whose coordinates or lookups are held at a time
CHUNK = 1 << 16
#: cells of the (points x windows) membership matrix built at a time
BLOCK_CELLS = 1 << 22


class _Sets:
    """Sets of windows as codes (0: no window), so that a node's or a way's windows take 4 bytes."""

    def __init__(self) -> None:
        self.sets: list[tuple[int, ...]] = [()]
        self._codes: dict[tuple[int, ...], int] = {(): 0}
        self._unions: dict[int, int] = {}

    def code(self, wins: tuple[int, ...]) -> int:
        if wins not in self._codes:
            self._codes[wins] = len(self.sets)
            self.sets.append(wins)
        return self._codes[wins]

    def inside(self, x: np.ndarray, y: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """The code of the windows (boxes) each point lies in, edges included."""
        codes = np.zeros(len(x), dtype=np.uint32)
        step = max(1, BLOCK_CELLS // max(1, len(boxes)))
        for s in range(0, len(x), step):
            bx, by = x[s:s + step], y[s:s + step]
            hit = np.zeros((len(bx), len(boxes)), dtype=bool)
            for w, (west, south, east, north) in enumerate(boxes):
                hit[:, w] = (bx >= west) & (bx <= east) & (by >= south) & (by <= north)
            rows, inverse = np.unique(np.packbits(hit, axis=1), axis=0, return_inverse=True)
            table = [self.code(tuple(np.flatnonzero(np.unpackbits(r)[:len(boxes)]).tolist())) for r in rows]
            codes[s:s + step] = np.array(table, dtype=np.uint32)[inverse.reshape(-1)]
        return codes

    def union(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The code of each union of sets ``a[i]`` and ``b[i]``."""
        keys, inverse = np.unique((a.astype(np.int64) << 32) | b.astype(np.int64), return_inverse=True)
        for key in keys.tolist():
            if key not in self._unions:
                both = set(self.sets[key >> 32]) | set(self.sets[key & 0xFFFFFFFF])
                self._unions[key] = self.code(tuple(sorted(both)))
        return np.array([self._unions[k] for k in keys.tolist()], dtype=np.uint32)[inverse.reshape(-1)]

    def add(self, codes: np.ndarray, at: np.ndarray, more: np.ndarray) -> None:
        """``codes[at[i]]`` grown by the set ``more[i]``, every ``i`` (an index may repeat)."""
        while len(at):
            new = self.union(codes[at], more)
            codes[at] = new
            left = codes[at] != new  # a repeated index keeps one of its unions: add the others again
            at, more = at[left], more[left]


def _node_table(path: Path, boxes: np.ndarray, sets: _Sets) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Node ids (sorted), the code of the windows each lies in, and the lon/lat extent of all nodes
    (coordinates are held :data:`CHUNK` nodes at a time: 12 bytes a node are kept)."""
    ids, codes, extent = array("q"), array("I"), [np.inf, np.inf, -np.inf, -np.inf]
    lon: list[float] = []
    lat: list[float] = []

    def flush() -> None:
        x, y = np.array(lon, dtype=float), np.array(lat, dtype=float)
        codes.extend(sets.inside(x, y, boxes))
        extent[:] = [min(extent[0], np.nanmin(x, initial=np.inf)), min(extent[1], np.nanmin(y, initial=np.inf)),
                     max(extent[2], np.nanmax(x, initial=-np.inf)), max(extent[3], np.nanmax(y, initial=-np.inf))]
        lon.clear()
        lat.clear()

    for elem in _elements(path, {"node"}):
        ids.append(int(elem.get("id", "0")))
        lon.append(float(elem.get("lon", "nan")))
        lat.append(float(elem.get("lat", "nan")))
        if len(lon) == CHUNK:
            flush()
    flush()
    node_ids, node_codes = np.frombuffer(ids, dtype=np.int64), np.frombuffer(codes, dtype=np.uint32)
    if len(node_ids) > 1 and not (node_ids[1:] >= node_ids[:-1]).all():  # OSM files are usually sorted by id
        order = np.argsort(node_ids, kind="stable")
        return node_ids[order], node_codes[order], extent
    return node_ids, node_codes, extent


def _way_table(path: Path, ids: np.ndarray, own: np.ndarray, sets: _Sets) -> tuple[np.ndarray, np.ndarray]:
    """The code of the windows each way enters (one a way, in file order), and each node's windows
    grown by those of the ways it belongs to (the windows it is written to)."""
    target = own.copy()
    way_codes = array("I")
    refs: list[int] = []
    lengths: list[int] = []

    def flush() -> None:
        wanted = np.array(refs, dtype=np.int64)
        at = np.clip(np.searchsorted(ids, wanted), 0, len(ids) - 1)
        way = np.repeat(np.arange(len(lengths)), lengths)
        found = ids[at] == wanted
        at, way = at[found], way[found]
        codes = np.zeros(len(lengths), dtype=np.uint32)
        inside = own[at] != 0
        sets.add(codes, way[inside], own[at[inside]])
        way_codes.extend(codes)
        entering = codes[way] != 0
        sets.add(target, at[entering], codes[way[entering]])
        refs.clear()
        lengths.clear()

    for elem in _elements(path, {"way"}):
        before = len(refs)
        refs.extend(int(nd.get("ref", "0")) for nd in elem.iter("nd"))
        lengths.append(len(refs) - before)
        if len(refs) >= CHUNK:
            flush()
    flush()
    return np.frombuffer(way_codes, dtype=np.uint32), target


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
    sets = _Sets()
    ids, own, bounds = _node_table(osm, boxes, sets)
    if not len(ids):
        raise InputError(f"{osm.name} holds no OSM nodes: export a non-empty area")
    extent = (float(bounds[0]), float(bounds[1]), float(bounds[2]), float(bounds[3]))
    way_codes, node_codes = _way_table(osm, ids, own, sets)
    del own
    outs = [gzip.open(f, "wt", encoding="utf-8", compresslevel=1) for f in files.values()]
    try:
        for out, (west, south, east, north) in zip(outs, boxes.tolist()):
            out.write("<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\" generator=\"siting windows\">\n"
                      f'  <bounds minlon="{west!r}" minlat="{south!r}" maxlon="{east!r}" maxlat="{north!r}"/>\n')
        k = 0  # the ways come in the order of way_codes
        for elem in _elements(osm, {"node", "way"}):
            if elem.tag == "node":
                code = int(node_codes[np.searchsorted(ids, int(elem.get("id", "0")))])
            else:
                code, k = int(way_codes[k]), k + 1
            if code:
                text = _xml(elem)
                for w in sets.sets[code]:
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
