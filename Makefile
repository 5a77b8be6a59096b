# Faultline developer commands. Every target creates/refreshes .venv itself, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_WORKERS ?= 4
# How far `make test-future` (and the date-sensitive part of `make test`) moves the clock: tests/support/clock.py.
FUTURE_DAYS ?= 365
# Modules where recorded or fixed times meet now-relative windows (symbol-repair window, sparklines, relative date
# filters): `make test` runs them a second time a year ahead, so every CI run proves the suite does not depend on
# the day it runs. `make test-future` runs the whole suite a year ahead.
DATE_TESTS := tests/test_dates.py tests/pipeline/test_digest.py \
	tests/symbols/test_pipeline.py tests/symbols/test_cli.py tests/symbols/test_batch_writes.py tests/symbols/test_postgres.py \
	tests/issues/test_issue_list.py tests/issues/test_postgres.py tests/web/test_issue_list.py tests/web/test_postgres.py

# mypy --strict over the typed core (protocol, platforms, pipeline): the files and options are in pyproject.toml.
.PHONY: run test test-future lint format bench bench-all soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Reinstall only when the dependency list changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# Real browser SDKs (posthog-js…) for the headless-Chromium tests, pinned by tests/browser/package-lock.json.
BROWSER_DEPS := tests/browser/node_modules/.package-lock.json
$(BROWSER_DEPS): tests/browser/package.json tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund
	touch $@

run: $(VENV)/.installed
	$(BIN)/faultline serve

test: $(VENV)/.installed-test $(BROWSER_DEPS)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -n $(PYTEST_WORKERS) --durations=15
	FAULTLINE_TEST_CLOCK_SHIFT_DAYS=$(FUTURE_DAYS) $(BIN)/pytest -n $(PYTEST_WORKERS) $(DATE_TESTS)

test-future: $(VENV)/.installed-test $(BROWSER_DEPS)
	FAULTLINE_TEST_CLOCK_SHIFT_DAYS=$(FUTURE_DAYS) $(BIN)/pytest -n $(PYTEST_WORKERS) --durations=15

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(VENV)/.installed-test
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

# Bench extras (matplotlib, py-spy) on top of the test ones (aiohttp, psutil).
$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-test
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $@

# Faultline vs Bugsink on identical Sentry traffic + PostHog, 20 s per phase (a few minutes; Bugsink is installed
# into build/bugsink-venv on first use): prints the table and ratios, writes build/bench/report.md.
bench: $(VENV)/.installed-bench
	$(BIN)/python bench/compare_bugsink.py --report build/bench/report.md

# Every benchmark script in turn (long); the soak has its own target.
bench-all: $(VENV)/.installed-bench
	@for script in bench/*.py; do case $$script in */soak.py) continue;; esac; \
		echo "== $$script"; $(BIN)/python $$script || exit 1; done

# 10 minutes of steady load: RSS drift, queue depth, digest lag; build/bench/soak.png and soak.md. The 1 h soak:
# `make soak SOAK_MINUTES=60`.
SOAK_MINUTES ?= 10
soak: $(VENV)/.installed-bench
	$(BIN)/python bench/soak.py --minutes $(SOAK_MINUTES)

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
