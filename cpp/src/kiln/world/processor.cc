#include "kiln/world/processor.h"

#include <arrow/array.h>
#include <arrow/buffer.h>
#include <arrow/compute/api_scalar.h>
#include <arrow/record_batch.h>

#include <cmath>
#include <cstdint>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "kiln/core/buffer_cache.h"

namespace kiln::world {

bool Processor::Matches(const arrow::Schema& schema) const {
  for (const auto& col : required_)
    if (schema.GetFieldIndex(col) < 0) return false;
  return true;
}

Movement::Movement(double dt, std::int32_t priority)
    : Processor("movement", priority, {"position__x", "position__y", "velocity__dx", "velocity__dy"}), dt_(dt) {}

Result<std::unique_ptr<Movement>> Movement::Make(double dt, std::int32_t priority) {
  if (!std::isfinite(dt))
    return Error(Code::ARCT_ERR_PROCESSOR_CONFIG, "Movement dt must be finite, got " + std::to_string(dt));
  return std::unique_ptr<Movement>(new Movement(dt, priority));
}

void MovementKernel(const double* x, const double* dx, double dt, double* out, std::int64_t n) {
  // Compiled with -ffp-contract=off: the multiply and the add round separately, exactly like
  // pc.add(x, pc.multiply(dx, dt)) in the reference.
#if defined(__SSE2__)
  // Beyond the caches the loop is bound by memory traffic, and an ordinary store first reads the
  // line it overwrites. Streaming stores skip that read (a third of the traffic); the output is
  // not read again before the next tick, by which time it would have left the cache anyway.
  constexpr std::int64_t kStreamBytes = std::int64_t{4} << 20;
  if (n * static_cast<std::int64_t>(sizeof(double)) >= kStreamBytes) {
    std::int64_t i = 0;
    for (; i < n && (reinterpret_cast<std::uintptr_t>(out + i) & 15) != 0; ++i) out[i] = x[i] + dx[i] * dt;
    const __m128d vdt = _mm_set1_pd(dt);
    for (; i + 2 <= n; i += 2)
      _mm_stream_pd(out + i, _mm_add_pd(_mm_loadu_pd(x + i), _mm_mul_pd(_mm_loadu_pd(dx + i), vdt)));
    for (; i < n; ++i) out[i] = x[i] + dx[i] * dt;
    _mm_sfence();  // make the streamed lines visible before the column is published
    return;
  }
#endif
  for (std::int64_t i = 0; i < n; ++i) out[i] = x[i] + dx[i] * dt;
}

namespace {

Result<std::shared_ptr<arrow::Array>> Advance(const std::shared_ptr<arrow::Array>& pos,
                                              const std::shared_ptr<arrow::Array>& vel, double dt) {
  if (pos->null_count() > 0 || vel->null_count() > 0) {
    // Nulls propagate: Arrow's kernels give the same IEEE result per element and the combined
    // validity bitmap.
    auto prod = arrow::compute::Multiply(vel, arrow::Datum(dt));
    if (!prod.ok()) return Error(Code::ARCT_ERR_PROCESSOR_FAILED, prod.status().message());
    auto sum = arrow::compute::Add(pos, *prod);
    if (!sum.ok()) return Error(Code::ARCT_ERR_PROCESSOR_FAILED, sum.status().message());
    return sum->make_array();
  }
  const std::int64_t n = pos->length();
  auto buf = arrow::AllocateBuffer(n * static_cast<std::int64_t>(sizeof(double)), core::ColumnPool());
  if (!buf.ok()) return Error(Code::ARCT_ERR_OUT_OF_MEMORY, buf.status().message());
  const auto& p = static_cast<const arrow::DoubleArray&>(*pos);
  const auto& v = static_cast<const arrow::DoubleArray&>(*vel);
  MovementKernel(p.raw_values(), v.raw_values(), dt, reinterpret_cast<double*>((*buf)->mutable_data()), n);
  return std::static_pointer_cast<arrow::Array>(
      std::make_shared<arrow::DoubleArray>(n, std::shared_ptr<arrow::Buffer>(std::move(*buf))));
}

}  // namespace

Result<std::shared_ptr<arrow::RecordBatch>> Movement::Process(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                              const ProcessContext& ctx) const {
  const auto& schema = *batch->schema();
  int idx[4];
  for (int i = 0; i < 4; ++i) {
    const std::string& col = required_columns()[i];
    idx[i] = schema.GetFieldIndex(col);
    if (idx[i] < 0)
      return Error(Code::ARCT_ERR_MISSING_COLUMN, "missing required movement column: " + col + " (table " + ctx.table + ")");
    const auto& type = schema.field(idx[i])->type();
    if (type->id() != arrow::Type::DOUBLE)
      return Error(Code::ARCT_ERR_COLUMN_TYPE, "movement column '" + col + "' of table " + ctx.table +
                                                   " must be double, got " + type->ToString());
  }
  KILN_ASSIGN_OR_RETURN(auto x, Advance(batch->column(idx[0]), batch->column(idx[2]), dt_));
  KILN_ASSIGN_OR_RETURN(auto y, Advance(batch->column(idx[1]), batch->column(idx[3]), dt_));
  arrow::ArrayVector columns = batch->columns();
  columns[idx[0]] = std::move(x);
  columns[idx[1]] = std::move(y);
  return arrow::RecordBatch::Make(batch->schema(), batch->num_rows(), std::move(columns));
}

}  // namespace kiln::world
