"""Terrain-aware radio paths: profiles over a DEM, line of sight and diffraction loss.

For every transmitter-receiver pair the terrain (plus building heights where given) is
sampled along the straight path with bilinear interpolation, the Earth's curvature is
added as the bulge ``d1*d2/(2*k*R)`` (effective radius ``k*R``, k = 4/3), and the path is
tested against the first Fresnel zone ``r1 = sqrt(lambda*d1*d2/d)`` (DOMAIN §2). The
diffraction loss of an obstructed path follows ITU-R P.526: the knife-edge loss

    J(nu) = 6.9 + 20*log10(sqrt((nu - 0.1)**2 + 1) + nu - 0.1)   for nu > -0.78, else 0

with ``nu = sqrt(2) * h / r1`` for an obstacle ``h`` metres above the direct ray, applied to
the single worst edge, to up to three edges by the Deygout construction (P.526 general
path: ``L = J(nu_p) + T*(J(nu_t) + J(nu_r) + C)``, ``T = 1 - exp(-J(nu_p)/6)``,
``C = 10 + 0.04*D[km]``), or to the Bullington equivalent edge.

Everything is vectorised across pairs: pairs are sorted by length and processed in
chunks of equal sample count, so memory stays bounded and no Python loop runs per pair.
All coordinates are in the DEM's (the area's) metric CRS.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds

from siting.buildings import heights_m
from siting.config import TerrainParams
from siting.elevation import Dem

#: Mean Earth radius [m] (IUGG), scaled by ``k_factor`` for the effective radius.
EARTH_RADIUS_M = 6_371_000.0
#: Speed of light used for the wavelength, as in the 38.901 formulas (DOMAIN §1.1).
C_M_S = 3.0e8
#: Knife-edge parameter below which P.526's J(nu) is zero.
NU_MIN = -0.78
#: Excess loss [dB] and Fresnel clearance [share of r1] below which the terrain's effect
#: is rounding of the float32 DEM (a millimetre on a metre-wide zone), not an obstacle.
EXCESS_TOL_DB = 0.01
CLEARANCE_TOL = 1e-3
#: Samples (pairs x points) processed at once; bounds memory to a few hundred MB.
CHUNK_SAMPLES = 2_000_000

_DEFAULTS = TerrainParams()


@dataclass(frozen=True, eq=False)
class Profiles:
    """Terrain profiles of ``n`` paths, each sampled at equal steps from tx to rx (ends included).

    Rows are padded to a common width ``k`` by repeating the receiver point (fraction 1);
    :attr:`inner` marks the samples strictly between the two ends.
    """

    distance_m: np.ndarray    # (n,) horizontal path length
    fraction: np.ndarray      # (n, k) position of each sample along its path, 0 (tx) .. 1 (rx)
    elevation_m: np.ndarray   # (n, k) ground elevation plus buildings, metres above sea level
    k_factor: float = _DEFAULTS.k_factor

    @property
    def inner(self) -> np.ndarray:
        """(n, k) True for samples strictly between transmitter and receiver."""
        return (self.fraction > 0.0) & (self.fraction < 1.0)

    @property
    def bulge_m(self) -> np.ndarray:
        """(n, k) rise of the Earth above the chord between the path ends (effective radius)."""
        d1 = self.distance_m[:, None] * self.fraction
        d2 = self.distance_m[:, None] - d1
        return d1 * d2 / (2.0 * self.k_factor * EARTH_RADIUS_M)


@dataclass(frozen=True, eq=False)
class TerrainLoss:
    """Per pair: extra loss from terrain, line of sight, and the worst Fresnel clearance."""

    loss_db: np.ndarray    # (n,) diffraction loss, >= 0
    los: np.ndarray        # (n,) bool: the Fresnel clearance criterion holds along the whole path
    clearance: np.ndarray  # (n,) min over the path of (ray height - obstacle) / r1; +inf for paths without samples


def knife_edge_db(nu: np.ndarray | float) -> np.ndarray:
    """ITU-R P.526 knife-edge diffraction loss J(nu) [dB]; 0 for nu <= -0.78."""
    nu = np.asarray(nu, dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):
        v = np.where(nu > NU_MIN, nu, 0.0) - 0.1
        j = 6.9 + 20.0 * np.log10(np.sqrt(v * v + 1.0) + v)
    return np.where(nu > NU_MIN, j, 0.0)


def sample_grid(dem: Dem, x: np.ndarray, y: np.ndarray, grid: np.ndarray | None = None) -> np.ndarray:
    """Bilinear value of ``grid`` (default: the elevation) at points (x, y) in the DEM's CRS.

    Points beyond the grid take the value of the nearest edge.
    """
    z = dem.elevation if grid is None else grid
    rows, cols = z.shape
    t = dem.transform
    c = np.clip((np.asarray(x, dtype=float) - t.c) / t.a - 0.5, 0.0, cols - 1.0)
    r = np.clip((np.asarray(y, dtype=float) - t.f) / t.e - 0.5, 0.0, rows - 1.0)
    c0 = np.minimum(c.astype(np.intp), cols - 2)
    r0 = np.minimum(r.astype(np.intp), rows - 2)
    fc, fr = c - c0, r - r0
    flat = z.ravel()
    i = r0 * cols + c0
    top = flat[i] * (1.0 - fc) + flat[i + 1] * fc
    bottom = flat[i + cols] * (1.0 - fc) + flat[i + cols + 1] * fc
    return top * (1.0 - fr) + bottom * fr


def profiles(
    dem: Dem,
    tx_xy: np.ndarray,
    rx_xy: np.ndarray,
    step_m: float | None = None,
    n_samples: int | np.ndarray | None = None,
    clutter: np.ndarray | None = None,
    k_factor: float = _DEFAULTS.k_factor,
) -> Profiles:
    """Sample the terrain along each tx->rx path.

    ``n_samples`` (one number, or one per path) fixes the number of samples including both
    ends; by default each path gets ``ceil(length / step_m) + 1`` samples, ``step_m``
    defaulting to the DEM cell size (DOMAIN §2: sample every <= grid step).
    ``clutter`` is a grid of obstacle heights above ground aligned with the DEM (e.g.
    :func:`building_grid`); it is left out within one DEM cell of either end, so the
    receiver's own block and the site's own roof do not block the path.
    """
    tx = np.asarray(tx_xy, dtype=float).reshape(-1, 2)
    rx = np.asarray(rx_xy, dtype=float).reshape(-1, 2)
    delta = rx - tx
    dist = np.hypot(delta[:, 0], delta[:, 1])
    if n_samples is None:
        n_samples = sample_counts(dist, float(step_m or dem.resolution_m))
    count = np.maximum(np.broadcast_to(np.asarray(n_samples, dtype=np.intp), dist.shape), 2)
    j = np.arange(count.max(initial=2))
    frac = np.minimum(j / (count[:, None] - 1.0), 1.0)
    x = tx[:, :1] + delta[:, :1] * frac
    y = tx[:, 1:] + delta[:, 1:] * frac
    z = sample_grid(dem, x, y)
    if clutter is not None:
        d1 = dist[:, None] * frac
        inner = (d1 > dem.resolution_m) & (dist[:, None] - d1 > dem.resolution_m)
        z = z + np.where(inner, sample_grid(dem, x, y, clutter), 0.0)
    return Profiles(dist, frac, z, k_factor)


def sample_counts(distance_m: np.ndarray, step_m: float) -> np.ndarray:
    """Samples per path, ends included, so that consecutive samples are at most ``step_m`` apart."""
    return np.maximum(np.ceil(np.asarray(distance_m, dtype=float) / step_m).astype(np.intp) + 1, 2)


def terrain_loss_db(
    dem: Dem,
    tx_xy: np.ndarray,
    tx_h_agl: np.ndarray | float,
    rx_xy: np.ndarray,
    rx_h_agl: np.ndarray | float,
    fc_ghz: float,
    method: str = _DEFAULTS.method,
    *,
    step_m: float | None = None,
    clutter: np.ndarray | None = None,
    k_factor: float = _DEFAULTS.k_factor,
    fresnel_clearance: float = _DEFAULTS.fresnel_clearance,
    excess: bool = False,
) -> TerrainLoss:
    """Diffraction loss and line of sight of each tx->rx path over the DEM.

    Antenna heights are above the ground at each end (ground from the DEM). ``method`` is
    ``"deygout"`` (P.526, up to three edges), ``"bullington"`` or ``"single"`` (worst edge).

    With ``excess=True`` the result is what the terrain adds to a path over smooth Earth
    between the same two ground points (the reference of empirical models such as TR
    38.901, which already include the ground's own effect): ``loss_db`` is the loss over
    the profile minus the loss over the smooth profile (never negative; differences
    below :data:`EXCESS_TOL_DB` are rounding and count as 0), and ``los`` is False only
    where the terrain both fails the Fresnel criterion and clears less than smooth Earth
    would (by more than :data:`CLEARANCE_TOL`).
    """
    if method not in ("deygout", "bullington", "single"):
        raise ValueError(f"unknown diffraction method {method!r}")
    tx = np.asarray(tx_xy, dtype=float).reshape(-1, 2)
    rx = np.asarray(rx_xy, dtype=float).reshape(-1, 2)
    n = len(tx)
    h_tx = np.broadcast_to(np.asarray(tx_h_agl, dtype=float), (n,))
    h_rx = np.broadcast_to(np.asarray(rx_h_agl, dtype=float), (n,))
    wavelength = C_M_S / (fc_ghz * 1e9)
    step = float(step_m or dem.resolution_m)
    dist = np.hypot(*(rx - tx).T)
    order = np.argsort(dist, kind="stable")
    samples = sample_counts(dist[order], step)
    loss = np.zeros(n)
    clear = np.full(n, np.inf)
    smooth_clear = np.full(n, np.inf)
    start = 0
    while start < n:
        stop = min(n, start + max(1, CHUNK_SAMPLES // samples[start]))
        stop = min(stop, start + max(1, CHUNK_SAMPLES // samples[stop - 1]))
        idx = order[start:stop]
        prof = profiles(dem, tx[idx], rx[idx], n_samples=samples[start:stop], clutter=clutter,
                        k_factor=k_factor)
        loss[idx], clear[idx] = _path_loss(prof, h_tx[idx], h_rx[idx], wavelength, method)
        if excess:
            ends = prof.elevation_m[:, [0, -1]]
            chord = ends[:, :1] + (ends[:, 1:] - ends[:, :1]) * prof.fraction
            smooth = Profiles(prof.distance_m, prof.fraction, chord, k_factor)
            smooth_loss, smooth_clear[idx] = _path_loss(smooth, h_tx[idx], h_rx[idx], wavelength, method)
            loss[idx] -= smooth_loss
        start = stop
    los = clear >= fresnel_clearance
    if excess:
        loss = np.where(loss > EXCESS_TOL_DB, loss, 0.0)
        los |= clear >= smooth_clear - CLEARANCE_TOL
    return TerrainLoss(loss, los, clear)


def _path_loss(prof: Profiles, h_tx: np.ndarray, h_rx: np.ndarray, wavelength: float,
               method: str) -> tuple[np.ndarray, np.ndarray]:
    """(loss_db, clearance) for one chunk of profiles."""
    d = prof.distance_m[:, None]
    s = d * prof.fraction                                   # distance from tx of each sample
    ground = prof.elevation_m
    z_tx = ground[:, :1] + h_tx[:, None]
    z_rx = ground[:, -1:] + h_rx[:, None]
    height = ground + prof.bulge_m                          # obstacles over the tx-rx chord
    inner = prof.inner
    nu = _nu(height, s, z_tx, 0.0, z_rx, d, wavelength, inner)
    p = np.argmax(nu, axis=1)
    nu_p = nu[np.arange(len(nu)), p]
    clearance = -nu_p / np.sqrt(2.0)
    if method == "single":
        return knife_edge_db(nu_p), clearance
    if method == "bullington":
        return _bullington(height, s, z_tx, z_rx, d, wavelength, nu_p, inner), clearance
    # Deygout: secondary edges between tx and the principal edge, and between it and rx.
    s_p = np.take_along_axis(s, p[:, None], axis=1)
    z_p = np.take_along_axis(ground, p[:, None], axis=1)
    j = np.arange(ground.shape[1])
    k_r = 2.0 * prof.k_factor * EARTH_RADIUS_M
    nu_t = _nu(ground + s * (s_p - s) / k_r, s, z_tx, 0.0, z_p, s_p, wavelength, inner & (j < p[:, None])).max(1)
    nu_r = _nu(ground + (s - s_p) * (d - s) / k_r, s, z_p, s_p, z_rx, d, wavelength,
               inner & (j > p[:, None])).max(1)
    j_p = knife_edge_db(nu_p)
    t = 1.0 - np.exp(-j_p / 6.0)
    c = 10.0 + 0.04 * prof.distance_m / 1000.0
    return j_p + t * (knife_edge_db(nu_t) + knife_edge_db(nu_r) + c), clearance


def _nu(height: np.ndarray, s: np.ndarray, z_a: np.ndarray, s_a: np.ndarray | float, z_b: np.ndarray,
        s_b: np.ndarray, wavelength: float, mask: np.ndarray) -> np.ndarray:
    """Fresnel-Kirchhoff parameter of every sample for the ray from (s_a, z_a) to (s_b, z_b); -inf off ``mask``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        span = s_b - s_a
        ray = z_a + (z_b - z_a) * (s - s_a) / span
        r1 = np.sqrt(np.maximum(wavelength * (s - s_a) * (s_b - s) / span, 1e-12))
        nu = np.sqrt(2.0) * (height - ray) / r1
    return np.where(mask & np.isfinite(nu), nu, -np.inf)


def _bullington(height: np.ndarray, s: np.ndarray, z_tx: np.ndarray, z_rx: np.ndarray, d: np.ndarray,
                wavelength: float, nu_max: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Bullington equivalent knife edge (as in ITU-R P.526 / P.452 delta-Bullington, without the smooth-Earth part)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        s_tim = np.where(inner, (height - z_tx) / s, -np.inf).max(1)        # steepest slope seen from tx
        s_rim = np.where(inner, (height - z_rx) / (d - s), -np.inf).max(1)  # steepest slope seen from rx
        d = d[:, 0]
        zt, zr = z_tx[:, 0], z_rx[:, 0]
        s_tr = (zr - zt) / d
        d_b = np.clip((zr - zt + s_rim * d) / np.maximum(s_tim + s_rim, 1e-12), 0.0, d)
        h_b = zt + s_tim * d_b - (zt * (d - d_b) + zr * d_b) / d
        nu_b = h_b * np.sqrt(2.0 * d / np.maximum(wavelength * d_b * (d - d_b), 1e-12))
    nu = np.where(s_tim < s_tr, nu_max, nu_b)
    return knife_edge_db(np.where(np.isfinite(nu), nu, -np.inf))


def pair_terrain(
    dem: Dem,
    demand_xy: np.ndarray,
    candidate_xy: np.ndarray,
    h_bs: np.ndarray | float,
    h_ut: np.ndarray | float,
    fc_ghz: float,
    params: TerrainParams,
    *,
    storey_height_m: float,
    buildings=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Terrain for coverage pairs: ``(extra_loss_db, terrain_los)`` per (demand, candidate) pair.

    The site (candidate, antenna ``h_bs`` above its ground) transmits to the demand point
    (``h_ut`` above ground). Subtract ``extra_loss_db`` from the link margin and treat
    pairs with ``terrain_los`` False as NLOS. Both are relative to smooth Earth
    (``excess=True`` of :func:`terrain_loss_db`), so a flat DEM changes nothing. The DEM
    is first filtered with :func:`bare_earth` when ``params.bare_earth_m`` > 0, and with
    ``params.buildings`` the ``buildings`` (Area contract) are added to the profiles
    (:func:`building_grid`, at ``storey_height_m`` a floor).
    """
    dem = bare_earth(dem, params.bare_earth_m)
    use = params.buildings and buildings is not None and len(buildings) > 0
    clutter = building_grid(dem, buildings, storey_height_m) if use else None
    res = terrain_loss_db(dem, candidate_xy, h_bs, demand_xy, h_ut, fc_ghz, params.method,
                          step_m=params.step_m, clutter=clutter, k_factor=params.k_factor,
                          fresnel_clearance=params.fresnel_clearance, excess=True)
    return res.loss_db, res.los


def terrain_summary(dem: Dem, extra_loss_db: np.ndarray, terrain_los: np.ndarray,
                    params: TerrainParams) -> dict:
    """What ``summary.json`` records about terrain: the DEM, its grid and what it blocked."""
    loss = np.asarray(extra_loss_db, dtype=float)
    blocked = ~np.asarray(terrain_los, dtype=bool)
    return {
        "dem_files": list(dem.files),
        "dem_source": dem.source,
        "crs": dem.crs,
        "resolution_m": round(float(dem.resolution_m), 2),
        "voids_filled": int(dem.voids_filled),
        "notes": list(dem.notes),
        "method": params.method,
        "k_factor": round(params.k_factor, 4),
        "bare_earth_m": params.bare_earth_m,
        "fresnel_clearance": params.fresnel_clearance,
        "pairs_tested": int(loss.size),
        "pairs_terrain_blocked": int(blocked.sum()),
        "mean_extra_loss_db_blocked": round(float(loss[blocked].mean()), 2) if blocked.any() else 0.0,
    }


def bare_earth(dem: Dem, radius_m: float) -> Dem:
    """The DEM with bumps and pits narrower than about ``2 * radius_m`` removed.

    SRTM is a surface model: in cities it carries building returns and speckle of
    10-50 m that block 1.5 m receivers although the TR 38.901 NLOS law already counts
    buildings. A grey-scale opening then closing with a disc of ``radius_m``
    (``scipy.ndimage``) keeps hills and valleys wider than the disc and removes the
    rest (peaks of narrow ridges are lowered too). ``radius_m <= 0`` returns ``dem``.
    """
    if radius_m <= 0:
        return dem
    from scipy import ndimage

    r = max(1, int(round(radius_m / dem.resolution_m)))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disc = xx * xx + yy * yy <= r * r
    z = ndimage.grey_closing(ndimage.grey_opening(dem.elevation, footprint=disc, mode="nearest"),
                             footprint=disc, mode="nearest")
    note = f"surface filtered to bare earth (opening+closing, {radius_m:g} m disc)"
    return replace(dem, elevation=z.astype("float32"), notes=dem.notes + (note,))


def building_grid(dem: Dem, buildings, storey_height_m: float) -> np.ndarray:
    """Building heights above ground [m] rasterised on the DEM grid (0 where there is none).

    ``buildings`` follows the Area contract (polygons in ``dem.crs``); heights come from
    :func:`siting.buildings.heights_m` (``height_m``, else levels x storey height;
    buildings with neither are left out, DOMAIN §4.1). The tallest building wins a cell.
    """
    from rasterio.features import rasterize


    height = heights_m(buildings, storey_height_m)
    keep = np.flatnonzero(np.isfinite(height) & (height > 0))
    if keep.size == 0:
        return np.zeros(dem.elevation.shape, "float32")
    keep = keep[np.argsort(height[keep], kind="stable")]        # paint low first: the tallest wins
    return rasterize(zip(buildings.geometry.to_numpy()[keep], height[keep]), out_shape=dem.elevation.shape,
                     transform=dem.transform, fill=0.0, dtype="float32")


def hillshade(dem: Dem, azimuth_deg: float = 315.0, altitude_deg: float = 45.0,
              strength: float = 0.6) -> tuple[np.ndarray, tuple[tuple[float, float], tuple[float, float]]]:
    """Hillshade of the DEM for a Folium ``ImageOverlay``: ``(rgba, ((south, west), (north, east)))``.

    The image is black with opacity growing in the shade (lit and flat ground stay
    transparent), on a Web-Mercator grid so that Leaflet's stretch between the EPSG:4326
    bounds places every pixel exactly.
    """
    dz_drow, dz_dcol = np.gradient(dem.elevation.astype(float), dem.resolution_m)
    gx, gy = dz_dcol, -dz_drow                                 # slopes towards east and north (rows run south)
    az, alt = np.radians(azimuth_deg), np.radians(altitude_deg)
    sun = (np.cos(alt) * np.sin(az), np.cos(alt) * np.cos(az), np.sin(alt))
    shade = (sun[2] - gx * sun[0] - gy * sun[1]) / np.sqrt(1.0 + gx**2 + gy**2)
    dark = np.clip((sun[2] - shade) / sun[2], 0.0, 1.0)        # 0 on flat ground, 1 in full shadow
    west, south, east, north = transform_bounds(dem.crs, "EPSG:4326", *dem.bounds, densify_pts=21)
    rows, cols = dem.elevation.shape
    merc = transform_bounds("EPSG:4326", "EPSG:3857", west, south, east, north)
    dst_t = Affine((merc[2] - merc[0]) / cols, 0.0, merc[0], 0.0, -(merc[3] - merc[1]) / rows, merc[3])
    out = np.full((rows, cols), np.nan)
    reproject(dark, out, src_transform=dem.transform, src_crs=dem.crs, dst_transform=dst_t, dst_crs="EPSG:3857",
              src_nodata=np.nan, dst_nodata=np.nan, resampling=Resampling.bilinear)
    alpha = np.where(np.isfinite(out), np.clip(out, 0, 1) * strength * 255.0, 0.0)
    rgba = np.zeros((rows, cols, 4), dtype=np.uint8)
    rgba[..., 3] = np.round(alpha).astype(np.uint8)
    return rgba, ((south, west), (north, east))
