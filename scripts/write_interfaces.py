"""Write ``docs/interfaces.md`` from the code: the public API of ``siting`` and the column contracts.

Run ``python scripts/write_interfaces.py`` after changing a public signature or docstring;
``tests/test_public_api.py`` fails while the file is out of date.
"""
from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import siting
from siting.candidates import COLUMNS as CANDIDATE_COLUMNS
from siting.demand import POINT_COLUMNS
from siting.result import SITE_COLUMNS

OUT = Path(__file__).resolve().parents[1] / "docs" / "interfaces.md"

HEAD = """# Interfaces

Generated from the code by `scripts/write_interfaces.py`: do not edit by hand. The full
documentation of each name is its docstring (`help(siting.run_plan)`).

Every stage is a pure function on plain data; all geometry inside a plan is in the area's
metric CRS (`area.crs`, UTM), everything written for others is EPSG:4326. A user error
raises a `siting.SitingError` subclass whose message is one line (what is wrong, then what
to do); the CLI prints it as `siting: error: ...` and exits 2. Every parameter is a field
of `siting.Params` (`siting/config.py`) with its default and source.
"""


def _signature(obj: object) -> str:
    try:
        text = str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    text = re.sub(r"(: |-> )'([^']*)'", r"\1\2", text)  # annotations as written, not as strings
    return re.sub(r"PosixPath\('([^']*)'\)", r'Path("\1")', text)


def _summary(obj: object) -> str:
    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.split("\n\n")[0].split())


def render() -> str:
    """The text of ``docs/interfaces.md``."""
    lines = [HEAD, "## Public API (`import siting`)", ""]
    for name in siting.__all__:
        if name == "__version__":
            continue
        obj = getattr(siting, name)
        lines.append(f"### `siting.{name}`")
        lines.append("")
        lines.append(f"Defined in `{obj.__module__}`. {_summary(obj)}")
        if inspect.isfunction(obj):
            lines += ["", "```python", f"{name}{_signature(obj)}", "```"]
        lines.append("")
    lines += ["## Column contracts", "",
              f"- `Demand.points` (and the `demand` layer, which adds `covered_before`, `covered_after`): "
              f"{', '.join(f'`{c}`' for c in POINT_COLUMNS)}.",
              f"- candidate tables: {', '.join(f'`{c}`' for c in CANDIDATE_COLUMNS)} (5G adds `env_class`).",
              f"- the `sites` layer: {', '.join(f'`{c}`' for c in SITE_COLUMNS)} (5G adds `reason`, `in_area`; "
              "charging adds `piles`, `piles_fast`, `piles_slow`, `sessions`, `capacity`, `spaces`).", ""]
    return "\n".join(lines)


def main() -> int:
    OUT.write_text(render(), encoding="utf-8")
    print(f"written {OUT.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
