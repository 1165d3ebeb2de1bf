// The native fast path of kiln.formula.compat (specs/formula.md A.5): PyAgent's FormulaEngineCore
// evaluates substituted text as a Python expression restricted to number literals, + - * / ** ^
// and unary + -. For texts made only of the "fast alphabet" (0-9 . e E + - * / ( ) ^ space tab)
// this file reproduces that, result for result, without the Python parser:
//
//  * a single-pass tokenizer with Python 3.11's literal rules (`007` invalid, `00` and `01.5`
//    valid, an exponent needs digits, no letter may follow a number) and its whitespace rule (a
//    leading space or tab is an indentation error);
//  * a parser of the matching Python grammar subset (`^` lowest, then + -, then * / //, unary,
//    `**` right-associative and tighter than a unary on its left);
//  * an evaluator with CPython's float semantics: every literal becomes a float first (an integer
//    literal beyond the double range is an OverflowError), `/` by zero raises, and `**` follows
//    float_pow's decision table from Objects/floatobject.c, errno checks included.
//
// Anything whose exact behaviour would need the Python machinery is *deferred*: a complex power,
// nesting deep enough to approach the parser's or the evaluator's limits, integer literals long
// enough for the interpreter's digit limit. The Python path then decides; so the two paths agree
// by construction, and the differential tests and fuzz target check it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kiln::formula::compat {

/// True iff every byte of `text` is in the fast alphabet.
bool is_fast_alphabet(std::string_view text);

enum class Outcome : std::uint8_t {
  value,  ///< the source returns `value`
  zero,   ///< the source returns 0.0; `code` says why (4601 rejected/syntax, 4602 arithmetic)
  defer,  ///< only the Python path can tell
};

struct FastResult {
  Outcome outcome = Outcome::defer;
  double value = 0.0;
  std::int32_t code = 0;
};

/// Nesting (AST depth or parentheses) above which the fast path defers: comfortably below the
/// evaluator's 1,000 levels and CPython's 200 parentheses, so the limits themselves stay Python's.
inline constexpr int kMaxFastDepth = 800;
inline constexpr int kMaxFastParens = 100;

/// calculate_logic's result for a fast-alphabet text (after substitution).
FastResult evaluate(std::string_view text);

/// True when `text` (fast alphabet) is certainly a valid Python expression; false means "ask
/// ast.parse" (invalid, or too deep to be sure).
bool accepts(std::string_view text);

/// Python's repr(float) (shortest round trip; positional when the decimal exponent is in
/// [-4, 16), else d.ddde±XX; `inf`, `nan`, `-0.0`).
std::string python_float_repr(double v);

}  // namespace kiln::formula::compat
