#!/usr/bin/env bash
# Builds the formula fuzz targets with clang (libFuzzer + ASan + UBSan) and runs each for a bounded
# time, seeded with the conformance formulas. Usage: cpp/fuzz/build_and_run.sh [SECONDS]
# Needs Debian's clang and libclang-rt-14-dev. Crashes are kept in cpp/fuzz/crashes/ as
# regression inputs. The formula engine needs no Arrow, so the targets compile its sources directly.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
seconds="${1:-20}"
out="${root}/build/fuzz"
mkdir -p "${out}" "${root}/cpp/fuzz/crashes"
srcs=(cpp/src/kiln/formula/canonical.cc cpp/src/kiln/formula/compat_fastpath.cc cpp/src/kiln/formula/compiler.cc cpp/src/kiln/formula/expression.cc
      cpp/src/kiln/formula/functions.cc cpp/src/kiln/formula/lexer.cc cpp/src/kiln/formula/source.cc
      cpp/src/kiln/core/program/exact_sum.cc cpp/src/kiln/core/program/program.cc cpp/src/kiln/core/program/vm.cc)
cd "${root}"
for target in fuzz_formula_compile fuzz_formula_roundtrip fuzz_compat_fastpath; do
  clang++ -std=c++20 -O1 -g -ffp-contract=off -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I cpp/src "cpp/fuzz/${target}.cc" "${srcs[@]}" -o "${out}/${target}"
  python3 cpp/fuzz/seed_corpus.py "${out}/corpus-${target}"
  "${out}/${target}" -max_len=4096 -timeout=2 -max_total_time="${seconds}" \
    -artifact_prefix="${root}/cpp/fuzz/crashes/" "${out}/corpus-${target}" 2>&1 | tail -5
done
