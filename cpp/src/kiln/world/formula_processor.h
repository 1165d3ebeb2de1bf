// The world formula processor (specs/world.md §6.2, formula.md A.3.5): update rules compiled at
// registration and run natively inside the tick. Formula errors take the world's codes with the
// formula error as cause (details cause_number / cause_message / cause_position): compile errors,
// base-column targets and params named like columns are 402, a non-Float64 target 155, nulls
// into a non-nullable target 157, a strict evaluation error 400.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kiln/formula/expression.h"
#include "kiln/world/processor.h"

namespace kiln::world {

class FormulaProcessor final : public Processor {
 public:
  /// `rules`: (target, expression) in rule order; `params`: scalars bound by name.
  static Result<std::unique_ptr<FormulaProcessor>> Make(std::string name,
                                                        const std::vector<std::pair<std::string, std::string>>& rules,
                                                        std::vector<std::pair<std::string, double>> params,
                                                        std::int32_t priority, formula::Mode mode);
  Result<std::shared_ptr<arrow::RecordBatch>> Process(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                      const ProcessContext& ctx) const override;

 private:
  struct Rule {
    std::string target;
    formula::Expression expr;
  };
  FormulaProcessor(std::string name, std::int32_t priority, std::vector<std::string> required, std::vector<Rule> rules,
                   std::vector<std::pair<std::string, double>> params)
      : Processor(std::move(name), priority, std::move(required)), rules_(std::move(rules)), params_(std::move(params)) {}
  std::vector<Rule> rules_;
  std::vector<std::pair<std::string, double>> params_;
};

/// Wraps a formula error as the world error `world_code` with the formula error as cause.
Status FormulaCause(Code world_code, const std::string& context, const Status& cause);

}  // namespace kiln::world
