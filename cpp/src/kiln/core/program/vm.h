// The shared stack VM for arith f64 programs (specs/anneal.md §3.1, specs/formula.md A.3.2).
//
// Scalar mode: one dispatch per item over a fixed 256-entry stack. Batch mode: the same program
// over chunks of 256 rows on a stack of column buffers; a VAR of a float64 column pushes a view
// (no copy). Strict mode carries a tag per value (index + 1 of the item that first produced a
// non-finite value from finite operands), propagated like NaN and forwarded by SELECT/AND/OR only
// from the operand whose value is used, so a strict success is bitwise the ieee result.
// Programs must have passed Program::check(); the loops do no bounds checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kiln/core/program/program.h"

namespace kiln::core::program {

/// One list input of a scalar evaluation.
struct ListRef {
  const double* data = nullptr;
  std::size_t size = 0;
};

/// Aggregate `agg` (Lagg id) of a list: exact sum, exactly rounded mean, NaN-propagating
/// min/max (NaN when empty), count.
double list_aggregate(int agg, const double* data, std::size_t n);

double run_scalar(const Program& p, const double* vars, const ListRef* lists) noexcept;

struct StrictResult {
  double value = 0.0;
  std::uint32_t tag = 0;  ///< 0: success; else index + 1 of the item whose error is used
};
StrictResult run_scalar_strict(const Program& p, const double* vars, const ListRef* lists) noexcept;

/// The operands (push order) and result of item k in a scalar run: how strict errors are
/// described after the fact, by re-running the pure program up to k.
struct ItemTrace {
  double operand[3] = {0, 0, 0};
  int n_operands = 0;
  double result = 0.0;
};
ItemTrace trace_item(const Program& p, std::size_t k, const double* vars, const ListRef* lists) noexcept;

/// A column of a batch: `data` (row-indexed float64) or, when data is null, a broadcast scalar.
struct ColumnRef {
  const double* data = nullptr;
  double scalar = 0.0;
};
/// A list column: row i is values[offsets[i] .. offsets[i + 1]).
struct ListColumnRef {
  const std::int64_t* offsets = nullptr;
  const double* values = nullptr;
};

inline constexpr std::size_t kChunkRows = 256;
inline constexpr std::size_t kChunksPerTask = 16;
inline constexpr std::size_t kParallelRows = 131072;

/// Per-thread scratch of the batch VM: depth x 256 doubles (2 KiB per stack entry).
class BatchScratch {
 public:
  explicit BatchScratch(int depth) : buf_(static_cast<std::size_t>(depth < 1 ? 1 : depth) * kChunkRows) {}
  double* entry(int d) { return buf_.data() + static_cast<std::size_t>(d) * kChunkRows; }

 private:
  std::vector<double> buf_;
};

/// ieee batch evaluation of rows [row0, row0 + n) (n <= kChunkRows) into out[0 .. n).
void run_chunk(const Program& p, const ColumnRef* cols, const ListColumnRef* lists, std::size_t row0, std::size_t n,
               double* out, BatchScratch& scratch) noexcept;

/// ieee evaluation of n rows into out, on `threads` threads (>= kParallelRows rows), tasks of
/// 16 chunks; results are identical for any thread count (rows are independent). `cancelled`
/// is polled between tasks; returns false when it asked to stop.
bool run_batch(const Program& p, const ColumnRef* cols, const ListColumnRef* lists, std::size_t n, double* out,
               int threads, bool (*cancelled)(void*) = nullptr, void* cancel_arg = nullptr);

/// strict batch evaluation: row-wise strict runs. Returns the number of failing rows; the lowest
/// failing row and its tag go to first_row / first_tag. out is written only when nothing failed.
/// Rows with valid[row] == 0 (when valid is given) are null: skipped, their output left as is.
std::size_t run_batch_strict(const Program& p, const ColumnRef* cols, const ListColumnRef* lists, std::size_t n,
                             double* out, std::size_t* first_row, std::uint32_t* first_tag,
                             const std::uint8_t* valid = nullptr);

/// Gathers the scalar inputs of one row (used by strict columns and error reports).
void gather_row(const Program& p, const ColumnRef* cols, const ListColumnRef* lists, std::size_t row, double* vars,
                ListRef* list_refs);

}  // namespace kiln::core::program
