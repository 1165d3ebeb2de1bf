// The canonical text of a compiled formula (specs/formula.md A.6, `fuzz_formula_roundtrip`).
//
// The compiler keeps no syntax tree: its tree *is* the postfix program. The canonical text prints
// that program back as a fully parenthesised formula — every variable as a placeholder `{name}`,
// every literal with 17 significant digits, every operator application in parentheses and every
// function in its lower-case spelling — so that compiling the text again (with the same options)
// yields the same items and pool. The round trip is what the fuzz target and the tests check: it
// proves that parsing, precedence and the emitted program agree with each other.
#pragma once

#include <string>

#include "kiln/core/status.h"
#include "kiln/formula/compiler.h"

namespace kiln::formula {

/// Fully parenthesised text of `compiled.program`. Fails (CORE_INVALID_ARGUMENT) only on a program
/// the formula compiler cannot produce (an opcode outside the formula rows, a stack underflow).
core::Result<std::string> canonical_text(const Compiled& compiled);

/// The round-trip property: when `text` compiles, its canonical text compiles with the same
/// options to the same program: the same items (literals compared by value, source positions
/// ignored) and the same variables in the same order. Meant for unfolded programs, the tree of the
/// text (a folded program is the tree of its folded value). OK also when `text` does not compile; otherwise
/// CORE_INVALID_ARGUMENT naming the first difference and both texts.
core::Status check_round_trip(std::string_view text, const CompileOptions& options);

}  // namespace kiln::formula
