#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/compute/api.h>
#include <arrow/record_batch.h>
#include <arrow/scalar.h>

#include <algorithm>

#include "kiln/world/store.h"

namespace kiln::world {
namespace {

namespace cp = arrow::compute;

Status ArrowFail(const arrow::Status& st) {
  return Error(st.IsOutOfMemory() ? Code::ARCT_ERR_OUT_OF_MEMORY : Code::ARCT_ERR_STORE_READ, st.message());
}

Result<arrow::Datum> And(std::optional<arrow::Datum> acc, arrow::Datum next) {
  if (!acc) return next;
  auto r = cp::And(*acc, next);
  if (!r.ok()) return ArrowFail(r.status());
  return *r;
}

Result<arrow::Datum> IsIn(const std::shared_ptr<arrow::Array>& col, const std::vector<std::int32_t>& values) {
  arrow::Int32Builder b;
  if (!b.AppendValues(values).ok()) return Error(Code::ARCT_ERR_OUT_OF_MEMORY, "cannot build filter");
  std::shared_ptr<arrow::Array> set;
  if (!b.Finish(&set).ok()) return Error(Code::ARCT_ERR_OUT_OF_MEMORY, "cannot build filter");
  auto r = cp::IsIn(col, cp::SetLookupOptions(set));
  if (!r.ok()) return ArrowFail(r.status());
  return *r;
}

}  // namespace

bool TickMayMatch(const ReadFilter& filter, std::int32_t min_tick, std::int32_t max_tick) {
  if (filter.tick_range && (filter.tick_range->second < min_tick || filter.tick_range->first > max_tick)) return false;
  if (filter.ticks) {
    return std::any_of(filter.ticks->begin(), filter.ticks->end(),
                       [&](std::int32_t t) { return t >= min_tick && t <= max_tick; });
  }
  return true;
}

Result<std::shared_ptr<arrow::RecordBatch>> FilterBatch(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                        const ReadFilter& filter, bool check_identity,
                                                        const std::string& world_id, const std::string& run_id) {
  std::optional<arrow::Datum> mask;
  if (check_identity) {
    auto w = cp::CallFunction("equal", {batch->column(0), arrow::Datum(std::make_shared<arrow::StringScalar>(world_id))});
    if (!w.ok()) return ArrowFail(w.status());
    KILN_ASSIGN_OR_RETURN(mask, And(mask, *w));
    auto r = cp::CallFunction("equal", {batch->column(1), arrow::Datum(std::make_shared<arrow::StringScalar>(run_id))});
    if (!r.ok()) return ArrowFail(r.status());
    KILN_ASSIGN_OR_RETURN(mask, And(mask, *r));
  }
  if (filter.ticks) {
    KILN_ASSIGN_OR_RETURN(auto m, IsIn(batch->column(3), *filter.ticks));
    KILN_ASSIGN_OR_RETURN(mask, And(mask, m));
  }
  if (filter.tick_range) {
    auto lo = cp::CallFunction("greater_equal", {batch->column(3), arrow::Datum(filter.tick_range->first)});
    if (!lo.ok()) return ArrowFail(lo.status());
    auto hi = cp::CallFunction("less_equal", {batch->column(3), arrow::Datum(filter.tick_range->second)});
    if (!hi.ok()) return ArrowFail(hi.status());
    KILN_ASSIGN_OR_RETURN(mask, And(mask, *lo));
    KILN_ASSIGN_OR_RETURN(mask, And(mask, *hi));
  }
  if (filter.entity_ids) {
    KILN_ASSIGN_OR_RETURN(auto m, IsIn(batch->column(2), *filter.entity_ids));
    KILN_ASSIGN_OR_RETURN(mask, And(mask, m));
  }
  if (filter.active_only) {
    KILN_ASSIGN_OR_RETURN(mask, And(mask, arrow::Datum(batch->column(4))));
  }
  if (!mask) return batch;
  auto filtered = cp::Filter(batch, *mask);
  if (!filtered.ok()) return ArrowFail(filtered.status());
  return filtered->record_batch();
}

}  // namespace kiln::world
