// libFuzzer target: parse + compile + evaluate (specs/formula.md A.6 `fuzz_formula_compile`).
// Properties: no crash, UB or leak (ASan + UBSan); every failure carries a compile-block code in
// 4000-4299 and 0 <= position <= length; compiled programs pass Program::check, evaluate with all
// variables = 1.5 (lists = [1.5, 2.5]), and a 7-row batch equals the scalar result bitwise.
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/formula/expression.h"

using kiln::formula::CompileOptions;
using kiln::formula::Expression;

namespace {
[[noreturn]] void Fail(const char* why) {
  __builtin_trap();
  (void)why;
}
bool Same(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (int mode = 0; mode < 2; ++mode) {
    CompileOptions o;
    o.mode = mode ? kiln::formula::Mode::strict : kiln::formula::Mode::ieee;
    auto r = Expression::compile(text, o);
    if (!r.ok()) {
      int code = r.status().code();
      if (code < 4000 || code > 4299) Fail("code outside the compile block");
      auto pos = r.status().detail("position");
      if (!pos) Fail("compile error without a position");
      long p = std::strtol(pos->c_str(), nullptr, 10);
      if (p < 0 || static_cast<std::size_t>(p) > size) Fail("position out of range");
      continue;
    }
    const Expression& e = *r;
    if (!e.program().check().ok()) Fail("compiled program fails its check");
    std::vector<double> scalars(e.program().n_vars, 1.5);
    std::vector<double> list = {1.5, 2.5};
    std::vector<kiln::formula::ListView> lists(e.program().n_lists, {list.data(), list.size()});
    auto v = e.evaluate(scalars, lists);
    if (mode == 1) continue;
    if (!v.ok()) Fail("ieee evaluation failed");
    std::vector<std::vector<double>> cols(e.program().n_vars, std::vector<double>(7, 1.5));
    std::vector<kiln::formula::ColumnRef> refs;
    for (auto& c : cols) refs.push_back({c.data(), 0.0});
    std::vector<double> values;
    std::vector<std::int64_t> offsets;
    for (int i = 0; i <= 7; ++i) offsets.push_back(2 * i);
    for (int i = 0; i < 7; ++i) values.insert(values.end(), list.begin(), list.end());
    std::vector<kiln::formula::ListColumnRef> lrefs(e.program().n_lists, {offsets.data(), values.data()});
    std::vector<double> out(7);
    if (!e.evaluate_batch({refs, lrefs, 7}, out).ok()) Fail("batch failed");
    for (double x : out)
      if (!Same(x, *v)) Fail("batch differs from scalar");
  }
  return 0;
}
