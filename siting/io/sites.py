"""Existing sites (base stations, charging stations) from CSV, GeoJSON or Excel files.

Coordinates in a Chinese map datum (GCJ-02, BD-09) are converted to WGS-84 with
:mod:`siting.datums`.
"""
from __future__ import annotations

import io
import re
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from siting.config import SitesParams
from siting.datums import bd09_to_wgs84, gcj02_to_wgs84
from siting.errors import InputError
from siting.io import one_line
from siting.io.osm_normalise import parse_height_m

#: column names recognised in existing-sites files, in order of preference; headers are
#: compared by :func:`_header` (case, spaces, underscores, degree signs and units in brackets ignored)
LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度")
LAT_NAMES = ("lat", "latitude", "y", "纬度")
ID_NAMES = ("site_id", "id", "station_id", "编号", "站号")
NAME_NAMES = ("name", "site_name", "station_name", "名称", "站名")
HEIGHT_NAMES = ("height_m", "height", "antenna_height", "高度", "挂高")
CAPACITY_NAMES = ("capacity", "容量")
PILES_NAMES = ("piles", "chargers", "充电桩", "桩数")
DATUMS = ("wgs84", "gcj02", "bd09")
#: names of each datum a user may give (compared without case, '-', '_' and spaces): the map services' own names
DATUM_ALIASES = {"wgs84": "wgs84", "gps": "wgs84", "epsg:4326": "wgs84",
                 "gcj02": "gcj02", "amap": "gcj02", "gaode": "gcj02", "tencent": "gcj02", "qq": "gcj02",
                 "bd09": "bd09", "baidu": "bd09"}
DATUM_LABELS = {"wgs84": "WGS-84", "gcj02": "GCJ-02 (Amap, Tencent)", "bd09": "BD-09 (Baidu)"}
_TO_WGS84 = {"wgs84": lambda lon, lat: (lon, lat), "gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
SITE_SUFFIXES = (".csv", ".txt", ".geojson", ".json", ".xlsx", ".xlsm")
_WGS84 = pyproj.CRS.from_epsg(4326)


def parse_crs(crs: str) -> tuple[str, pyproj.CRS | None]:
    """The datum of ``crs`` (``wgs84``, ``gcj02``, ``bd09`` or an alias such as ``amap``,
    ``baidu``) and, for an EPSG code of a projected CRS (``EPSG:4549``), that CRS."""
    key = "".join(ch for ch in str(crs).lower() if ch not in "-_ ")
    if key in DATUM_ALIASES:
        return DATUM_ALIASES[key], None
    if key.startswith("epsg:"):
        try:
            return "wgs84", pyproj.CRS.from_user_input(key)
        except pyproj.exceptions.CRSError:
            pass
    raise InputError(f"unknown coordinate datum '{crs}': use wgs84, gcj02 (amap, tencent), bd09 (baidu) "
                     "or an EPSG code such as EPSG:4549")


def _header(name: Any) -> str:
    """A header as compared: lower case, without units in brackets, spaces, underscores or degree signs."""
    text = re.sub(r"[(（\[].*?[)）\]]", "", str(name)).lower()
    return re.sub(r"[\s_°]+", "", text)


def _find_column(columns: list[str], names: tuple[str, ...]) -> str | None:
    """The first column whose header (see :func:`_header`) is one of ``names``."""
    normal: dict[str, str] = {}
    for c in columns:
        normal.setdefault(_header(c), c)
    return next((normal[_header(n)] for n in names if _header(n) in normal), None)


def _delimiter(text: str) -> str:
    """Comma, semicolon or tab: whichever the header line uses most (comma if none)."""
    header = text.lstrip("\ufeff").split("\n", 1)[0]
    return max([",", ";", "\t"], key=header.count)


def _read_table(path: Path) -> tuple[pd.DataFrame, np.ndarray | None, pyproj.CRS | None]:
    """The file's columns, plus for GeoJSON the point coordinates (n x 2) and the declared CRS."""
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        return _read_geojson(path)
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path), None, None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = path.read_text(encoding=encoding)
            table = pd.read_csv(io.StringIO(text), sep=_delimiter(text), dtype=str, skipinitialspace=True,
                                keep_default_na=False)
            break
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
            raise InputError(f"{path.name} is not a readable CSV file ({one_line(exc)}): "
                             "save it as comma-separated text with a header row") from None
    else:
        raise InputError(f"{path.name} is neither UTF-8 nor GBK text: save it as UTF-8 CSV")
    return table, None, None


def _read_geojson(path: Path) -> tuple[pd.DataFrame, np.ndarray, pyproj.CRS | None]:
    import pyogrio

    try:
        gdf = pyogrio.read_dataframe(path)
    except Exception as exc:  # GDAL reports corrupt JSON in many ways
        raise InputError(f"{path.name} is not readable GeoJSON ({one_line(exc)}): fix or re-export it") from None
    geoms = gdf.geometry.to_numpy()
    kinds = shapely.get_type_id(geoms)
    bad = np.flatnonzero((kinds != 0) | shapely.is_empty(geoms))
    if bad.size:
        kind = "feature without geometry" if geoms[bad[0]] is None else geoms[bad[0]].geom_type
        raise InputError(f"{path.name}: feature {bad[0] + 1} is a {kind}, not a point: "
                         "existing sites must be points")
    return pd.DataFrame(gdf.drop(columns="geometry")).astype(object), shapely.get_coordinates(geoms), gdf.crs


def _read_xlsx(path: Path) -> pd.DataFrame:
    """The first sheet of an Excel workbook as text columns."""
    try:
        import openpyxl  # noqa: F401  (pandas' reader for .xlsx)
    except ImportError:
        raise InputError(f"{path.name}: reading .xlsx needs the openpyxl package: pip install openpyxl, "
                         "or save the sheet as CSV") from None
    try:
        table = pd.read_excel(path, sheet_name=0, dtype=str, keep_default_na=False, engine="openpyxl")
    except Exception as exc:  # openpyxl and zipfile report broken workbooks in many ways
        raise InputError(f"{path.name} is not a readable .xlsx workbook ({one_line(exc)}): "
                         "save it again from Excel, or as CSV") from None
    return table.rename(columns=str)


def _coordinates(table: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Numeric lon/lat (or x/y) from the recognised columns; text in a cell is an error naming it."""
    columns = list(table.columns)
    lon_col, lat_col = _find_column(columns, LON_NAMES), _find_column(columns, LAT_NAMES)
    if lon_col is None or lat_col is None:
        raise InputError(f"{name}: no longitude/latitude columns among {columns[:12]}: "
                         f"name them one of {'/'.join(LON_NAMES)} and {'/'.join(LAT_NAMES)}")
    values = []
    for col in (lon_col, lat_col):
        text = table[col].astype(str).str.strip().str.rstrip("°").replace({"nan": "", "None": ""})
        number = pd.to_numeric(text, errors="coerce")
        bad = np.flatnonzero(number.isna().to_numpy() & (text != "").to_numpy()
                             | ~np.isfinite(number.fillna(0).to_numpy()))
        if bad.size:
            raise InputError(f"{name}: row {bad[0] + 1}, column '{col}': '{table[col].iloc[bad[0]]}' is not a "
                             f"number: fix or remove that row ({bad.size} such rows)")
        values.append(number.to_numpy(dtype=float))
    return values[0], values[1], lon_col, lat_col


def _metric_crs(area: Any) -> str:
    """The area's metric CRS (its UTM zone when it does not say)."""
    crs = getattr(area, "crs", None)
    return crs or str(gpd.GeoSeries([area.boundary_wgs84], crs=_WGS84).estimate_utm_crs())


def _to_crs(x: np.ndarray, y: np.ndarray, source, target) -> tuple[np.ndarray, np.ndarray]:
    return pyproj.Transformer.from_crs(source, target, always_xy=True).transform(x, y)


def _inside(lon: np.ndarray, lat: np.ndarray, area: Any) -> np.ndarray:
    return shapely.contains_xy(area.boundary_wgs84, lon, lat)


def _projected_crs_hint(x: np.ndarray, y: np.ndarray, area: Any) -> str:
    """What to do about projected coordinates without a CRS: the CRS they look like, when one fits."""
    zone = int(np.median(x) // 1e6)
    guesses = []
    if 25 <= zone <= 45:  # CGCS2000 3-degree Gauss-Krüger with the zone number in front of the easting
        guesses = [f"EPSG:{4513 + zone - 25}"]
    elif 13 <= zone <= 23:  # CGCS2000 6-degree Gauss-Krüger with the zone number
        guesses = [f"EPSG:{4491 + zone - 13}"]
    elif zone == 0 and area is not None:  # no zone number: the 3-degree zone or the UTM zone of the area
        cm = 3 * round(area.boundary_wgs84.centroid.x / 3)
        guesses = [f"EPSG:{4534 + (cm - 75) // 3}"] * (75 <= cm <= 135) + [_metric_crs(area)]
        guesses = [g for g in guesses if _inside(*_to_crs(x, y, g, _WGS84), area).any()][:1]
    if guesses:
        crs = pyproj.CRS.from_user_input(guesses[0])
        return (f"they look like {guesses[0]} ({crs.name}): pass --existing-crs {guesses[0]}, "
                "or re-export the file in EPSG:4326")
    return ("pass their EPSG code with --existing-crs (e.g. EPSG:4549, CGCS2000 / 3-degree Gauss-Kruger CM 120E), "
            "or re-export the file in EPSG:4326")


def _check_lonlat(lon: np.ndarray, lat: np.ndarray, name: str, area: Any) -> None:
    """Refuse coordinates outside the lon/lat range, naming the likely CRS of projected metres."""
    bad = np.flatnonzero((np.abs(lon) > 180) | (np.abs(lat) > 90))
    if not bad.size:
        return
    i = bad[0]
    if np.median(np.abs(lon)) > 1000 and np.median(np.abs(lat)) > 1000:
        raise InputError(f"{name}: coordinates such as x {lon[i]:.0f}, y {lat[i]:.0f} are projected metres, not "
                         f"longitude/latitude, and the file declares no CRS: {_projected_crs_hint(lon, lat, area)}")
    raise InputError(f"{name}: row {i + 1} has longitude {lon[i]:g}, latitude {lat[i]:g} "
                     "outside the lon/lat range: check the coordinates and their columns")


def _road_distance_m(lon: np.ndarray, lat: np.ndarray, area: Any) -> np.ndarray:
    """Distance (m) from each WGS-84 point to the nearest road of the area."""
    x, y = _to_crs(lon, lat, _WGS84, area.crs)
    _, dist = area.road_edges.sindex.nearest(shapely.points(x, y), return_distance=True, return_all=False)
    return dist


def check_datum(lon: np.ndarray, lat: np.ndarray, datum: str, area: Any, name: str,
                params: SitesParams) -> str | None:
    """Warn when the points fit the area's roads far better in another datum than in ``datum``.

    ``lon``/``lat`` are the coordinates as given. Points from Amap or Tencent declared as
    WGS-84 sit a few hundred metres off the roads, all in the same direction (the
    GCJ-02 offset); removing the offset puts them back. Returns the datum that fits
    better, or None (also when too few points lie in the area to tell).
    """
    roads = getattr(area, "road_edges", None)
    if roads is None or len(roads) == 0:
        return None
    inside = _inside(*_TO_WGS84[datum](lon, lat), area)
    if inside.sum() < params.datum_check_min_sites:
        return None
    median = {d: float(np.median(_road_distance_m(*f(lon[inside], lat[inside]), area))) for d, f in _TO_WGS84.items()}
    best = min(median, key=lambda d: median[d])
    if best == datum or median[best] >= params.datum_check_ratio * median[datum]:
        return None
    warnings.warn(f"{name}: the sites sit a median {median[datum]:.0f} m from the nearest road as "
                  f"{DATUM_LABELS[datum]} but {median[best]:.0f} m as {DATUM_LABELS[best]}: they look like "
                  f"{DATUM_LABELS[best]} coordinates; if so, pass --existing-crs {best}", stacklevel=3)
    return best


def read_sites(path: str | Path, *, crs: str = "wgs84", area: Any = None, buffer_m: float | None = None,
               params: SitesParams | None = None) -> gpd.GeoDataFrame:
    """Existing sites from CSV, Excel (.xlsx) or GeoJSON as WGS-84 points.

    Parameters
    ----------
    path
        ``.csv``/``.txt`` (UTF-8 or GBK) or ``.xlsx`` (first sheet) with longitude and
        latitude columns, found by name (lon, lng, longitude, x, 经度 / lat, latitude, y,
        纬度; case, units in brackets such as ``Longitude (E)`` ignored), or GeoJSON
        points (reprojected from the CRS the file declares).
    crs
        Datum of the coordinates: ``wgs84`` (GPS, OSM), ``gcj02`` (Amap, Tencent; also
        ``amap``, ``tencent``) or ``bd09`` (Baidu; also ``baidu``), converted to WGS-84;
        or the EPSG code of a projected CRS (``EPSG:4549``).
    area
        Optional :class:`~siting.area.Area`: used to detect swapped lat/lon and a wrong
        datum (points that fit the roads only after a GCJ-02/BD-09 shift), and to mark
        sites inside it (column ``in_area``).
    buffer_m
        With ``area``: sites farther than this outside the area are left out (with a
        warning); those closer are kept with ``in_area`` False.
    params
        The checks' thresholds (:class:`~siting.config.SitesParams`).

    Returns
    -------
    GeoDataFrame in EPSG:4326 with ``site_id`` (str), ``name``, ``height_m``,
    ``capacity``, ``piles`` (float, NaN if unknown), ``in_area`` (bool, with ``area``),
    the file's other columns, and ``attrs["sites"]`` recording the datum, the CRS
    reprojected from, whether lat/lon were swapped, and how many sites lie in the area,
    outside it, and beyond the buffer (left out).
    """
    path = Path(path)
    params = params or SitesParams()
    datum, user_crs = parse_crs(crs)
    if path.suffix.lower() not in SITE_SUFFIXES:
        raise InputError(f"{path.name}: unsupported sites file type '{path.suffix}': use .csv, .xlsx or .geojson")
    if not path.is_file():
        raise InputError(f"sites file {path} does not exist: check the path")
    if path.stat().st_size == 0:
        raise InputError(f"sites file {path} is empty: it needs a header row and one row per site")
    table, xy, file_crs = _read_table(path)
    if xy is not None:
        lon, lat = xy[:, 0].copy(), xy[:, 1].copy()
        coord_cols: list[str] = []
    else:
        lon, lat, lon_col, lat_col = _coordinates(table, path.name)
        coord_cols = [lon_col, lat_col]
    usable = np.isfinite(lon) & np.isfinite(lat)
    if not usable.any():
        raise InputError(f"{path.name} has no rows with both longitude and latitude: fill in the coordinates")
    if not usable.all():
        warnings.warn(f"{path.name}: {int((~usable).sum())} rows without coordinates skipped", stacklevel=2)
        table, lon, lat = table[usable].reset_index(drop=True), lon[usable], lat[usable]
    source_crs = file_crs if file_crs is not None and not file_crs.is_geographic else user_crs
    swapped = False
    if source_crs is not None:
        lon, lat = (np.asarray(a, dtype=float) for a in _to_crs(lon, lat, source_crs, _WGS84))
        _check_lonlat(lon, lat, f"{path.name} (in {source_crs.to_string()})", None)
    else:
        to_wgs84 = _TO_WGS84[datum]
        swapped = bool(np.any(np.abs(lat) > 90) and np.all(np.abs(lon) <= 90))
        if not swapped and area is not None:
            given = _inside(*to_wgs84(lon, lat), area).sum()
            flipped = _inside(*to_wgs84(lat, lon), area).sum()
            swapped = bool(flipped > given)
        if swapped:
            lon, lat = lat, lon
            warnings.warn(f"{path.name}: longitude and latitude look swapped (columns or axis order); "
                          "they were swapped back, check the file", stacklevel=2)
        _check_lonlat(lon, lat, path.name, area)
        if area is not None:
            check_datum(lon, lat, datum, area, path.name, params)
        lon, lat = to_wgs84(lon, lat)
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    info = {"datum": datum, "reprojected_from": source_crs.to_string() if source_crs is not None else None,
            "swapped": swapped, "source": path.name}
    in_area = None
    if area is not None:
        table, lon, lat, in_area = _near_area(table, lon, lat, area, buffer_m, path.name, info)
    return _site_frame(table, lon, lat, coord_cols, in_area, info)


def _near_area(table: pd.DataFrame, lon: np.ndarray, lat: np.ndarray, area: Any, buffer_m: float | None,
               name: str, info: dict) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Sites in the area or within ``buffer_m`` of it, whether each is in the area, and the counts in ``info``."""
    inside = _inside(lon, lat, area)
    keep = np.ones(len(lon), dtype=bool)
    if buffer_m is not None:
        crs = _metric_crs(area)
        boundary = gpd.GeoSeries([area.boundary_wgs84], crs=_WGS84).to_crs(crs).iloc[0]
        keep = inside | (shapely.distance(boundary, shapely.points(*_to_crs(lon, lat, _WGS84, crs))) <= buffer_m)
    total, outside, dropped = len(lon), int((~inside).sum()), int((~keep).sum())
    info.update(in_area=int(inside.sum()), outside_area=outside, beyond_buffer=dropped,
                buffer_m=None if buffer_m is None else round(buffer_m, 1))
    if dropped:
        kept = outside - dropped
        warnings.warn(f"{name}: {dropped} of {total} sites lie more than {buffer_m:,.0f} m outside the area and were "
                      f"left out; {kept} closer to it {'are' if kept != 1 else 'is'} kept but not counted as the "
                      "area's own", stacklevel=3)
    elif outside:
        warnings.warn(f"{name}: {outside} of {total} sites lie outside the area", stacklevel=3)
    return table[keep].reset_index(drop=True), lon[keep], lat[keep], inside[keep]


def _strings_or_none(values: pd.Series) -> np.ndarray:
    """A source column as it was, with blank cells as missing values (a copy: pandas may lend read-only arrays)."""
    arr = values.to_numpy(dtype=object, copy=True)
    blank = pd.isna(arr) | (values.astype(str).str.strip() == "").to_numpy()
    arr[blank] = None
    return arr


def _counts(values: pd.Series) -> pd.Series:
    """Non-negative numbers (capacity, piles); anything else is NaN."""
    number = pd.to_numeric(values, errors="coerce")
    return number.where(number >= 0)


def _site_frame(table: pd.DataFrame, lon: np.ndarray, lat: np.ndarray, coord_cols: list[str],
                in_area: np.ndarray | None, info: dict) -> gpd.GeoDataFrame:
    """The output frame: standard columns first, then the file's other columns."""
    columns = list(table.columns)

    def text(names):
        col = _find_column(columns, names)
        return (table[col].astype(str).str.strip().replace({"": None}) if col is not None
                else pd.Series(None, index=table.index, dtype=object)), col

    def number(names, parse):
        col = _find_column(columns, names)
        values = table[col] if col is not None else pd.Series(None, index=table.index, dtype=object)
        return parse(values.astype(object).where(values.astype(str).str.strip() != "", None)), col

    ids, id_col = text(ID_NAMES)
    ids = ids.fillna(pd.Series([f"site-{i + 1}" for i in range(len(table))], index=table.index))
    dup = ids[ids.duplicated()]
    if len(dup):
        raise InputError(f"site id '{dup.iloc[0]}' appears more than once: make the ids unique")
    names, name_col = text(NAME_NAMES)
    height, height_col = number(HEIGHT_NAMES, parse_height_m)
    capacity, cap_col = number(CAPACITY_NAMES, _counts)
    piles, piles_col = number(PILES_NAMES, _counts)
    used = set(coord_cols) | {id_col, name_col, height_col, cap_col, piles_col}
    own = {"site_id", "name", "height_m", "capacity", "piles", "geometry"}
    if in_area is not None:
        own.add("in_area")
    rest = table[[c for c in columns if c not in used and c not in own]]
    standard = {
        "site_id": ids.astype(str).to_numpy(),
        "name": names.to_numpy(),
        "height_m": height.to_numpy(dtype=float),
        "capacity": capacity.to_numpy(dtype=float),
        "piles": piles.to_numpy(dtype=float),
    }
    if in_area is not None:
        standard["in_area"] = np.asarray(in_area, dtype=bool)
    out = gpd.GeoDataFrame({**standard, **{c: _strings_or_none(rest[c]) for c in rest.columns}},
                           geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    out.attrs["sites"] = info
    return out
