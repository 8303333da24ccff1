# Two commands on a fresh machine: `make train` (the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CONFIG ?= configs/NAB_config.json
# make test: test files in this many processes (pytest-xdist)
TEST_WORKERS ?= 2
export TF_CPP_MIN_LOG_LEVEL ?= 2
# a bare `make` lists the targets rather than starting a 3 GB install
.DEFAULT_GOAL := help

.PHONY: help install train detect test lint reproduce benchmark benchmark-compare benchmark-end-to-end demo clean-cache

$(VENV)/.installed: requirements.txt pyproject.toml
	@$(PY) -m pip --version >/dev/null 2>&1 || { $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	  || { echo "error: the venv needs Python 3.11 or newer, and $(PYTHON) is missing or older: name one with PYTHON, e.g. make install PYTHON=python3.11" >&2; exit 2; }; \
	  $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

install: $(VENV)/.installed  ## create .venv, install requirements.txt and the package (pip install -e .)

train: install  ## train the VAE and the LSTM of CONFIG (default: machine_temp), then detect
	$(PY) codes/train.py --config "$(CONFIG)"
	$(PY) codes/detect.py --config "$(CONFIG)"

detect: install  ## score and evaluate the trained run of CONFIG
	$(PY) codes/detect.py --config "$(CONFIG)"

demo: install  ## offline demo on the synthetic series: train and detect in about a minute
	$(PY) codes/train.py --config configs/synthetic_config.json
	$(PY) codes/detect.py --config configs/synthetic_config.json

test: install  ## the test suite (uses NAB_DATA_DIR or ../shared/datasets/NAB for the NAB checks)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

lint: install  ## ruff over codes, tests and notebooks
	$(PY) -m ruff check codes tests notebooks

EXPERIMENT ?= table1
WORKERS ?= 2
THREADS ?= 1

reproduce: install  ## run an experiment of configs/experiments/ (default table1: every NAB series over 5 seeds, two single-thread runs at a time; resumable)
	$(PY) codes/reproduce.py "$(EXPERIMENT)" --workers $(WORKERS) --threads $(THREADS)

BENCHMARK_CONFIGS ?= configs/NAB_config.json configs/benchmark_common_config.json
PORT ?= ../shared/peers/tf2-port

benchmark: install  ## speed and memory against this machine's limits, per config of BENCHMARK_CONFIGS: figures/benchmark.md
	@test -n "$(strip $(BENCHMARK_CONFIGS))" || { echo "error: BENCHMARK_CONFIGS is empty; name one config or more" >&2; exit 2; }
	for config in $(BENCHMARK_CONFIGS); do $(PY) codes/benchmark.py --config $$config || exit 1; done

benchmark-compare: install  ## side by side with the TF2 port at the common config (benchmarks/README.md), PORT=its folder
	@test -f $(PORT)/models.py || { echo "error: no models.py in $(PORT); set PORT to the TF2 port's folder" >&2; exit 2; }
	test -f benchmarks/.venv/.ready || $(PY) benchmarks/compare_tf2_port.py --setup
	$(PY) benchmarks/compare_tf2_port.py --port $(PORT) --output figures/compare_tf2_port.json

benchmark-end-to-end: install  ## wall time and peak memory of what `make train` runs, for CONFIG
	$(PY) codes/benchmark.py --end-to-end --config "$(CONFIG)"

clean-cache:  ## remove the downloaded data files (datasets/cache/)
	rm -rf datasets/cache

help:  ## list these targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  \1\t/' | expand -t 24

