"""siting: where a city should put its next 5G base stations and EV charging facilities.

The public API, in the order of a run::

    import siting
    area = siting.load_area("demo")                       # OSM file, place name, polygon, bbox
    params = siting.load_params(None, {"seed": 0})        # every parameter, validated
    existing = siting.read_sites("sites.csv", area=area)  # optional: the network that exists
    demand = siting.build_demand(area, params.demand)
    request = siting.PlanRequest(kind="5g", count=40)     # validated here, once
    result = siting.run_plan(area, request, params, existing=existing, demand=demand)
    siting.write_plan(result, "out/5g")                   # GeoJSON, CSV, GeoPackage, summary.json

``siting.plan_area(area, "5g", params, count=40)`` is ``run_plan`` with the request as
keywords; ``siting.plan_files(source, request)`` reads the request's files, plans and
writes every output and the map, as ``siting plan`` does. Names are imported on first
use, so ``import siting`` stays light.
"""
from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("siting")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

#: public name -> module that defines it
_API = {
    "load_area": "siting.io.osm",
    "read_sites": "siting.io.sites",
    "load_params": "siting.config",
    "Params": "siting.config",
    "build_demand": "siting.demand",
    "PlanRequest": "siting.request",
    "run_plan": "siting.pipeline",
    "plan_area": "siting.pipeline",
    "PlanResult": "siting.result",
    "Summary": "siting.summary",
    "write_plan": "siting.io.export",
    "plan_files": "siting.workflow",
    "Outcome": "siting.workflow",
    "SitingError": "siting.errors",
    "InputError": "siting.errors",
    "PlanError": "siting.errors",
    "ConfigError": "siting.errors",
    "ResourceError": "siting.errors",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> object:
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'siting' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
