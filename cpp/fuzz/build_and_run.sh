#!/usr/bin/env bash
# Builds the formula fuzz target with clang (libFuzzer + ASan + UBSan) and runs it for a bounded
# time, seeded with the conformance formulas. Usage: cpp/fuzz/build_and_run.sh [SECONDS]
# Needs Debian's clang and libclang-rt-14-dev. Crashes are kept in cpp/fuzz/crashes/ as
# regression inputs. The formula engine needs no Arrow, so the target compiles its sources directly.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
seconds="${1:-20}"
out="${root}/build/fuzz"
mkdir -p "${out}/corpus" "${root}/cpp/fuzz/crashes"
srcs=(cpp/fuzz/fuzz_formula_compile.cc cpp/src/kiln/formula/compiler.cc cpp/src/kiln/formula/expression.cc
      cpp/src/kiln/formula/functions.cc cpp/src/kiln/formula/lexer.cc cpp/src/kiln/formula/source.cc
      cpp/src/kiln/core/program/exact_sum.cc cpp/src/kiln/core/program/program.cc cpp/src/kiln/core/program/vm.cc)
cd "${root}"
clang++ -std=c++20 -O1 -g -ffp-contract=off -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I cpp/src "${srcs[@]}" -o "${out}/fuzz_formula_compile"
# Seed corpus: every conformance formula, one file each.
python3 - "${root}" "${out}/corpus" <<'PY'
import sys, tomllib, hashlib, pathlib
root, corpus = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for c in tomllib.loads((root / "tests/formula/data/conformance.toml").read_text())["case"]:
    b = c["formula"].encode()
    (corpus / hashlib.sha1(b).hexdigest()).write_bytes(b)
PY
"${out}/fuzz_formula_compile" -max_len=4096 -timeout=2 -max_total_time="${seconds}" \
  -artifact_prefix="${root}/cpp/fuzz/crashes/" "${out}/corpus" 2>&1 | tail -5
