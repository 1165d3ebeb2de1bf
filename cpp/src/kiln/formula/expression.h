// kiln::formula::Expression: compile once, evaluate many (specs/formula.md A.3.1).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/core/program/program.h"
#include "kiln/core/program/vm.h"
#include "kiln/core/status.h"
#include "kiln/formula/compiler.h"
#include "kiln/formula/options.h"

namespace kiln::formula {

using core::program::ColumnRef;
using core::program::ListColumnRef;
using ListView = core::program::ListRef;

/// Column inputs of a batch evaluation, indexed by scalar slot and list slot.
struct BatchInput {
  std::span<const ColumnRef> columns;
  std::span<const ListColumnRef> lists;
  std::size_t rows = 0;
  /// Optional per-row validity (0 = null row): strict mode skips null rows.
  const std::uint8_t* valid = nullptr;
};

struct BatchOptions {
  int threads = 1;
  bool (*cancelled)(void*) = nullptr;  ///< polled between tasks (KeyboardInterrupt)
  void* cancel_arg = nullptr;
};

/// An immutable compiled formula; thread-safe and cheap to copy (shared state). Nothing throws:
/// every failure is a catalog Status.
class Expression {
 public:
  static core::Result<Expression> compile(std::string_view text, const CompileOptions& options = {});

  std::span<const Variable> variables() const { return impl_->compiled.variables; }
  /// Index into variables() of `name`.
  std::optional<std::uint32_t> slot(std::string_view name) const;
  const core::program::Program& program() const { return impl_->compiled.program; }
  const Compiled& compiled() const { return impl_->compiled; }
  std::string_view text() const { return impl_->text; }
  Mode mode() const { return impl_->options.mode; }
  const CompileOptions& options() const { return impl_->options; }

  /// Scalars by scalar slot (Variable::slot of scalar variables), lists by list slot.
  core::Result<double> evaluate(std::span<const double> scalars, std::span<const ListView> lists = {}) const;
  /// ieee, no lists: the hot path.
  double evaluate_ieee(const double* scalars) const noexcept {
    return core::program::run_scalar(impl_->compiled.program, scalars, nullptr);
  }
  /// Evaluates rows into out (rows values). Strict failures report the lowest failing row and the
  /// count and leave out untouched.
  core::Status evaluate_batch(const BatchInput& in, std::span<double> out, const BatchOptions& options = {}) const;

  /// The program as text, one item per line (debugging, docs).
  std::string disassemble() const;

 private:
  struct Impl {
    std::string text;
    CompileOptions options;
    Compiled compiled;
  };
  core::Status strict_error(std::uint32_t tag, const double* vars, const ListView* lists, std::int64_t row,
                            std::size_t failed) const;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace kiln::formula
