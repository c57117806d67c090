# One command sets everything up from a clean clone: a local virtualenv, the dependencies,
# the compiled kernels.  `make demo` then runs the demo, `make test` the test suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.deps-installed

.PHONY: all demo test bench build clean

all: build

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "numpy>=2" "Cython>=3" "setuptools>=68" onnx onnxruntime "pytest>=8" torch==2.13.0 "dask[array,distributed]"
	touch $(STAMP)

build: $(STAMP)
	$(PY) setup.py -q build_ext --inplace

demo: build
	$(PY) -m onnxlosses demo

test: build
	$(PY) -m pytest -q --doctest-modules onnxlosses tests

bench: build
	$(PY) -m pip install -q matplotlib monai
	$(PY) benchmarks/run.py --json benchmarks/results.json --plot benchmarks/ratios.png

clean:
	rm -rf build pyx/*.c onnxlosses/*.so
