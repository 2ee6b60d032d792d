"""Existing sites (base stations, charging stations) and Chinese map datums.

Points taken from Chinese web maps are not in WGS-84: Amap and Tencent use GCJ-02
(an obfuscated WGS-84 with offsets of a few hundred metres), Baidu uses BD-09 on top
of GCJ-02 (``DOMAIN.md`` §Coordinates, ``googollee/eviltransform``). The transforms
here are the standard eviltransform algorithm, vectorised over NumPy arrays; points
outside China are left unchanged, as the datum is only applied inside China.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.errors import InputError
from siting.io.osm import _short, parse_height_m

#: Krasovsky 1940 ellipsoid used by GCJ-02: semi-major axis (m) and eccentricity².
_A = 6378245.0
_EE = 0.00669342162296594323
_BD_X_PI = np.pi * 3000.0 / 180.0


def _arrays(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return lon, lat


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The rectangle inside which GCJ-02 applies its offset (eviltransform's bounds)."""
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS-84 in degrees (dlon, dlat) at WGS-84 point (lon, lat)."""
    x = lon - 105.0
    y = lat - 35.0
    xpi, ypi = x * np.pi, y * np.pi
    common = (20.0 * np.sin(6.0 * xpi) + 20.0 * np.sin(2.0 * xpi)) * 2.0 / 3.0
    dlat = (common
            + (20.0 * np.sin(ypi) + 40.0 * np.sin(ypi / 3.0)) * 2.0 / 3.0
            + (160.0 * np.sin(ypi / 12.0) + 320.0 * np.sin(ypi / 30.0)) * 2.0 / 3.0
            - 100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x)))
    dlon = (common
            + (20.0 * np.sin(xpi) + 40.0 * np.sin(xpi / 3.0)) * 2.0 / 3.0
            + (150.0 * np.sin(xpi / 12.0) + 300.0 * np.sin(xpi / 30.0)) * 2.0 / 3.0
            + 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x)))
    rad = np.radians(lat)
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = dlon * 180.0 / (_A / sqrt_magic * np.cos(rad) * np.pi)
    inside = _in_china(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 lon/lat (arrays or scalars) to GCJ-02 (Amap, Tencent)."""
    lon, lat = _arrays(lon, lat)
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def _invert(forward, lon: np.ndarray, lat: np.ndarray, start: tuple[np.ndarray, np.ndarray],
            tol_deg: float = 1e-10, max_iter: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``forward(x) = (lon, lat)`` by fixed-point iteration from ``start``.

    The datum offsets vary by less than 1e-4 per degree, so each step shrinks the
    error by about four orders of magnitude; a few steps reach ``tol_deg``
    (1e-10 degrees is about 0.01 mm).
    """
    xlon, xlat = (np.array(a, dtype=float) for a in start)
    for _ in range(max_iter):
        flon, flat = forward(xlon, xlat)
        elon, elat = flon - lon, flat - lat
        xlon, xlat = xlon - elon, xlat - elat
        err = np.abs(np.concatenate([np.ravel(elon), np.ravel(elat)]))
        if not np.any(err >= tol_deg):  # NaN coordinates never converge; they stay NaN
            break
    return xlon, xlat


def gcj02_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 lon/lat (Amap, Tencent) to WGS-84: the exact inverse (error < 0.01 m)."""
    lon, lat = _arrays(lon, lat)
    return _invert(wgs84_to_gcj02, lon, lat, (lon, lat))


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 lon/lat to BD-09 (Baidu)."""
    x, y = _arrays(lon, lat)
    z = np.hypot(x, y) + 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _BD_X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd09_to_gcj02_approx(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Baidu's closed-form inverse (error up to a few centimetres)."""
    lon, lat = _arrays(lon, lat)
    x, y = lon - 0.0065, lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def bd09_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 lon/lat (Baidu) to GCJ-02: the closed form, refined to the exact inverse."""
    lon, lat = _arrays(lon, lat)
    return _invert(gcj02_to_bd09, lon, lat, _bd09_to_gcj02_approx(lon, lat))


def wgs84_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 lon/lat to BD-09 (Baidu)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 lon/lat (Baidu) to WGS-84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


# ----------------------------------------------------------------------------- existing sites

#: column names recognised in existing-sites files (lower-case, stripped), in order of preference
LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度")
LAT_NAMES = ("lat", "latitude", "y", "纬度")
ID_NAMES = ("site_id", "id", "station_id", "编号", "站号")
NAME_NAMES = ("name", "site_name", "station_name", "名称", "站名")
HEIGHT_NAMES = ("height_m", "height", "antenna_height", "高度", "挂高")
CAPACITY_NAMES = ("capacity", "容量")
PILES_NAMES = ("piles", "chargers", "充电桩", "桩数")
DATUMS = ("wgs84", "gcj02", "bd09")
_TO_WGS84 = {"wgs84": lambda lon, lat: (lon, lat), "gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
SITE_SUFFIXES = (".csv", ".txt", ".geojson", ".json")


def _find_column(columns: list[str], names: tuple[str, ...]) -> str | None:
    """The first column whose stripped, lower-cased name is one of ``names``."""
    normal = {str(c).strip().lower(): c for c in columns}
    return next((normal[n] for n in names if n in normal), None)


def _delimiter(text: str) -> str:
    """Comma, semicolon or tab: whichever the header line uses most (comma if none)."""
    header = text.lstrip("\ufeff").split("\n", 1)[0]
    return max([",", ";", "\t"], key=header.count)


def _read_table(path: Path) -> tuple[pd.DataFrame, np.ndarray | None]:
    """CSV as text columns, or GeoJSON properties plus point coordinates (n x 2)."""
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        import pyogrio

        try:
            gdf = pyogrio.read_dataframe(path)
        except Exception as exc:  # GDAL reports corrupt JSON in many ways
            raise InputError(f"{path.name} is not readable GeoJSON ({_short(exc)}): fix or re-export it") from None
        geoms = gdf.geometry.to_numpy()
        kinds = shapely.get_type_id(geoms)
        bad = np.flatnonzero((kinds != 0) | shapely.is_empty(geoms))
        if bad.size:
            kind = "feature without geometry" if geoms[bad[0]] is None else geoms[bad[0]].geom_type
            raise InputError(f"{path.name}: feature {bad[0] + 1} is a {kind}, not a point: "
                             "existing sites must be points")
        xy = shapely.get_coordinates(geoms)
        return pd.DataFrame(gdf.drop(columns="geometry")).astype(object), xy
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = path.read_text(encoding=encoding)
            table = pd.read_csv(io.StringIO(text), sep=_delimiter(text), dtype=str, skipinitialspace=True,
                                keep_default_na=False)
            break
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
            raise InputError(f"{path.name} is not a readable CSV file ({_short(exc)}): "
                             "save it as comma-separated text with a header row") from None
    else:
        raise InputError(f"{path.name} is neither UTF-8 nor GBK text: save it as UTF-8 CSV")
    return table, None


def _coordinates(table: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Numeric lon/lat from the recognised columns; text in a cell is an error naming it."""
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


def _inside(lon: np.ndarray, lat: np.ndarray, area: Any) -> np.ndarray:
    return shapely.contains_xy(area.boundary_wgs84, lon, lat)


def read_sites(path: str | Path, crs: str = "wgs84", area: Any = None) -> gpd.GeoDataFrame:
    """Existing sites from CSV or GeoJSON as WGS-84 points.

    Parameters
    ----------
    path
        ``.csv``/``.txt`` with longitude and latitude columns (found by name: lon, lng,
        longitude, x, 经度 / lat, latitude, y, 纬度; UTF-8 or GBK), or GeoJSON points.
    crs
        Datum of the coordinates: ``wgs84`` (GPS, OSM), ``gcj02`` (Amap, Tencent) or
        ``bd09`` (Baidu); converted to WGS-84.
    area
        Optional :class:`~siting.area.Area`: used to detect swapped lat/lon and to warn
        about sites outside it.

    Returns
    -------
    GeoDataFrame in EPSG:4326 with ``site_id`` (str), ``name``, ``height_m``,
    ``capacity``, ``piles`` (float, NaN if unknown), the file's other columns, and
    ``attrs["sites"]`` recording the datum, whether lat/lon were swapped and how many
    sites lie outside the area.
    """
    path = Path(path)
    datum = str(crs).lower().replace("-", "").replace("_", "")
    if datum not in DATUMS:
        raise InputError(f"unknown coordinate datum '{crs}': use one of {', '.join(DATUMS)}")
    if path.suffix.lower() not in SITE_SUFFIXES:
        raise InputError(f"{path.name}: unsupported sites file type '{path.suffix}': use .csv or .geojson")
    if not path.is_file():
        raise InputError(f"sites file {path} does not exist: check the path")
    if path.stat().st_size == 0:
        raise InputError(f"sites file {path} is empty: it needs a header row and one row per site")
    table, xy = _read_table(path)
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
    bad = np.flatnonzero((np.abs(lon) > 180) | (np.abs(lat) > 90))
    if bad.size:
        raise InputError(f"{path.name}: row {bad[0] + 1} has longitude {lon[bad[0]]:g}, latitude {lat[bad[0]]:g} "
                         "outside the lon/lat range: check the coordinates and their columns")
    lon, lat = to_wgs84(lon, lat)
    outside = 0
    if area is not None:
        outside = int((~_inside(lon, lat, area)).sum())
        if outside:
            warnings.warn(f"{path.name}: {outside} of {len(lon)} sites lie outside the area", stacklevel=2)
    return _site_frame(table, np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), coord_cols,
                       {"datum": datum, "swapped": swapped, "outside_area": outside, "source": path.name})


def _strings_or_none(values: pd.Series) -> np.ndarray:
    """A source column as it was, with blank cells as missing values."""
    arr = values.to_numpy(dtype=object)
    blank = pd.isna(arr) | (values.astype(str).str.strip() == "").to_numpy()
    arr[blank] = None
    return arr


def _counts(values: pd.Series) -> pd.Series:
    """Non-negative numbers (capacity, piles); anything else is NaN."""
    number = pd.to_numeric(values, errors="coerce")
    return number.where(number >= 0)


def _site_frame(table: pd.DataFrame, lon: np.ndarray, lat: np.ndarray, coord_cols: list[str],
                info: dict) -> gpd.GeoDataFrame:
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
    rest = table[[c for c in columns if c not in used and c not in {"site_id", "name", "height_m", "capacity",
                                                                      "piles", "geometry"}]]
    out = gpd.GeoDataFrame({
        "site_id": ids.astype(str).to_numpy(),
        "name": names.to_numpy(),
        "height_m": height.to_numpy(dtype=float),
        "capacity": capacity.to_numpy(dtype=float),
        "piles": piles.to_numpy(dtype=float),
        **{c: _strings_or_none(rest[c]) for c in rest.columns},
    }, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    out.attrs["sites"] = info
    return out
