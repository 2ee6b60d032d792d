"""What made a result: input hashes, parameters and package versions.

``summary.json`` embeds :func:`provenance`; the only time-dependent field of any
output is ``provenance.created`` so that two runs can be compared byte for byte once
that one field is set aside (or fixed through ``SOURCE_DATE_EPOCH``).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("siting", "numpy", "scipy", "pandas", "shapely", "pyproj", "geopandas",
            "osmnx", "pyrosm", "rasterio", "scikit-learn", "highspy", "folium", "dask")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    """Hex SHA-256 of a string (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape a result."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def created_timestamp() -> str:
    """UTC creation time; ``SOURCE_DATE_EPOCH`` fixes it for reproducible builds."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    now = (_dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc) if epoch
           else _dt.datetime.now(_dt.timezone.utc))
    return now.replace(microsecond=0).isoformat()


def osm_input(area: Any) -> dict[str, str]:
    """The OSM input of ``area`` as provenance records it: the digest taken at ingest (the
    file is not read again) and the file's name when it is a file."""
    osm = {"sha256": area.source_hash}
    if Path(area.source).is_file():
        osm["file"] = Path(area.source).name
    return osm


def provenance(inputs: dict[str, Any], params: dict[str, Any], plan_id: str | None = None) -> dict[str, Any]:
    """The provenance block of ``summary.json``.

    ``inputs`` maps a role (``"osm"``, ``"existing"``, ``"raster"``...) to a file path
    (hashed here), or to an entry already hashed: ``{"sha256": ..., "file": name}``.
    """
    hashes = {}
    for role, value in sorted(inputs.items()):
        hashes[role] = (dict(value) if isinstance(value, dict)
                        else {"file": Path(value).name, "sha256": sha256_file(value)})
    return {
        "inputs": hashes,
        "parameters": params,
        "plan_id": plan_id,
        "versions": package_versions(),
        "created": created_timestamp(),
    }
