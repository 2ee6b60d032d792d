"""siting: where a city should put its next 5G base stations and EV charging facilities.

The public API grows with the pipeline stages; see the README's architecture section.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
