# edge-rl: every entry point a user needs. Run `make help` for the list.
#
# `make setup` creates .venv (if missing) and installs the pinned environment, torch first;
# it reruns only when pyproject.toml changes. Every other target depends on it.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# torch is installed on its own, first, at the exact version pinned in pyproject.toml:
# pip then takes the local CPU wheel instead of resolving a CUDA build with the rest.
TORCH  := $(shell sed -n 's/^ *"\(torch==[^"]*\)".*/\1/p' pyproject.toml)

# `make reproduce` runs the notebooks in order with papermill; `QUICK=1` runs them on the
# smoke budget into results/quick/ (git-ignored), never touching the full results. Targets
# are the executed notebooks: only what is older than its notebook or the package reruns.
BUDGET    := $(if $(QUICK),quick,full)
RESULTS   := $(if $(QUICK),results/quick,results)
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
EXECUTED  := $(patsubst notebooks/%,$(RESULTS)/notebooks/%,$(NOTEBOOKS))
PACKAGE   := $(wildcard edge_rl/*.py)

.PHONY: help setup test bench reproduce clean

help:
	@echo "make setup      create .venv and install the pinned environment (idempotent)"
	@echo "make test       run the tests and check the notebooks with nbval (installs first if needed)"
	@echo "make reproduce  run the notebooks into results/ (QUICK=1: smoke budget, into results/quick/)"
	@echo "make bench      run the speed benchmarks (environment, then agents: ~4 minutes)"
	@echo "make clean      remove caches (never results/)"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "edge-rl needs Python 3.11, found " + sys.version.split()[0]'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check "$(TORCH)"
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[test]"
	touch $(STAMP)

test: setup
	$(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env

reproduce: $(EXECUTED)

# Notebooks run in order (each may read what the ones before it wrote), in their own folder.
$(RESULTS)/notebooks/%.ipynb: notebooks/%.ipynb $(PACKAGE) $(STAMP)
	$(PY) -m edge_rl.notebooks $< $@ -p budget $(BUDGET) -p results_dir ../$(RESULTS)

bench: setup
	$(PY) benchmarks/bench_env.py
	$(PY) benchmarks/bench_agents.py

clean:
	rm -rf .pytest_cache .hypothesis build *.egg-info
	find . -name __pycache__ -type d -prune -not -path "./$(VENV)/*" -exec rm -rf {} +
