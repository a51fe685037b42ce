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

.PHONY: demo test lint format clean venv report rulegraph

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

test: $(STAMP)
	$(RUN) pytest

lint: $(STAMP)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) snakefmt --check Snakefile workflow/rules
	$(RUN) snakemake --lint --cores 1

format: $(STAMP)
	$(RUN) ruff check --fix .
	$(RUN) ruff format .
	$(RUN) snakefmt Snakefile workflow/rules

rulegraph: $(STAMP)
	$(RUN) snakemake --rulegraph --cores 1 | dot -Tpng > docs/rulegraph.png

clean:
	rm -rf results/demo .snakemake .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
