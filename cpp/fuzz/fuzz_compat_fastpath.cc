// libFuzzer target: the native fast path of kiln.formula.compat (specs/formula.md A.5, A.6
// `fuzz_compat_fastpath`). The slow path is Python (ast.parse and a whitelist walk) and cannot run
// here; tests/formula/test_compat_fastpath.py compares the two paths on 20,000 texts. This target
// checks, under ASan + UBSan, what must hold whatever the input:
//  * no crash, UB, leak or unbounded recursion on any fast-alphabet text (bytes are mapped into
//    the alphabet so that every input exercises the parser);
//  * a value is only ever produced for text that accepts() (the syntax check) also accepts;
//  * the source's own algebra, for every text the syntax check accepts: wrapping it in
//    parentheses, prefixing unary plus or adding trailing blanks never changes its result; a unary
//    minus negates a value bit for bit; a leading blank always gives 0.0 (an indentation error);
//  * python_float_repr of any double reads back to the same double.
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kiln/formula/compat_fastpath.h"

namespace compat = kiln::formula::compat;

namespace {
constexpr char kAlphabet[] = "0123456789.eE+-*/()^ \t";

bool SameResult(const compat::FastResult& a, const compat::FastResult& b) {
  if (a.outcome != b.outcome) return false;
  if (a.outcome == compat::Outcome::zero) return a.code == b.code;
  if (a.outcome != compat::Outcome::value) return true;
  return (std::isnan(a.value) && std::isnan(b.value)) ||
         std::bit_cast<std::uint64_t>(a.value) == std::bit_cast<std::uint64_t>(b.value);
}

// Wrapping may push nesting past the fast path's limits: then deferring is fine.
bool SameOrDeferred(const compat::FastResult& a, const compat::FastResult& b) {
  return b.outcome == compat::Outcome::defer || SameResult(a, b);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size >= 8) {
    double d;
    std::memcpy(&d, data, 8);
    if (!std::isnan(d)) {
      const std::string r = compat::python_float_repr(d);
      if (!std::isinf(d) && std::bit_cast<std::uint64_t>(std::strtod(r.c_str(), nullptr)) != std::bit_cast<std::uint64_t>(d))
        __builtin_trap();
    }
  }
  std::string text(size, ' ');
  for (std::size_t i = 0; i < size; ++i) text[i] = kAlphabet[data[i] % (sizeof(kAlphabet) - 1)];
  if (!compat::is_fast_alphabet(text)) __builtin_trap();
  const compat::FastResult r = compat::evaluate(text);
  if (r.outcome == compat::Outcome::value && !compat::accepts(text)) __builtin_trap();
  if (r.outcome == compat::Outcome::zero && r.code != 4601 && r.code != 4602) __builtin_trap();
  if (!text.empty() && (text[0] == ' ' || text[0] == '\t') &&
      (r.outcome != compat::Outcome::zero || r.code != 4601))
    __builtin_trap();
  if (r.outcome == compat::Outcome::defer || !compat::accepts(text)) return 0;
  if (!SameResult(r, compat::evaluate(text + " \t"))) __builtin_trap();
  if (!SameOrDeferred(r, compat::evaluate("(" + text + ")"))) __builtin_trap();
  if (!SameOrDeferred(r, compat::evaluate("+(" + text + ")"))) __builtin_trap();
  const auto lead = compat::evaluate(" " + text);
  if (lead.outcome != compat::Outcome::zero || lead.code != 4601) __builtin_trap();
  const auto neg = compat::evaluate("-(" + text + ")");
  if (r.outcome == compat::Outcome::value && neg.outcome == compat::Outcome::value) {
    const bool same = (std::isnan(r.value) && std::isnan(neg.value)) ||
                      std::bit_cast<std::uint64_t>(-r.value) == std::bit_cast<std::uint64_t>(neg.value);
    if (!same) __builtin_trap();
  } else if (!SameOrDeferred(r, neg)) {
    __builtin_trap();
  }
  return 0;
}
