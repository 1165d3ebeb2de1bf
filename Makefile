# Two commands on a fresh machine: `make run` (the kiln tour) and `make test` (every suite).
# Both create .venv/ in the repo root, install what they need and build once, incrementally.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUILD := build/release
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2
export KILN_BUILD_TESTS := ON

PY_DEPS := "pyarrow==26.0.*" "nanobind>=3.0,<4" "scikit-build-core>=1.0" "cmake>=3.26" "ninja>=1.11" \
	"numpy>=1.26" "tqdm>=4.60" "python-dateutil>=2.8" "cffi>=1.16" "pytest>=8" "hypothesis>=6.100" "duckdb>=1.1" \
	"polars>=1.0" "esper==3.*" "dask[distributed]>=2024.1" "matplotlib>=3.8" "statsmodels>=0.14" \
	"fwdpy11>=0.24" "numexpr>=2.8" "cexprtk>=0.4" "asteval>=1.0" "simpleeval>=1.0" "scipy>=1.11"

CMAKE := $(VENV)/bin/cmake
CCACHE := $(shell command -v ccache 2>/dev/null)
CONFIGURE = $(CMAKE) -S . -G Ninja -DPython_EXECUTABLE=$(abspath $(PY)) -DCMAKE_CXX_COMPILER_LAUNCHER=$(CCACHE) \
	-DCMAKE_C_COMPILER_LAUNCHER=$(CCACHE) -DKILN_BUILD_TESTS=ON -DKILN_BUILD_PYTHON=OFF
FUZZ_SECONDS ?= 20

.PHONY: run test test-main test-sanitize test-fuzz build system-deps clean

run: build
	$(PY) -m kiln tour

# Everything CI runs: the main suites, the ASan+UBSan job and a bounded fuzzing run.
test: test-main test-sanitize test-fuzz

test-main: build
	$(VENV)/bin/ctest --test-dir $(BUILD) --output-on-failure -j2
	$(PY) -m pytest -q

# C++ suites and the ctypes ABI suite against an AddressSanitizer + UBSan build of the library.
# libstdc++ is preloaded with libasan so that its __cxa_throw interceptor can resolve when the
# instrumented library is loaded into an uninstrumented interpreter.
test-sanitize: $(VENV)/.deps
	$(CONFIGURE) -B build/asan -DKILN_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	$(CMAKE) --build build/asan
	ASAN_OPTIONS=detect_leaks=1 ARROW_DEFAULT_MEMORY_POOL=system UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(VENV)/bin/ctest --test-dir build/asan --output-on-failure -j2
	KILN_ARCT_LIBRARY=$(abspath build/asan/cpp/src/kiln/capi/libkiln_arct.so.2) \
	  LD_PRELOAD="$$(g++ -print-file-name=libasan.so) $$(g++ -print-file-name=libstdc++.so)" \
	  ASAN_OPTIONS=detect_leaks=0 PYTHONMALLOC=malloc \
	  ARROW_DEFAULT_MEMORY_POOL=system UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(PY) -m pytest -q -p no:cacheprovider tests/capi

# libFuzzer, FUZZ_SECONDS per target: the C ABI's Arrow import paths, formula
# parse + compile + evaluate, the formula canonical-print round trip (formula corpora seeded
# with the conformance formulas) and kiln.formula.compat's native fast path.
test-fuzz: $(VENV)/.deps
	CC=clang CXX=clang++ $(CONFIGURE) -B build/fuzz -DKILN_BUILD_TESTS=OFF -DKILN_FUZZ=ON \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	$(CMAKE) --build build/fuzz --target arct_import_fuzz fuzz_formula_compile fuzz_formula_roundtrip \
	  fuzz_compat_fastpath
	mkdir -p build/fuzz/corpus-arct build/fuzz/corpus-formula build/fuzz/corpus-roundtrip build/fuzz/corpus-compat
	$(PY) cpp/fuzz/seed_corpus.py build/fuzz/corpus-formula build/fuzz/corpus-roundtrip
	cd build/fuzz && ARROW_DEFAULT_MEMORY_POOL=system ./cpp/fuzz/arct_import_fuzz -max_total_time=$(FUZZ_SECONDS) \
	  -rss_limit_mb=4096 -print_final_stats=1 corpus-arct
	cd build/fuzz && ./cpp/fuzz/fuzz_formula_compile -max_len=4096 -timeout=2 -max_total_time=$(FUZZ_SECONDS) \
	  -print_final_stats=1 corpus-formula
	cd build/fuzz && ./cpp/fuzz/fuzz_formula_roundtrip -max_len=4096 -timeout=2 -max_total_time=$(FUZZ_SECONDS) \
	  -print_final_stats=1 corpus-roundtrip
	cd build/fuzz && ./cpp/fuzz/fuzz_compat_fastpath -max_len=4096 -timeout=2 -max_total_time=$(FUZZ_SECONDS) \
	  -print_final_stats=1 corpus-compat

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
