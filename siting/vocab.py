"""The words siting plans in, defined once: facility kinds, environment classes, road
classes, point-of-interest categories and candidate sources.

Every module imports these names instead of spelling its own copy; the config
(:mod:`siting.config`) uses the ``Literal`` types so that a YAML value outside the
vocabulary is refused with the allowed words. Nothing here computes anything beyond
a lookup.
"""
from __future__ import annotations

from typing import Literal, get_args

import pandas as pd

# --------------------------------------------------------------------------- facility kinds
#: a facility kind siting plans: 5G base stations, or a charging kind on the road network
Kind = Literal["5g", "charging", "basic", "depot", "swap", "hydrogen"]
#: the charging kinds, each a section of :class:`siting.config.ChargingParams`
ChargingKind = Literal["charging", "basic", "depot", "swap", "hydrogen"]

KINDS: tuple[Kind, ...] = get_args(Kind)
CHARGING_KINDS: tuple[ChargingKind, ...] = get_args(ChargingKind)

# --------------------------------------------------------------------------- environment classes
#: environment class of a demand point or site (DOMAIN §1.9, §4)
EnvClass = Literal["dense_urban", "urban", "suburban", "rural"]

#: environment classes, densest first (radio tables and summaries)
ENV_CLASSES: tuple[EnvClass, ...] = get_args(EnvClass)
#: the same, sparsest first: index = the demand stage's class code (0 rural ... 3 dense urban)
ENV_CLASSES_SPARSEST_FIRST: tuple[EnvClass, ...] = ENV_CLASSES[::-1]

# --------------------------------------------------------------------------- roads
#: road groups of the demand stage's road-length columns (``road_m_<group>``); every
#: other drivable class is ``minor``
ROAD_GROUPS: tuple[str, ...] = ("motorway", "trunk", "primary", "secondary", "tertiary", "minor")
#: road classes of the learned road-length features; every other class is ``minor``
ROAD_FEATURE_CLASSES: dict[str, tuple[str, ...]] = {
    "major": ("motorway", "trunk", "primary"),
    "secondary": ("secondary", "tertiary"),
}


def road_class(highway: pd.Series) -> pd.Series:
    """The road class of OSM ``highway=*`` values: a ``*_link`` counts as its class."""
    return highway.astype(str).str.removesuffix("_link")


# --------------------------------------------------------------------------- POIs and candidates
#: point-of-interest categories that siting derives from OSM tags (``Area.pois.category``)
POI_CATEGORIES: tuple[str, ...] = (
    "parking",          # amenity=parking (+ parking=*, capacity=*)
    "fuel",             # amenity=fuel
    "services",         # highway=services (expressway service area)
    "rest_area",        # highway=rest_area
    "charging_station", # amenity=charging_station (existing charging)
    "mast",             # man_made=mast|tower with communication tags (existing 5G/4G sites)
    "street_lamp",      # highway=street_lamp (smart-pole candidates)
    "mall",             # shop=mall, shop=department_store, amenity=marketplace
    "shop",             # other shop=*
    "office",           # office=*, building=office
    "transport_hub",    # railway=station|halt, amenity=bus_station, aeroway=aerodrome|terminal, public_transport=station
    "school",           # amenity=school|university|college
    "hospital",         # amenity=hospital|clinic
    "public_place",     # amenity=townhall|community_centre|theatre, leisure=stadium|sports_centre
    "scenic",           # tourism=attraction|viewpoint|theme_park|zoo, leisure=park
    "industrial",       # landuse=industrial (as a point), man_made=works
    "depot",            # amenity=bus_station depots, landuse=depot, amenity=taxi, logistics
)

#: source of a 5G candidate site
Source5G = Literal["existing", "mast", "rooftop", "street_lamp", "grid"]
#: 5G candidate sources, best first (ties in deduplication go to the earlier one)
SOURCES_5G: tuple[Source5G, ...] = get_args(Source5G)
#: the 5G source of smart-pole (street-lamp) small cells: TR 38.901 UMi, a plan's pole budget
POLE_SOURCE: Source5G = "street_lamp"
