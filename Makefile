# clv-stream: two commands do everything on a fresh machine with Python >= 3.11.
#   make demo   embedded broker + redis-server + worker, sample orders, live CLV/segment events
#   make test   install everything, lint, type-check, run all tests (unit + integration)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo dev test lint typecheck unit integration reliability schemas bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)
	@bash scripts/ensure-redis-server.sh
	@bash scripts/ensure-chromium.sh

demo: install
	$(VENV)/bin/clv-stream demo

dev: install
	$(VENV)/bin/clv-stream dev

lint: install
	$(VENV)/bin/ruff check clv_stream tests benchmarks

typecheck: install
	$(VENV)/bin/mypy clv_stream

unit: install
	$(PY) -m pytest tests/unit -q

integration: install
	$(PY) -m pytest tests/integration -q

# The fault-injection suite at full size (make test runs its short version): worker kill -9,
# Redis crash/rollback/outage/OOM, broker pause, rebalance and a stale worker, duplicates, bad
# input, SIGTERM with a dependency down. One JSON line per scenario goes to the report.
RELIABILITY_REPORT ?= benchmarks/results/reliability.jsonl
reliability: install
	CLV_RELIABILITY_SCALE=long CLV_RELIABILITY_REPORT=$(RELIABILITY_REPORT) \
		$(PY) -m pytest tests/reliability -q -p no:cacheprovider

test: lint typecheck
	$(PY) -m pytest -q -p no:cacheprovider

schemas: install
	$(PY) -m clv_stream.events.schemas

bench: install
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
