"""Existing-sites reader and the GCJ-02 / BD-09 datum transforms."""
from __future__ import annotations

import math

import numpy as np
import pytest

from siting.io.sites import (
    bd09_to_wgs84,
    gcj02_to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)


def _scalar_gcj(lon: float, lat: float) -> tuple[float, float]:
    """An independent, scalar transcription of eviltransform's wgs2gcj (Go source)."""
    a, ee = 6378245.0, 0.00669342162296594323
    if not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271):
        return lon, lat
    x, y = lon - 105.0, lat - 35.0
    ret_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret_lat += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret_lat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret_lat += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    ret_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret_lon += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret_lon += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret_lon += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * math.pi
    magic = 1 - ee * math.sin(rad) ** 2
    sm = math.sqrt(magic)
    d_lat = (ret_lat * 180.0) / ((a * (1 - ee)) / (magic * sm) * math.pi)
    d_lon = (ret_lon * 180.0) / (a / sm * math.cos(rad) * math.pi)
    return lon + d_lon, lat + d_lat


def _metres(dlon: np.ndarray, dlat: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return np.hypot(np.asarray(dlon) * 111_320.0 * np.cos(np.radians(lat)), np.asarray(dlat) * 110_574.0)


def test_gcj02_known_pair_tiananmen():
    lon, lat = wgs84_to_gcj02(116.397, 39.908)
    assert lon == pytest.approx(116.40324, abs=2e-5)
    assert lat == pytest.approx(39.90940, abs=2e-5)


def test_gcj02_matches_independent_scalar_implementation():
    rng = np.random.default_rng(7)
    lon = rng.uniform(73, 135, 200)
    lat = rng.uniform(18, 53, 200)
    glon, glat = wgs84_to_gcj02(lon, lat)
    expected = np.array([_scalar_gcj(a, b) for a, b in zip(lon, lat)])
    np.testing.assert_allclose(glon, expected[:, 0], atol=1e-12)
    np.testing.assert_allclose(glat, expected[:, 1], atol=1e-12)
    # the offset is what DOMAIN.md says: tens to hundreds of metres, never kilometres
    off = _metres(glon - lon, glat - lat, lat)
    assert off.min() > 1 and off.max() < 1500


def test_gcj02_inverse_is_exact_to_a_centimetre():
    rng = np.random.default_rng(1)
    lon = rng.uniform(73, 135, 500)
    lat = rng.uniform(18, 53, 500)
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert _metres(back_lon - lon, back_lat - lat, lat).max() < 0.01


def test_bd09_round_trip_and_offset():
    lon, lat = np.array([116.397, 119.296, 113.94]), np.array([39.908, 26.074, 22.54])
    blon, blat = wgs84_to_bd09(lon, lat)
    # Baidu adds about 0.0065 / 0.006 degrees on top of GCJ-02
    off = _metres(blon - lon, blat - lat, lat)
    assert np.all((off > 500) & (off < 1500))
    back = bd09_to_wgs84(blon, blat)
    assert _metres(back[0] - lon, back[1] - lat, lat).max() < 0.01


def test_outside_china_unchanged():
    lon, lat = np.array([24.94, -74.0, 151.2]), np.array([60.17, 40.7, -33.9])
    glon, glat = wgs84_to_gcj02(lon, lat)
    np.testing.assert_array_equal(glon, lon)
    np.testing.assert_array_equal(glat, lat)
    wlon, wlat = gcj02_to_wgs84(lon, lat)
    np.testing.assert_array_equal(wlon, lon)
