# Each target creates or refreshes .venv itself: a fresh machine needs only Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKDIR ?= runs/demo
# XLA:CPU takes each compiled call's temporaries as one block from malloc (about 780 MB for the
# width-32 UNet train step at batch 128). glibc's malloc maps a fresh block on every call and unmaps
# it after: 194k page faults per step, 755 ms against 603 ms under tcmalloc, which keeps the block
# (2-core EPYC, 2026-11-28). Every target runs under tcmalloc where it is installed
# (`apt-get install libtcmalloc-minimal4`; its report of every block over 1 GB silenced), else asks
# glibc for huge pages (635 ms).
TCMALLOC ?= $(firstword $(wildcard /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 /usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4 /usr/lib64/libtcmalloc_minimal.so.4))
RUN := $(if $(TCMALLOC),LD_PRELOAD=$(TCMALLOC) TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD=1099511627776,GLIBC_TUNABLES=glibc.malloc.hugetlb=1)

.PHONY: demo demo-fashion test test-slow test-all lint bench docs clean

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
	$(RUN) $(BIN)/python -m experiments.compare --workdir $(WORKDIR) --budget quick

# Fashion-MNIST (needs `apt-get install dataset-fashion-mnist`); BUDGET=default for the README table.
BUDGET ?= quick
demo-fashion: $(STAMP)
	$(RUN) $(BIN)/python -m experiments.compare --workdir runs/fashion_$(BUDGET) --dataset fashion_mnist --budget $(BUDGET)

# Three tiers of tests (markers in setup.cfg), sized so that CI (.ci/run: test, test-slow, docs)
# fits its 90-minute limit with room on a 2-core machine at half the speed of the fastest one seen:
# the default suite (neither `slow` nor `long`) under 10 minutes there, all of .ci/run under 45.
# `long` holds the checks that would break that budget; only test-all runs them.
test: $(STAMP)
	$(RUN) $(BIN)/python -m pytest -n 2 -q

test-slow: $(STAMP)
	$(RUN) $(BIN)/python -m pytest -q -m "slow and not long"

test-all: $(STAMP)
	$(RUN) $(BIN)/python -m pytest -n 2 -q
	$(RUN) $(BIN)/python -m pytest -q -m "slow or long"

lint: $(STAMP)
	$(BIN)/ruff check genjax experiments tests

bench: $(VENV)/.bench
	$(RUN) $(BIN)/python -m experiments.benchmarks.all

# -E rereads every page so that every warning is reported on every build (-W makes each an error);
# the notebooks' outputs come from the execution cache in docs/_build/.jupyter_cache.
docs: $(VENV)/.docs
	$(BIN)/python -m sphinx -E -W --keep-going -n -q -b html docs docs/_build/html

clean:
	rm -rf $(VENV) .pytest_cache
