#include "kiln/world/stamp_cache.h"

#include <arrow/array.h>
#include <arrow/buffer.h>
#include <arrow/util/bit_util.h>

#include <algorithm>
#include <cstring>

#include "kiln/core/buffer_cache.h"

namespace kiln::world {
namespace {

Status Oom(const arrow::Status& st) { return Error(Code::ARCT_ERR_OUT_OF_MEMORY, st.message()); }

std::int64_t Grow(std::int64_t have, std::int64_t need) { return std::max(need, have * 2); }

}  // namespace

void StampCache::Reset(std::string world_id, std::string run_id) {
  world_id_ = std::move(world_id);
  run_id_ = std::move(run_id);
  world_ids_.reset();
  run_ids_.reset();
  all_true_.reset();
}

Result<std::shared_ptr<arrow::Array>> StampCache::Constant(const std::string& value, std::int64_t n) {
  const auto len = static_cast<std::int64_t>(value.size());
  if (len * n > INT32_MAX) return Error(Code::ARCT_ERR_OUT_OF_MEMORY, "string column exceeds 2 GiB");
  auto offsets = arrow::AllocateBuffer((n + 1) * static_cast<std::int64_t>(sizeof(std::int32_t)), core::ColumnPool());
  if (!offsets.ok()) return Oom(offsets.status());
  auto data = arrow::AllocateBuffer(std::max<std::int64_t>(len * n, 1), core::ColumnPool());
  if (!data.ok()) return Oom(data.status());
  auto* off = reinterpret_cast<std::int32_t*>((*offsets)->mutable_data());
  auto* bytes = (*data)->mutable_data();
  for (std::int64_t i = 0; i <= n; ++i) off[i] = static_cast<std::int32_t>(i * len);
  for (std::int64_t i = 0; i < n; ++i) std::memcpy(bytes + i * len, value.data(), static_cast<std::size_t>(len));
  return std::static_pointer_cast<arrow::Array>(std::make_shared<arrow::StringArray>(
      n, std::shared_ptr<arrow::Buffer>(std::move(*offsets)), std::shared_ptr<arrow::Buffer>(std::move(*data))));
}

Result<std::shared_ptr<arrow::Array>> StampCache::WorldIds(std::int64_t n) {
  if (!world_ids_ || world_ids_->length() < n) {
    KILN_ASSIGN_OR_RETURN(world_ids_, Constant(world_id_, Grow(world_ids_ ? world_ids_->length() : 0, n)));
  }
  return world_ids_->Slice(0, n);
}

Result<std::shared_ptr<arrow::Array>> StampCache::RunIds(std::int64_t n) {
  if (!run_ids_ || run_ids_->length() < n) {
    KILN_ASSIGN_OR_RETURN(run_ids_, Constant(run_id_, Grow(run_ids_ ? run_ids_->length() : 0, n)));
  }
  return run_ids_->Slice(0, n);
}

Result<std::shared_ptr<arrow::Array>> StampCache::AllTrue(std::int64_t n) {
  if (!all_true_ || all_true_->length() < n) {
    std::int64_t cap = Grow(all_true_ ? all_true_->length() : 0, n);
    auto bits = arrow::AllocateBitmap(cap, core::ColumnPool());
    if (!bits.ok()) return Oom(bits.status());
    std::memset((*bits)->mutable_data(), 0xFF, static_cast<std::size_t>((*bits)->size()));
    all_true_ = std::make_shared<arrow::BooleanArray>(cap, std::shared_ptr<arrow::Buffer>(std::move(*bits)));
  }
  return all_true_->Slice(0, n);
}

Result<std::shared_ptr<arrow::Array>> StampCache::Ticks(std::int32_t tick, std::int64_t n) {
  const std::int64_t bytes = n * static_cast<std::int64_t>(sizeof(std::int32_t));
  std::shared_ptr<arrow::Buffer> buf;
  if (bytes >= core::kMinCachedBytes) {
    auto own = arrow::AllocateBuffer(bytes, core::ColumnPool());
    if (!own.ok()) return Oom(own.status());
    buf = std::shared_ptr<arrow::Buffer>(std::move(*own));
  } else {
    const std::int64_t padded = arrow::bit_util::RoundUpToMultipleOf64(std::max<std::int64_t>(bytes, 1));
    if (!slab_ || slab_used_ + padded > slab_->size()) {
      auto slab = arrow::AllocateBuffer(core::kMinCachedBytes, core::ColumnPool());
      if (!slab.ok()) return Oom(slab.status());
      slab_ = std::shared_ptr<arrow::Buffer>(std::move(*slab));
      slab_used_ = 0;
    }
    buf = arrow::SliceMutableBuffer(slab_, slab_used_, bytes);
    slab_used_ += padded;
  }
  std::fill_n(reinterpret_cast<std::int32_t*>(buf->mutable_data()), n, tick);
  return std::static_pointer_cast<arrow::Array>(std::make_shared<arrow::Int32Array>(n, std::move(buf)));
}

}  // namespace kiln::world
