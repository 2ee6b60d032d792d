#!/bin/sh
# Set-up and checks behind `make`: the same steps run with `sh scripts/dev.sh TARGET` where make is missing.
#   install      .venv from requirements.lock (exact, hashed versions), then siting itself
#   demo         install, then plan the embedded Helsinki demo
#   test         install, then the whole test suite
#   lock         refresh requirements.lock from pyproject.toml (newest versions the bounds allow)
#   test-latest  a separate .venv-latest with the newest allowed versions, then the suite
set -eu
cd "$(dirname "$0")/.."
PY=${PY:-python3}
VENV=${VENV:-.venv}

need_python() {
  command -v "$PY" >/dev/null 2>&1 || { echo "siting: error: $PY not found: install Python 3.11 or newer (or set PY=/path/to/python3)" >&2; exit 2; }
  "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || {
    echo "siting: error: $("$PY" -V 2>&1) is too old: siting needs Python 3.11 or newer (set PY=/path/to/python3.11+)" >&2; exit 2; }
  "$PY" -c 'import venv, ensurepip' 2>/dev/null || {
    echo "siting: error: $PY has no venv/ensurepip module: install it (Debian: apt-get install python3-venv)" >&2; exit 2; }
}

install() {
  stamp="$VENV/.installed"
  if [ -f "$stamp" ] && [ "$stamp" -nt requirements.lock ] && [ "$stamp" -nt pyproject.toml ]; then return 0; fi
  need_python
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -qq --upgrade "pip>=24"
  "$VENV/bin/python" -m pip install -qq --require-hashes -r requirements.lock
  "$VENV/bin/python" -m pip install -qq --no-deps --no-build-isolation -e .
  touch "$stamp"
}

case "${1:-}" in
  install) install ;;
  demo) install; "$VENV/bin/siting" demo ;;
  test) install; "$VENV/bin/python" -m pytest -q ;;
  lock)
    need_python
    tools=$(mktemp -d)
    "$PY" -m venv "$tools" && "$tools/bin/python" -m pip install -qq uv
    "$tools/bin/uv" pip compile pyproject.toml --extra test --extra bench --extra lint --universal --python-version 3.11 --fork-strategy fewest \
      --generate-hashes --quiet -o requirements.lock
    rm -rf "$tools" ;;
  test-latest)
    need_python
    rm -rf .venv-latest
    "$PY" -m venv .venv-latest
    .venv-latest/bin/python -m pip install -qq --upgrade pip
    .venv-latest/bin/python -m pip install -qq --upgrade -e ".[test,bench]"
    .venv-latest/bin/python -m pytest -q ;;
  *) echo "usage: sh scripts/dev.sh install|demo|test|lock|test-latest" >&2; exit 2 ;;
esac
