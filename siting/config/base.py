"""The base of every parameter section."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Base of every parameter section: frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)
