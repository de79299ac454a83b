# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
# svy and samplics (benchmark baselines only) live in their own venv: svy brings polars and
# pyarrow, and pyarrow would change pandas' default string storage in .venv.
BASELINES ?= .venv-baselines
ifeq ($(OS),Windows_NT)
BIN := $(VENV)/Scripts
BASE_BIN := $(BASELINES)/Scripts
else
BIN := $(VENV)/bin
BASE_BIN := $(BASELINES)/bin
endif

.PHONY: demo test fuzz lint bench baselines clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	$(BIN)/wuye-eval demo

# Two pytest-xdist workers (each test file whole to one worker; tests/conftest.py schedules
# them): about half the wall time of one process on 2 cores.
test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2

# The hostile-input tests (tests/*/test_hostile_*.py) with the long Hypothesis profile:
# WUYE_FUZZ_FACTOR (default 25) times the examples of `make test`, fresh random draws each
# run; prints the totals of generated cases by stage and outcome.
fuzz: $(VENV)/.installed-dev
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -m hostile -o addopts="" -q -p no:cacheprovider

$(BASELINES)/.installed:
	$(PYTHON) -m venv $(BASELINES)
	$(BASE_BIN)/python -m pip install --upgrade pip
	$(BASE_BIN)/python -m pip install "svy>=0.3" "samplics>=0.4"
	touch $@

baselines: $(BASELINES)/.installed

bench: $(VENV)/.installed-dev baselines
	$(BIN)/python -m benchmarks

clean:
	rm -rf reports/* build *.egg-info
	touch reports/.gitkeep
