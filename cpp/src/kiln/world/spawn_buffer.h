// Staged spawn rows of one table, S[T] (specs/world.md §3.4).
//
// Rows keep first-insertion order; staging an id again replaces its values but keeps its first
// position (last write wins); removing an id drops it. Rows are kept as references into the
// caller's batches, so staging is zero-copy and materialising the common case (one batch, nothing
// replaced or removed) is free.
#pragma once

#include <arrow/type_fwd.h>

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "kiln/world/codes.h"

namespace kiln::world {

class SpawnBuffer {
 public:
  /// Stages the rows of `batch` (component columns, table order) for `ids` (same length).
  void Stage(std::shared_ptr<arrow::RecordBatch> batch, const std::int32_t* ids, std::int64_t n);
  /// Removes a staged id; false if it was not staged here.
  bool Remove(std::int32_t id);
  bool Contains(std::int32_t id) const { return index_.count(id) != 0; }
  std::int64_t size() const { return static_cast<std::int64_t>(index_.size()); }
  bool empty() const { return index_.empty(); }
  void Clear();

  /// Staged ids in row order.
  std::vector<std::int32_t> Ids() const;

  /// The staged component rows in order (schema = `component_schema`), and their ids.
  struct Rows {
    std::shared_ptr<arrow::RecordBatch> components;
    std::shared_ptr<arrow::Array> ids;
  };
  Result<Rows> Materialize(const std::shared_ptr<arrow::Schema>& component_schema) const;
  /// The staged row of one id (a 1-row slice), or nullptr.
  std::shared_ptr<arrow::RecordBatch> RowOf(std::int32_t id) const;

 private:
  struct Slot {
    std::int32_t id;
    std::int32_t chunk;
    std::int64_t row;
    bool live;
  };
  std::vector<std::shared_ptr<arrow::RecordBatch>> chunks_;
  std::vector<Slot> order_;
  std::unordered_map<std::int32_t, std::size_t> index_;  // id -> position in order_
};

}  // namespace kiln::world
