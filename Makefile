# One task runner for people and CI. `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= -m "not slow"

.PHONY: install up down status up-cluster down-cluster run test test-all lint format bench bench-claims demo clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), f"actionstream needs Python >= 3.11, found {sys.version.split()[0]} ($(PYTHON)); set PYTHON=python3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

up:
	@bash deploy/local/stack.sh up

down:
	@bash deploy/local/stack.sh down

status:
	@bash deploy/local/stack.sh status

up-cluster:
	@bash deploy/local/stack.sh cluster up

down-cluster:
	@bash deploy/local/stack.sh cluster down

# A local stack is a development stack: an ephemeral credentials key unless one is configured.
run: export ACTIONSTREAM_DEV_MODE ?= true
run: install up
	$(BIN)/actionstream topics apply
	$(BIN)/actionstream worker

# The same worker against a fake Telegram server and a demo bot: nothing leaves the machine.
demo: install up
	bash deploy/local/demo.sh

# pytest's exit code 5 means "no tests ran": that is a failure here, not a pass.
test: install up
	@set +e; $(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

test-all: PYTEST_ARGS :=
test-all: test

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Benchmarks against the local stack (tests/benchmarks/run.py): one table and bench-results.json.
# BENCH_ARGS=--quick is the CI smoke test (< 2 min); see `run.py --help` for sizes.
bench: install $(VENV)/.bench-installed up
	PYTHONPATH=.:tests $(BIN)/python tests/benchmarks/run.py $(BENCH_ARGS)

# What ACTIONSTREAM_REDIS__CLAIM_REPLICAS costs per claim, on a private Redis Cluster.
bench-claims: install
	PYTHONPATH=.:tests $(BIN)/python tests/benchmarks/claim_wait.py $(BENCH_ARGS)

$(VENV)/.bench-installed: pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	@touch $@

clean: down
	rm -rf .local .mypy_cache .ruff_cache .pytest_cache
