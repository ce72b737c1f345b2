# The two set-up commands of the README.  Each creates (or reuses) a local virtual
# environment in .venv and installs what it needs; nothing else must be installed
# beforehand but Python >= 3.10 and (optionally, for the compiled backend) a C compiler.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test clean bench-env

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/biosnn demo --out out

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -n 2

# A separate environment for the network-benchmark anchors (Brian2 2.9, NEST 3.10):
# Brian2 needs numpy < 2.4, which must not leak into .venv.  Used by
# benchmarks/_anchors.py (see benchmarks/README.md).
BENCH_VENV := .venv-bench

$(BENCH_VENV)/bin/python:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip

$(BENCH_VENV)/.installed: $(BENCH_VENV)/bin/python pyproject.toml
	$(BENCH_VENV)/bin/python -m pip install --quiet -e ".[bench]"
	touch $@

bench-env: $(BENCH_VENV)/.installed

clean:
	rm -rf $(VENV) out .pytest_cache
