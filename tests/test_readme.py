"""Every shell command the README shows runs as written, from a fresh folder laid out like the
repository (its .venv, scripts/, data/raw/examples/, tests/data/ and ../shared beside it).

Commands marked ``# needs: ...`` (the internet, a cluster) are listed, not run; ``make``
commands are the set-up itself. Everything else must exit 0 and print no traceback and no line
that is not siting's own on stderr.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def readme_commands() -> list[tuple[str, str | None]]:
    """(command, why it is not run or None) for every command in the README's ``bash`` blocks."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            need = re.search(r"#\s*needs:\s*(.*)$", line)
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                commands.append((" ".join(command.split()), need.group(1) if need else None))
    return commands


COMMANDS = readme_commands()
RUNNABLE = [c for c, need in COMMANDS if need is None and not c.startswith("make ")]


def test_the_readme_shows_its_commands_and_few_need_more_than_this_machine():
    assert len(RUNNABLE) >= 15
    assert [c for c, need in COMMANDS if need] and len([c for c, need in COMMANDS if need]) <= 4
    assert "make demo" in [c for c, _ in COMMANDS] and "make test" in [c for c, _ in COMMANDS]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A folder laid out like the repository, so relative paths in the README resolve."""
    if not (SHARED / "data").is_dir():
        pytest.skip("../shared/data is not present")
    top = tmp_path_factory.mktemp("readme")
    work = top / "siting"
    (work / "data" / "raw").mkdir(parents=True)
    (work / ".venv").symlink_to(Path(sys.prefix))
    for name in ("scripts", "tests", "benchmarks"):
        (work / name).symlink_to(ROOT / name)
    (work / "data" / "raw" / "examples").symlink_to(ROOT / "data" / "raw" / "examples")
    (top / "shared").symlink_to(SHARED)
    return work


@pytest.mark.slow
@pytest.mark.parametrize("command", RUNNABLE)
def test_readme_command_runs_as_written(command, sandbox):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PATH"] = f"{Path(sys.prefix) / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(["bash", "-c", command], cwd=sandbox, env=env, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"{command}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr
    foreign = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("siting")]
    assert not foreign, f"{command}: lines on stderr that are not siting's own: {foreign[:5]}"
