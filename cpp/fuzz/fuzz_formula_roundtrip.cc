// libFuzzer target: canonical print round trip (specs/formula.md A.6 `fuzz_formula_roundtrip`).
// Properties: for any text that compiles unfolded (ieee and strict), its canonical text compiles
// to the same tree (kiln::formula::check_round_trip); for a folded compile, the canonical text of
// the folded program compiles and evaluates to the same bits (NaNs identified) with every
// variable = 1.5 and every list = [1.5, 2.5].
#include <bit>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include "kiln/formula/canonical.h"
#include "kiln/formula/expression.h"

using kiln::formula::CompileOptions;
using kiln::formula::Expression;

namespace {
bool Same(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}

double Evaluate(const Expression& e) {
  std::vector<double> scalars(e.program().n_vars, 1.5);
  std::vector<double> list = {1.5, 2.5};
  std::vector<kiln::formula::ListView> lists(e.program().n_lists, {list.data(), list.size()});
  auto v = e.evaluate(scalars, lists);
  if (!v.ok()) __builtin_trap();  // ieee evaluation never fails
  return *v;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (auto mode : {kiln::formula::Mode::ieee, kiln::formula::Mode::strict}) {
    CompileOptions o;
    o.mode = mode;
    o.fold = false;
    if (!kiln::formula::check_round_trip(text, o).ok()) __builtin_trap();
  }
  CompileOptions folded;  // ieee, fold on
  auto e = Expression::compile(text, folded);
  if (!e.ok()) return 0;
  auto canon = kiln::formula::canonical_text(e->compiled());
  if (!canon.ok()) __builtin_trap();
  // The folded program's text may exceed the length limit (17-digit literals); not a finding.
  CompileOptions roomy = folded;
  roomy.limits.max_length = 16u << 20;
  auto again = Expression::compile(*canon, roomy);
  if (!again.ok()) __builtin_trap();
  // Variables that only folded-away code used are not in the canonical text: bind by name.
  if (again->program().n_vars > e->program().n_vars || again->program().n_lists > e->program().n_lists) __builtin_trap();
  if (!Same(Evaluate(*e), Evaluate(*again))) __builtin_trap();
  return 0;
}
