# Two commands on a fresh machine:  `make demo`  and  `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# XStatic packages (offline map assets) still build with pkg_resources.
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt

.PHONY: install demo test bench
install: $(VENV)/.installed
$(VENV)/.installed: setup.cfg pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test,bench]"
	touch $@

demo: install  ## plan 5G sites on the embedded Helsinki extract; writes data/processed/ and maps/
	$(BIN)/siting demo

test: install  ## the whole test suite (under 10 minutes on 2 cores)
	$(BIN)/python -m pytest -q

bench: install  ## every benchmark, results printed and appended to benchmarks/out/
	$(BIN)/python benchmarks/run_all.py
