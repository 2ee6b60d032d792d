# Two commands on a fresh machine:  `make demo`  and  `make test`.
# Each target is a step of scripts/dev.sh (run `sh scripts/dev.sh TARGET` where make is missing).
.PHONY: install demo test lock test-latest bench
install demo test lock test-latest:  ## see scripts/dev.sh
	@sh scripts/dev.sh $@

bench: install  ## every benchmark, results printed and appended to benchmarks/out/
	.venv/bin/python benchmarks/run_all.py
