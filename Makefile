# Stockroom developer commands. Every target sets up what it needs first, so a
# fresh machine with Python 3.11, pip and make needs only `make run` or
# `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PACKAGES := libs/stubs libs/common libs/cli services/inventory services/pricing
PYPROJECTS := pyproject.toml $(addsuffix /pyproject.toml,$(PACKAGES))

.DEFAULT_GOAL := help
.PHONY: help setup run demo test test-fast test-pgbouncer lint fmt protos protos-check buf-lint buf-breaking bench ci clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(STAMP): $(PYPROJECTS) constraints.txt
	@test -n "$(PYTHON)" || { echo "need python3.11 on PATH (or make PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt pip hatchling hatch-vcs
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-build-isolation -c constraints.txt \
		--group dev $(addprefix -e ,$(PACKAGES))
	touch $@

setup: $(STAMP) ## create .venv with every package (editable) and the dev tools

run: $(STAMP) ## start inventory and pricing locally, show them talking, keep serving (Ctrl-C stops)
	$(BIN)/stockroom dev up

demo: $(STAMP) ## start both services, run the demo, stop
	$(BIN)/stockroom dev up --exit-after-demo

test: $(STAMP) ## run every test, PostgreSQL ones included
	$(BIN)/pytest

test-fast: $(STAMP) ## the tests without the slow ones
	$(BIN)/pytest -m "not slow"

# Left out behind the pooler: tests that open their own raw asyncpg/SQLAlchemy connections
# with the URL (reconnect tests, which are about direct connections; the concurrency
# tests' fact-reading engine). docs/scaling.md lists them and why.
PGBOUNCER_LEFT_OUT := --ignore=libs/common/tests/test_database_reconnect.py \
	--ignore=services/inventory/tests/test_database_reconnect.py \
	--ignore=services/pricing/tests/test_database_reconnect.py \
	--ignore=services/inventory/tests/test_concurrency_postgres.py \
	--deselect=services/pricing/tests/test_cache_staleness.py::test_notify_refreshes_the_other_replica_at_once

test-pgbouncer: $(STAMP) ## the PostgreSQL tests again, every database reached through PgBouncer (transaction pooling)
	STOCKROOM_TEST_PGBOUNCER=1 $(BIN)/pytest -m "postgres and not slow" $(PGBOUNCER_LEFT_OUT) \
		services/inventory/tests services/pricing/tests tests

lint: $(STAMP) protos-check buf-lint ## ruff, mypy --strict, buf lint, stale-stub check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy libs/common/src libs/cli/src services/inventory/src services/pricing/src libs/common/tests services/inventory/tests services/pricing/tests tests scripts benchmarks

fmt: $(STAMP) ## format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

protos: $(STAMP) ## regenerate libs/stubs from protos/
	$(BIN)/python scripts/gen_protos.py

protos-check: $(STAMP)
	$(BIN)/python scripts/gen_protos.py --check

buf-lint: $(STAMP)
	$(BIN)/buf lint

buf-breaking: $(STAMP) ## compare protos/ with main (or with the previous commit on main)
	bash scripts/buf_breaking.sh

bench: $(STAMP) ## benchmarks, as ratios against a bare gRPC echo server
	$(BIN)/python -m benchmarks

ci: lint buf-breaking test ## what .ci/run does

clean: ## remove .venv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis var
