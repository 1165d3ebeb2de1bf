// Fault injection for crash and failure tests (specs/world.md §7.8).
//
// A plan is a comma-separated list of `action:point[:table][@n]`. `fail` makes the operation at
// that point fail with an injected ENOSPC; `crash` SIGKILLs the process right after the operation
// succeeded. Each rule fires once, on the n-th matching occurrence (default 1).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/core/status.h"

namespace kiln::core {

enum class FaultPoint { kStage, kRecord, kPublish, kDone, kRead, kInternal };

const char* FaultPointName(FaultPoint point);

class FaultPlan {
 public:
  FaultPlan() = default;

  /// Parses a plan; "" is the empty plan. Bad syntax returns `invalid_code`.
  static Result<FaultPlan> Parse(std::string_view plan, std::int32_t invalid_code);

  bool empty() const { return rules_.empty(); }

  /// Called before the operation at `point`; true if a `fail` rule fires now.
  bool ShouldFail(FaultPoint point, std::string_view table = {});

  /// Called after the operation at `point` succeeded; SIGKILLs the process if a `crash` rule fires.
  void AfterSuccess(FaultPoint point, std::string_view table = {});

 private:
  struct Rule {
    bool crash;
    FaultPoint point;
    std::string table;  // empty: any table
    std::int64_t nth;
    std::int64_t seen = 0;
    bool fired = false;
  };
  bool Matches(Rule& rule, bool crash, FaultPoint point, std::string_view table);
  std::vector<Rule> rules_;
};

}  // namespace kiln::core
