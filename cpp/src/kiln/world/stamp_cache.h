// Cached constant columns for stamping rows (specs/world.md §11.6): world_id and run_id are the
// same on every row and all-true is_active is common, so each is built once at the largest size
// seen and sliced per tick instead of being rebuilt.
#pragma once

#include <arrow/type_fwd.h>

#include <cstdint>
#include <memory>
#include <string>

#include "kiln/world/codes.h"

namespace kiln::world {

class StampCache {
 public:
  void Reset(std::string world_id, std::string run_id);
  Result<std::shared_ptr<arrow::Array>> WorldIds(std::int64_t n);
  Result<std::shared_ptr<arrow::Array>> RunIds(std::int64_t n);
  Result<std::shared_ptr<arrow::Array>> AllTrue(std::int64_t n);
  /// A new Int32 column holding `tick` n times. Small columns are carved from 1 MiB slabs of the
  /// column pool: the history keeps every tick's column, so each would otherwise land on fresh,
  /// page-faulting memory, while a slab is recycled whole once its ticks are dropped.
  Result<std::shared_ptr<arrow::Array>> Ticks(std::int32_t tick, std::int64_t n);

 private:
  static Result<std::shared_ptr<arrow::Array>> Constant(const std::string& value, std::int64_t n);
  std::string world_id_, run_id_;
  std::shared_ptr<arrow::Array> world_ids_, run_ids_, all_true_;
  std::shared_ptr<arrow::Buffer> slab_;
  std::int64_t slab_used_ = 0;
};

}  // namespace kiln::world
