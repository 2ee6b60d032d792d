"""Atomic writers for everything siting hands to others.

Every file is written to a temporary name in the destination folder and renamed into
place, so an interrupted run never leaves a half-written file and never destroys the
previous output. GeoJSON follows RFC 7946: EPSG:4326, lon/lat, no ``crs`` member,
right-hand polygons, coordinates rounded to a fixed precision so that the same inputs
give the same bytes.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.config import MapParams
from siting.layers import map_coverage
from siting.provenance import created_timestamp

#: decimal places of lon/lat in GeoJSON: 1e-6 degrees is about 0.1 m
COORD_PRECISION = 6

_UMASK = os.umask(0)
os.umask(_UMASK)


class Terminated(BaseException):
    """SIGTERM, raised where the process was, so that ``finally`` blocks clean up before it ends."""


@contextlib.contextmanager
def cleanup_on_terminate() -> Iterator[None]:
    """Within the block, SIGTERM unwinds like Ctrl-C does (``finally`` blocks run, temporary
    files go); the process then ends by SIGTERM all the same. A no-op outside the main thread
    (a Dask worker's task), where signals cannot be handled."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, terminate) or signal.SIG_DFL  # None: set outside Python
    try:
        yield
    except Terminated:
        signal.signal(signal.SIGTERM, previous)
        os.kill(os.getpid(), signal.SIGTERM)  # end as the sender asked, now that the files are gone
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    On any exception, Ctrl-C or SIGTERM the temporary file is removed and ``path`` is left
    untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with cleanup_on_terminate():
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.tmp-", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs are for others too
            yield tmp_path
            os.replace(tmp_path, path)
        finally:
            if tmp_path.exists():
                tmp_path.unlink()


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def to_jsonable(value: Any) -> Any:
    """Convert NumPy/pandas scalars and containers into plain JSON values."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return None if not np.isfinite(f) else f
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, int)):
        return value
    if pd.isna(value):
        return None
    return str(value)


def dumps_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, two-space indent, UTF-8 kept, trailing newline."""
    return json.dumps(to_jsonable(obj), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as deterministic JSON, atomically."""
    write_text(path, dumps_json(obj))


def geojson_dict(gdf: gpd.GeoDataFrame, precision: int = COORD_PRECISION) -> dict:
    """An RFC 7946 FeatureCollection dict from ``gdf`` (any CRS; reprojected to 4326)."""
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    geoms = gdf.geometry.values
    geoms = shapely.orient_polygons(geoms) if hasattr(shapely, "orient_polygons") else geoms
    geoms = shapely.set_precision(geoms, 10.0 ** -precision, mode="pointwise")
    props = gdf.drop(columns=gdf.geometry.name)
    features = []
    for i, geom in enumerate(geoms):
        row = {str(k): to_jsonable(v) for k, v in props.iloc[i].items()}
        g = None if geom is None or shapely.is_empty(geom) else json.loads(shapely.to_geojson(geom))
        features.append({"type": "Feature", "properties": row, "geometry": g})
    return {"type": "FeatureCollection", "features": features}


def write_geojson(path: str | Path, gdf: gpd.GeoDataFrame, precision: int = COORD_PRECISION) -> None:
    """Write ``gdf`` as RFC 7946 GeoJSON (EPSG:4326, no ``crs`` member), atomically."""
    text = json.dumps(geojson_dict(gdf, precision), ensure_ascii=False, separators=(",", ":"))
    write_text(path, text + "\n")


def write_csv(path: str | Path, df: pd.DataFrame) -> None:
    """Write ``df`` as CSV (no index, ``\\n`` line ends, fixed float format), atomically.

    UTF-8 with a byte-order mark (``utf-8-sig``): Excel reads a CSV without one in the
    system code page, which turns Chinese names into mojibake on Chinese Windows; Python,
    pandas, QGIS and LibreOffice all read the mark as UTF-8 and drop it.
    """
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n", float_format="%.6f", encoding="utf-8-sig")


@contextlib.contextmanager
def gpkg_timestamp() -> Iterator[None]:
    """Stamp the GeoPackages written inside this block with :func:`created_timestamp`.

    GDAL's GPKG driver records the time of writing in ``gpkg_contents.last_change``; its
    ``OGR_CURRENT_DATE`` option fixes it, so that with ``SOURCE_DATE_EPOCH`` set the same
    layers give the same bytes. The option is process-wide: it is restored on exit.
    """
    import pyogrio

    stamp = _dt.datetime.fromisoformat(created_timestamp()).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    saved = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": stamp})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": saved})


def write_gpkg(path: str | Path, layers: dict[str, gpd.GeoDataFrame]) -> None:
    """Write several layers into one GeoPackage, atomically (all or nothing)."""
    with atomic_path(path) as tmp, gpkg_timestamp():
        tmp.unlink()  # GDAL wants to create the file itself
        for name, gdf in layers.items():
            gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")


def sites_table(sites: gpd.GeoDataFrame) -> pd.DataFrame:
    """Sites as a plain table with ``lon``/``lat`` (WGS-84) first, for spreadsheets."""
    wgs = sites.to_crs("EPSG:4326") if sites.crs is not None else sites
    table = pd.DataFrame(wgs.drop(columns=wgs.geometry.name))
    table.insert(0, "lat", np.round(wgs.geometry.y.to_numpy(), COORD_PRECISION))
    table.insert(0, "lon", np.round(wgs.geometry.x.to_numpy(), COORD_PRECISION))
    return table


def write_plan(result, out_dir: str | Path, *, extra_files: dict[str, str | bytes] | None = None,
               simplify_m: float | None = None) -> list[Path]:
    """Write a :class:`~siting.result.PlanResult` into ``out_dir``; return the paths.

    Files: one ``<layer>.geojson`` per layer except ``demand`` (``sites``,
    ``coverage``, ``gaps``, extras), ``sites.csv``, ``layers.gpkg`` (every layer in
    the metric CRS, at full resolution), ``summary.json`` and ``extra_files`` (e.g.
    ``map.html``). ``coverage.geojson`` is what the map draws: one polygon per layer
    and state, simplified by ``simplify_m`` metres (default ``map.simplify_m``), see
    :func:`siting.layers.map_coverage` (of ``result.coverage_dissolved``).
    Everything is first written into a staging folder beside ``out_dir``; only when
    all files are complete are they renamed into place, ``summary.json`` last, so an
    interrupted run leaves the previous outputs as they were. A run stopped by Ctrl-C
    or SIGTERM removes its staging folder; one left by SIGKILL is removed by the next run.

    Parameters
    ----------
    result
        The plan (:func:`siting.run_plan`).
    out_dir
        The output folder (replaced as a whole).
    extra_files
        More files by name (``map.html``).
    simplify_m
        Simplification of the drawn coverage, metres.

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.staging-*"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    with cleanup_on_terminate():
        return _write_staged(result, out, extra_files, simplify_m)


def _write_staged(result, out: Path, extra_files: dict[str, str | bytes] | None,
                  simplify_m: float | None) -> list[Path]:
    """:func:`write_plan`'s files, written into a staging folder and then renamed into ``out``."""
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    try:
        names: list[str] = []
        for name, gdf in sorted(result.layers.items()):
            if name == "coverage":
                gdf = map_coverage(result.coverage_dissolved, MapParams().simplify_m if simplify_m is None else simplify_m)
            if name != "demand":
                write_geojson(staging / f"{name}.geojson", gdf)
                names.append(f"{name}.geojson")
        if "sites" in result.layers:
            write_csv(staging / "sites.csv", sites_table(result.layers["sites"]))
            names.append("sites.csv")
        write_gpkg(staging / "layers.gpkg", {k: v for k, v in sorted(result.layers.items()) if len(v)})
        names.append("layers.gpkg")
        for name, content in sorted((extra_files or {}).items()):
            if isinstance(content, bytes):
                write_bytes(staging / name, content)
            else:
                write_text(staging / name, content)
            names.append(name)
        write_json(staging / "summary.json", result.summary)
        names.append("summary.json")
        for name in names:  # summary.json last: its presence marks a complete output
            os.replace(staging / name, out / name)
        return [out / n for n in names]
    finally:
        shutil.rmtree(staging, ignore_errors=True)
