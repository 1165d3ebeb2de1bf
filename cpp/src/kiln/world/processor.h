// Native processors (specs/world.md §6): a processor maps a table batch to a batch of the same
// schema and row count. The kernel runs the chain of matching processors in `step` and exposes
// single processors to split-step callers through `run_processor`.
#pragma once

#include <arrow/type_fwd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/world/codes.h"

namespace kiln::world {

struct ProcessContext {
  std::string world_id;
  std::string run_id;
  std::int32_t tick = 0;
  std::string table;
};

class Processor {
 public:
  Processor(std::string name, std::int32_t priority, std::vector<std::string> required)
      : name_(std::move(name)), priority_(priority), required_(std::move(required)) {}
  virtual ~Processor() = default;

  const std::string& name() const { return name_; }
  std::int32_t priority() const { return priority_; }
  const std::vector<std::string>& required_columns() const { return required_; }

  /// True if every required column exists in `schema` (the chain membership rule, §3.7).
  bool Matches(const arrow::Schema& schema) const;

  virtual Result<std::shared_ptr<arrow::RecordBatch>> Process(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                              const ProcessContext& ctx) const = 0;

 private:
  std::string name_;
  std::int32_t priority_;
  std::vector<std::string> required_;
};

/// x' = x + dx·dt, y' = y + dy·dt on position__x/y with velocity__dx/dy (§6.1): one IEEE multiply
/// then one add, no FMA, nulls propagate, every other column passes through untouched.
class Movement final : public Processor {
 public:
  static Result<std::unique_ptr<Movement>> Make(double dt, std::int32_t priority);
  double dt() const { return dt_; }
  Result<std::shared_ptr<arrow::RecordBatch>> Process(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                      const ProcessContext& ctx) const override;

 private:
  Movement(double dt, std::int32_t priority);
  double dt_;
};

/// The Movement kernel on raw arrays: out[i] = x[i] + dx[i] * dt. Exposed for benchmarks and tests.
void MovementKernel(const double* x, const double* dx, double dt, double* out, std::int64_t n);

}  // namespace kiln::world
