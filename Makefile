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

# Training runs are Ray tasks: a Ray of their own on this machine (loopback only, stopped when
# done), or an existing cluster with `RAY_ADDRESS=<head>:6379 make reproduce` (README, Reproduce).
# `make reproduce` runs the notebooks in order with papermill; `QUICK=1` runs them on the
# smoke budget into results/quick/ (git-ignored), never touching the full results. Targets
# are the executed notebooks: only what is older than its notebook or the package reruns.
# `OUT=rerun` sends the run into rerun/ instead (a folder inside the project): on a fresh
# clone, `make reproduce OUT=rerun` retrains everything beside the committed results/, and
# `diff -r results rerun` shows what differs.
BUDGET    := $(if $(filter 1 yes true,$(QUICK)),quick,full)
RESULTS   := $(or $(OUT),$(if $(filter quick,$(BUDGET)),results/quick,results))
ifneq ($(filter /% ../% ~%,$(OUT)),)
$(error OUT must be a folder inside the project, relative to it (e.g. OUT=rerun); got OUT=$(OUT))
endif
# The card's reproduction is notebooks 00-05; the studies beyond the card (`make study`: the budget
# study, 06, and the generalisation study, 07) run apart, after notebook 00 (its rules and bounds).
# The tuning study (`make tune`, notebook 08) gives DQN-GNN, PPO-GNN and each hybrid design the
# same tuning budget on validation seeds; the budget study (06) trains what it chose, so it runs first.
STUDIES   := notebooks/06_budget.ipynb notebooks/07_generalisation.ipynb
TUNING    := notebooks/08_tuning.ipynb
NOTEBOOKS := $(filter-out $(STUDIES) $(TUNING),$(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb)))
EXECUTED  := $(patsubst notebooks/%,$(RESULTS)/notebooks/%,$(NOTEBOOKS))
STUDIED   := $(patsubst notebooks/%,$(RESULTS)/notebooks/%,$(STUDIES))
TUNED     := $(patsubst notebooks/%,$(RESULTS)/notebooks/%,$(TUNING))
# What the notebooks run: every module but serving (edge_rl/serve/), compare and sweep, which they
# never import; editing those does not rerun them.
PACKAGE   := $(filter-out edge_rl/experiments/analyse/compare.py edge_rl/experiments/plan/sweep.py,\
               $(wildcard edge_rl/*.py edge_rl/config/*.py edge_rl/envs/*.py edge_rl/nn/*.py edge_rl/agents/*.py \
                          edge_rl/agents/*/*.py \
                          edge_rl/experiments/*.py edge_rl/experiments/*/*.py))

# `make serve` (the API) and `make dashboard` listen on 127.0.0.1 only; other ports with
# `make serve PORT=8001`, `make dashboard DASHBOARD_PORT=8502`.
PORT           ?= 8000
DASHBOARD_PORT ?= 8501
# The browser test drives Debian's Chromium, never a browser downloaded at run time;
# `make chromium` installs it with apt-get when it is missing (as root, or through sudo).
CHROMIUM := /usr/bin/chromium
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# `make image`: the API and dashboard image (Containerfile) with podman, or ENGINE=docker. Its base,
# a minimal Debian bookworm, is made from Debian's packages by container/base-image.sh when missing
# (debootstrap, as root; no image registry needed). The CPU torch wheel goes into container/wheels
# first: pip download of the exact pin, from TORCH_INDEX or wherever this machine's pip finds it.
ENGINE      ?= podman
IMAGE       ?= edge-rl
BASE_IMAGE  ?= edge-rl-base:bookworm
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# Extra options for `$(ENGINE) build`, e.g. the runtime and limits a restricted machine needs (README, Docker).
IMAGE_FLAGS ?=

# RL Zoo 3 runs in a venv of its own: its dependencies would move pillow and python-dateutil in
# .venv below our versions (pillow draws the committed figures). `make zoo` creates .venv-zoo
# (torch first, as setup does) and trains and replays DQN-GNN for 300 steps with rl_zoo3.
VENV_ZOO  := .venv-zoo
ZOO_PY    := $(VENV_ZOO)/bin/python
ZOO_STAMP := $(VENV_ZOO)/.installed
ZOO_ARGS  := --env edge_rl/IoTEdge-v0 --gym-packages edge_rl --device cpu

.PHONY: help setup test test-notebooks test-units test-fast bench reproduce study tune estimate compare lab serve dashboard chromium screenshot zoo image clean

help:
	@echo "make setup      create .venv and install the pinned environment (idempotent)"
	@echo "make test       run the tests and check the notebooks with nbval (installs first if needed)"
	@echo "make test-fast  the tests without the notebooks and the browser (the edit-test loop; make test runs all)"
	@echo "make reproduce  run the notebooks into results/ (QUICK=1: smoke budget, into results/quick/; RAY_ADDRESS=head:6379 on a cluster;"
	@echo "                OUT=rerun: a full run into rerun/, to compare with the committed results/)"
	@echo "make study      the studies beyond the card: training budgets (06) and other networks and loads (07),"
	@echo "                about 3 hours on 2 cores (QUICK=1, OUT=, RAY_ADDRESS= as for make reproduce)"
	@echo "make tune       the tuning study (08): DQN-GNN, PPO-GNN and each hybrid design, the same Optuna budget on"
	@echo "                validation seeds (QUICK=1, OUT=, RAY_ADDRESS= as for make reproduce); make study runs it first"
	@echo "make compare    OUT=rerun: check that a rerun reproduced results/ (runs, weights, tables, figures)"
	@echo "make lab        open the notebooks in JupyterLab from .venv (installs JupyterLab once)"
	@echo "make bench      run the speed benchmarks (environment, agents, training vs the code before issue 27, the speed levers not taken, evaluation, the API, the engine)"
	@echo "make serve      start the inference API on http://127.0.0.1:$(PORT) (docs at /docs; PORT=... to change)"
	@echo "make dashboard  start the Streamlit dashboard on http://127.0.0.1:$(DASHBOARD_PORT) (DASHBOARD_PORT=...)"
	@echo "make image      build the container image of the API and the dashboard (podman; ENGINE=docker; base made by"
	@echo "                container/base-image.sh with debootstrap when missing; README, Docker)"
	@echo "make chromium   install Debian's Chromium for the browser test (make test does it when missing)"
	@echo "make screenshot run the browser test and save its screenshot to docs/dashboard.png (the README's)"
	@echo "make zoo        create .venv-zoo with RL Zoo 3 (rl_zoo3), then train and replay DQN-GNN briefly with it"
	@echo "make clean      remove caches (never results/)"

setup: $(STAMP)

# A venv ($(1)) with the package and its extras ($(2)): Python 3.11 checked, torch first and alone.
define make-venv
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "edge-rl needs Python 3.11, found " + sys.version.split()[0]'
	test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(1)/bin/python -m pip install --quiet --disable-pip-version-check "$(TORCH)"
	$(1)/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$(2)]"
	touch $(1)/.installed
endef
MAIN_EXTRAS := serve,test,tensorboard
ZOO_EXTRAS  := zoo,tensorboard

$(STAMP): pyproject.toml
	$(call make-venv,$(VENV),$(MAIN_EXTRAS))

# Two pytest processes, one per core, about equal in length: the notebooks in order in one
# (each reads what the one before it wrote, and nbval keeps one kernel per notebook) followed by
# the engine's tests (like the notebooks, they start Rays and wait on them), every other test in
# the other. Alone, one pytest kept about 0.7 of the 2 cores busy. --output-sync prints each log
# whole when it ends; make fails if either does.
BESIDE_NOTEBOOKS := tests/test_engine.py

test: setup chromium
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-notebooks test-units

test-notebooks: setup
	$(PY) -m pytest notebooks $(BESIDE_NOTEBOOKS) --nbval-lax --nbval-current-env --durations=10

test-units: setup
	$(PY) -m pytest tests $(addprefix --ignore=,$(BESIDE_NOTEBOOKS)) --durations=20

# The edit-test loop: every test but the notebooks (nbval) and the browser test.
test-fast: setup
	$(PY) -m pytest tests --ignore=tests/test_browser.py -q

reproduce: estimate $(EXECUTED)

# The studies read the card's results (its rules, bounds and trained models): a folder without them
# gets them first from make reproduce; a folder with them never reruns the card for a study.
study: | $(STAMP)
	@test -f $(lastword $(EXECUTED)) || $(MAKE) reproduce
	@$(MAKE) $(STUDIED)

# The tuning reads nothing of the card's results; the budget study reads what it chose.
tune: | $(STAMP)
	@$(MAKE) $(TUNED)

$(RESULTS)/notebooks/06_budget.ipynb: $(TUNED)
# The generalisation study evaluates the budget study's tuned models zero-shot.
$(RESULTS)/notebooks/07_generalisation.ipynb: $(RESULTS)/notebooks/06_budget.ipynb

# Before the notebooks start: which will rerun, how many of their training runs are not done, and
# about how long that takes, at the committed runs' rates (edge_rl.experiments.analyse.costs).
estimate: | $(STAMP)
	@$(PY) -m edge_rl.experiments.analyse.costs $(RESULTS) --budget $(BUDGET)

# Notebooks run in order, in their own folder. Each reads what the ones before it wrote, so
# each executed notebook also depends on the one before: a rerun of 02 reruns 03, 04 and 05.
# Each notebook's wall time, machine and versions go to $(RESULTS)/tables/timings.csv.
$(foreach n,$(wordlist 2,$(words $(EXECUTED)),$(shell seq $(words $(EXECUTED)))),\
  $(eval $(word $(n),$(EXECUTED)): $(word $(shell expr $(n) - 1),$(EXECUTED))))

# The installed environment is order-only (after `|`): it must be there first, but installing
# it (as every fresh clone does) does not make the committed results stale. Changing the pins
# (pyproject.toml) does.
$(RESULTS)/notebooks/%.ipynb: notebooks/%.ipynb $(PACKAGE) pyproject.toml | $(STAMP) $(RESULTS)/.budget-$(BUDGET)
	$(PY) -m edge_rl.experiments.run.notebooks $< $@ -p budget $(BUDGET) -p results_dir ../$(RESULTS) --record $(RESULTS)

# Same machine type and thread count: the rerun's runs, weights, tables and figures must be
# byte-identical to the committed ones (timings, logs and wall times aside). On another CPU
# model the digits differ; it then also prints how far the conclusions moved.
compare: setup
	$(if $(OUT),,$(error make compare needs OUT=, the folder of a rerun, e.g. make compare OUT=rerun))
	$(PY) -m edge_rl.experiments.analyse.compare results $(OUT)

# A results folder holds one budget: quick results never pass for full ones, or the reverse. A
# folder other than results/ (OUT=xq) gets a .gitignore of everything, so that git never offers
# a rerun for a commit.
$(RESULTS)/.budget-$(BUDGET):
	@other=$$(ls -A $(RESULTS) 2>/dev/null | grep '^\.budget-' | grep -vx '\.budget-$(BUDGET)'); \
	if [ -n "$$other" ]; then \
	  echo "error: $(RESULTS) holds results of another budget ($$other); choose another OUT=" >&2; exit 1; fi
	mkdir -p $(RESULTS) && touch $@
	$(if $(filter-out results,$(RESULTS)),@test -e $(RESULTS)/.gitignore || \
	  printf '# made by make (OUT=$(RESULTS)): a rerun folder that git ignores. Delete this file to commit it.\n*\n' \
	  > $(RESULTS)/.gitignore)

# JupyterLab runs from the project's own environment, so its python3 kernel is .venv's.
# Jupyter refuses to run as root unless told (containers and CI machines often are root).
lab: $(VENV)/.lab-installed
	$(VENV)/bin/jupyter lab --ip 127.0.0.1 $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

$(VENV)/.lab-installed: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[test,lab]"
	touch $@

bench: setup
	$(PY) benchmarks/bench_env.py
	$(PY) benchmarks/bench_agents.py
	$(PY) benchmarks/bench_training.py
	$(PY) benchmarks/bench_levers.py
	$(PY) benchmarks/bench_evaluation.py
	$(PY) benchmarks/bench_api.py
	$(PY) benchmarks/bench_engine.py

# The committed checkpoints in results/models are served: no training needed.
serve: setup
	$(PY) -m edge_rl.serve.api --host 127.0.0.1 --port $(PORT)

dashboard: setup
	$(PY) -m streamlit run edge_rl/serve/dashboard/app.py --server.address 127.0.0.1 \
		--server.port $(DASHBOARD_PORT) --server.headless true --browser.gatherUsageStats false

# The check writes into runs/zoo-check (git-ignored), replaced each time.
zoo: $(ZOO_STAMP)
	rm -rf runs/zoo-check
	OMP_NUM_THREADS=1 $(ZOO_PY) -m rl_zoo3.train --algo dqn $(ZOO_ARGS) -conf edge_rl/zoo/dqn.py \
		--n-timesteps 300 --seed 0 -f runs/zoo-check
	OMP_NUM_THREADS=1 $(ZOO_PY) -m rl_zoo3.enjoy --algo dqn $(ZOO_ARGS) -f runs/zoo-check --exp-id 1 \
		--n-timesteps 300 --no-render --deterministic

$(ZOO_STAMP): pyproject.toml
	$(call make-venv,$(VENV_ZOO),$(ZOO_EXTRAS))

image:
	container/base-image.sh $(ENGINE) $(BASE_IMAGE)
	ls container/wheels/$(subst ==,-,$(TORCH))+cpu-cp311-*.whl >/dev/null 2>&1 || \
	  $(PYTHON) -m pip download --quiet --no-deps --retries 0 --only-binary=:all: --python-version 3.11 \
	    --platform manylinux_2_28_x86_64 --extra-index-url $(TORCH_INDEX) -d container/wheels "$(TORCH)+cpu"
	$(ENGINE) build $(if $(filter podman,$(notdir $(ENGINE))),--format docker) $(IMAGE_FLAGS) --build-arg BASE=$(BASE_IMAGE) \
	  -f Containerfile -t $(IMAGE) .

chromium: $(CHROMIUM)

screenshot: setup chromium
	EDGE_RL_SCREENSHOT=docs/dashboard.png $(PY) -m pytest tests/test_browser.py -k dashboard -q

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

clean:
	rm -rf .pytest_cache .hypothesis build *.egg-info
	find . -name __pycache__ -type d -prune -not -path "./$(VENV)/*" -not -path "./$(VENV_ZOO)/*" -exec rm -rf {} +
