// Text -> shared arith program (specs/formula.md A.2, A.3.2, A.3.3).
//
// One pass over the tokens with explicit operator and operand stacks (shunting-yard), emitting
// postfix items as operators are reduced, so no input can exhaust the native stack. Constant
// folding evaluates variable-free subtrees with the runtime functions themselves and applies only
// IEEE-exact identities.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/core/program/program.h"
#include "kiln/core/status.h"
#include "kiln/formula/options.h"
#include "kiln/formula/source.h"

namespace kiln::formula {

struct Variable {
  std::string name;
  bool is_list = false;
  std::int64_t first_position = 0;  ///< as reported (bytes or code points)
  std::uint32_t slot = 0;           ///< scalar slot (VAR token) or list slot (LAGG token)
};

struct Compiled {
  core::program::Program program;
  std::vector<Span> spans;              ///< per item `pos`: the source of the operator or leaf
  std::vector<Variable> variables;      ///< first-appearance order
  std::vector<std::string> functions;   ///< built-ins used, lower case, first-appearance order
  std::uint32_t node_count = 0;
  int depth = 0;
};

core::Result<Compiled> compile_text(std::string_view text, const CompileOptions& options);

/// Validates options (FORMULA_INVALID_OPTION).
core::Status check_options(const CompileOptions& options);

/// The names of the built-in constants (pi, e, tau, inf, nan, true, True, false, False).
bool is_builtin_constant(std::string_view name, double* value = nullptr);

}  // namespace kiln::formula
