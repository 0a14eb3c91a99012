# Same commands everywhere: make run | test | check | bench | test-pythons. CI runs .ci/run, which calls `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
PORT ?= 8080

.PHONY: run test check bench test-pythons install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# make bench's own needs (the `bench` extra: uvloop) on top of the dev install
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[dev,bench]'
	touch $(BENCH_STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/gateway sandbox --port $(PORT) --info ./sandbox-info.json --data-dir ./sandbox-data

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

check: $(STAMP)
	$(VENV)/bin/ruff check gateway adapters mocks tests bench
	$(VENV)/bin/mypy

bench: $(BENCH_STAMP)
	$(PY) -m bench.run $(BENCH_ARGS)

# The suite on every Python 3.11–3.13 found (pyenv provides 3.12 and 3.13 here); says which it skipped.
test-pythons:
	@for v in 3.11 3.12 3.13; do \
	  exe=""; \
	  for c in $$(ls -d $$HOME/.pyenv/versions/$$v.*/bin/python$$v 2>/dev/null | sort -V | tail -1) $$(command -v python$$v); do \
	    if $$c -c 'import sys' >/dev/null 2>&1; then exe=$$c; break; fi; \
	  done; \
	  if [ -z "$$exe" ]; then echo "== Python $$v: not found, SKIPPED"; continue; fi; \
	  echo "== Python $$v ($$exe)"; \
	  $(MAKE) --no-print-directory test PYTHON=$$exe VENV=.venv-$$v || exit 1; \
	done

clean:
	rm -rf $(VENV) .venv-3.* sandbox-data sandbox-info.json .pytest_cache .mypy_cache .ruff_cache
