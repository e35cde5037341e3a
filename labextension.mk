# Builds the JupyterLab extension; the Makefile's `labextension` target runs
# `$(MAKE) -f labextension.mk build`.
#
#   1. node packages from package-lock.json (`npm ci`) into node_modules/;
#   2. TypeScript (labextension/src) -> labextension/lib -> the prebuilt extension in
#      jupyter_sxwl/labextension/ (`npm run build:prod`: tsc, then jupyter-builder).
#
# Each step reruns only when its inputs changed, so a second run does nothing. The node
# packages include @jupyter/builder and @jupyterlab/core-meta, so the build needs no network
# once they are installed.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:

NPM ?= npm
# `jupyter-builder` comes with JupyterLab in the venv; the Makefile already puts the venv on
# PATH, this covers running this file directly.
ifneq ($(wildcard .venv/bin/jupyter-builder),)
export PATH := $(CURDIR)/.venv/bin:$(PATH)
endif

# The stamp is named after the content of package.json and the lock, not their times: an
# `npm install` (as hatch-jupyter-builder runs it) rewrites an unchanged lock, which must not
# cost a reinstall.
LOCK_HASH := $(shell cat package.json package-lock.json 2>/dev/null | sha256sum | cut -c1-16)
NODE_STAMP := node_modules/.stamp-$(LOCK_HASH)
LABEXT_OUT := jupyter_sxwl/labextension/package.json
LABEXT_INPUTS := package.json labextension/tsconfig.json \
	$(shell find labextension/src labextension/style labextension/schema -type f 2>/dev/null)

.PHONY: build
build: $(LABEXT_OUT)

.PHONY: node-packages
node-packages: $(NODE_STAMP)

$(NODE_STAMP):
	@echo "labextension: npm ci (node packages from package-lock.json)"
	@$(NPM) ci --no-audit --no-fund --loglevel=error
	@rm -f node_modules/.stamp-*
	@touch $@

$(LABEXT_OUT): $(NODE_STAMP) $(LABEXT_INPUTS)
	@command -v jupyter-builder >/dev/null || \
		{ echo "labextension: jupyter-builder not on PATH; activate the venv" >&2; exit 1; }
	@echo "labextension: building jupyter_sxwl/labextension"
	@$(NPM) run --silent build:prod >/dev/null
	@test -f $@
	@touch $@

.PHONY: lint
lint: $(NODE_STAMP)  # prettier --check and eslint on labextension/
	@$(NPM) run --silent lint:check

.PHONY: clean
clean:
	rm -rf labextension/lib labextension/tsconfig.tsbuildinfo jupyter_sxwl/labextension
