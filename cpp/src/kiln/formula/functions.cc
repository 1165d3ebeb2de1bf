#include "kiln/formula/functions.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace kiln::formula {

using core::program::Op;

namespace {
constexpr Function kTable[] = {
    {"abs", FnKind::Op, Op::ABS, 0, 1},
    {"sqrt", FnKind::Op, Op::SQRT, 0, 1},
    {"floor", FnKind::Op, Op::FLOOR, 0, 1},
    {"ceil", FnKind::Op, Op::CEIL, 0, 1},
    {"trunc", FnKind::Op, Op::TRUNC, 0, 1},
    {"round", FnKind::Round, Op::ROUND, 0, 0},
    {"clamp", FnKind::Op, Op::CLAMP, 0, 3},
    {"pow", FnKind::Op, Op::POW, 0, 2},
    {"if", FnKind::Select, Op::SELECT, 0, 3},
    {"where", FnKind::Select, Op::SELECT, 0, 3},
    {"min", FnKind::MinMax, Op::MIN, 2, 0},
    {"max", FnKind::MinMax, Op::MAX, 3, 0},
    {"sum", FnKind::Aggregate, Op::LAGG, 0, 1},
    {"avg", FnKind::Aggregate, Op::LAGG, 1, 1},
    {"count", FnKind::Aggregate, Op::LAGG, 4, 1},
    {"sign", FnKind::Fn1, Op::FN1, 0, 1},
    {"cbrt", FnKind::Fn1, Op::FN1, 1, 1},
    {"exp", FnKind::Fn1, Op::FN1, 2, 1},
    {"expm1", FnKind::Fn1, Op::FN1, 3, 1},
    {"log", FnKind::Fn1, Op::FN1, 4, 1},
    {"log1p", FnKind::Fn1, Op::FN1, 5, 1},
    {"log2", FnKind::Fn1, Op::FN1, 6, 1},
    {"log10", FnKind::Fn1, Op::FN1, 7, 1},
    {"sin", FnKind::Fn1, Op::FN1, 8, 1},
    {"cos", FnKind::Fn1, Op::FN1, 9, 1},
    {"tan", FnKind::Fn1, Op::FN1, 10, 1},
    {"asin", FnKind::Fn1, Op::FN1, 11, 1},
    {"acos", FnKind::Fn1, Op::FN1, 12, 1},
    {"atan", FnKind::Fn1, Op::FN1, 13, 1},
    {"sinh", FnKind::Fn1, Op::FN1, 14, 1},
    {"cosh", FnKind::Fn1, Op::FN1, 15, 1},
    {"tanh", FnKind::Fn1, Op::FN1, 16, 1},
    {"asinh", FnKind::Fn1, Op::FN1, 17, 1},
    {"acosh", FnKind::Fn1, Op::FN1, 18, 1},
    {"atanh", FnKind::Fn1, Op::FN1, 19, 1},
    {"isnan", FnKind::Fn1, Op::FN1, 20, 1},
    {"isinf", FnKind::Fn1, Op::FN1, 21, 1},
    {"isfinite", FnKind::Fn1, Op::FN1, 22, 1},
    {"atan2", FnKind::Fn2, Op::FN2, 0, 2},
    {"hypot", FnKind::Fn2, Op::FN2, 1, 2},
    {"fmod", FnKind::Fn2, Op::FN2, 2, 2},
    {"copysign", FnKind::Fn2, Op::FN2, 3, 2},
};

bool IEq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  return true;
}
}  // namespace

const Function* find_function(std::string_view name) {
  if (name.size() > 8) return nullptr;
  for (const auto& f : kTable)
    if (IEq(name, f.name)) return &f;
  return nullptr;
}

std::vector<std::string_view> function_names() {
  std::vector<std::string_view> v;
  for (const auto& f : kTable) v.push_back(f.name);
  return v;
}

int edit_distance(std::string_view a, std::string_view b, int cap) {
  const int la = static_cast<int>(a.size()), lb = static_cast<int>(b.size());
  if (std::abs(la - lb) > cap) return cap + 1;
  std::vector<int> prev(lb + 1), cur(lb + 1);
  for (int j = 0; j <= lb; ++j) prev[j] = j;
  for (int i = 1; i <= la; ++i) {
    cur[0] = i;
    int best = cur[0];
    for (int j = 1; j <= lb; ++j) {
      int sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
      best = std::min(best, cur[j]);
    }
    if (best > cap) return cap + 1;
    std::swap(prev, cur);
  }
  return prev[lb];
}

std::optional<std::string> nearest(std::string_view word, const std::vector<std::string_view>& candidates,
                                   int max_distance, bool case_insensitive) {
  std::string w(word);
  if (case_insensitive)
    for (auto& c : w) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  int best = max_distance + 1;
  std::optional<std::string> out;
  for (auto c : candidates) {
    int d = edit_distance(w, c, max_distance);
    if (d < best) {
      best = d;
      out = std::string(c);
    }
  }
  return out;
}

}  // namespace kiln::formula
