"""5G radio coverage: TR 38.901 path loss, a downlink link budget, coverage radii.

Every formula and default comes from ``DOMAIN.md`` §1 (TR 38.901 via ns-3 and Sionna,
source keys in brackets). All functions are vectorised with NumPy broadcasting:
``d2d_m``, heights, ``los``, ``indoor`` and even ``scenario`` may be arrays, one entry
per demand–candidate pair.

Planner conventions (documented choices, not part of the standard):

- **UMa effective environment height** ``hE = 1 m`` deterministically. TR 38.901 draws
  ``hE`` from {12, 15, ...} with probability ``1 - 1/(1 + C(d2, h_UT))`` when
  ``h_UT >= 13 m``; a planner needs a deterministic loss, and ``C = 0`` for the
  street-level users (1.5 m) that we plan for.
- **Validity**: distances below 10 m are evaluated at 10 m; heights are clipped to
  :data:`VALIDITY`. Beyond the maximum distance the formula is not trusted: coverage
  radii stop there and :func:`link_margin_db` returns ``-inf`` (not covered).
- **NLOS** loss is ``max(PL_LOS, PL'_NLOS)`` [NS3-PL, SIONNA-UMA].
- **Default LOS state for planning** is NLOS with the cell-edge shadowing margin (the
  standard conservative planning choice, §1.8); ``los="expected"`` weights LOS and
  NLOS losses by the LOS probability (§1.5); a boolean array (e.g. from
  :func:`siting.los.line_of_sight` on building heights, §2) decides per pair.
- **Edge margin** = ``norm.ppf(p_edge)`` × the scenario's own σ_SF. UMa NLOS (6 dB)
  reproduces the §1.8 figures (n78: 860 m outdoor, 180 m indoor). §1.8's "RMa 3.1 km"
  (n28) used 6 dB too; with RMa's NLOS σ of 8 dB the radius is 2.6 km
  (``sigma_db=6`` gives 3.1 km).
- **Indoor** demand adds the mean O2I loss; the default ``"sub6"`` model (20 dB +
  0.5·12.5 m, TR 38.901 Table 7.4.3-3) is the one the §1.8 figures use.
- **Street-lamp small cells** (UMi) transmit ``small_cell_eirp_offset_db`` below the
  band's macro AAU when ``RadioParams`` are given [A].
- Scenario names may be replaced by :func:`scenario_codes` (int8) for speed.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from math import log10, pi

import numpy as np
import pandas as pd
from scipy.stats import norm

from siting.config import RadioParams
from siting.errors import ConfigError
from siting.vocab import ENV_CLASSES, POLE_SOURCE

SCENARIOS: tuple[str, ...] = ("UMa", "UMi", "RMa")
C_LIGHT = 3.0e8  # m/s, as in NS3-PL

#: default base-station heights [m] per scenario (TR 38.901 Table 7.2-1, §1.2–1.4)
DEFAULT_H_BS: dict[str, float] = {"UMa": 25.0, "UMi": 10.0, "RMa": 35.0}

#: validity ranges (§1.2–1.4). ``d_los``/``d_nlos``: largest 2D distance [m];
#: ``h_ut``/``h_bs``: clip ranges [m]. UMa/UMi base-station ranges are [A]: the standard
#: gives only the default height; UMi keeps h_BS above h_UT as ns-3 assumes.
VALIDITY: dict[str, dict[str, tuple[float, float] | float]] = {
    "UMa": {"d_min": 10.0, "d_los": 5000.0, "d_nlos": 5000.0, "h_ut": (1.5, 22.5), "h_bs": (10.0, 150.0)},
    "UMi": {"d_min": 10.0, "d_los": 5000.0, "d_nlos": 5000.0, "h_ut": (1.5, 22.5), "h_bs": (3.0, 30.0)},
    "RMa": {"d_min": 10.0, "d_los": 10000.0, "d_nlos": 5000.0, "h_ut": (1.0, 10.0), "h_bs": (10.0, 150.0)},
}

#: RMa average building height and street width [m] (NS3-PL attribute defaults, §1.4)
RMA_BUILDING_H = 5.0
RMA_STREET_W = 20.0


# --------------------------------------------------------------------------- path loss
def _uma(d2, fc, h_bs, h_ut):
    """UMa (LOS, NLOS) path loss, TR 38.901 Table 7.4.1-1 with hE = 1 m (§1.2)."""
    d3 = np.hypot(d2, h_bs - h_ut)
    d_bp = 4.0 * (h_bs - 1.0) * (h_ut - 1.0) * fc * 1e9 / C_LIGHT
    pl1 = 28.0 + 22.0 * np.log10(d3) + 20.0 * np.log10(fc)
    pl2 = 28.0 + 40.0 * np.log10(d3) + 20.0 * np.log10(fc) - 9.0 * np.log10(d_bp**2 + (h_bs - h_ut) ** 2)
    los = np.where(d2 <= d_bp, pl1, pl2)
    nlos = 13.54 + 39.08 * np.log10(d3) + 20.0 * np.log10(fc) - 0.6 * (h_ut - 1.5)
    return los, np.maximum(los, nlos)


def _umi(d2, fc, h_bs, h_ut):
    """UMi-Street Canyon (LOS, NLOS) path loss (§1.3)."""
    d3 = np.hypot(d2, h_bs - h_ut)
    d_bp = 4.0 * (h_bs - 1.0) * (h_ut - 1.0) * fc * 1e9 / C_LIGHT
    pl1 = 32.4 + 21.0 * np.log10(d3) + 20.0 * np.log10(fc)
    pl2 = 32.4 + 40.0 * np.log10(d3) + 20.0 * np.log10(fc) - 9.5 * np.log10(d_bp**2 + (h_bs - h_ut) ** 2)
    los = np.where(d2 <= d_bp, pl1, pl2)
    nlos = 22.4 + 35.3 * np.log10(d3) + 21.3 * np.log10(fc) - 0.3 * (h_ut - 1.5)
    return los, np.maximum(los, nlos)


def _rma_pl1(d, fc, h=RMA_BUILDING_H):
    return (20.0 * np.log10(40.0 * pi * d * fc / 3.0) + min(0.03 * h**1.72, 10.0) * np.log10(d)
            - min(0.044 * h**1.72, 14.77) + 0.002 * log10(h) * d)


def _rma(d2, fc, h_bs, h_ut, h=RMA_BUILDING_H, w=RMA_STREET_W):
    """RMa (LOS, NLOS) path loss (§1.4); breakpoint without hE."""
    d3 = np.hypot(d2, h_bs - h_ut)
    d_bp = 2.0 * pi * h_bs * h_ut * fc * 1e9 / C_LIGHT
    los = np.where(d2 <= d_bp, _rma_pl1(d3, fc, h), _rma_pl1(d_bp, fc, h) + 40.0 * np.log10(d3 / d_bp))
    nlos = (161.04 - 7.1 * log10(w) + 7.5 * log10(h) - (24.37 - 3.7 * (h / h_bs) ** 2) * np.log10(h_bs)
            + (43.42 - 3.1 * np.log10(h_bs)) * (np.log10(d3) - 3.0) + 20.0 * np.log10(fc)
            - (3.2 * np.log10(11.75 * h_ut) ** 2 - 4.97))
    return los, np.maximum(los, nlos)


_MODELS = {"UMa": _uma, "UMi": _umi, "RMa": _rma}


def scenario_codes(scenario) -> np.ndarray:
    """Index into :data:`SCENARIOS` per entry (int8): a name, an array of names or of
    codes. Convert once when the same pairs go through several functions."""
    a = np.asarray(scenario)
    if a.dtype.kind in "iu":
        if a.size and (a.min() < 0 or a.max() >= len(SCENARIOS)):
            raise ConfigError(f"scenario codes must lie in 0..{len(SCENARIOS) - 1} ({', '.join(SCENARIOS)})")
        return a.astype(np.int8, copy=False)
    codes = pd.Index(SCENARIOS).get_indexer(a.ravel().astype(object)).astype(np.int8).reshape(a.shape)
    if (codes < 0).any():
        bad = sorted(set(map(str, a[codes < 0].ravel().tolist())))
        raise ConfigError(f"unknown radio scenario {bad}: use one of {', '.join(SCENARIOS)}")
    return codes


def _per_scenario(scenario, fn, *arrays):
    """Evaluate ``fn(name, *arrays_masked)`` per scenario over broadcast arrays."""
    b = np.broadcast_arrays(scenario_codes(scenario), *[np.asarray(a, dtype=float) for a in arrays])
    codes, arrays = b[0], b[1:]
    out = np.empty(codes.shape, dtype=float)
    for k, name in enumerate(SCENARIOS):
        mask = codes == k
        if mask.all():
            out[...] = fn(name, *arrays)
        elif mask.any():
            out[mask] = fn(name, *[a[mask] for a in arrays])
    return out


def _clip_inputs(name, d2, h_bs, h_ut):
    v = VALIDITY[name]
    return (np.maximum(d2, v["d_min"]), np.clip(h_bs, *v["h_bs"]), np.clip(h_ut, *v["h_ut"]))


def path_loss_db(scenario, d2d_m, fc_ghz, h_bs_m, h_ut_m, los):
    """TR 38.901 path loss [dB] for UMa, UMi-Street Canyon or RMa (§1.2–1.4).

    ``scenario`` is ``"UMa"``, ``"UMi"``, ``"RMa"`` or an array of them; ``d2d_m`` the
    horizontal distance; ``fc_ghz`` the carrier in GHz; heights above ground [m];
    ``los`` a bool or bool array. NLOS returns ``max(PL_LOS, PL'_NLOS)``. Inputs are
    clipped to :data:`VALIDITY` (distance only from below: see the module docstring).
    """
    if np.any(np.asarray(fc_ghz) <= 0):
        raise ConfigError("carrier frequency must be positive (GHz): check the band")

    def one(name, d2, fc, h_bs, h_ut, is_los):
        d2, h_bs, h_ut = _clip_inputs(name, d2, h_bs, h_ut)
        pl_los, pl_nlos = _MODELS[name](d2, fc, h_bs, h_ut)
        return np.where(is_los > 0.5, pl_los, pl_nlos)

    return _per_scenario(scenario, one, d2d_m, fc_ghz, h_bs_m, h_ut_m, los)


def los_probability(scenario, d2d_m, h_ut_m=1.5):
    """LOS probability, TR 38.901 Table 7.4.2-1 (§1.5); ``d2d_m`` is the outdoor distance."""

    def one(name, d, h_ut):
        d = np.maximum(d, 1e-9)
        if name == "RMa":
            p = np.exp(-(d - 10.0) / 1000.0)
            return np.where(d <= 10.0, 1.0, p)
        if name == "UMi":
            p = 18.0 / d + np.exp(-d / 36.0) * (1.0 - 18.0 / d)
            return np.where(d <= 18.0, 1.0, p)
        cp = np.where(h_ut <= 13.0, 0.0, (np.maximum(h_ut - 13.0, 0.0) / 10.0) ** 1.5)
        p = (18.0 / d + np.exp(-d / 63.0) * (1.0 - 18.0 / d)) * (1.0 + cp * 1.25 * (d / 100.0) ** 3 * np.exp(-d / 150.0))
        return np.where(d <= 18.0, 1.0, np.minimum(p, 1.0))

    return _per_scenario(scenario, one, d2d_m, h_ut_m)


def shadow_sigma_db(scenario, los, d2d_m=0.0, fc_ghz=3.5, h_bs_m=None, h_ut_m=1.5):
    """Shadow-fading sigma [dB] (§1.2–1.4): UMa 4/6, UMi 4/7.82, RMa 4 (6 beyond d_BP)/8."""

    def one(name, is_los, d2, fc, h_bs, h_ut):
        if name == "RMa":
            h_bs = np.where(np.isnan(h_bs), DEFAULT_H_BS["RMa"], h_bs)
            d_bp = 2.0 * pi * h_bs * h_ut * fc * 1e9 / C_LIGHT
            sig_los = np.where(d2 <= d_bp, 4.0, 6.0)
            return np.where(is_los > 0.5, sig_los, 8.0)
        return np.where(is_los > 0.5, 4.0, 6.0 if name == "UMa" else 7.82)

    h_bs = np.nan if h_bs_m is None else h_bs_m
    return _per_scenario(scenario, one, los, d2d_m, fc_ghz, h_bs, h_ut_m)


#: O2I building-loss models (§1.6): TR 38.901 low/high loss, and the sub-6 GHz
#: backward-compatible model (Table 7.4.3-3: 20 dB wall + 0.5·d_in, d_in ~ U(0,25))
#: that the worked figures of §1.8 use.
BUILDING_LOSS_MODELS: tuple[str, ...] = ("sub6", "low", "high")


def o2i_loss_db(fc_ghz, model: str = "sub6", scenario="UMa"):
    """Mean outdoor-to-indoor loss PL_tw + mean PL_in [dB] (§1.6).

    ``model``: ``"low"`` or ``"high"`` (TR 38.901 §7.4.3; RMa has only the low-loss
    model, so ``"high"`` falls back to ``"low"`` there), or ``"sub6"`` (20 dB + 0.5·12.5 m).
    Mean indoor distance: min(U(0,25),U(0,25)) → 25/3 m (UMa/UMi), 10/3 m (RMa) [A].
    """
    if model not in BUILDING_LOSS_MODELS:
        raise ConfigError(f"unknown building loss model '{model}': use one of {', '.join(BUILDING_LOSS_MODELS)}")
    f = np.asarray(fc_ghz, dtype=float)
    if model == "sub6":
        return np.full(np.broadcast(f, scenario_codes(scenario)).shape, 20.0 + 0.5 * 12.5)
    l_glass, l_irr, l_conc = 2.0 + 0.2 * f, 23.0 + 0.3 * f, 5.0 + 4.0 * f
    low = 5.0 - 10.0 * np.log10(0.3 * 10 ** (-l_glass / 10) + 0.7 * 10 ** (-l_conc / 10))
    high = 5.0 - 10.0 * np.log10(0.7 * 10 ** (-l_irr / 10) + 0.3 * 10 ** (-l_conc / 10))
    rural = scenario_codes(scenario) == SCENARIOS.index("RMa")
    wall = low if model == "low" else np.where(rural, low, high)
    return wall + 0.5 * np.where(rural, 10.0 / 3.0, 25.0 / 3.0)


# --------------------------------------------------------------------------- link budget
@dataclass(frozen=True)
class LinkBudget:
    """Downlink SS-RSRP link budget of one band (§1.7).

    ``epre_eirp_dbm`` = total power − 10·log10(12·N_PRB) + antenna gain − feeder loss.
    UE gain and body loss default to 0 dB as in the worked figures of §1.8 [A] (5G6G
    quotes 3 dB body loss for handsets held to the head).
    """

    name: str
    fc_ghz: float
    bandwidth_mhz: float
    scs_khz: float
    n_prb: int
    tx_power_dbm: float
    tx_gain_dbi: float
    feeder_loss_db: float = 0.0
    ue_gain_dbi: float = 0.0
    body_loss_db: float = 0.0
    rsrp_threshold_dbm: float = -105.0
    edge_reliability: float = 0.9

    @property
    def epre_eirp_dbm(self) -> float:
        """EIRP per resource element [dBm/RE]."""
        return self.tx_power_dbm - 10.0 * log10(12 * self.n_prb) + self.tx_gain_dbi - self.feeder_loss_db

    @property
    def edge_z(self) -> float:
        """Standard-normal quantile of the cell-edge reliability (1.28 for 90 %)."""
        return float(norm.ppf(self.edge_reliability))


#: band presets (§1.7): n78 and n41 64T64R 200 W with 24 dBi SSB beam gain [A];
#: n28 FDD 2×30 MHz, 4T4R 4×60 W, 17 dBi [A]. Bandwidths/SCS/PRBs are sourced.
BANDS: dict[str, LinkBudget] = {
    "n78": LinkBudget("n78", 3.5, 100.0, 30.0, 273, 53.0, 24.0),
    "n41": LinkBudget("n41", 2.6, 100.0, 30.0, 273, 53.0, 24.0),
    "n28": LinkBudget("n28", 0.7, 30.0, 15.0, 160, 10.0 * log10(4 * 60e3), 17.0),
}


def band_budget(band: str | LinkBudget, **overrides) -> LinkBudget:
    """The :class:`LinkBudget` of a preset name (or a budget), with field overrides."""
    if isinstance(band, LinkBudget):
        budget = band
    elif band in BANDS:
        budget = BANDS[band]
    else:
        raise ConfigError(f"unknown band '{band}': use one of {', '.join(BANDS)}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return replace(budget, **overrides) if overrides else budget


def mapl_db(budget: LinkBudget, scenario="UMa", los=False, indoor=False, building_loss: str = "sub6",
            eirp_offset_db=0.0, sigma_db=None):
    """Maximum allowable path loss [dB] (§1.7): EPRE-EIRP + G_UE − L_body − z·σ_SF − O2I − threshold.

    Broadcasts over ``scenario``, ``los``, ``indoor`` and ``eirp_offset_db`` (e.g. a
    lower-power small cell). The edge margin uses the scenario's σ_SF (RMa LOS: the
    4 dB value before the breakpoint) unless ``sigma_db`` is given; the O2I sigma is
    not added, as in §1.8.
    """
    sigma = shadow_sigma_db(scenario, los) if sigma_db is None else np.asarray(sigma_db, dtype=float)
    o2i = np.where(np.asarray(indoor, dtype=bool), o2i_loss_db(budget.fc_ghz, building_loss, scenario), 0.0)
    return (budget.epre_eirp_dbm + np.asarray(eirp_offset_db, dtype=float) + budget.ue_gain_dbi
            - budget.body_loss_db - budget.edge_z * sigma - o2i - budget.rsrp_threshold_dbm)


def _d_max(scenario, los) -> np.ndarray:
    def one(name, is_los):
        return np.where(is_los > 0.5, VALIDITY[name]["d_los"], VALIDITY[name]["d_nlos"])

    return _per_scenario(scenario, one, los)


def _bisect_radius(loss_at, mapl, d_max, iterations: int = 60):
    """Largest d in [10 m, d_max] with ``loss_at(d) <= mapl`` (vectorised, log-space bisection).

    Returns 0 where even 10 m is too lossy, ``d_max`` where the whole range is covered.
    """
    mapl, d_max = np.broadcast_arrays(np.asarray(mapl, float), np.asarray(d_max, float))
    lo = np.full(mapl.shape, np.log(10.0))
    hi = np.log(d_max)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        ok = loss_at(np.exp(mid)) <= mapl
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    r = np.exp(lo)
    r = np.where(loss_at(np.full(mapl.shape, 10.0)) > mapl, 0.0, r)
    return np.where(loss_at(d_max) <= mapl, d_max, r)


def coverage_radius_m(band, scenario="UMa", indoor=False, los=False, h_bs_m=None, h_ut_m=1.5,
                      building_loss: str = "sub6", eirp_offset_db=0.0, sigma_db=None, **budget_overrides):
    """Cell radius [m] at which the link margin reaches 0 dB (§1.8), clipped to validity.

    ``band`` is a preset name or a :class:`LinkBudget` (``budget_overrides`` replace its
    fields, e.g. ``rsrp_threshold_dbm=-110``); ``sigma_db`` overrides the scenario's
    shadow-fading sigma in the edge margin. ``scenario`` may also be an environment
    class (``"dense_urban"`` ... ``"rural"``), mapped with :func:`scenario_for` for a
    rooftop/mast site. ``h_bs_m`` defaults to the scenario's standard height.
    Broadcasts over array arguments; returns a float for scalar input.
    """
    budget = band_budget(band, **budget_overrides)
    s = np.asarray(scenario, dtype=object)
    if np.isin(s, ENV_CLASSES).any():
        s = scenario_for(s, "rooftop")
    if h_bs_m is None:
        h_bs_m = _per_scenario(s, lambda name: DEFAULT_H_BS[name])
    mapl = mapl_db(budget, s, los, indoor, building_loss, eirp_offset_db, sigma_db)
    s, los_b, h_bs, h_ut, mapl = np.broadcast_arrays(s, np.asarray(los, bool), np.asarray(h_bs_m, float),
                                                     np.asarray(h_ut_m, float), mapl)
    r = _bisect_radius(lambda d: path_loss_db(s, d, budget.fc_ghz, h_bs, h_ut, los_b), mapl, _d_max(s, los_b))
    return float(r) if r.ndim == 0 else r


def link_budget(params: RadioParams) -> LinkBudget:
    """The :class:`LinkBudget` of ``RadioParams`` (band preset with the run's threshold,
    edge reliability, UE gain and body loss)."""
    return band_budget(params.band, rsrp_threshold_dbm=params.rsrp_threshold_dbm,
                       edge_reliability=params.edge_reliability, ue_gain_dbi=params.ue_gain_dbi,
                       body_loss_db=params.body_loss_db)


def scenario_for(env_class, candidate_source):
    """TR 38.901 scenario of a site: street lamps/poles → UMi; rural → RMa; else UMa.

    Vectorised over arrays of environment classes and candidate sources.
    """
    env = np.asarray(env_class, dtype=object)
    src = np.asarray(candidate_source, dtype=object)
    env_code = pd.Index(ENV_CLASSES).get_indexer(env.ravel()).reshape(env.shape)
    if (env_code < 0).any():
        bad = sorted(set(map(str, env[env_code < 0].ravel().tolist())))
        raise ConfigError(f"unknown environment class {bad}: use one of {', '.join(ENV_CLASSES)}")
    out = np.where(src == POLE_SOURCE, "UMi", np.where(env == "rural", "RMa", "UMa")).astype(object)
    return str(out) if out.ndim == 0 else out


def scenarios_for(candidate_source, env_class=None) -> np.ndarray:
    """Scenario per candidate from its ``source`` and (optional) the environment class
    around it, e.g. the ``env_class`` column of :func:`siting.candidates.candidates_5g`;
    without it every non-lamp site is UMa."""
    src = np.asarray(candidate_source, dtype=object)
    env = np.full(src.shape, "urban", dtype=object) if env_class is None else np.asarray(env_class, dtype=object)
    return np.asarray(scenario_for(env, src), dtype=object)


def indoor_required(env_class, params: RadioParams) -> np.ndarray:
    """Which demand points need deep indoor coverage: environment class in
    ``params.indoor_env_classes`` (by default dense_urban and urban, after TY5G §1.7:
    deep coverage in the central city, continuous outdoor coverage in suburbs/rural)."""
    env = np.asarray(env_class, dtype=object)
    return (pd.Index(list(params.indoor_env_classes)).get_indexer(env.ravel()) >= 0).reshape(env.shape)


def _eirp_offset(scenario, params: RadioParams, eirp_offset_db):
    """Explicit offset, else the small-cell offset for UMi (street-lamp) sites from params."""
    if eirp_offset_db is not None:
        return np.asarray(eirp_offset_db, dtype=float)
    return np.where(scenario_codes(scenario) == SCENARIOS.index("UMi"), params.small_cell_eirp_offset_db, 0.0)


def reach_m(budget: LinkBudget, scenario, h_bs_m, params: RadioParams) -> np.ndarray:
    """Outdoor coverage radius [m] of each candidate: the farthest any of its demand
    pairs can be covered (indoor radii are smaller). Use it as the per-candidate radius
    of the pair search (``siting.coverage.pairs_within``).

    ``scenario`` (names or codes) and ``h_bs_m`` are per candidate (None: the standard
    heights). UMi sites get ``params.small_cell_eirp_offset_db``. With
    ``params.los_from_buildings`` pairs may be LOS, so the LOS radius counts too,
    capped at ``params.los_max_reach_m``.
    """
    codes = np.atleast_1d(scenario_codes(scenario))
    h = (np.array([DEFAULT_H_BS[SCENARIOS[c]] for c in range(len(SCENARIOS))])[codes] if h_bs_m is None
         else np.broadcast_to(np.asarray(h_bs_m, dtype=float), codes.shape))
    if codes.size == 0:
        return np.zeros(0)
    uniq, inverse = np.unique(np.column_stack([codes, h]), axis=0, return_inverse=True)
    ucodes = uniq[:, 0].astype(np.int8)
    names = np.asarray(SCENARIOS, dtype=object)[ucodes]
    offset = _eirp_offset(ucodes, params, None)
    reach = np.atleast_1d(coverage_radius_m(budget, names, False, False, uniq[:, 1], params.h_ut_m,
                                            eirp_offset_db=offset))
    if params.los_from_buildings:
        los_reach = np.atleast_1d(coverage_radius_m(budget, names, False, True, uniq[:, 1], params.h_ut_m,
                                                    eirp_offset_db=offset))
        reach = np.maximum(reach, np.minimum(los_reach, params.los_max_reach_m))
    return reach[inverse.ravel()]


def max_reach_m(budget: LinkBudget, scenario=SCENARIOS, h_bs_m=None, *, params: RadioParams) -> float:
    """The largest outdoor radius any candidate could reach (see :func:`reach_m`): one
    search radius for all demand–candidate pairs."""
    reach = reach_m(budget, scenario, h_bs_m, params)
    return float(reach.max()) if reach.size else 0.0


def link_margin_db(d2d_m, scenario, h_bs_m, h_ut_m=None, budget: LinkBudget | None = None, indoor=False,
                   los=None, *, params: RadioParams, building_loss: str | None = None, eirp_offset_db=None):
    """Link margin [dB] per demand–candidate pair: MAPL − path loss (≥ 0 means covered).

    Arrays broadcast over pairs. ``los``: ``None`` → ``params.los_model`` (default
    NLOS, the planning choice with the edge margin, §1.8); ``"expected"`` → losses and
    sigmas weighted by the LOS probability (§1.5); a bool array → deterministic LOS/NLOS
    per pair (e.g. from :func:`siting.los.line_of_sight`). ``h_ut_m``, ``budget``,
    ``building_loss`` and the UMi small-cell EIRP offset come from ``params``
    (``RadioParams``) when not given. Pairs beyond the model's distance validity get
    ``-inf``.
    """
    budget = link_budget(params) if budget is None else budget
    h_ut_m = params.h_ut_m if h_ut_m is None else h_ut_m
    building_loss = building_loss or params.building_loss
    if los is None and params.los_model == "expected":
        los = "expected"
    scenario = scenario_codes(scenario)
    d2 = np.asarray(d2d_m, dtype=float)
    fc = budget.fc_ghz
    if isinstance(los, str):
        if los != "expected":
            raise ConfigError(f"unknown LOS mode '{los}': use None (NLOS), 'expected' or a bool array")
        p = los_probability(scenario, d2, h_ut_m)
        pl = (p * path_loss_db(scenario, d2, fc, h_bs_m, h_ut_m, True)
              + (1.0 - p) * path_loss_db(scenario, d2, fc, h_bs_m, h_ut_m, False))
        sigma = (p * shadow_sigma_db(scenario, True, d2, fc, h_bs_m, h_ut_m)
                 + (1.0 - p) * shadow_sigma_db(scenario, False, d2, fc, h_bs_m, h_ut_m))
        d_max = _d_max(scenario, False)
    else:
        los_b = np.zeros(d2.shape, bool) if los is None else np.asarray(los, dtype=bool)
        pl = path_loss_db(scenario, d2, fc, h_bs_m, h_ut_m, los_b)
        sigma = shadow_sigma_db(scenario, los_b, d2, fc, h_bs_m, h_ut_m)
        d_max = _d_max(scenario, los_b)
    o2i = np.where(np.asarray(indoor, dtype=bool), o2i_loss_db(fc, building_loss, scenario), 0.0)
    margin = (budget.epre_eirp_dbm + _eirp_offset(scenario, params, eirp_offset_db) + budget.ue_gain_dbi
              - budget.body_loss_db - budget.edge_z * sigma - o2i - budget.rsrp_threshold_dbm - pl)
    return np.where(d2 <= d_max, margin, -np.inf)


def describe(params: RadioParams) -> dict:
    """The radio model of a run for ``summary.json``: band, EIRP per RE and the coverage
    radius per environment class (indoor where required, else outdoor)."""
    budget = link_budget(params)
    building_loss, h_ut = params.building_loss, params.h_ut_m
    env = np.array(ENV_CLASSES, dtype=object)
    scen = scenarios_for(np.full(env.shape, "rooftop", dtype=object), env)
    radii = {"outdoor": coverage_radius_m(budget, scen, False, h_ut_m=h_ut, building_loss=building_loss),
             "indoor": coverage_radius_m(budget, scen, True, h_ut_m=h_ut, building_loss=building_loss)}
    return {
        "model": "3GPP TR 38.901 (UMa/UMi-Street Canyon/RMa), NLOS = max(PL_LOS, PL_NLOS')",
        "band": budget.name, "fc_ghz": budget.fc_ghz, "epre_eirp_dbm": round(budget.epre_eirp_dbm, 2),
        "rsrp_threshold_dbm": budget.rsrp_threshold_dbm, "edge_reliability": budget.edge_reliability,
        "edge_z": round(budget.edge_z, 4), "building_loss": building_loss,
        "los": "buildings" if params.los_from_buildings else params.los_model,
        "indoor_env_classes": list(params.indoor_env_classes),
        "radius_m": {cls: {"scenario": str(s), "outdoor": round(float(o), 1), "indoor": round(float(i), 1)}
                     for cls, s, o, i in zip(ENV_CLASSES, scen, radii["outdoor"], radii["indoor"])},
    }
