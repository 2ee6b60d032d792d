"""Reading back what siting wrote: a plan's ``summary.json``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_summary(out_dir: Path) -> dict[str, Any] | None:
    """The ``summary.json`` of an earlier plan in ``out_dir``; None when there is none or it is unreadable."""
    path = Path(out_dir) / "summary.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
