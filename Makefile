# procd-mm: `make demo` and `make test` set up .venv/ on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.procd-mm-setup
SHARED_WHEELS ?= ../shared/wheels
CONSTRAINTS := requirements/cpu-constraints.txt
PYTEST_ARGS ?=
SETUP_CUDA_ARGS ?=

.PHONY: setup setup-cuda demo test test-slow test-cuda lint bench clean-venv

setup: $(STAMP)

$(STAMP): setup.py $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -c $(CONSTRAINTS) torch
	# mmcv 2.1.0 builds its ops with setup.py (needs pkg_resources) against the installed torch
	$(PY) -m pip install "setuptools<70" wheel ninja "numpy<2"
	MMCV_WITH_OPS=1 MAX_JOBS=2 $(PY) -m pip install --no-build-isolation \
	  $$($(PY) tools/misc/mmcv_wheel_source.py $(SHARED_WHEELS)) -c $(CONSTRAINTS) mmcv
	$(PY) -m pip install -c $(CONSTRAINTS) -e ".[tests]"
	$(PY) -c "import procd_mm, mmcv.ops, mmdet, mmrazor.models"
	touch $(STAMP)

# GPU machines (docs/gpu.md): torch 2.13.0 with CUDA, mmcv 2.1.0's CUDA ops compiled against it,
# then mmcv.ops.nms / RoIAlign run on the GPU; e.g. SETUP_CUDA_ARGS="--torch-index URL"
setup-cuda:
	$(PYTHON) tools/misc/setup_cuda.py --venv $(VENV) $(SETUP_CUDA_ARGS)
	touch $(STAMP)

demo: setup
	$(PY) -m demo

lint: setup
	$(VENV)/bin/ruff check procd_mm demo tools tests configs

test: lint
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

test-slow: setup
	$(VENV)/bin/pytest -q -m slow $(PYTEST_ARGS)

# the GPU tests (tests/test_cuda.py): they skip without a CUDA GPU
test-cuda:
	$(VENV)/bin/pytest -q -m cuda $(PYTEST_ARGS)

bench: setup
	$(PY) tools/analysis/benchmark_distill.py
	$(PY) tools/analysis/benchmark_distill.py --student rtmdet \
	  --out work_dirs/benchmark/benchmark_distill_rtmdet.json

clean-venv:
	rm -rf $(VENV)
