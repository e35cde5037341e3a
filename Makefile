# jupyter_sxwl developer commands. `make help` lists them.
#
# Everything runs from the project's own virtual environment (.venv) built from the pinned
# requirements/lock.txt, and the hub's proxy from hub_config/node_modules, so a fresh clone needs
# only python3, and apt-get for the system packages (see scripts/install-system-deps.sh).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
PIP := $(VPY) -m pip
# pip's "is ignored" notices (e.g. the index's yanked or non-matching links) are noise here.
# Written as a group so a failing pip still fails the pipeline (pipefail) while an empty output
# (grep finding nothing to print) does not.
PIP_QUIET := { grep -v -e 'is ignored' -e '^\s*$$' || true; }
TEST_OUTPUT := test-output
PYTEST_ARGS ?=

# The interpreter that creates venvs is looked up on the PATH we were given, not the venv's.
ORIG_PATH := $(PATH)
# Behave as if the venv were activated: the labextension build needs `jupyter` and
# `jupyter_builder` on PATH, and tests start `jupyterhub` and kernels from it.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export VIRTUAL_ENV := $(CURDIR)/$(VENV)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Stamps make re-runs fast: each step reruns only when its inputs changed.
VENV_STAMP := $(VENV)/.stamp-lock
NODE_STAMP := hub_config/node_modules/.stamp-lock
DEV_STAMP := $(VENV)/.stamp-dev-install
LABEXT_SOURCES := $(shell find labextension -type f \( -name '*.ts' -o -name '*.tsx' -o -name '*.css' -o -name '*.json' \) -not -path '*/node_modules/*' -not -path '*/lib/*' 2>/dev/null)
DEV_INPUTS := pyproject.toml $(wildcard package.json) $(wildcard labextension.mk) $(LABEXT_SOURCES)

.PHONY: help
help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -e 's/:.*## /\t/' | expand -t 16

.PHONY: venv
venv: $(VENV_STAMP)  ## create .venv and install the pinned requirements/lock.txt

$(VENV_STAMP): requirements/lock.txt
	@test -x $(VPY) || env PATH='$(ORIG_PATH)' $(PYTHON) -m venv $(VENV)
	@echo "venv: installing requirements/lock.txt into $(VENV)"
	@$(PIP) install -q -r requirements/lock.txt 2>&1 | $(PIP_QUIET)
	@$(VPY) -c "import jupyterhub, jupyterlab, sqlalchemy, pytest"  # fail here, not later
	@touch $@

.PHONY: system-deps
system-deps:  ## apt-get install what is missing: openmpi-bin, chromium, postgresql, nodejs, npm
	@bash scripts/install-system-deps.sh

.PHONY: node
node: $(NODE_STAMP)  ## install configurable-http-proxy into hub_config/node_modules

$(NODE_STAMP): hub_config/package.json hub_config/package-lock.json
	@echo "node: npm ci --prefix hub_config"
	@npm ci --prefix hub_config --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: labextension
labextension: $(VENV_STAMP)  ## build the JupyterLab extension (labextension.mk)
	@if [ -f labextension.mk ]; then \
		$(MAKE) --no-print-directory -f labextension.mk build; \
	else \
		echo "labextension: labextension.mk not found; skipping the labextension build"; \
	fi

.PHONY: install
install: system-deps venv node $(DEV_STAMP)  ## everything: system packages, venv, proxy, editable install

$(DEV_STAMP): $(VENV_STAMP) $(DEV_INPUTS)
	@$(MAKE) --no-print-directory labextension
	@echo "install: pip install -e . (builds the labextension through hatch-jupyter-builder)"
	@$(PIP) install -q --no-deps --no-build-isolation -e . 2>&1 | $(PIP_QUIET)
	@if [ -f jupyter_sxwl/labextension/package.json ]; then \
		jupyter labextension develop --overwrite . >/dev/null; \
	else \
		echo "install: WARNING jupyter_sxwl/labextension/ was not built; the lab has no sxwl panel"; \
	fi
	@jupyter server extension enable --sys-prefix jupyter_sxwl 2>&1 | { grep -v '^\s*$$' || true; }
	@touch $@

.PHONY: demo
demo: install  ## start JupyterHub + the platform on 127.0.0.1:8000 (SXWL_HUB_PORT); Ctrl-C stops all
	@$(VPY) scripts/demo.py

.PHONY: test
test: install  ## run the whole test suite; junit XML and a log in test-output/
	@mkdir -p $(TEST_OUTPUT)
	$(VPY) -m pytest --junitxml=$(TEST_OUTPUT)/junit.xml $(PYTEST_ARGS) 2>&1 \
		| tee $(TEST_OUTPUT)/pytest.log

.PHONY: lint
lint: venv  ## ruff check, ruff format --check, mypy
	$(VPY) -m ruff check .
	$(VPY) -m ruff format --check .
	$(VPY) -m mypy jupyter_sxwl

.PHONY: bench
bench: install  ## run every bench/bench_*.py (prints comparisons; never fails the suite)
	@shopt -s nullglob; benches=(bench/bench_*.py); \
	if [ $${#benches[@]} -eq 0 ]; then echo "bench: no bench/bench_*.py yet"; fi; \
	for b in "$${benches[@]}"; do echo "== $$b"; $(VPY) "$$b"; done

.PHONY: lock
lock:  ## regenerate requirements/lock.txt from requirements/requirements.in in a fresh venv
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	env PATH='$(ORIG_PATH)' $(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install -q -r requirements/requirements.in 2>&1 | $(PIP_QUIET); \
	"$$tmp/venv/bin/python" -m pip freeze --exclude-editable \
		| sed -e 's/^torch==\([0-9.]*\)+cpu$$/torch==\1/' > requirements/lock.txt; \
	echo "lock: wrote requirements/lock.txt ($$(wc -l < requirements/lock.txt) packages)"

.PHONY: clean
clean:  ## remove test output, the demo's state, build and tool caches (keeps .venv)
	rm -rf $(TEST_OUTPUT) .sxwl-demo build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -not -path '*/node_modules/*' \
		-prune -exec rm -rf {} +

.PHONY: distclean
distclean: clean  ## also remove .venv, node_modules and the built labextension
	rm -rf $(VENV) hub_config/node_modules node_modules jupyter_sxwl/labextension
