// ParquetStore: the world's layout on the core part store (specs/world.md §5.2–§5.7).
#pragma once

#include <map>
#include <set>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/core/json.h"
#include "kiln/core/part_store.h"
#include "kiln/world/store.h"

namespace kiln::world {

struct ParquetStoreOptions {
  std::string root;
  std::string ns = "default";
  std::int32_t flush_every_ticks = 1;
  core::Durability durability = core::Durability::kProcess;
  core::ParquetWriterSettings writer;
};

/// What the newest commit record says (resume, §4).
struct CommitRecord {
  std::int32_t first_tick = 0;
  std::int32_t last_tick = 0;
  std::int32_t next_entity_id = 1;
  std::vector<std::string> live_tables;
  struct Part {
    std::string table;
    std::string name;
  };
  std::vector<Part> parts;
};

class ParquetStore final : public Store {
 public:
  /// Opens the namespace, takes the world's writer lock and runs recovery (202/203/204).
  static Result<std::unique_ptr<ParquetStore>> Open(const ParquetStoreOptions& options, std::string world_id,
                                                    std::string run_id, core::FaultPlan* faults);

  CommitResult CommitTick(std::int32_t tick, std::vector<TickBatch> batches, std::int32_t next_entity_id,
                          std::vector<std::string> live_tables) override;
  Status FlushPending() override;
  Status StageForEpoch(std::int32_t tick, const TickBatch& batch) override;
  void DiscardStaged() override;
  bool HasPending() const override { return !pending_ticks_.empty(); }
  bool flush_failed() const override { return flush_failed_; }
  void DiscardPending() override;

  Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> Read(const std::string& table,
                                                                const std::shared_ptr<arrow::Schema>& schema,
                                                                const ReadFilter& filter) override;
  bool HasTable(const std::string& table) const override;
  Result<std::shared_ptr<arrow::Schema>> StoredSchema(const std::string& table) override;
  StoreCounters counters() const override;
  bool is_parquet() const override { return true; }

  /// The newest finished commit record of this world, if any.
  Result<std::optional<CommitRecord>> LatestRecord();
  /// Reads the named parts of `table` with `filter` (resume reads only the listed parts).
  Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> ReadParts(const std::string& table,
                                                                     const std::vector<std::string>& names,
                                                                     const ReadFilter& filter,
                                                                     std::shared_ptr<arrow::Schema>* schema_out);
  /// Runs identities of other worlds in this namespace that have commit records.
  std::string ns_dir() const { return parts_->dir(); }

 private:
  struct RowGroupMeta {
    std::int64_t rows = 0;
    std::optional<std::int32_t> min_tick, max_tick, min_entity, max_entity;
    std::optional<std::string> world_id, run_id;  // set when min == max in the row group
  };
  struct PartMeta {
    std::vector<RowGroupMeta> row_groups;
  };

  struct StagedTable {
    core::StagedPart part;
    PartMeta meta;
  };

  ParquetStore() = default;
  Status Flush(std::int32_t last_tick, CommitResult* result);
  Result<StagedTable> StageTable(const std::string& table, const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches);
  Result<const PartMeta*> PartIndex(const std::string& path);
  Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> ReadFile(const std::string& path,
                                                                   const ReadFilter& filter, bool own_world,
                                                                   const std::string& world_id,
                                                                   const std::string& run_id,
                                                                   std::optional<std::int32_t> watermark,
                                                                   std::shared_ptr<arrow::Schema>* schema_out);

  ParquetStoreOptions options_;
  std::string world_id_, run_id_, world_key_;
  core::FaultPlan* faults_ = nullptr;
  std::unique_ptr<core::PartStore> parts_;
  // Pending ticks (flush_every_ticks > 1), per table in name order, rows in tick order.
  std::map<std::string, std::vector<std::shared_ptr<arrow::RecordBatch>>> pending_;
  std::vector<std::int32_t> pending_ticks_;
  std::int32_t pending_next_entity_id_ = 1;
  std::vector<std::string> pending_live_tables_;
  std::map<std::string, PartMeta> index_;  // path -> statistics (own writes and footers read once)
  StoreCounters counters_;
  bool flush_failed_ = false;
  // After a partially published flush: its visible parts are hidden from this world's own reads
  // (they are a partial tick until recovery), and with k > 1 its ticks, which had completed,
  // stay readable from the frozen pending buffer instead (never written again by this writer).
  std::set<std::string> hidden_parts_;
  std::map<std::string, StagedTable> epoch_staged_;  // split-step: parts staged at each commit
  bool pending_frozen_ = false;
};

}  // namespace kiln::world
