"""Charging parameters (``DOMAIN.md`` §3): the road network, and one table per charging
facility kind (:data:`siting.vocab.CHARGING_KINDS`) with its candidates, service radius,
demand and sizing rule. Sources as in :mod:`siting.config`.
"""
from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from siting.config.base import Section
from siting.vocab import CHARGING_KINDS


class RadiusByEnv(Section):
    """Service radius (metres of road) by environment class of the demand point."""

    dense_urban: float = Field(900.0, gt=0, description="core areas: < 0.9 km [BJ2017]")
    urban: float = Field(2000.0, gt=0, description="central city: 2 km [A] (DOMAIN §3.2)")
    suburban: float = Field(5000.0, gt=0, description="suburbs: 5 km average radius [BJ2017]")
    rural: float = Field(5000.0, gt=0, description="rural: as suburbs [A] (DOMAIN §3.2)")


class FacilityKind(Section):
    """One charging facility kind: candidates, service radius, demand and sizing rule."""

    candidates: tuple[str, ...] = Field(
        ("parking", "fuel", "services", "mall", "transport_hub", "landuse:retail", "landuse:commercial"),
        description="candidate POI categories (siting.vocab.POI_CATEGORIES) or 'landuse:<value>': car parks, fuel, "
                    "service areas, malls, hubs, commercial/workplace estates [GW2015, BJ2017] (DOMAIN §3.5)")
    parking_types: tuple[str, ...] = Field(("surface", "multi-storey", "underground", "rooftop", "street_side", ""),
                                           description="parking=* values accepted; '' = untagged [A] (DOMAIN §4.1)")
    existing_categories: tuple[str, ...] = Field(("charging_station",), description=(
        "POI categories that are existing stations of this kind, fixed with their capacity [A] (OSMW)"))
    landuse_spaces_per_ha: float = Field(100.0, gt=0, description=(
        "parking spaces per hectare of a landuse candidate (estate car parks) [A]"))
    street_parking_near_residential_m: float | None = Field(100.0, ge=0, description=(
        "street_side parking is a candidate only within this distance of residential landuse; None: anywhere "
        "[MOHURD2016] (old estates: residential streets; PLANS Guangzhou: street parking next to estates)"))
    radius_m: RadiusByEnv = Field(RadiusByEnv(), description="service radius by environment class [BJ2017]")
    roadside_spacing_m: float | None = Field(1000.0, gt=0, description=(
        "where demand has no candidate within this distance, add roadside candidates at road nodes on a grid of "
        "this pitch (sparse OSM) [A]; None: never"))
    sessions_per_ev_day: float = Field(0.3, ge=0, description="sessions per EV per day at this kind of station [A]")
    sessions_per_worker_ev_day: float = Field(0.1, ge=0, description=(
        "workplace sessions per worker's EV per day [A] (DOMAIN §3.6 activity based)"))
    sessions_per_road_km_day: float = Field(0.5, ge=0, description=(
        "through-traffic sessions per km of drivable road per day, at road demand points [A] "
        "(DOMAIN §3.6 traffic-flow based)"))
    poi_sessions_day: dict[str, float] = Field({"mall": 20.0, "office": 5.0, "transport_hub": 30.0,
                                                "services": 40.0}, description=(
        "sessions per day attracted by one POI of each category [A] (DOMAIN §3.6 POI based)"))
    fast_share: float = Field(0.7, ge=0, le=1, description="share of fast DC piles [A] (DOMAIN §3.3)")
    sessions_per_fast_pile_day: float = Field(7.2, gt=0, description=(
        "fast pile throughput: 15 % utilisation x 24 h / 0.5 h session [A] (DOMAIN §3.3 'charge half an hour')"))
    sessions_per_slow_pile_day: float = Field(1.0, gt=0, description=(
        "slow 7 kW pile throughput: one overnight session per day [A] (DOMAIN §3.3)"))
    parking_share: float = Field(0.2, gt=0, le=1, description=(
        "maximum share of a car park's spaces fitted with piles: public car parks >= 20 % [HN2021] (>= 10 % [GW2015])"))
    default_capacity: float = Field(50.0, gt=0, description="parking spaces of a candidate with no capacity tag [A]")
    min_piles: int = Field(2, ge=1, description="smallest new station, piles [A]")
    max_piles: int = Field(40, ge=1, description="largest new station, piles [A]")
    typical_piles: int = Field(8, ge=1, description="new piles per new station when a plan is given in piles [A]")
    existing_piles_default: int = Field(2, ge=1, description=(
        "piles of an existing station with neither capacity nor socket tags [A] (OSMW Tag:amenity=charging_station)"))
    merge_distance_m: float = Field(50.0, ge=0, description=(
        "candidates closer than this merge into one with the sum of their parking spaces, and new candidates "
        "this close to an existing station are dropped: one site per car park or street corner [A] (issue 20: "
        "two roadside nodes 9 m apart, a car park 32 m from a commercial plot); 0: never"))


def _kind(**changes) -> FacilityKind:
    return FacilityKind(**changes)


class ChargingParams(Section):
    """EV charging, battery-swap and hydrogen siting on the road network (``DOMAIN.md`` §3)."""

    car_ownership_per_person: float = Field(0.24, ge=0, description=(
        "cars per resident: about 336 M cars / 1.41 bn people in 2023 [A]"))
    ev_share: float = Field(0.06, ge=0, le=1, description="share of cars that are EVs: about 20 M NEVs in 2023 [A]")
    metric: str = Field("distance", pattern="^(distance|time)$", description=(
        "road cost: 'distance' (radius in metres) or 'time' (radius converted at speed_kmh of the radius) [A]"))
    speed_kmh: dict[str, float] = Field({"motorway": 100.0, "trunk": 70.0, "primary": 50.0, "secondary": 40.0,
                                         "tertiary": 35.0, "residential": 25.0, "default": 30.0}, description=(
        "drive speed by road class when maxspeed is untagged [A]; 'default' for other classes"))
    reference_speed_kmh: float = Field(30.0, gt=0, description=(
        "speed that turns a radius in metres into a time budget when metric='time' [A]"))
    max_snap_m: float = Field(300.0, gt=0, description=(
        "a candidate farther than this from any road node has no road access and is dropped [A]"))
    service_area_buffer_m: float = Field(60.0, gt=0, description="half-width of service-area corridors [A]")
    target: float = Field(0.9, gt=0, le=1, description="coverage target when no count/piles/target is given [A]")
    charging: FacilityKind = Field(_kind(), description="public fast charging [GW2015, BJ2017]")
    basic: FacilityKind = Field(_kind(
        candidates=("landuse:residential", "parking"), parking_types=("street_side", "underground", "surface", ""),
        radius_m=RadiusByEnv(dense_urban=500.0, urban=500.0, suburban=800.0, rural=1000.0),
        sessions_per_ev_day=0.8, sessions_per_worker_ev_day=0.0, sessions_per_road_km_day=0.0, roadside_spacing_m=250.0,
        poi_sessions_day={}, fast_share=0.0,
        parking_share=1.0, default_capacity=200.0, max_piles=400, typical_piles=40), description=(
        "residential basic slow charging: one space per EV, 100 % of residential parking [MOHURD2016, GW2015]"))
    depot: FacilityKind = Field(_kind(
        candidates=("depot", "parking", "industrial"), parking_types=("surface", "multi-storey", ""),
        radius_m=RadiusByEnv(dense_urban=5000.0, urban=5000.0, suburban=10000.0, rural=15000.0),
        sessions_per_ev_day=0.0, sessions_per_worker_ev_day=0.0, sessions_per_road_km_day=0.0, roadside_spacing_m=None,
        poi_sessions_day={"depot": 60.0, "transport_hub": 40.0, "industrial": 10.0}, fast_share=0.5,
        parking_share=0.5, default_capacity=80.0, typical_piles=12), description=(
        "dedicated bus/taxi/logistics depots [BJ2017] (DOMAIN §3.5)"))
    swap: FacilityKind = Field(_kind(
        candidates=("fuel", "parking", "depot", "services"), parking_types=("surface", ""),
        radius_m=RadiusByEnv(dense_urban=2000.0, urban=3000.0, suburban=5000.0, rural=10000.0),
        sessions_per_ev_day=0.02, sessions_per_worker_ev_day=0.0, sessions_per_road_km_day=0.05,
        roadside_spacing_m=1500.0,
        poi_sessions_day={"depot": 80.0, "transport_hub": 60.0}, fast_share=1.0,
        sessions_per_fast_pile_day=30.0, parking_share=0.5, default_capacity=10.0, min_piles=1, max_piles=10,
        existing_categories=(),
        typical_piles=4), description=(
        "battery swap: 'piles' are swap lanes, about 30 swaps a day each [A] (PLANS: Shiyan smart swap stations)"))
    hydrogen: FacilityKind = Field(_kind(
        candidates=("fuel", "services", "depot", "industrial"), parking_types=(),
        radius_m=RadiusByEnv(dense_urban=10000.0, urban=10000.0, suburban=20000.0, rural=30000.0),
        sessions_per_ev_day=0.0, sessions_per_worker_ev_day=0.0, sessions_per_road_km_day=0.0, roadside_spacing_m=None,
        poi_sessions_day={"depot": 20.0, "industrial": 5.0, "transport_hub": 10.0}, fast_share=1.0,
        sessions_per_fast_pile_day=40.0, parking_share=1.0, default_capacity=4.0, min_piles=1, max_piles=4,
        existing_categories=(),
        typical_piles=2), description=(
        "hydrogen refuelling: 'piles' are dispensers, about 40 fills a day each [A] (PLANS: Guangzhou 3 a year)"))

    @model_validator(mode="before")
    @classmethod
    def _over_kind_defaults(cls, data: Any) -> Any:
        """A partial kind in YAML (``swap: {fast_share: 0.5}``) changes that kind's own defaults."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name in CHARGING_KINDS:
            if isinstance(data.get(name), dict):
                data[name] = _merged(cls.model_fields[name].default.model_dump(), data[name])
        return data

    def kind(self, name: str) -> FacilityKind:
        """The configuration of facility kind ``name``."""
        return getattr(self, name)




def _merged(default: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    out = dict(default)
    for key, value in given.items():
        nested = isinstance(value, dict) and isinstance(out.get(key), dict) and key != "poi_sessions_day"
        out[key] = _merged(out[key], value) if nested else value
    return out
