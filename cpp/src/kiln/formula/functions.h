// The built-in function table (specs/formula.md A.2.4) and "did you mean" suggestions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/core/program/opcodes_generated.h"

namespace kiln::formula {

enum class FnKind : std::uint8_t {
  Op,        ///< one opcode with a fixed arity (abs -> ABS)
  Fn1,       ///< FN1 with arg0 = id
  Fn2,       ///< FN2 with arg0 = id
  Select,    ///< if / where
  Round,     ///< round(x) or round(x, n)
  MinMax,    ///< min / max: 2-255 scalars (left fold) or one list
  Aggregate  ///< sum / avg / count: one list
};

struct Function {
  std::string_view name;  ///< lower case
  FnKind kind;
  core::program::Op op;
  std::int16_t id;  ///< Fn1/Fn2 id, or the Lagg id of list forms
  int arity;        ///< fixed arity (Op, Fn1, Fn2, Select); 0 for variadic kinds
};

/// Case-insensitive lookup (F8).
const Function* find_function(std::string_view name);
/// Every built-in function name (lower case), for suggestions and docs.
std::vector<std::string_view> function_names();

/// Levenshtein distance, capped: returns > cap when farther.
int edit_distance(std::string_view a, std::string_view b, int cap = 3);
/// The nearest candidate within `max_distance` (ties: first in order), or nullopt.
std::optional<std::string> nearest(std::string_view word, const std::vector<std::string_view>& candidates,
                                   int max_distance = 2, bool case_insensitive = false);

}  // namespace kiln::formula
