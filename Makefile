# merge-pipeline: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SHARED ?= ../shared/merge

.PHONY: help install demo test lint format typecheck defs pytest catalog bench bench-quick bench-fleet \
	bench-peers adversarial chaos clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/.installed: pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

install: $(BIN)/.installed  ## create the virtualenv and install the locked dependencies

#: `make demo PORT=3001` when 3000 is taken (the demo says so in one line rather than wait)
PORT ?= 3000
RECEIVER_PORT ?= 8010

demo: install  ## run everything: PostgreSQL, Merge sandbox, Dagster UI (PORT=3000)
	$(BIN)/merge-pipeline demo --port $(PORT) --receiver-port $(RECEIVER_PORT)

test: install lint typecheck defs pytest  ## ruff, mypy, Dagster's own check and the test suite

lint: install  ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install  ## mypy over the packages and the tests
	$(BIN)/mypy

defs: install  ## Dagster's validation of the code location (no credentials needed)
	@home=$$(mktemp -d); DAGSTER_HOME=$$home $(BIN)/dagster definitions validate \
		-m merge_pipeline.definitions; status=$$?; rm -rf $$home; exit $$status

pytest: install  ## the test suite alone
	$(BIN)/pytest

catalog: install  ## regenerate merge_pipeline/catalog/catalog.json from ../shared/merge
	$(BIN)/python -m merge_pipeline.catalog.generator --shared $(SHARED)

bench: install  ## every benchmark, full size (< 30 min): ratios, JSON + PNG in benchmarks/results/
	$(BIN)/python -m benchmarks

bench-quick: install  ## every benchmark, small (< 5 min; the landing checks run it)
	$(BIN)/python -m benchmarks --quick

#: `make bench-fleet BROWSER_PYTHON=/path/to/python` also times the UI pages in a headless
#: Chromium (that interpreter needs Playwright); without it, the GraphQL behind them is timed
ACCOUNTS ?= 1000
BROWSER_PYTHON ?=

bench-fleet: install  ## 1,000 accounts through the daemon's sensors, then the UI's load time (~10 min)
	$(BIN)/python -m benchmarks.fleet_load --accounts $(ACCOUNTS) \
		$(if $(BROWSER_PYTHON),--browser-python $(BROWSER_PYTHON))

#: `make bench-peers RECORDS=60000` for the size of the README's figures (~45 min on a loaded
#: 2-core machine, most of it Airbyte's full re-reads); the peers' virtualenvs go to .peers/
RECORDS ?= 30000
TRIALS ?= 3

bench-peers: install  ## merge-pipeline beside dlt and Airbyte's Merge source, own venvs (~20 min)
	$(BIN)/python -m benchmarks.peers --records $(RECORDS) --trials $(TRIALS)

#: each run of `make adversarial` turns one of these sandbox switches on (merge_sandbox/adversity.py)
ADVERSITIES ?= hard_deletes delete_without_bump visibility_lag_seconds=3 list_order=descending \
	list_order=unstable late_parents nul_characters odd_timestamps unknown_enum_values \
	extra_fields next_cycles short_listings unflagged_deletes

adversarial: install  ## every end-to-end sync test once per adversarial sandbox switch
	@for switch in $(ADVERSITIES); do \
		echo "== MERGE_SANDBOX_ADVERSITY=$$switch =="; \
		MERGE_SANDBOX_ADVERSITY=$$switch $(BIN)/pytest -q merge_pipeline_tests/integration/sync || exit 1; \
	done

#: `make chaos SCENARIOS=50 SEED=2101` for a shorter run or other seeds
SCENARIOS ?= 200
SEED ?= 2001

chaos: install  ## seeded chaos scenarios with the oracle (200, < 30 min): report + chaos-report.json
	$(BIN)/python -m merge_pipeline_tests.chaos --scenarios $(SCENARIOS) --seed $(SEED) \
		--output benchmarks/results/chaos-report.json

clean:  ## stop the embedded PostgreSQL, remove the virtualenv and local data
	@if [ -x $(BIN)/merge-pipeline ]; then $(BIN)/merge-pipeline db stop; fi
	rm -rf $(VENV) .peers .data .pytest_cache .mypy_cache .ruff_cache
