# Each target creates or refreshes .venv itself: a fresh machine needs only Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKDIR ?= runs/demo

.PHONY: demo demo-fashion test test-slow lint bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

$(VENV)/.bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(VENV)/.bench

$(VENV)/.docs: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,docs]'
	touch $(VENV)/.docs

demo: $(STAMP)
	$(BIN)/python -m experiments.compare --workdir $(WORKDIR) --budget quick

# Fashion-MNIST (needs `apt-get install dataset-fashion-mnist`); BUDGET=default for the README table.
BUDGET ?= quick
demo-fashion: $(STAMP)
	$(BIN)/python -m experiments.compare --workdir runs/fashion_$(BUDGET) --dataset fashion_mnist --budget $(BUDGET)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check genjax experiments tests

bench: $(VENV)/.bench
	$(BIN)/python -m experiments.benchmarks.all

# -E rereads every page so that every warning is reported on every build (-W makes each an error);
# the notebooks' outputs come from the execution cache in docs/_build/.jupyter_cache.
docs: $(VENV)/.docs
	$(BIN)/python -m sphinx -E -W --keep-going -n -q -b html docs docs/_build/html

clean:
	rm -rf $(VENV) .pytest_cache
