"""One run path: a request validated once, errors that name what the caller typed, a public API
with documented names, and a plan id that reaches capacity and summary.json from the command line."""
from __future__ import annotations

import importlib.util
import inspect
import json
from pathlib import Path

import pytest

import siting
from siting.cli import FLAGS, main
from siting.config import Params
from siting.errors import PlanError
from siting.request import PlanRequest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("fields, says", [
    ({}, "give exactly one of `count`, `target` or `piles`"),
    ({"count": 5, "target": 0.9}, "give exactly one of"),
    ({"target": 1.5}, "`target` 1.5 is outside (0, 1]"),
    ({"piles": 10}, "`piles` applies to charging kinds only"),
    ({"kind": "charging", "piles": 10, "reserve": 0.5}, "`phases` and `reserve` apply to 5g plans only"),
    ({"kind": "tram", "count": 3}, "unknown facility kind 'tram'"),
    ({"count": -1}, "`count` -1 is negative"),
    ({"count": "many"}, "`count` 'many'"),
    ({"phases": "2020:5,2022:10", "target": 0.9}, "drop `target`"),
])
def test_a_bad_request_is_refused_when_it_is_made_naming_the_parameter(fields, says):
    with pytest.raises(PlanError) as exc:
        PlanRequest(**fields)
    assert says in str(exc.value)


def test_phases_give_the_count_and_the_request_records_them():
    request = PlanRequest(phases="2020:5,2022:10", plan_id="guangzhou-2022", reserve="guangzhou-2022")
    assert request.count == 10 and request.reserve == pytest.approx(67000 / 38900 - 1)
    assert request.record()["phases"] == "2020:5,2022:10" and request.record()["plan_id"] == "guangzhou-2022"


def test_the_cli_words_a_parameter_as_its_flag():
    exc = PlanError("`count` 9 exceeds the 3 candidate sites: ask for fewer sites or use `target`")
    assert exc.worded(FLAGS) == "--count 9 exceeds the 3 candidate sites: ask for fewer sites or use --target"
    assert PlanError("`nothing.known` stays").worded(FLAGS) == "`nothing.known` stays"


def _numpydoc(obj: object) -> bool:
    doc = inspect.getdoc(obj) or ""
    if inspect.isfunction(obj):
        return all(f"{section}\n{'-' * len(section)}" in doc for section in ("Parameters", "Returns"))
    return bool(vars(obj).get("__doc__"))  # a class documents itself, not through a base class


def test_every_public_name_imports_and_is_documented():
    public = [name for name in siting.__all__ if name != "__version__"]
    assert {"load_area", "build_demand", "run_plan", "plan_area", "Params", "load_params", "PlanRequest",
            "PlanResult", "Summary", "SitingError"} <= set(public)
    undocumented = [name for name in public if not _numpydoc(getattr(siting, name))]
    assert not undocumented, f"public names without numpydoc sections: {undocumented}"


def test_docs_interfaces_is_generated_from_the_current_code():
    spec = importlib.util.spec_from_file_location("write_interfaces", ROOT / "scripts" / "write_interfaces.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = (ROOT / "docs" / "interfaces.md").read_text(encoding="utf-8")
    assert current == module.render(), "docs/interfaces.md is out of date: run python scripts/write_interfaces.py"


def test_plan_id_from_the_cli_drives_capacity_and_is_recorded(tmp_path):
    main(["plan", "demo", "--count", "6", "--plan", "guangzhou-2022", "--tiles", "none", "--quiet",
          "--out", str(tmp_path / "gz")])
    with_plan = json.loads((tmp_path / "gz" / "summary.json").read_text())
    capacity = with_plan["provenance"]["parameters"]["capacity"]
    assert capacity["users"] == 15_000_000 != Params().capacity.users
    assert capacity["users_population"] == 18_676_605
    assert with_plan["request"]["plan_id"] == with_plan["provenance"]["plan_id"] == "guangzhou-2022"


@pytest.mark.parametrize("args, says", [
    (["--count", "6", "--plan", "no-such-plan"], "no plan 'no-such-plan'"),
    (["--count", "6", "--piles", "4"], "give exactly one of --count, --target or --piles"),
    (["--kind", "charging", "--count", "6", "--phases", "2020:3,2022:6"], "--phases and --reserve apply to 5g"),
])
def test_a_bad_plan_request_is_one_line_and_exit_2(args, says, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["plan", "demo", *args, "--tiles", "none", "--quiet", "--out", str(tmp_path / "bad")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and says in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "bad").exists()
