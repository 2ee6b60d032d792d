"""Every parameter siting uses, with its default and the source of that default.

Sources are keys of ``DOMAIN.md`` (the project's domain reference, see the README):
e.g. ``[NS3-PL]``, ``[TY5G]``, ``[GW2015]``; ``[A]`` marks an engineering assumption.

Parameters are pydantic models that refuse unknown keys, so a typo in a YAML file is
named in the error instead of being silently ignored. :func:`load_params` reads YAML
and turns every validation problem into one :class:`~siting.errors.ConfigError` line.
The charging kinds' tables live in :mod:`siting.config.charging`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError

from siting.config.base import Section
from siting.config.charging import ChargingParams
from siting.errors import ConfigError
from siting.vocab import EnvClass




class DemandParams(Section):
    """Demand surface (``DOMAIN.md`` §4-5): dasymetric population, road demand, environment classes."""

    cell_size_m: float = Field(100.0, gt=0, description="demand grid cell size; cells align to multiples of it in the area CRS [A]")
    storey_height_m: float = Field(3.0, gt=0, description="metres per floor, residential [A] (§5: 3 m/floor)")
    floor_efficiency: float = Field(0.8, gt=0, le=1, description="net/gross floor area ratio [A] (§5: 0.75-0.85)")
    m2_per_person: float = Field(36.52, gt=0, description="urban housing floor area per person [CENSUS2020]")
    m2_per_worker: float = Field(20.0, gt=0, description="office/commercial floor area per worker [A]")
    m2_per_worker_industrial: float = Field(100.0, gt=0, description="industrial/warehouse floor area per worker [A]")
    default_floors: dict[str, float] = Field(
        default_factory=lambda: {
            "yes": 6.0, "residential": 6.0, "apartments": 6.0, "dormitory": 5.0, "house": 2.0,
            "detached": 2.0, "semidetached_house": 2.0, "terrace": 2.0, "villa": 2.0, "bungalow": 1.0,
            "commercial": 4.0, "retail": 2.0, "office": 10.0, "hotel": 8.0, "industrial": 1.0,
            "warehouse": 1.0, "school": 4.0, "university": 5.0, "hospital": 6.0, "public": 4.0,
            "civic": 4.0, "government": 5.0, "train_station": 2.0, "transportation": 2.0,
        },
        description="floors by building type when levels and height are unknown and the neighbourhood gives none; "
                    "other types use 'yes' [A] (§4.1: Chinese city blocks, 6-storey walk-ups)")
    fixed_floor_types: tuple[str, ...] = Field(
        ("house", "detached", "semidetached_house", "terrace", "villa", "bungalow", "industrial", "warehouse",
         "garage", "garages", "shed", "hut", "roof", "kiosk"),
        description="types whose floors never come from neighbouring towers (a bungalow stays low) [A]")
    residential_types: tuple[str, ...] = Field(
        ("residential", "apartments", "house", "detached", "semidetached_house", "terrace", "villa",
         "bungalow", "dormitory", "dwelling_house", "farm"),
        description="building types whose floor area is housing [OSMW Key:building]")
    worker_types: tuple[str, ...] = Field(
        ("commercial", "retail", "office", "hotel", "industrial", "warehouse", "school", "university",
         "college", "hospital", "public", "civic", "government", "train_station", "transportation", "supermarket"),
        description="building types whose floor area is workplace (daytime population) [OSMW Key:building]")
    grounds_types: tuple[str, ...] = Field(
        ("school", "university", "college", "kindergarten", "hospital"),
        description="types often drawn around a whole campus in Chinese OSM (building=school on the grounds) [A] (§4.2)")
    grounds_footprint_m2: float = Field(
        15000.0, gt=0, description="a grounds type larger than this is a campus outline, not a building: it adds no "
                                   "building cover and its floor area is footprint × grounds_plot_ratio [A]")
    grounds_plot_ratio: float = Field(0.8, ge=0, description="floor area per m² of a campus outline [A]")
    industrial_types: tuple[str, ...] = Field(("industrial", "warehouse"), description="worker types counted with m2_per_worker_industrial [A]")
    untyped_residential_share: float = Field(
        0.7, ge=0, le=1,
        description="share of an untyped building's floor area that is housing outside residential/commercial landuse; "
                    "the rest is workplace [A] (§5: building=yes inside landuse=residential is residential)")
    worker_share: float = Field(0.5, ge=0, description="weight of a worker relative to a resident in cell demand [A]")
    context_window_m: float = Field(300.0, gt=0, description="neighbourhood for context floors and environment classes [A]")
    landuse_residents_per_km2: float = Field(
        10000.0, ge=0, description="residents per km² of landuse=residential where buildings are unmapped [A]")
    landuse_workers_per_km2: float = Field(
        5000.0, ge=0, description="workers per km² of landuse=commercial/retail/industrial where buildings are unmapped [A]")
    mapped_cover_min: float = Field(
        0.02, ge=0, le=1,
        description="below this neighbourhood building cover a cell counts as unmapped and landuse fills in [A] (§4.2 HERFORT)")
    sparse_mapped_share: float = Field(
        0.5, ge=0, le=1,
        description="an area is sparse when less than this share of its road length runs through neighbourhoods with "
                    "mapped buildings; its demand then comes from roads and landuse, and a population total not "
                    "explained by buildings is spread along the unmapped roads [A] (§4.2 HERFORT)")
    road_point_spacing_m: float = Field(100.0, gt=0, description="spacing of road demand points [A]")
    road_weight_per_km: dict[str, float] = Field(
        default_factory=lambda: {
            "motorway": 200.0, "trunk": 200.0, "primary": 100.0, "secondary": 60.0, "tertiary": 40.0,
            "unclassified": 20.0, "residential": 20.0, "living_street": 10.0, "service": 10.0,
        },
        description="road demand in resident-equivalents per km by highway class (*_link as its class); classes not "
                    "listed give no road points [A] (PLANS: Shiyan asks for continuous road coverage)")
    priority_weight: float = Field(2.0, ge=1, description="demand multiplier near priority places [A]")
    priority_radius_m: float = Field(300.0, ge=0, description="radius of a priority place's influence [A]")
    priority_categories: tuple[str, ...] = Field(
        ("transport_hub", "industrial", "scenic", "public_place", "hospital"),
        description="POI categories that raise priority (PLANS: transport hubs, important public places, industrial "
                    "parks, scenic areas; hospitals [A])")
    priority_landuse: tuple[str, ...] = Field(("industrial",), description="landuse polygons that raise priority (industrial parks) [PLANS]")
    dense_urban_cover: float = Field(0.25, ge=0, le=1, description="building cover ratio for dense urban (with dense_urban_floors) [A]")
    dense_urban_floors: float = Field(7.0, gt=0, description="footprint-weighted mean floors for dense urban [A] (§1.9 UMa dense urban)")
    dense_urban_cover_any_height: float = Field(
        0.4, ge=0, le=1, description="building cover ratio that makes dense urban whatever the floors (urban villages, "
                                     "old towns: narrow street canyons) [A]")
    urban_cover: float = Field(0.12, ge=0, le=1, description="building cover ratio for urban [A]")
    urban_road_km_per_km2: float = Field(
        16.0, ge=0, description="drivable road km/km² that alone makes a cell urban [A] (about twice the 8 km/km² "
                                "central-area network density of Chinese planning norms: OSM counts dual carriageways and service roads)")
    suburban_cover: float = Field(0.03, ge=0, le=1, description="building cover ratio for suburban [A]")
    suburban_road_km_per_km2: float = Field(6.0, ge=0, description="drivable road km/km² that alone makes a cell suburban [A]")
    urban_residents_per_km2: float = Field(
        1500.0, ge=0, description="where buildings are unmapped and a census total or a population raster counts the "
                                  "people: residents per km² of land (within density_window_m) that make a cell at "
                                  "least urban: the density of a DEGURBA urban centre (degree of urbanisation, "
                                  "Eurostat and UN Statistical Commission 2020: 1 km² cells of at least 1,500 "
                                  "inhabitants per km²); people there live in buildings OSM does not map [A]")
    suburban_residents_per_km2: float = Field(
        300.0, ge=0, description="the same for at least suburban: the density of a DEGURBA urban cluster (300 "
                                 "inhabitants per km²)")
    density_window_m: float = Field(1000.0, gt=0, description="window of the residents density above: DEGURBA's "
                                                              "1 km² grid cells (without its contiguity and "
                                                              "cluster-size rules)")
    raster_dasymetric_share: float = Field(
        0.8, ge=0, le=1,
        description="share of each population-raster pixel spread over its cells by the building estimate (the rest "
                    "evenly; 0 = evenly, as the raster says) [A] (§5 dasymetric; coarse GHS-POP 1 km pixels)")
    population: float | None = Field(
        None, gt=0, description="calibration total of residents (e.g. a census figure); None keeps the estimate [CENSUS2020]")
    plausible_density_per_km2: float = Field(
        60000.0, gt=0,
        description="a population total above this many residents per km² of the area is warned about: the densest "
                    "Chinese district, Shanghai Huangpu, has about 32,000 per km² (662,030 on 20.46 km², 2020 "
                    "census, Shanghai statistics) [A]")
    builtup_model: bool = Field(
        True, description="where buildings are unmapped, estimate building cover, floor area, residents and "
                          "workers (and from cover and floors the environment class) from roads, POIs and landuse with the model shipped "
                          "in siting/data/builtup_model.json; off: road demand only, as before [A] (issue 17)")
    census_min_share: float = Field(
        0.1, ge=0, le=1, description="a population total below this share of the residents that the mapped "
                                     "buildings already hold is refused as a wrong figure [A] (issue 17)")


class BatchParams(Section):
    """District quotas and batch runs (``siting quotas``, ``siting batch``)."""

    buffer_m: float = Field(1000.0, ge=0, description="district clip buffer so sites across a border count; "
                            "[A] from DOMAIN §1.9: suburban n78 ISD 0.9-1.3 km, cell radius ~ ISD/1.5 < 1 km")
    weight_residents: float = Field(0.5, ge=0, description="quota weight of a district's residents share [A]")
    weight_workers: float = Field(0.3, ge=0, description="quota weight of a district's workers share [A]")
    weight_road_km: float = Field(0.2, ge=0, description="quota weight of a district's road-km share [A]")
    minimum_quota: int = Field(0, ge=0, description="least new sites per district [A] (PLANS.md: every district needs its site count)")
    overlap_tolerance: float = Field(0.001, ge=0, le=1, description="share of the smaller district that may overlap another "
                                     "before the districts file is refused (digitising slivers) [A]")
    min_inside_share: float = Field(0.5, gt=0, le=1, description="share of a district that must lie inside the OSM extent [A]")
    border_spacing_m: float = Field(100.0, ge=0, description="new sites of neighbouring districts stand at least "
                                    "this far apart: of two neighbours, the one with less demand proposes nothing "
                                    "this close to their border; half the smallest 3GPP inter-site distance, UMi "
                                    "ISD 200 m [A] (DOMAIN §1.9)")
    max_sites_per_km2: float = Field(100.0, gt=0, description="a plan's whole target above this many new sites per "
                                     "km² of the districts is taken for a plan of another, larger area (warning) "
                                     "[A] (PLANS.md: Shenzhen averaged 24.68 5G sites per km² city-wide in 2021)")
    min_plan_area_share: float = Field(0.5, gt=0, le=1, description="districts covering less of the plan's census "
                                       "area than this share get a warning when the whole target goes to them [A]")
    census_cover_share: float = Field(0.9, gt=0, le=1, description="a plan's city census total is spread over the "
                                      "districts only when they cover this share of its census area [A]")
    windows: bool = Field(False, description="each district task reads its own window of the OSM XML file "
                          "(split once, siting.io.osm_window), so the client never holds the whole city [A]")
    worker_memory_share: float = Field(0.5, gt=0, le=1, description="a district's coverage-matrix memory budget "
                                       "is at most this share of its Dask worker's memory limit, so a district "
                                       "too large for its worker is refused, not killed [A]")


class TerrainParams(Section):
    """Terrain-aware radio coverage over a DEM (``siting/terrain.py``, ``--dem``; DOMAIN §2)."""

    method: str = Field("deygout", pattern="^(deygout|bullington|single)$",
                        description="diffraction over the profile: ITU-R P.526 Deygout (up to 3 edges), Bullington "
                                    "equivalent edge, or the single worst knife edge (DOMAIN §2: knife-edge/Deygout)")
    k_factor: float = Field(4.0 / 3.0, gt=0, description="effective Earth radius factor for the curvature bulge "
                                                         "[A] (standard atmosphere, ITU-R P.526/P.452 median)")
    fresnel_clearance: float = Field(0.6, ge=0, description="share of the first Fresnel zone that must be clear "
                                                            "for line of sight (DOMAIN §2: 0.6 r1)")
    step_m: float | None = Field(None, gt=0, description="profile sample spacing; None uses the DEM cell size "
                                                         "(DOMAIN §2: sample every <= grid step)")
    resolution_m: float | None = Field(None, gt=0, description="DEM cell size after reprojection; None keeps the "
                                                               "native resolution (SRTM 1\" ~30 m, 3\" ~90 m) "
                                                               "(DOMAIN §2)")
    bare_earth_m: float = Field(0.0, ge=0, description="radius of an opening+closing that strips building- and "
                                                       "noise-sized bumps from a surface model such as SRTM; 0 = "
                                                       "use the DEM as is, like SPLAT! [A] (DOMAIN §2)")
    buildings: bool = Field(False, description="add OSM building heights to the profile; off by default because "
                                               "the TR 38.901 NLOS law already includes building clutter [A] "
                                               "(DOMAIN §2, §4.1 heights)")


class RadioParams(Section):
    """5G link budget and propagation (``siting/radio.py``; DOMAIN §1-2)."""

    band: Literal["n78", "n41", "n28"] = Field("n78", description="band preset: n78 3.5 GHz, n41 2.6 GHz, "
                                                                     "n28 700 MHz (DOMAIN §1.7)")
    rsrp_threshold_dbm: float = Field(-105.0, description="SS-RSRP coverage threshold [A] (DOMAIN §1.7: the quoted NR "
                                                          "KPI -105 dBm was not located in the corpus)")
    edge_reliability: float = Field(0.9, gt=0.5, lt=1.0, description="cell-edge coverage probability; margin = "
                                                                      "norm.ppf(p)*sigma_SF [A] (DOMAIN §1.7-1.8)")
    ue_gain_dbi: float = Field(0.0, description="UE antenna gain [A] (DOMAIN §1.8 worked figures)")
    body_loss_db: float = Field(0.0, ge=0, description="UE body loss [A] (DOMAIN §1.8 omits it; 5G6G quotes 3 dB)")
    h_ut_m: float = Field(1.5, gt=0, description="UE height (DOMAIN §1.2: TR 38.901 1.5 m)")
    building_loss: Literal["sub6", "low", "high"] = Field("sub6",
                               description="O2I model: sub6 = 20 dB + 0.5*12.5 m (TR 38.901 Table 7.4.3-3, the "
                                           "DOMAIN §1.8 worked figures), low/high = TR 38.901 §7.4.3 (DOMAIN §1.6)")
    indoor_env_classes: tuple[EnvClass, ...] = Field(
        ("dense_urban", "urban"),
                                                description="environment classes whose demand needs deep indoor "
                                                            "coverage; others need outdoor coverage (TY5G, "
                                                            "DOMAIN §1.7)")
    los_model: Literal["nlos", "expected"] = Field("nlos",
                           description="per-pair LOS state without building data: nlos (planning default with the "
                                       "edge margin, DOMAIN §1.8) or expected (LOS-probability weighted, §1.5)")
    los_from_buildings: bool = Field(False, description="decide LOS per pair by ray sampling over rasterised "
                                                        "building heights (DOMAIN §2); off by default")
    los_fresnel_clearance: float = Field(0.6, ge=0, description="share of the first Fresnel zone the LOS ray "
                                                                "must clear (DOMAIN §2: 0.6 r1)")
    los_cell_m: float = Field(5.0, gt=0, description="building-height raster cell for the LOS test [A] "
                                                     "(DOMAIN §2: sample every <= grid step)")
    los_max_reach_m: float = Field(2000.0, gt=0, description="pair search cap when LOS pairs may reach beyond the "
                                                             "NLOS radius [A] (UMa LOS radii exceed 5 km, §1.8)")
    default_building_height_m: float = Field(9.0, gt=0, description="height of a building with neither height nor "
                                                                    "levels in the LOS raster [A] (3 floors, §4.1)")
    small_cell_eirp_offset_db: float = Field(-20.0, le=0, description="EIRP of a street-lamp (UMi) small cell "
                                                                       "relative to the band's macro AAU [A] (e.g. "
                                                                       "4x10 W, ~10 dBi vs 200 W, 24 dBi)")


class CandidateParams(Section):
    """5G candidate sites (``siting/candidates.py``; DOMAIN §4.1, PLANS.md shared infrastructure)."""

    mast_height_m: float = Field(30.0, gt=0, description="mounting height of an OSM mast/tower without height "
                                                         "[A] (DOMAIN §1.2: UMa 25 m and above)")
    existing_height_m: float = Field(30.0, gt=0, description="height of a user-given existing site without "
                                                             "height_m [A]")
    rooftops: bool = Field(True, description="use rooftops of tall buildings as candidates (DOMAIN §4.1 heights)")
    roof_min_height_m: float = Field(18.0, ge=0, description="only buildings at least this tall carry a rooftop "
                                                             "site [A] (6 floors x 3 m)")
    roof_mast_m: float = Field(3.0, ge=0, description="pole on the roof above the building height [A]")
    street_lamps: bool = Field(True, description="use street lamps as smart-pole small-cell candidates "
                                                 "(PLANS.md: one pole, many uses)")
    lamp_height_m: float = Field(8.0, gt=0, description="street-lamp mounting height, UMi [A] (DOMAIN §1.3: "
                                                        "UMi 10 m; lamps 6-10 m)")
    grid_height_m: float = Field(25.0, gt=0, description="greenfield grid-fill mast height (DOMAIN §1.2: UMa 25 m)")
    grid_spacing_m: float | None = Field(None, gt=0, description="grid-fill pitch and reach: every demand point "
                                                                 "gets a candidate within it; None = the band's UMa "
                                                                 "NLOS outdoor radius / 2, or the indoor radius when "
                                                                 "demand needs indoor coverage and it is smaller [A] "
                                                                 "(DOMAIN §1.8)")
    dedup_m: float = Field(5.0, ge=0, description="candidates closer than this merge, keeping the better "
                                                  "source [A]")
    smart_pole_budget: int | None = Field(None, ge=0, description="most street-lamp (smart-pole) candidates a "
                                          "plan may use, those with the most demand in reach; None: every lamp; a "
                                          "plan id sets it from the registry's smart_poles (PLANS.md: Guangzhou "
                                          "34,000 smart poles)")


class MapParams(Section):
    """HTML maps (``siting/maps.py``, ``siting map``)."""

    tianditu_key: str | None = Field(None, description="Tianditu tile key; None reads the SITING_TIANDITU_KEY "
                                                       "environment variable [A]")
    simplify_m: float = Field(5.0, ge=0, description="polygon simplification tolerance on the map and in "
                                                    "coverage.geojson, metres; layers.gpkg keeps full resolution [A]")
    precision: int = Field(5, ge=4, le=7, description="decimal places of map coordinates: 1e-5 degree is about "
                                                     "1.1 m [A]")
    demand_cell_m: float = Field(250.0, gt=0, description="demand is summed on squares of this size for the "
                                                          "choropleth [A] (keeps a district map < 5 MB)")
    cluster_above: int = Field(50, ge=0, description="proposed sites are clustered when there are more than "
                                                     "this many [A]")


class SolverParams(Section):
    """Coverage matrix memory bound and optimiser limits (``siting/coverage.py``, ``siting/solve/``)."""

    memory_budget_gb: float = Field(8.0, gt=0, description="refuse a run whose estimated coverage matrix and "
                                                          "solver state exceed this many GB [A] (issue 7: memory "
                                                          "bound; half of a 16 GB workstation)")
    exact_max_candidates: int = Field(80, ge=0, description="'auto' solves the whole MILP only up to this many "
                                                            "undecided candidates [A] (2,000 x 200 grid-city MCLPs "
                                                            "with a weak LP take HiGHS 25-70 s: "
                                                            "benchmarks/RESULTS.md)")
    exact_max_pairs: int = Field(50_000, ge=0, description="'auto' tries the exact MILP only up to this many "
                                                              "demand-candidate pairs [A]")
    exact_max_nodes: int = Field(2000, ge=0, description="branch-and-bound nodes of the exact MILP: a work limit, so "
                                                         "results do not depend on machine speed [A]")
    exact_time_s: float = Field(60.0, gt=0, description="safety time limit of the exact MILP; when it is hit the "
                                                        "result may depend on machine speed and `method` says so [A]")
    mip_rel_gap: float = Field(1e-4, ge=0, description="relative gap at which HiGHS stops [A] (HiGHS default)")
    swap_passes: int = Field(3, ge=0, description="passes of 1-swap local search over the chosen sites after "
                                                  "greedy [A]; work-bounded so results do not depend on speed")
    bound_checks: int = Field(64, ge=1, description="greedy iterations at which the submodular upper bound is "
                                                    "evaluated, spread evenly (every iteration on small runs) [A]")
    lagrange_iterations: int = Field(300, ge=0, description="subgradient iterations of the Lagrangian relaxation "
                                                            "(bound and second start) [A] (Galvao & ReVelle 1996)")
    lagrange_work: float = Field(5e7, gt=0, description="cap on iterations x matrix pairs of the relaxation: big "
                                                        "instances get fewer iterations, huge ones none [A]")
    lagrange_patience: int = Field(15, ge=1, description="iterations without a better bound before the subgradient "
                                                         "step is halved [A] (Held-Karp rule)")
    ils_iterations: int = Field(100_000, ge=0, description="most rounds of the adaptive iterated local search "
                                                    "after greedy+swap (close neighbouring sites, randomised greedy "
                                                    "refill, swap local search, adaptive acceptance) [A] (Maximo, "
                                                    "Cordeau & Nascimento 2023); ils_work usually ends it first")
    ils_drop: int = Field(8, ge=1, description="most chosen sites a round of the iterated local search closes: the "
                                               "cap of its adaptive perturbation size [A] (8 beat 2 and 4 on the "
                                               "Bronx and spopt instances: benchmarks/RESULTS.md)")
    ils_work: float = Field(3e8, gt=0, description="work limit of each iterated local search (per thread and "
                                                 "merge round) in matrix entries scanned (about 1 CPU s per 7e8 on "
                                                 "the Bronx instance, 2026 machine), so results do not depend on "
                                                 "machine speed [A] (8 rounds of 3e8 with merging beat one search "
                                                 "of 1.5e9 on Bronx: benchmarks/RESULTS.md, Optimiser, session of "
                                                 "2026-12-03 evening)")
    ils_patience: int = Field(5_000, ge=1, description="the iterated local search stops after this many rounds "
                                                       "without a better plan, counted over all merge rounds [A]")
    search_threads: int = Field(2, ge=1, description="independent iterated local searches run at once in threads, "
                                                     "each with its own seed derived from the run's seed and the "
                                                     "whole ils_work; the best plan is kept, so results depend on "
                                                     "this value, never on the cores or timing [A] (2 cores)")
    merge_candidates: float = Field(4.0, ge=0, description="after the iterated local search, HiGHS solves the "
                                                        "MCLP restricted to the elite plans and the candidates most "
                                                        "often in accepted local optima, this many times the sites "
                                                        "to choose (solution merging; 0: off) [A] (benchmarks/"
                                                        "RESULTS.md: Optimiser, session of 2026-12-03 evening)")
    merge_rounds: int = Field(8, ge=0, description="rounds of iterated local search then merge step, each round "
                                                 "from the best plan so far with a derived seed (0: the search once, "
                                                 "no merge step) [A]")
    merge_max_nodes: int = Field(500, ge=0, description="branch-and-bound nodes of the merge step's MILP: a work "
                                                      "limit, so results do not depend on machine speed [A]")
    lp_max_pairs: int = Field(5_000_000, ge=0, description="the LP relaxation (HiGHS) proves the bound when the "
                                                           "presolved model has at most this many demand-candidate "
                                                           "pairs [A]")


class CapacityParams(Section):
    """5G traffic demand and site capacity (issue 8): busy-hour Mbps per demand point and
    downlink capacity per site from bandwidth x spectral efficiency (``siting/capacity.py``)."""

    enabled: bool = Field(False, description="plan for busy-hour traffic within site capacity as well as for "
                          "coverage (`siting plan --capacity`); dense and urban zones are capacity-led (DOMAIN §1.9, TY5G)")
    dou_gb_month: float = Field(20.87, ge=0, description="mobile data per account per month, GB: CAICT, Aug 2025 "
                                "(20.87 GB/household/month, reported at aitalo.com 2025-09-23)")
    busy_days_per_month: float = Field(20.0, gt=0, description="busy days per month (monthly traffic / busy-day "
                                       "traffic) [A] (the8layers.com 'Busy Hour, Busy Day': 20)")
    busy_hours_per_day: float = Field(8.0, gt=0, description="busy hours per day (daily traffic / busy-hour "
                                      "traffic) [A] (the8layers.com 'Busy Hour, Busy Day': 8)")
    subscriber_share: float = Field(1.0, ge=0, le=1, description="share of the people's mobile traffic the planned "
                                    "network carries; 1 = all operators (shared build) [A]")
    users: float | None = Field(None, gt=0, description="5G users of the city the area belongs to (a plan's "
                                "subscriber base, e.g. Guangzhou 2022: 15,000,000 [PLANS]); spread over "
                                "users_population residents, they replace subscriber_share: the network carries the "
                                "traffic of users / population of the people present. A 5G user's monthly data is "
                                "taken as dou_gb_month: in May 2022 5G carried 27.2 % of China's mobile traffic with "
                                "428 M of about 1.65 bn handset users, about 26 % (MIIT, reported by UrduPoint "
                                "2022-07-15 and C114 2022-08-26)")
    users_population: float | None = Field(None, gt=0, description="residents the users are spread over (the "
                                           "city's census population); None: the area's own residents, i.e. the "
                                           "area is the whole city [A]")
    resident_share: float = Field(0.8, ge=0, le=1, description="share of residents present in the (evening) busy "
                                  "hour [A]")
    worker_share: float = Field(0.3, ge=0, le=1, description="share of workers still at work in the busy hour [A]")
    road_users_per_km: float = Field(100.0, ge=0, description="people on a km of road in the busy hour: about "
                                     "33 vehicles/km/lane at 1,000 veh/h and 30 km/h, 2 lanes, 1.5 occupants [A]")
    resident_activity: float = Field(1.0, ge=0, description="data use of a present resident relative to the "
                                     "average account [A]")
    worker_activity: float = Field(1.0, ge=0, description="data use of a present worker relative to the average "
                                   "account [A]")
    road_activity: float = Field(0.5, ge=0, description="data use of a road user relative to the average account "
                                 "(short sessions, no video at the wheel) [A]")
    priority_extra: float = Field(1.0, ge=0, description="extra traffic at priority places: traffic x (1 + "
                                  "priority_extra x (priority - 1)) (stadiums, transport hubs) [A]")
    sectors: int = Field(3, ge=1, description="sectors per macro site (DOMAIN §1.9 tri-sector layout)")
    small_cell_sectors: int = Field(1, ge=1, description="sectors of a street-lamp small cell (omni) [A]")
    dl_share: float = Field(0.75, gt=0, le=1, description="downlink share of TDD air time (DDDSU frame: 3 of 5 "
                            "slots plus most of the special slot) [A]")
    layers: float = Field(4.0, gt=0, description="MU-MIMO spatial multiplexing gain over one layer: 4 layers at "
                          "10 dB SINR give 8.3 bit/s/Hz, near the ITU-R M.2410 dense-urban eMBB average of 7.8 "
                          "bit/s/Hz/TRxP [A]")
    shannon_alpha: float = Field(0.6, gt=0, le=1, description="attenuation of the truncated Shannon curve SE = "
                                 "alpha log2(1 + SINR) (3GPP TR 36.942 annex A: 0.6)")
    se_max: float = Field(7.4, gt=0, description="largest spectral efficiency per layer, bit/s/Hz (256QAM rate "
                          "948/1024, 3GPP TS 38.214 Table 5.1.3.1-2: 7.41)")
    sinr_min_db: float = Field(-10.0, description="SINR below which nothing is carried (TR 36.942 annex A: -10 dB)")
    edge_sinr_db: float = Field(-3.0, description="SINR at zero link margin (cell edge); SINR = edge_sinr_db + "
                                "margin [A] (DOMAIN §1.7: SS-SINR >= -3 dB KPI)")
    sinr_max_db: float = Field(25.0, description="interference caps SINR near the site [A]")
    max_load: float = Field(0.8, gt=0, le=1, description="share of a site's capacity the plan may use; planners "
                            "dimension cells to 70-80 % busy-hour PRB use [A]")
    exact_max_pairs: int = Field(5_000, ge=0, description="'auto' checks the heuristic with the exact MILP up to "
                                 "this many demand-candidate pairs [A]")
    lagrange_iterations: int = Field(15, ge=0, description="subgradient steps of the Lagrangian bound on served "
                                     "traffic [A]")


class ReserveParams(Section):
    """Reserve sites and search rings (issue 18, ``siting/reserve.py``): alternates for site acquisition."""

    keep_share: float = Field(0.9, gt=0, le=1, description="an alternate candidate must keep at least this share "
                              "of a proposed site's marginal coverage when swapped in with the others fixed [A] "
                              "(issue 18: 90 %)")
    ring_buffer_m: float = Field(25.0, gt=0, description="a search ring is the convex hull of a site and its "
                                 "qualifying alternates, buffered by this much so that a site without alternates "
                                 "still has an area [A]")


class LearnParams(Section):
    """Learning from the existing network (issue 11, ``siting/learn.py``, ``siting/gaps.py``,
    ``siting/evaluate.py``): suitability features and model, gap areas, holdout evaluation."""

    strength: float = Field(1.0, ge=0, description="exponent scale of the suitability multiplier on demand weights "
                            "and candidate scores; 0 turns learning off [A] (issue 11)")
    min_sites: int = Field(20, ge=2, description="fewest existing sites in the area to learn from; below it the "
                           "model is skipped and the summary says so [A] (issue 11: 'say under 20')")
    radii_m: tuple[float, ...] = Field((150.0, 500.0), min_length=1, description="neighbourhood radii of the "
                                       "features: a dense-urban inter-site distance and a walking catchment [A] "
                                       "(DOMAIN §1.9 ISD)")
    raster_m: float = Field(25.0, gt=0, description="raster cell of the neighbourhood sums (a tenth of the radius "
                            "when coarser); disc edges are exact to one cell [A]")
    block_m: float = Field(1000.0, gt=0, description="side of the spatial cross-validation blocks [A] (issue 11: "
                           "blocks of about 1 km)")
    folds: int = Field(5, ge=2, description="GroupKFold folds over the blocks [A]")
    max_background: int = Field(20000, ge=100, description="background (demand) locations sampled for fitting; "
                                "species-distribution practice uses about 10,000 [A]")
    logistic_c: float = Field(1.0, gt=0, description="inverse L2 regularisation of the logistic model "
                              "(scikit-learn default) [A]")
    gbm_iterations: int = Field(100, ge=1, description="boosting iterations of HistGradientBoostingClassifier "
                                "(scikit-learn default) [A]")
    simpler_model_margin: float = Field(0.01, ge=0, description="gradient boosting replaces the logistic model only "
                                        "when its spatial-CV AUC is higher by more than this (parsimony) [A]")
    min_auc: float = Field(0.7, ge=0.5, le=1, description="spatial-CV AUC below which the model is reported but "
                           "not used [A] (0.7: 'acceptable discrimination', Hosmer & Lemeshow, Applied Logistic "
                           "Regression)")
    max_multiplier: float = Field(4.0, ge=1, description="relative suitability is clipped to [1/x, x] before "
                                  "the strength exponent [A]")
    candidate_preference: float = Field(0.05, ge=0, le=1, description="largest share of demand weight a 5G "
                                        "plan with --count may give up to stand on suitable candidates: the learned "
                                        "score is a secondary objective worth at most this x skill [A] (Nanjing 5G "
                                        "holdout, benchmarks/RESULTS.md ## Learning)")
    junction_candidates: bool = Field(True, description="with a used model and --count, 5G plans also get a pole "
                                      "candidate at every road junction, so that the learned preference can stand "
                                      "on the places operators favour [A]")
    gap_eps_factor: float = Field(1.5, gt=0, description="DBSCAN eps of gap clustering in demand cell sizes [A] "
                                  "(issue 11: eps about 1.5 cells)")
    gap_min_samples: int = Field(2, ge=1, description="DBSCAN min_samples of gap clustering; lone uncovered points "
                                 "form their own small gap areas [A]")
    eval_radius_5g_m: float = Field(150.0, gt=0, description="a hidden 5G site counts as found when a proposed "
                                    "site is this close: about the dense-urban site spacing [A] (issue 11)")
    eval_radius_charging_m: float = Field(300.0, gt=0, description="the same for charging stations [A] (issue 11)")
    baseline_draws: int = Field(20, ge=1, description="random draws averaged for each evaluation baseline [A]")
    threads: int = Field(1, ge=1, description="BLAS/OpenMP threads while fitting; 1 keeps parallel district runs "
                         "(batch) from oversubscribing the cores [A]")


class SitesParams(Section):
    """The user's existing-sites file (``siting/io/sites.py``; issues 14 and 20)."""

    buffer_m: float | None = Field(None, gt=0, description=(
        "existing sites farther than this outside the area are left out: they can neither cover nor serve demand "
        "in it; None = the kind's largest reach (5G: the band's largest outdoor radius, radio.max_reach_m; "
        "charging: the kind's largest service radius) [A] (issue 20)"))
    datum_check_min_sites: int = Field(5, ge=1, description=(
        "fewest sites in the area for the check that the declared datum fits the roads [A] (issue 14)"))
    datum_check_ratio: float = Field(0.5, gt=0, lt=1, description=(
        "warn that the sites' datum looks wrong when another datum (WGS-84, GCJ-02, BD-09) brings their median "
        "distance to the nearest road below this share of the declared datum's [A] (issue 14)"))


class Params(Section):
    """All parameters of a run. Sections are added by each pipeline stage."""

    batch: BatchParams = BatchParams()

    demand: DemandParams = DemandParams()
    map: MapParams = MapParams()
    radio: RadioParams = RadioParams()
    candidates: CandidateParams = CandidateParams()
    charging: ChargingParams = ChargingParams()
    terrain: TerrainParams = TerrainParams()
    solver: SolverParams = SolverParams()
    capacity: CapacityParams = CapacityParams()
    learn: LearnParams = LearnParams()
    sites: SitesParams = SitesParams()
    reserve: ReserveParams = ReserveParams()
    seed: int = 0


def read_yaml_mapping(path: str | Path, what: str, expected: str,
                      allow_empty: bool = False) -> tuple[dict[str, Any], dict[str, int]]:
    """Read a YAML file that must hold a mapping; return it and the line of each dotted key.

    ``what`` names the file in errors ("config file", "plan file"); ``expected`` says
    what the mapping should hold.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} {p} does not exist: check the path")
    try:
        text = p.read_text(encoding="utf-8")
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {p} is not valid YAML ({_short(exc)}): fix the syntax") from None
    if data is None and allow_empty:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {p} must hold a mapping ({expected})")
    return data, key_lines(node)


def load_params(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Params:
    """Read parameters from a YAML file (optional) and apply ``overrides``.

    Parameters
    ----------
    path
        A YAML file of parameter sections; None: the defaults.
    overrides
        Dotted keys (``"radio.band"``) and their values, applied over the file.

    Returns
    -------
    Params
        Every parameter, validated.

    Raises
    ------
    ConfigError
        Naming the offending key (and its line in the YAML).
    """
    data: dict[str, Any] = {}
    lines: dict[str, int] = {}
    if path is not None:
        data, lines = read_yaml_mapping(path, "config file", "sections: demand:, radio:, ...", allow_empty=True)
    for key, value in (overrides or {}).items():
        _set_dotted(data, key, value)
    try:
        return Params.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        where = f" (line {lines[loc]})" if loc in lines else ""
        if err["type"] == "extra_forbidden":
            raise ConfigError(f"unknown parameter '{loc}'{where}: remove it or check its spelling") from None
        raise ConfigError(f"parameter '{loc}'{where}: {err['msg']}") from None


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    for part in parts[:-1]:
        data = data.setdefault(part, {})
    data[parts[-1]] = value


def key_lines(node: Any, prefix: str = "") -> dict[str, int]:
    """Map dotted keys of a composed YAML mapping to 1-based line numbers.

    List items are keyed by their index (``targets.1.count``).
    """
    out: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            dotted = f"{prefix}{key_node.value}"
            out[dotted] = key_node.start_mark.line + 1
            out.update(key_lines(value_node, dotted + "."))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[f"{prefix}{i}"] = item.start_mark.line + 1
            out.update(key_lines(item, f"{prefix}{i}."))
    return out
