"""The module structure the code promises: no import cycle, osmnx and pyrosm behind one adapter
(:mod:`siting.io.osm_adapter`, which :meth:`siting.area.Area.graph` also goes through)."""
from __future__ import annotations

import ast
from pathlib import Path

import siting

ROOT = Path(siting.__file__).parent


def _imports() -> dict[str, set[str]]:
    """siting module -> the siting modules and third-party top-level packages it imports (anywhere in it)."""
    modules = {".".join(p.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__"): p
               for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        graph[name] = {m for m in found if m in modules and m != name} | {m.split(".")[0] for m in found}
    return graph


def test_no_module_imports_itself_through_others():
    graph = _imports()
    siting_only = {m: {d for d in deps if d in graph} for m, deps in graph.items()}

    def reaches(start: str) -> set[str]:
        seen, todo = set(), list(siting_only[start])
        while todo:
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo.extend(siting_only[m])
        return seen

    assert [m for m in siting_only if m in reaches(m)] == []


def test_osmnx_and_pyrosm_only_through_the_adapter():
    users = {m for m, deps in _imports().items() if deps & {"osmnx", "pyrosm"}}
    assert users == {"siting.io.osm_adapter"}
