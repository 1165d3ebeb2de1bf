// kiln::world::World — the ECS tick kernel (specs/world.md §2–§5).
//
// A world holds a registry of tables (fixed Arrow schemas), an entity registry, per-table staged
// spawns and despawns, live snapshots of the last completed tick, native processors and a history
// store. `Step` turns staged mutations and the processor chain into one batch per active table,
// commits them atomically and makes them the new live snapshots. Split-step (`StepBegin` /
// `StepCommit` / `StepAbort`) lets a caller run its own processing between the two halves.
//
// Thread safety: calls are serialized by a per-world mutex; a mutation attempted while another
// thread is stepping returns 104 instead of waiting.
#pragma once

#include <arrow/type_fwd.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "kiln/core/fault_plan.h"
#include "kiln/core/part_store.h"
#include "kiln/world/processor.h"
#include "kiln/world/spawn_buffer.h"
#include "kiln/world/stamp_cache.h"
#include "kiln/world/store.h"

namespace kiln::world {

enum class OpenMode { kCreate = 0, kResume = 1, kCreateOrResume = 2 };
enum class WorldState { kReady = 0, kEpochOpen = 1, kPoisonedPartialTick = 2, kPoisonedInternal = 3 };
enum class Source { kLedger = 0, kLive = 1, kStaged = 2 };

struct WorldOptions {
  std::optional<std::string> world_id;   // nullopt: new UUIDv7
  std::optional<std::string> run_id;     // nullopt: new UUIDv7 (resume: the only run of world_id)
  std::optional<std::string> store_root; // nullopt: memory store
  std::string ns = "default";
  OpenMode open_mode = OpenMode::kCreate;
  std::int32_t flush_every_ticks = 1;
  core::Durability durability = core::Durability::kProcess;
  core::ParquetWriterSettings writer;
  std::int64_t memory_retain_ticks = -1;  // memory store: -1 all, 0 none, N last N
};

struct TableProfile {
  std::string table;
  std::int64_t rows_in = 0, rows_out = 0;
  double read_prior_sec = 0, materialize_sec = 0, process_sec = 0, append_sec = 0, live_snapshot_sec = 0,
         table_sec = 0;
};

struct StepProfile {
  std::int32_t tick = 0;
  std::int32_t n_tables = 0;
  std::int64_t rows_written = 0;
  std::int64_t store_reads = 0;
  double read_prior_sec = 0, materialize_sec = 0, process_sec = 0, append_sec = 0, live_snapshot_sec = 0,
         commit_sec = 0, tick_sec = 0;
  std::vector<TableProfile> tables;
};

struct WorldInfo {
  std::int32_t tick = 0;
  std::int32_t next_entity_id = 1;
  std::int32_t last_committed_tick = -1;
  WorldState state = WorldState::kReady;
  std::int64_t registered_entities = 0;
  std::int64_t live_rows = 0;
  std::int32_t n_tables = 0;
  std::int32_t n_processors = 0;
};

class World {
 public:
  static Result<std::unique_ptr<World>> Open(const WorldOptions& options);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  const std::string& world_id() const { return world_id_; }
  const std::string& run_id() const { return run_id_; }
  WorldInfo info() const;
  StoreCounters store_counters() const;

  // Tables and entities.
  Status RegisterTable(const std::string& name, const std::shared_ptr<arrow::Schema>& schema);
  Result<std::shared_ptr<arrow::Schema>> TableSchema(const std::string& name) const;
  std::vector<std::string> Tables(bool active_only) const;
  Result<std::shared_ptr<arrow::RecordBatch>> Registry() const;
  Result<std::vector<std::int32_t>> Spawn(const std::string& table, const std::shared_ptr<arrow::RecordBatch>& batch);
  Status SpawnWithIds(const std::string& table, const std::shared_ptr<arrow::RecordBatch>& batch,
                      const std::int32_t* ids, std::int64_t n);
  Result<std::int32_t> ReserveIds(std::int32_t n);
  Status Despawn(const std::int32_t* ids, std::int64_t n);
  Status Migrate(const std::string& table, const std::shared_ptr<arrow::RecordBatch>& batch, const std::int32_t* ids,
                 std::int64_t n);

  // Processors.
  Result<std::int32_t> AddMovement(double dt, std::int32_t priority);
  /// A formula processor (§6.2): rules (target, expression), params bound by name.
  Result<std::int32_t> AddFormula(const std::string& name, const std::vector<std::pair<std::string, std::string>>& rules,
                                  const std::vector<std::pair<std::string, double>>& params, std::int32_t priority,
                                  bool strict);
  Status RemoveProcessor(std::int32_t id);
  Result<std::shared_ptr<arrow::RecordBatch>> RunProcessor(std::int32_t id, const std::string& table,
                                                           const std::shared_ptr<arrow::RecordBatch>& batch);

  // Stepping.
  Result<StepProfile> Step();
  /// Runs up to n steps; stops at the first error (`ticks_done` says how many completed).
  Status Run(std::int32_t n, std::int32_t* ticks_done, StepProfile* total);
  Result<std::shared_ptr<arrow::RecordBatch>> StepBegin(const std::string& table);
  /// Returns the step profile when this commit completed the epoch.
  Result<std::optional<StepProfile>> StepCommit(const std::string& table,
                                                const std::shared_ptr<arrow::RecordBatch>& processed);
  Status StepAbort(const std::string& table);
  /// 101 without an open epoch, 102 if `table` is not in flight in it, else OK.
  Status CheckInFlight(const std::string& table) const;
  const std::vector<TableProfile>& last_table_profiles() const { return last_table_profiles_; }

  // Reads.
  Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> Query(const std::string& table, Source source,
                                                                 const ReadFilter& filter,
                                                                 std::shared_ptr<arrow::Schema>* schema_out);

  // Lifecycle and testing.
  Status Flush();
  Status Close(bool discard_unflushed);
  bool closed() const { return closed_; }
  Status SetFaultPlan(std::string_view plan);
  /// Poisons the world after an unexpected failure caught outside it (the C ABI boundary).
  void PoisonInternal(const Status& cause);

 private:
  struct TableState {
    std::string name;
    std::shared_ptr<arrow::Schema> schema;            // registered (metadata as given)
    std::shared_ptr<arrow::Schema> component_schema;  // fields after the base columns
    std::shared_ptr<arrow::RecordBatch> live;         // nullptr: no active rows
    SpawnBuffer staged;                               // S[T]
    std::unordered_set<std::int32_t> despawns;        // D[T]
    std::int64_t entities = 0;                        // registry entries pointing here
    bool active() const { return entities > 0 || !staged.empty() || !despawns.empty(); }
  };
  struct EntityEntry {
    TableState* table;
    bool staged;
  };
  struct Prepared {
    TableState* table;
    std::shared_ptr<arrow::RecordBatch> stamped;   // what the tick writes
    std::shared_ptr<arrow::RecordBatch> snapshot;  // its active rows (nullptr when none)
    TableProfile profile;
  };
  struct Epoch {
    std::int32_t tick;
    std::vector<TableState*> tables;  // frozen active set, name order
    std::map<std::string, std::shared_ptr<arrow::RecordBatch>> inputs;  // begun, awaiting commit
    std::map<std::string, Prepared> committed;
  };
  struct ProcessorEntry {
    std::int32_t id;
    std::unique_ptr<Processor> processor;
  };

  World() = default;
  void InternalCheckpoint();        // fault point `internal` (throws when armed)
  Status PartialTickRefusal() const;  // 103 for any call refused after a partial tick
  Status CheckMutable() const;       // poisoned → 103/105; epoch/step running → 104
  Status RejectIfStepping() const;   // a step runs on another thread → 104 at once, without waiting
  Status CheckSteppable() const;     // poisoned → 103/105; epoch → 100
  Status Poison(const Status& cause);
  Status Context(Status st, const std::string& table = {}, std::optional<std::int32_t> entity = {}) const;
  Result<TableState*> FindTable(const std::string& name);
  std::vector<TableState*> ActiveTables();
  Status Resume(const std::string& root);

  Result<std::shared_ptr<arrow::RecordBatch>> PriorWithDespawns(TableState& t, TableProfile& p);
  Result<std::shared_ptr<arrow::RecordBatch>> RunChain(TableState& t, std::shared_ptr<arrow::RecordBatch> batch,
                                                       std::int32_t tick, TableProfile& p);
  Result<Prepared> Finish(TableState& t, const std::shared_ptr<arrow::RecordBatch>& processed, std::int32_t tick,
                          TableProfile p);
  Result<StepProfile> CommitPrepared(std::int32_t tick, std::vector<Prepared> prepared, double started);
  void Finalize(std::int32_t tick, std::vector<Prepared>& prepared, StepProfile* profile);
  Result<StepProfile> StepLocked();
  Status RetryFailedFlush();
  Status FlushLocked();

  template <class F>
  auto Guarded(F&& f) -> decltype(f());

  std::string world_id_, run_id_;
  std::int32_t tick_ = 0;
  std::int32_t next_entity_id_ = 1;
  std::int32_t last_committed_tick_ = -1;
  WorldState state_ = WorldState::kReady;
  Status poison_cause_;
  std::map<std::string, TableState> tables_;  // std::string orders by unsigned bytes
  std::unordered_map<std::int32_t, EntityEntry> entities_;
  std::vector<ProcessorEntry> processors_;
  std::int32_t next_processor_id_ = 1;
  std::optional<Epoch> epoch_;
  std::unique_ptr<Store> store_;
  class ParquetStore* parquet_ = nullptr;  // same object as store_ when Parquet
  core::FaultPlan faults_;
  StampCache stamps_;
  std::vector<TableProfile> last_table_profiles_;
  bool closed_ = false;
  mutable std::mutex mu_;
  std::atomic<bool> stepping_{false};
};

}  // namespace kiln::world
