// The world's history store (specs/world.md §5): transactional per tick (or per flush of k ticks),
// with filtered reads. Two implementations: MemoryStore and ParquetStore.
#pragma once

#include <arrow/type_fwd.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kiln/core/fault_plan.h"
#include "kiln/world/codes.h"

namespace kiln::world {

struct ReadFilter {
  std::optional<std::string> world_id;  // nullopt: the world's own
  std::optional<std::string> run_id;
  std::optional<std::vector<std::int32_t>> ticks;
  std::optional<std::pair<std::int32_t, std::int32_t>> tick_range;  // inclusive
  std::optional<std::vector<std::int32_t>> entity_ids;
  bool active_only = false;
};

struct StoreCounters {
  std::int64_t reads = 0;
  std::int64_t files_opened = 0;
  std::int64_t row_groups_read = 0;
  std::int64_t parts_written = 0;
  std::int64_t bytes_written = 0;
};

struct TickBatch {
  std::string table;
  std::shared_ptr<arrow::RecordBatch> batch;  // stamped, non-empty
};

/// How a tick's commit ended.
struct CommitResult {
  enum class Kind {
    kCommitted,        // visible (or pending in a flush buffer)
    kNothingVisible,   // failed before the commit point or withdrawn: the world is unchanged
    kPendingKept,      // k > 1: the tick joined the pending buffer, but the flush it triggered failed
    kPartial,          // some tables visible: the world must poison itself (103)
  };
  Kind kind = Kind::kCommitted;
  Status status;
  std::vector<std::string> committed_tables;
  /// k > 1: the tick joined the pending buffer before the flush failed, so it completed in memory.
  bool tick_completed = false;
};

class Store {
 public:
  virtual ~Store() = default;

  /// Commits tick `tick` (batches in table order; tables with no rows are absent).
  virtual CommitResult CommitTick(std::int32_t tick, std::vector<TickBatch> batches, std::int32_t next_entity_id,
                                  std::vector<std::string> live_tables) = 0;
  /// Split-step (§7.6): stages one table's stamped batch at its step_commit, before the epoch's
  /// commit; CommitTick then commits it with the rest. A failure here ends the epoch.
  virtual Status StageForEpoch(std::int32_t tick, const TickBatch& batch) = 0;
  /// Drops what StageForEpoch staged (epoch aborted or failed).
  virtual void DiscardStaged() = 0;
  /// k > 1: writes pending ticks now. OK when nothing is pending.
  virtual Status FlushPending() = 0;
  virtual bool HasPending() const = 0;
  /// True after a flush failed and its pending ticks are still waiting (k > 1).
  virtual bool flush_failed() const = 0;
  /// Drops pending ticks (close with discard).
  virtual void DiscardPending() = 0;

  /// Rows of `table` matching `filter`, in §5.6 order. `schema` is the registered schema (used
  /// for the result and for empty results); nullptr if the table is not registered.
  virtual Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> Read(
      const std::string& table, const std::shared_ptr<arrow::Schema>& schema, const ReadFilter& filter) = 0;
  /// True if the store knows the table (a part directory exists).
  virtual bool HasTable(const std::string& table) const = 0;
  /// Schema of existing parts of `table` (any world in the namespace), or nullptr.
  virtual Result<std::shared_ptr<arrow::Schema>> StoredSchema(const std::string& table) = 0;

  virtual StoreCounters counters() const = 0;
  virtual bool is_parquet() const = 0;
};

/// Applies a filter to one batch of the world's own rows (world/run already matched).
Result<std::shared_ptr<arrow::RecordBatch>> FilterBatch(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                        const ReadFilter& filter, bool check_identity,
                                                        const std::string& world_id, const std::string& run_id);

/// True if a tick lies in the filter's tick predicates (for skipping whole ticks or parts).
bool TickMayMatch(const ReadFilter& filter, std::int32_t min_tick, std::int32_t max_tick);

std::unique_ptr<Store> MakeMemoryStore(std::string world_id, std::string run_id, std::int64_t retain_ticks,
                                       core::FaultPlan* faults);

}  // namespace kiln::world
