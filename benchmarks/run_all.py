"""Run every benchmark in this folder, one after the other, and print their tables.

    .venv/bin/python benchmarks/run_all.py [--quick] [NAME ...]

NAME selects benchmarks by part of their file name (e.g. ``optimize terrain``).
Figures recorded in ``benchmarks/RESULTS.md`` come from these scripts; run them on an
otherwise idle machine.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    flags = [a for a in argv if a.startswith("--")]
    names = [a for a in argv if not a.startswith("--")]
    scripts = sorted(p for p in HERE.glob("bench_*.py") if not names or any(n in p.stem for n in names))
    failed = []
    for script in scripts:
        print(f"\n## {script.stem}  ({' '.join(flags) or 'full'})\n", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(script), *flags], cwd=HERE.parent)
        print(f"\n({script.name}: exit {code}, {time.perf_counter() - start:.1f} s)", flush=True)
        if code:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
