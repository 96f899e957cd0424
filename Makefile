# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint typecheck pytest test-lowest bench bench-quick bench-relay bench-ws docs package-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[testing,cli]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	$(BIN)/streamkit demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests examples scripts benchmarks
	$(BIN)/ruff format --check src

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy --strict src
	$(BIN)/lint-imports

pytest: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

# The suite on the lowest runtime dependency versions pyproject.toml allows, in .venv-lowest.
test-lowest:
	PYTHON=$(PYTHON) scripts/test_lowest.sh

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-dev
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	touch $@

bench: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/run.py

bench-quick: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/run.py --quick

# The relay benchmark (#15): SSE clients on one relay worker; starts redis-server itself.
bench-relay: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/relay_bench.py

# The WebSocket benchmark (#14): streamkit connect() vs SSE vs openai's responses.connect().
bench-ws: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/ws_bench.py

docs: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

package-check: $(VENV)/.installed-dev
	BUILD_PYTHON=$(BIN)/python PYTHON=$(PYTHON) scripts/check_package.sh

clean:
	rm -rf $(VENV) .venv-lowest dist build .mypy_cache .ruff_cache .pytest_cache
