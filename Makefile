# Two entry points for a newcomer: `make train` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# numba's compiled kernels go to a cache outside the checkout, so a fresh clone at the same path (CI) loads them
# instead of compiling them again (the index kernels alone: about 30 s of CPU)
export NUMBA_CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/l2h/numba

.PHONY: setup train test test-slow test-all bench

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/install_torch.sh
	$(PYTHON) -m venv $(VENV)
	bash scripts/install_torch.sh $(PY)
	$(PY) -m pip install -e ".[test]"
	touch $@

train: setup
	$(PY) train.py $(ARGS)

test: setup
	$(PY) -m pytest -q

# The slow tests: the installed wheel, DDP, Dask, long training; those that read ../shared/data (or L2H_DATA) skip
# without it. CI runs `make test` then `make test-slow`.
test-slow: setup
	$(PY) -m pytest -q -m slow

test-all: setup
	$(PY) -m pytest -q -m "slow or not slow"

# Benchmarks (figures in the README). DATA is the folder holding cifar10_gist512.mat and mnist/.
DATA ?= ../shared/data
bench: setup
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) benchmarks/search.py --cifar $(DATA)/cifar10_gist512.mat
	$(PY) benchmarks/threads.py
	$(PY) benchmarks/growth.py
	$(PY) benchmarks/evaluator.py --cifar $(DATA)/cifar10_gist512.mat --large
	$(PY) benchmarks/quality.py --cifar $(DATA)/cifar10_gist512.mat --mnist $(DATA)/mnist --cache outputs/quality_cache
	$(PY) benchmarks/posterior_codes.py --cifar $(DATA)/cifar10_gist512.mat
	$(PY) benchmarks/training_cost.py --mnist $(DATA)/mnist
