# Two commands on a fresh machine: `make run` (the kiln tour) and `make test` (every suite).
# Both create .venv/ in the repo root, install what they need and build once, incrementally.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUILD := build/release
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2
export KILN_BUILD_TESTS := ON

PY_DEPS := "pyarrow==26.0.*" "nanobind>=3.0,<4" "scikit-build-core>=1.0" "cmake>=3.26" "ninja>=1.11" \
	"numpy>=1.26" "tqdm>=4.60" "cffi>=1.16" "pytest>=8" "hypothesis>=6.100" "duckdb>=1.1" "polars>=1.0" "esper==3.*"

.PHONY: run test build system-deps clean

run: build
	$(PY) -m kiln tour

test: build
	$(VENV)/bin/ctest --test-dir $(BUILD) --output-on-failure -j2
	$(PY) -m pytest -q

build: $(VENV)/.deps
	CMAKE_CXX_COMPILER_LAUNCHER=$${CMAKE_CXX_COMPILER_LAUNCHER:-$(shell command -v ccache 2>/dev/null)} \
	  $(PY) -m pip install --no-build-isolation --no-deps -q -e .

system-deps:
	./scripts/install-system-deps.sh

$(VENV)/.deps: Makefile pyproject.toml scripts/install-system-deps.sh
	./scripts/install-system-deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(PY_DEPS)
	touch $@

clean:
	rm -rf build
