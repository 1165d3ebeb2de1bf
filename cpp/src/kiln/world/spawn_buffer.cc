#include "kiln/world/spawn_buffer.h"

#include <arrow/array.h>
#include <arrow/array/concatenate.h>
#include <arrow/buffer.h>
#include <arrow/compute/api_vector.h>
#include <arrow/datum.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>

#include <cstring>

namespace kiln::world {

void SpawnBuffer::Stage(std::shared_ptr<arrow::RecordBatch> batch, const std::int32_t* ids, std::int64_t n) {
  if (n == 0) return;
  auto chunk = static_cast<std::int32_t>(chunks_.size());
  chunks_.push_back(std::move(batch));
  index_.reserve(index_.size() + static_cast<std::size_t>(n));
  order_.reserve(order_.size() + static_cast<std::size_t>(n));
  for (std::int64_t r = 0; r < n; ++r) {
    auto [it, inserted] = index_.try_emplace(ids[r], order_.size());
    if (inserted) {
      order_.push_back(Slot{ids[r], chunk, r, true});
    } else {
      Slot& slot = order_[it->second];
      slot.chunk = chunk;
      slot.row = r;
    }
  }
}

bool SpawnBuffer::Remove(std::int32_t id) {
  auto it = index_.find(id);
  if (it == index_.end()) return false;
  order_[it->second].live = false;
  index_.erase(it);
  return true;
}

void SpawnBuffer::Clear() {
  chunks_.clear();
  order_.clear();
  // unordered_map::clear() zeroes every bucket even when the map is already empty; after a large
  // spawn that is a memset of the whole bucket array on every tick. Drop the buckets instead.
  if (!index_.empty() || index_.bucket_count() > 64) index_ = {};
}

std::vector<std::int32_t> SpawnBuffer::Ids() const {
  std::vector<std::int32_t> out;
  out.reserve(index_.size());
  for (const auto& s : order_)
    if (s.live) out.push_back(s.id);
  return out;
}

namespace {

Result<std::shared_ptr<arrow::Array>> IdArray(const std::vector<std::int32_t>& ids) {
  auto buf = arrow::AllocateBuffer(static_cast<std::int64_t>(ids.size() * sizeof(std::int32_t)));
  if (!buf.ok()) return Error(Code::ARCT_ERR_OUT_OF_MEMORY, buf.status().message());
  if (!ids.empty()) std::memcpy((*buf)->mutable_data(), ids.data(), ids.size() * sizeof(std::int32_t));
  return std::static_pointer_cast<arrow::Array>(
      std::make_shared<arrow::Int32Array>(static_cast<std::int64_t>(ids.size()), std::shared_ptr<arrow::Buffer>(std::move(*buf))));
}

}  // namespace

Result<SpawnBuffer::Rows> SpawnBuffer::Materialize(const std::shared_ptr<arrow::Schema>& component_schema) const {
  Rows rows;
  std::vector<std::int32_t> ids = Ids();
  KILN_ASSIGN_OR_RETURN(rows.ids, IdArray(ids));
  if (ids.empty()) {
    auto empty = arrow::RecordBatch::MakeEmpty(component_schema);
    if (!empty.ok()) return Error(Code::ARCT_ERR_OUT_OF_MEMORY, empty.status().message());
    rows.components = *empty;
    return rows;
  }
  // Fast path: the live slots are exactly the rows of the chunks in order (no replacement, no
  // removal), so the chunks themselves are the answer.
  bool identity = true;
  std::int64_t expect_chunk = 0, expect_row = 0;
  for (const auto& s : order_) {
    if (!s.live) {
      identity = false;
      break;
    }
    if (s.chunk != expect_chunk || s.row != expect_row) {
      identity = false;
      break;
    }
    if (++expect_row == chunks_[s.chunk]->num_rows()) {
      ++expect_chunk;
      expect_row = 0;
    }
  }
  identity = identity && expect_chunk == static_cast<std::int64_t>(chunks_.size());
  if (identity && chunks_.size() == 1) {
    rows.components = arrow::RecordBatch::Make(component_schema, chunks_[0]->num_rows(), chunks_[0]->columns());
    return rows;
  }
  // General path: concatenate the chunks, then take the live rows in order.
  arrow::RecordBatchVector batches;
  std::vector<std::int64_t> chunk_offset;
  std::int64_t total = 0;
  for (const auto& c : chunks_) {
    chunk_offset.push_back(total);
    total += c->num_rows();
    batches.push_back(arrow::RecordBatch::Make(component_schema, c->num_rows(), c->columns()));
  }
  auto table = arrow::Table::FromRecordBatches(component_schema, batches);
  if (!table.ok()) return Error(Code::ARCT_ERR_ARROW, table.status().message());
  auto combined = (*table)->CombineChunksToBatch();
  if (!combined.ok()) return Error(Code::ARCT_ERR_OUT_OF_MEMORY, combined.status().message());
  if (identity) {
    rows.components = *combined;
    return rows;
  }
  std::vector<std::int32_t> take;
  take.reserve(ids.size());
  for (const auto& s : order_)
    if (s.live) take.push_back(static_cast<std::int32_t>(chunk_offset[s.chunk] + s.row));
  KILN_ASSIGN_OR_RETURN(auto indices, IdArray(take));
  auto taken = arrow::compute::Take(arrow::Datum(*combined), arrow::Datum(indices));
  if (!taken.ok()) return Error(Code::ARCT_ERR_OUT_OF_MEMORY, taken.status().message());
  rows.components = taken->record_batch();
  return rows;
}

std::shared_ptr<arrow::RecordBatch> SpawnBuffer::RowOf(std::int32_t id) const {
  auto it = index_.find(id);
  if (it == index_.end()) return nullptr;
  const Slot& s = order_[it->second];
  return chunks_[s.chunk]->Slice(s.row, 1);
}

}  // namespace kiln::world
