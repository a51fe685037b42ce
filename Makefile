# Two commands set up and run everything: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
# The venv is rebuilt only when the lock file or the project metadata change.
LOCK_HASH := $(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(LOCK_HASH)
RUN := PATH="$(BIN):$$PATH"
DEMO_OUT := results/demo

.PHONY: demo test lint format clean venv report rulegraph report-check bench

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	rm -f $(VENV)/.installed-*
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

demo: $(STAMP)
	$(RUN) snakemake --profile profiles/local --cores all
	$(RUN) snakemake --profile profiles/local --cores all --report $(DEMO_OUT)/report.html
	@echo "Demo finished: tables in $(DEMO_OUT)/tables, figures in $(DEMO_OUT)/figures, report $(DEMO_OUT)/report.html"

# Two workers: the suite is mostly single-threaded subprocesses (snakemake, mmlego steps).
test: $(STAMP)
	$(RUN) pytest -n 2

# Every benchmark, one after the other, then results/benchmarks/summary.md (hours at full
# size; BENCH_ARGS=--quick for a smoke run). ANCHORS is the folder of the released code's
# bench_official.py, for the side-by-side table.
ANCHORS ?= ../shared/anchors
BENCH_ARGS ?=
bench: $(STAMP)
	$(RUN) python benchmarks/run_all.py --anchors $(ANCHORS) $(BENCH_ARGS)

lint: $(STAMP)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) snakefmt --check Snakefile workflow/rules
	$(RUN) snakemake --lint --cores 1

format: $(STAMP)
	$(RUN) ruff check --fix .
	$(RUN) ruff format .
	$(RUN) snakefmt Snakefile workflow/rules

# Look at the report as a browser shows it: headless Chromium screenshot of the demo report.
CHROMIUM_FLAGS := --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--window-size=1400,1000 --virtual-time-budget=15000
report-check:
	@command -v chromium >/dev/null || apt-get install -y --no-install-recommends chromium
	@profile=$$(mktemp -d); chromium $(CHROMIUM_FLAGS) --user-data-dir=$$profile \
		--screenshot=$(abspath $(DEMO_OUT))/report.png file://$(abspath $(DEMO_OUT))/report.html \
		2>/dev/null; rm -rf $$profile
	@echo "screenshot: $(DEMO_OUT)/report.png"

rulegraph: $(STAMP)
	$(RUN) snakemake --rulegraph --cores 1 | dot -Tpng > docs/rulegraph.png

clean:
	rm -rf results/demo .snakemake .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
