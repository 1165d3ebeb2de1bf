#include "kiln/world/world.h"

#include "kiln/world/formula_processor.h"

#include <arrow/array.h>
#include <arrow/array/concatenate.h>
#include <arrow/builder.h>
#include <arrow/compute/api.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <dirent.h>
#include <filesystem>
#include <fstream>
#include <new>
#include <sstream>

#include "kiln/core/json.h"
#include "kiln/core/buffer_cache.h"
#include "kiln/core/uuid7.h"
#include "kiln/world/names.h"
#include "kiln/world/parquet_store.h"
#include "kiln/world/schema.h"

namespace kiln::world {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Status Oom(const arrow::Status& st) { return Error(Code::ARCT_ERR_OUT_OF_MEMORY, st.message()); }

Result<std::shared_ptr<arrow::Array>> Concat(const std::shared_ptr<arrow::Array>& a,
                                             const std::shared_ptr<arrow::Array>& b) {
  if (!b || b->length() == 0) return a;  // null: nothing staged (no spawn batch was built)
  if (a->length() == 0) return b;
  auto r = arrow::Concatenate({a, b}, core::ColumnPool());
  if (!r.ok()) return Oom(r.status());
  return *r;
}

/// The only runs of `world_id` that have commit records in a namespace (resume without run_id).
std::vector<std::string> RunsOf(const std::string& ns_dir, const std::string& world_id) {
  std::vector<std::string> runs;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(ns_dir + "/_kiln/log", ec), end; !ec && it != end; it.increment(ec)) {
    std::vector<std::string> names;
    std::error_code ec2;
    for (std::filesystem::directory_iterator f(it->path(), ec2), e2; !ec2 && f != e2; f.increment(ec2))
      names.push_back(f->path().filename().string());
    std::sort(names.begin(), names.end());
    for (auto n = names.rbegin(); n != names.rend(); ++n) {
      if (n->size() < 6 || (n->compare(n->size() - 5, 5, ".done") != 0 && n->compare(n->size() - 7, 7, ".commit") != 0))
        continue;
      std::ifstream in(it->path() / *n);
      std::stringstream ss;
      ss << in.rdbuf();
      auto j = core::Json::Parse(ss.str(), 0);
      if (j.ok()) {
        const core::Json* w = j->find("world_id");
        const core::Json* r = j->find("run_id");
        if (w && r && w->is_string() && r->is_string() && w->as_string() == world_id) runs.push_back(r->as_string());
      }
      break;
    }
  }
  std::sort(runs.begin(), runs.end());
  runs.erase(std::unique(runs.begin(), runs.end()), runs.end());
  return runs;
}

}  // namespace

// Every public entry point runs inside Guarded: exceptions never escape. An allocation failure is
// 10 and leaves the world as it was (all mutations validate first); anything else is an internal
// error (2) that poisons the world (105).
template <class F>
auto World::Guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return Error(Code::ARCT_ERR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return Poison(Error(Code::ARCT_ERR_PANIC, std::string("internal error crossing the arct ABI boundary: ") + e.what()));
  } catch (...) {
    return Poison(Error(Code::ARCT_ERR_PANIC, "internal error crossing the arct ABI boundary: unknown exception"));
  }
}

Result<std::unique_ptr<World>> World::Open(const WorldOptions& options) {
  std::unique_ptr<World> w(new World());
  KILN_RETURN_NOT_OK(ValidateTableName(options.ns, "namespace"));
  if (options.world_id) KILN_RETURN_NOT_OK(ValidateIdentity(*options.world_id, "world_id"));
  if (options.run_id) KILN_RETURN_NOT_OK(ValidateIdentity(*options.run_id, "run_id"));
  if (options.flush_every_ticks < 0)
    return Error(Code::ARCT_ERR_INVALID_ARGUMENT, "flush_every_ticks must be >= 0");
  const bool resume = options.open_mode == OpenMode::kResume;
  if (resume && !options.store_root)
    return Error(Code::ARCT_ERR_INVALID_ARGUMENT, "resume needs a Parquet store (the memory store keeps nothing)");
  if (resume && !options.world_id) return Error(Code::ARCT_ERR_INVALID_ARGUMENT, "resume needs a world_id");
  w->world_id_ = options.world_id ? *options.world_id : core::NewUuid7();
  if (options.run_id) {
    w->run_id_ = *options.run_id;
  } else if (resume || (options.open_mode == OpenMode::kCreateOrResume && options.store_root && options.world_id)) {
    auto runs = RunsOf(*options.store_root + "/" + options.ns, w->world_id_);
    if (runs.size() == 1) {
      w->run_id_ = runs[0];
    } else if (resume) {
      std::string list;
      for (const auto& r : runs) list += (list.empty() ? "" : ", ") + r;
      return Error(Code::ARCT_ERR_WORLD_NOT_FOUND,
                   runs.empty() ? "no committed run of world " + w->world_id_ + " in namespace " + options.ns
                                : "world " + w->world_id_ + " has several runs (" + list + "); pass run_id");
    } else {
      w->run_id_ = core::NewUuid7();
    }
  } else {
    w->run_id_ = core::NewUuid7();
  }
  w->stamps_.Reset(w->world_id_, w->run_id_);
  if (!options.store_root) {
    w->store_ = MakeMemoryStore(w->world_id_, w->run_id_, options.memory_retain_ticks, &w->faults_);
    return w;
  }
  ParquetStoreOptions po;
  po.root = *options.store_root;
  po.ns = options.ns;
  po.flush_every_ticks = std::max(1, options.flush_every_ticks);
  po.durability = options.durability;
  po.writer = options.writer;
  KILN_ASSIGN_OR_RETURN(auto store, ParquetStore::Open(po, w->world_id_, w->run_id_, &w->faults_));
  w->parquet_ = store.get();
  w->store_ = std::move(store);
  KILN_ASSIGN_OR_RETURN(auto record, w->parquet_->LatestRecord());
  bool has_commits = record.has_value();
  if (options.open_mode == OpenMode::kCreate && has_commits)
    return Error(Code::ARCT_ERR_WORLD_EXISTS, "world " + w->world_id_ + " run " + w->run_id_ +
                                                  " already has commits in " + w->parquet_->ns_dir() +
                                                  "; open it with World.open to resume");
  if (resume && !has_commits)
    return Error(Code::ARCT_ERR_WORLD_NOT_FOUND,
                 "no commits of world " + w->world_id_ + " run " + w->run_id_ + " in " + w->parquet_->ns_dir());
  if (has_commits) KILN_RETURN_NOT_OK(w->Resume(*options.store_root));
  return w;
}

World::~World() = default;

Status World::Resume(const std::string&) {
  KILN_ASSIGN_OR_RETURN(auto record, parquet_->LatestRecord());
  if (!record) return Error(Code::ARCT_ERR_WORLD_NOT_FOUND, "no commits of world " + world_id_ + " run " + run_id_);
  const CommitRecord& rec = record.value();
  ReadFilter filter;
  filter.ticks = std::vector<std::int32_t>{rec.last_tick};
  filter.active_only = true;
  for (const auto& table : rec.live_tables) {
    std::vector<std::string> names;
    for (const auto& p : rec.parts)
      if (p.table == table) names.push_back(p.name);
    std::shared_ptr<arrow::Schema> schema;
    KILN_ASSIGN_OR_RETURN(auto batches, parquet_->ReadParts(table, names, filter, &schema));
    if (!schema) return Error(Code::ARCT_ERR_STORE_CORRUPT, "commit record lists live table " + table + " without parts");
    KILN_ASSIGN_OR_RETURN(auto normalized, NormalizeTableSchema(schema));
    TableState& ts = tables_[table];
    ts.name = table;
    ts.schema = normalized;
    ts.component_schema = arrow::schema(
        arrow::FieldVector(normalized->fields().begin() + kBaseColumns, normalized->fields().end()));
    if (batches.empty()) continue;
    auto tbl = arrow::Table::FromRecordBatches(normalized, batches);
    if (!tbl.ok()) return Oom(tbl.status());
    auto live = (*tbl)->CombineChunksToBatch();
    if (!live.ok()) return Oom(live.status());
    ts.live = arrow::RecordBatch::Make(normalized, (*live)->num_rows(), (*live)->columns());
    const auto& ids = static_cast<const arrow::Int32Array&>(*ts.live->column(2));
    for (std::int64_t i = 0; i < ids.length(); ++i) entities_[ids.Value(i)] = EntityEntry{&ts, false};
    ts.entities = ids.length();
  }
  tick_ = rec.last_tick + 1;
  next_entity_id_ = rec.next_entity_id;
  last_committed_tick_ = rec.last_tick;
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------
// State checks and context

Status World::Context(Status st, const std::string& table, std::optional<std::int32_t> entity) const {
  if (st.ok()) return st;
  std::string ctx = " (world_id=" + world_id_ + ", run_id=" + run_id_ + ", tick=" + std::to_string(tick_);
  if (!table.empty()) ctx += ", table=" + table;
  if (entity) ctx += ", entity_id=" + std::to_string(*entity);
  ctx += ")";
  st.append_message(ctx);
  st.with_detail("world_id", world_id_).with_detail("run_id", run_id_);
  if (!st.detail("tick")) st.with_detail("tick", tick_);  // a partial tick names its own tick
  if (!table.empty() && !st.detail("table")) st.with_detail("table", table);
  if (entity && !st.detail("entity_id")) st.with_detail("entity_id", *entity);
  return st;
}

Status World::Poison(const Status& cause) {
  if (state_ != WorldState::kPoisonedPartialTick) state_ = WorldState::kPoisonedInternal;
  if (epoch_ && store_) store_->DiscardStaged();
  epoch_.reset();
  poison_cause_ = cause;
  return Context(cause);
}

void World::InternalCheckpoint() {
  // The fault plan's `internal` point: every state-changing call passes here once.
  if (faults_.ShouldFail(core::FaultPoint::kInternal))
    throw std::runtime_error("injected internal fault (fault plan fail:internal)");
  faults_.AfterSuccess(core::FaultPoint::kInternal);
}

Status World::RejectIfStepping() const {
  if (stepping_.load())
    return Error(Code::ARCT_ERR_MUTATION_DURING_STEP, "mutation while a step of this world is running");
  return Status::OK();
}

void World::PoisonInternal(const Status& cause) {
  std::lock_guard<std::mutex> lock(mu_);
  (void)Poison(cause);
}

Status World::PartialTickRefusal() const {
  // Every later refusal names the partially published tick (not the world's own tick, which
  // with k > 1 is already past it) and repeats the details of the original failure.
  Status st = Error(Code::ARCT_ERR_PARTIAL_TICK, "the world is poisoned by a partially published tick; reopen it");
  for (const auto& [k, v] : poison_cause_.details())
    if (k == "tick" || k == "committed_tables" || k == "committed_table_names" || k == "cause") st.with_detail(k, v);
  return Context(st);
}

Status World::CheckMutable() const {
  if (closed_) return Error(Code::ARCT_ERR_BAD_HANDLE, "the world is closed");
  if (state_ == WorldState::kPoisonedPartialTick)
    return PartialTickRefusal();
  if (state_ == WorldState::kPoisonedInternal)
    return Context(Error(Code::ARCT_ERR_WORLD_POISONED, "the world is poisoned by an earlier internal error: " +
                                                            poison_cause_.message()));
  if (epoch_ || stepping_.load())
    return Context(Error(Code::ARCT_ERR_MUTATION_DURING_STEP, "mutation while a step or split-step epoch is running"));
  return Status::OK();
}

Status World::CheckSteppable() const {
  if (closed_) return Error(Code::ARCT_ERR_BAD_HANDLE, "the world is closed");
  if (state_ == WorldState::kPoisonedPartialTick)
    return PartialTickRefusal();
  if (state_ == WorldState::kPoisonedInternal)
    return Context(Error(Code::ARCT_ERR_WORLD_POISONED, "the world is poisoned by an earlier internal error: " +
                                                            poison_cause_.message()));
  if (epoch_) return Context(Error(Code::ARCT_ERR_STEP_ALREADY_IN_FLIGHT, "a split-step epoch is open"));
  return Status::OK();
}

Result<World::TableState*> World::FindTable(const std::string& name) {
  auto it = tables_.find(name);
  if (it == tables_.end()) return Context(Error(Code::ARCT_ERR_UNKNOWN_TABLE, "table " + name + " is not registered"), name);
  return &it->second;
}

std::vector<World::TableState*> World::ActiveTables() {
  std::vector<TableState*> out;
  for (auto& [name, t] : tables_)
    if (t.active()) out.push_back(&t);
  return out;
}

WorldInfo World::info() const {
  std::lock_guard<std::mutex> lock(mu_);
  WorldInfo i;
  i.tick = tick_;
  i.next_entity_id = next_entity_id_;
  i.last_committed_tick = last_committed_tick_;
  i.state = epoch_ ? WorldState::kEpochOpen : state_;
  i.registered_entities = static_cast<std::int64_t>(entities_.size());
  for (const auto& [n, t] : tables_) i.live_rows += t.live ? t.live->num_rows() : 0;
  i.n_tables = static_cast<std::int32_t>(tables_.size());
  i.n_processors = static_cast<std::int32_t>(processors_.size());
  return i;
}

StoreCounters World::store_counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return store_ ? store_->counters() : StoreCounters{};
}

// ---------------------------------------------------------------------------------------------
// Tables and entities

Status World::RegisterTable(const std::string& name, const std::shared_ptr<arrow::Schema>& schema) {
  KILN_RETURN_NOT_OK(RejectIfStepping());
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&]() -> Status {
    KILN_RETURN_NOT_OK(CheckMutable());
    InternalCheckpoint();
    KILN_RETURN_NOT_OK(Context(ValidateTableName(name, "table"), name));
    auto normalized = NormalizeTableSchema(schema);
    if (!normalized.ok()) return Context(normalized.status(), name);
    auto it = tables_.find(name);
    if (it != tables_.end()) {
      if (SchemasEqual(*it->second.schema, **normalized)) return Status::OK();
      return Context(Error(Code::ARCT_ERR_TABLE_SCHEMA_CONFLICT, "table " + name + " is registered with schema " +
                                                                     it->second.schema->ToString() + "; got " +
                                                                     (*normalized)->ToString()),
                     name);
    }
    if (store_->is_parquet()) {
      auto stored = store_->StoredSchema(name);
      if (!stored.ok()) return Context(stored.status(), name);
      if (*stored && !SchemasEqual(**stored, **normalized)) {
        return Context(Error(Code::ARCT_ERR_TABLE_SCHEMA_CONFLICT,
                             "table " + name + " exists in the store with schema " + (*stored)->ToString()),
                       name);
      }
    }
    TableState& ts = tables_[name];
    ts.name = name;
    ts.schema = *normalized;
    ts.component_schema = arrow::schema(
        arrow::FieldVector((*normalized)->fields().begin() + kBaseColumns, (*normalized)->fields().end()));
    return Status::OK();
  });
}

Result<std::shared_ptr<arrow::Schema>> World::TableSchema(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tables_.find(name);
  if (it == tables_.end()) return Context(Error(Code::ARCT_ERR_UNKNOWN_TABLE, "table " + name + " is not registered"), name);
  return it->second.schema;
}

std::vector<std::string> World::Tables(bool active_only) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  if (active_only && epoch_) {
    for (const auto* t : epoch_->tables) out.push_back(t->name);
    return out;
  }
  for (const auto& [name, t] : tables_)
    if (!active_only || t.active()) out.push_back(name);
  return out;
}

Result<std::shared_ptr<arrow::RecordBatch>> World::Registry() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::int32_t> ids;
  ids.reserve(entities_.size());
  for (const auto& [id, e] : entities_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  arrow::Int32Builder idb;
  arrow::StringBuilder tb;
  arrow::BooleanBuilder sb;
  if (!idb.AppendValues(ids).ok()) return Error(Code::ARCT_ERR_OUT_OF_MEMORY, "registry");
  for (auto id : ids) {
    const auto& e = entities_.at(id);
    if (!tb.Append(e.table->name).ok() || !sb.Append(e.staged).ok()) return Error(Code::ARCT_ERR_OUT_OF_MEMORY, "registry");
  }
  std::shared_ptr<arrow::Array> a, b, c;
  if (!idb.Finish(&a).ok() || !tb.Finish(&b).ok() || !sb.Finish(&c).ok())
    return Error(Code::ARCT_ERR_OUT_OF_MEMORY, "registry");
  auto schema = arrow::schema({arrow::field("entity_id", arrow::int32(), false),
                               arrow::field("table", arrow::utf8(), false), arrow::field("staged", arrow::boolean(), false)});
  return arrow::RecordBatch::Make(schema, a->length(), {a, b, c});
}

Result<std::vector<std::int32_t>> World::Spawn(const std::string& table,
                                               const std::shared_ptr<arrow::RecordBatch>& batch) {
  KILN_RETURN_NOT_OK(RejectIfStepping());
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&]() -> Result<std::vector<std::int32_t>> {
    KILN_RETURN_NOT_OK(CheckMutable());
    InternalCheckpoint();
    KILN_ASSIGN_OR_RETURN(TableState * t, FindTable(table));
    auto rows = ConformComponentBatch(*t->schema, *batch, table);
    if (!rows.ok()) return Context(rows.status(), table);
    const std::int64_t n = (*rows)->num_rows();
    if (n > static_cast<std::int64_t>(INT32_MAX) - next_entity_id_ + 1)
      return Context(Error(Code::ARCT_ERR_ENTITY_IDS_EXHAUSTED,
                           "spawning " + std::to_string(n) + " entities would pass entity id 2^31-1"),
                     table);
    std::vector<std::int32_t> ids(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) ids[i] = next_entity_id_ + static_cast<std::int32_t>(i);
    if (n == 0) return ids;
    entities_.reserve(entities_.size() + static_cast<std::size_t>(n));
    t->staged.Stage(*rows, ids.data(), n);
    for (auto id : ids) entities_[id] = EntityEntry{t, true};
    t->entities += n;
    next_entity_id_ += static_cast<std::int32_t>(n);
    return ids;
  });
}

Status World::SpawnWithIds(const std::string& table, const std::shared_ptr<arrow::RecordBatch>& batch,
                           const std::int32_t* ids, std::int64_t n) {
  KILN_RETURN_NOT_OK(RejectIfStepping());
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&]() -> Status {
    KILN_RETURN_NOT_OK(CheckMutable());
    InternalCheckpoint();
    KILN_ASSIGN_OR_RETURN(TableState * t, FindTable(table));
    auto rows = ConformComponentBatch(*t->schema, *batch, table);
    if (!rows.ok()) return Context(rows.status(), table);
    if ((*rows)->num_rows() != n)
      return Context(Error(Code::ARCT_ERR_ROW_COUNT, "batch rows != number of ids: expected " + std::to_string(n) +
                                                         ", actual " + std::to_string((*rows)->num_rows()))
                         .with_detail("expected", n)
                         .with_detail("actual", (*rows)->num_rows()),
                     table);
    for (std::int64_t i = 0; i < n; ++i) {
      if (ids[i] <= 0)
        return Context(Error(Code::ARCT_ERR_INVALID_ENTITY_ID, "entity id " + std::to_string(ids[i]) +
                                                                   " cannot be spawned (ids must be >= 1)"),
                       table, ids[i]);
    }
    for (std::int64_t i = 0; i < n; ++i) {
      auto it = entities_.find(ids[i]);
      if (it != entities_.end() && !it->second.staged)
        return Context(Error(Code::ARCT_ERR_ENTITY_EXISTS, "entity " + std::to_string(ids[i]) +
                                                               " is live; use update or migrate instead"),
                       table, ids[i]);
    }
    // Validated: now stage. An id staged in another table moves here (appended at the end).
    for (std::int64_t i = 0; i < n; ++i) {
      auto it = entities_.find(ids[i]);
      if (it != entities_.end() && it->second.table != t) {
        it->second.table->staged.Remove(ids[i]);
        it->second.table->entities -= 1;
        entities_.erase(it);
      }
    }
    t->staged.Stage(*rows, ids, n);
    std::int32_t max_id = next_entity_id_ - 1;
    for (std::int64_t i = 0; i < n; ++i) {
      auto [it, inserted] = entities_.try_emplace(ids[i], EntityEntry{t, true});
      if (inserted) t->entities += 1;
      max_id = std::max(max_id, ids[i]);
    }
    // The counter passes every explicit id; at INT32_MAX it stays there and auto spawns report 255.
    next_entity_id_ = max_id == INT32_MAX ? INT32_MAX : std::max(next_entity_id_, max_id + 1);
    if (max_id == INT32_MAX) next_entity_id_ = INT32_MAX;
    return Status::OK();
  });
}

Result<std::int32_t> World::ReserveIds(std::int32_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&]() -> Result<std::int32_t> {
    if (closed_) return Error(Code::ARCT_ERR_BAD_HANDLE, "the world is closed");
    if (state_ == WorldState::kPoisonedPartialTick)
      return PartialTickRefusal();
    if (state_ == WorldState::kPoisonedInternal)
      return Context(Error(Code::ARCT_ERR_WORLD_POISONED, "the world is poisoned by an earlier internal error"));
    InternalCheckpoint();
    if (n < 1) return Context(Error(Code::ARCT_ERR_INVALID_ARGUMENT, "reserve_ids needs n >= 1, got " + std::to_string(n)));
    if (static_cast<std::int64_t>(n) > static_cast<std::int64_t>(INT32_MAX) - next_entity_id_ + 1)
      return Context(Error(Code::ARCT_ERR_ENTITY_IDS_EXHAUSTED,
                           "reserving " + std::to_string(n) + " ids would pass entity id 2^31-1"));
    std::int32_t first = next_entity_id_;
    next_entity_id_ += n;
    return first;
  });
}

Status World::Despawn(const std::int32_t* ids, std::int64_t n) {
  KILN_RETURN_NOT_OK(RejectIfStepping());
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&]() -> Status {
    KILN_RETURN_NOT_OK(CheckMutable());
    InternalCheckpoint();
    for (std::int64_t i = 0; i < n; ++i) {
      if (!entities_.count(ids[i]))
        return Context(Error(Code::ARCT_ERR_UNKNOWN_ENTITY, "entity " + std::to_string(ids[i]) + " is not registered"),
                       {}, ids[i]);
    }
    for (std::int64_t i = 0; i < n; ++i) {
      auto it = entities_.find(ids[i]);
      if (it == entities_.end()) continue;  // duplicate inside the call
      TableState* t = it->second.table;
      if (it->second.staged) {
        t->staged.Remove(ids[i]);
      } else {
        t->despawns.insert(ids[i]);
      }
      t->entities -= 1;
      entities_.erase(it);
    }
    return Status::OK();
  });
}

Status World::Migrate(const std::string& table, const std::shared_ptr<arrow::RecordBatch>& batch,
                      const std::int32_t* ids, std::int64_t n) {
  KILN_RETURN_NOT_OK(RejectIfStepping());
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&]() -> Status {
    KILN_RETURN_NOT_OK(CheckMutable());
    InternalCheckpoint();
    KILN_ASSIGN_OR_RETURN(TableState * t, FindTable(table));
    auto rows = ConformComponentBatch(*t->schema, *batch, table);
    if (!rows.ok()) return Context(rows.status(), table);
    if ((*rows)->num_rows() != n)
      return Context(Error(Code::ARCT_ERR_ROW_COUNT, "batch rows != number of ids: expected " + std::to_string(n) +
                                                         ", actual " + std::to_string((*rows)->num_rows()))
                         .with_detail("expected", n)
                         .with_detail("actual", (*rows)->num_rows()),
                     table);
    std::unordered_set<std::int32_t> seen;
    for (std::int64_t i = 0; i < n; ++i) {
      if (!entities_.count(ids[i]))
        return Context(Error(Code::ARCT_ERR_UNKNOWN_ENTITY, "entity " + std::to_string(ids[i]) + " is not registered"),
                       table, ids[i]);
      if (!seen.insert(ids[i]).second)
        return Context(Error(Code::ARCT_ERR_INVALID_ARGUMENT,
                             "entity " + std::to_string(ids[i]) + " appears twice in one migrate call"),
                       table, ids[i]);
    }
    for (std::int64_t i = 0; i < n; ++i) {
      EntityEntry& e = entities_.at(ids[i]);
      if (e.staged) {
        e.table->staged.Remove(ids[i]);
      } else {
        e.table->despawns.insert(ids[i]);
      }
      e.table->entities -= 1;
      e.table = t;
      e.staged = true;
      t->entities += 1;
    }
    t->staged.Stage(*rows, ids, n);
    return Status::OK();
  });
}

// ---------------------------------------------------------------------------------------------
// Processors

Result<std::int32_t> World::AddMovement(double dt, std::int32_t priority) {
  KILN_RETURN_NOT_OK(RejectIfStepping());
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&]() -> Result<std::int32_t> {
    KILN_RETURN_NOT_OK(CheckMutable());
    InternalCheckpoint();
    auto m = Movement::Make(dt, priority);
    if (!m.ok()) return Context(m.status());
    std::int32_t id = next_processor_id_++;
    processors_.push_back(ProcessorEntry{id, std::move(*m)});
    return id;
  });
}

Result<std::int32_t> World::AddFormula(const std::string& name,
                                      const std::vector<std::pair<std::string, std::string>>& rules,
                                      const std::vector<std::pair<std::string, double>>& params, std::int32_t priority,
                                      bool strict) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&]() -> Result<std::int32_t> {
    KILN_RETURN_NOT_OK(CheckMutable());
    InternalCheckpoint();
    auto f = FormulaProcessor::Make(name, rules, params, priority, strict ? formula::Mode::strict : formula::Mode::ieee);
    if (!f.ok()) return Context(f.status());
    std::int32_t id = next_processor_id_++;
    processors_.push_back(ProcessorEntry{id, std::move(*f)});
    return id;
  });
}

Status World::RemoveProcessor(std::int32_t id) {
  KILN_RETURN_NOT_OK(RejectIfStepping());
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&]() -> Status {
    KILN_RETURN_NOT_OK(CheckMutable());
    InternalCheckpoint();
    auto it = std::find_if(processors_.begin(), processors_.end(), [&](const auto& p) { return p.id == id; });
    if (it == processors_.end())
      return Context(Error(Code::ARCT_ERR_UNKNOWN_PROCESSOR, "processor " + std::to_string(id) + " is not registered"));
    processors_.erase(it);
    return Status::OK();
  });
}

Result<std::shared_ptr<arrow::RecordBatch>> World::RunProcessor(std::int32_t id, const std::string& table,
                                                                const std::shared_ptr<arrow::RecordBatch>& batch) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&]() -> Result<std::shared_ptr<arrow::RecordBatch>> {
    auto it = std::find_if(processors_.begin(), processors_.end(), [&](const auto& p) { return p.id == id; });
    if (it == processors_.end())
      return Context(Error(Code::ARCT_ERR_UNKNOWN_PROCESSOR, "processor " + std::to_string(id) + " is not registered"), table);
    ProcessContext ctx{world_id_, run_id_, epoch_ ? epoch_->tick : tick_, table};
    auto out = it->processor->Process(batch, ctx);
    if (!out.ok()) return Context(out.status(), table);
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// Stepping

Result<std::shared_ptr<arrow::RecordBatch>> World::PriorWithDespawns(TableState& t, TableProfile& p) {
  double t0 = Now();
  std::shared_ptr<arrow::RecordBatch> prior = t.live;
  if (!prior) {
    // No snapshot means no active rows at tick - 1 (§4): the prior is empty, no store read.
    KILN_ASSIGN_OR_RETURN(prior, EmptyBatch(t.schema));
  }
  p.read_prior_sec += Now() - t0;
  if (t.despawns.empty() || prior->num_rows() == 0) return prior;
  double t1 = Now();
  const auto& ids = static_cast<const arrow::Int32Array&>(*prior->column(2));
  const auto& active = static_cast<const arrow::BooleanArray&>(*prior->column(4));
  arrow::BooleanBuilder b;
  if (!b.Reserve(prior->num_rows()).ok()) return Error(Code::ARCT_ERR_OUT_OF_MEMORY, "despawn mask");
  for (std::int64_t i = 0; i < prior->num_rows(); ++i)
    b.UnsafeAppend(active.Value(i) && !t.despawns.count(ids.Value(i)));
  std::shared_ptr<arrow::Array> flags;
  if (!b.Finish(&flags).ok()) return Error(Code::ARCT_ERR_OUT_OF_MEMORY, "despawn mask");
  auto cols = prior->columns();
  cols[4] = flags;
  p.materialize_sec += Now() - t1;
  return arrow::RecordBatch::Make(t.schema, prior->num_rows(), std::move(cols));
}

Result<std::shared_ptr<arrow::RecordBatch>> World::RunChain(TableState& t, std::shared_ptr<arrow::RecordBatch> batch,
                                                            std::int32_t tick, TableProfile& p) {
  if (batch->num_rows() == 0) return batch;  // processors are never called with 0 rows [D6]
  double t0 = Now();
  std::vector<const ProcessorEntry*> chain;
  for (const auto& e : processors_)
    if (e.processor->Matches(*t.schema)) chain.push_back(&e);
  std::stable_sort(chain.begin(), chain.end(),
                   [](const auto* a, const auto* b) { return a->processor->priority() < b->processor->priority(); });
  ProcessContext ctx{world_id_, run_id_, tick, t.name};
  for (const auto* e : chain) {
    auto out = e->processor->Process(batch, ctx);
    if (!out.ok()) {
      Status st = out.status();
      st.with_detail("processor", e->processor->name());
      return Context(st, t.name);
    }
    batch = *out;
  }
  p.process_sec += Now() - t0;
  return batch;
}

Result<World::Prepared> World::Finish(TableState& t, const std::shared_ptr<arrow::RecordBatch>& processed,
                                      std::int32_t tick, TableProfile p) {
  double t0 = Now();
  // Most ticks stage no spawns: skip materialising (and allocating) an empty spawn batch.
  SpawnBuffer::Rows spawns;
  if (!t.staged.empty()) {
    KILN_ASSIGN_OR_RETURN(spawns, t.staged.Materialize(t.component_schema));
  }
  const std::int64_t n_prior = processed->num_rows();
  const std::int64_t n_spawn = spawns.components ? spawns.components->num_rows() : 0;
  const std::int64_t n = n_prior + n_spawn;
  p.rows_in = n_prior;
  arrow::ArrayVector cols(static_cast<std::size_t>(t.schema->num_fields()));
  KILN_ASSIGN_OR_RETURN(cols[0], stamps_.WorldIds(n));
  KILN_ASSIGN_OR_RETURN(cols[1], stamps_.RunIds(n));
  KILN_ASSIGN_OR_RETURN(cols[2], Concat(processed->column(2), spawns.ids));
  KILN_ASSIGN_OR_RETURN(cols[3], stamps_.Ticks(tick, n));
  // is_active: reuse the all-true constant when nothing was tombstoned.
  const auto& prior_active = static_cast<const arrow::BooleanArray&>(*processed->column(4));
  bool all_active = prior_active.true_count() == n_prior;
  if (all_active) {
    KILN_ASSIGN_OR_RETURN(cols[4], stamps_.AllTrue(n));
  } else {
    KILN_ASSIGN_OR_RETURN(auto trues, stamps_.AllTrue(n_spawn));
    KILN_ASSIGN_OR_RETURN(cols[4], Concat(processed->column(4), trues));
  }
  for (int i = kBaseColumns; i < t.schema->num_fields(); ++i) {
    KILN_ASSIGN_OR_RETURN(cols[i], Concat(processed->column(i), spawns.components
                                                                    ? spawns.components->column(i - kBaseColumns)
                                                                    : nullptr));
  }
  Prepared out;
  out.table = &t;
  out.stamped = arrow::RecordBatch::Make(t.schema, n, std::move(cols));
  p.append_sec += Now() - t0;
  double t1 = Now();
  if (n == 0) {
    out.snapshot = nullptr;
  } else if (all_active) {
    out.snapshot = out.stamped;  // zero copy: every row is active
  } else {
    arrow::compute::ExecContext exec(core::ColumnPool());
    auto filtered = arrow::compute::Filter(out.stamped, out.stamped->column(4), arrow::compute::FilterOptions::Defaults(), &exec);
    if (!filtered.ok()) return Oom(filtered.status());
    out.snapshot = filtered->record_batch();
    if (out.snapshot->num_rows() == 0) out.snapshot = nullptr;
  }
  p.live_snapshot_sec += Now() - t1;
  p.rows_out = n;
  p.table = t.name;
  out.profile = std::move(p);
  return out;
}

void World::Finalize(std::int32_t tick, std::vector<Prepared>& prepared, StepProfile* profile) {
  for (auto& pr : prepared) {
    TableState& t = *pr.table;
    t.live = pr.snapshot;
    for (auto id : t.staged.Ids()) {
      auto it = entities_.find(id);
      if (it != entities_.end()) it->second.staged = false;
    }
    t.staged.Clear();
    t.despawns.clear();
    profile->rows_written += pr.stamped->num_rows();
    profile->read_prior_sec += pr.profile.read_prior_sec;
    profile->materialize_sec += pr.profile.materialize_sec;
    profile->process_sec += pr.profile.process_sec;
    profile->append_sec += pr.profile.append_sec;
    profile->live_snapshot_sec += pr.profile.live_snapshot_sec;
    profile->tables.push_back(pr.profile);
  }
  tick_ = tick + 1;
}

Result<StepProfile> World::CommitPrepared(std::int32_t tick, std::vector<Prepared> prepared, double started) {
  StepProfile profile;
  profile.tick = tick;
  profile.n_tables = static_cast<std::int32_t>(prepared.size());
  std::vector<TickBatch> batches;
  std::vector<std::string> live_tables;
  for (auto& pr : prepared) {
    if (pr.stamped->num_rows() > 0) batches.push_back(TickBatch{pr.table->name, pr.stamped});
    if (pr.snapshot) live_tables.push_back(pr.table->name);
  }
  // Tables with live rows that were not active this tick keep their snapshot; list them too.
  for (auto& entry : tables_) {
    const TableState* t = &entry.second;
    bool in_step = std::any_of(prepared.begin(), prepared.end(), [t](const Prepared& p) { return p.table == t; });
    if (!in_step && t->live) live_tables.push_back(entry.first);
  }
  std::sort(live_tables.begin(), live_tables.end());
  const std::int64_t reads_before = store_->counters().reads;
  double t0 = Now();
  CommitResult result = store_->CommitTick(tick, std::move(batches), next_entity_id_, live_tables);
  profile.commit_sec = Now() - t0;
  if (result.kind == CommitResult::Kind::kNothingVisible) return Context(result.status);
  if (result.kind == CommitResult::Kind::kPartial) {
    // The tick is committed (its record exists; recovery rolls it forward) but this in-memory
    // world no longer matches a clean state. With k > 1 the tick had completed before its
    // flush failed, so it is finalized like any completed tick before the world is poisoned.
    last_committed_tick_ = tick;
    if (result.tick_completed) Finalize(tick, prepared, &profile);
    state_ = WorldState::kPoisonedPartialTick;
    Status st = Error(Code::ARCT_ERR_PARTIAL_TICK,
                      "tick " + std::to_string(tick) + " was published partially (" +
                          std::to_string(result.committed_tables.size()) + " table(s) visible): " +
                          result.status.message());
    std::string tables;
    for (const auto& name : result.committed_tables) tables += (tables.empty() ? "" : ",") + name;
    st.with_detail("tick", tick)
        .with_detail("committed_tables", static_cast<std::int64_t>(result.committed_tables.size()))
        .with_detail("committed_table_names", tables)
        .with_detail("cause", result.status.message());
    poison_cause_ = st;
    return Context(st);
  }
  Finalize(tick, prepared, &profile);
  if (result.kind == CommitResult::Kind::kCommitted && !store_->HasPending()) last_committed_tick_ = tick;
  profile.store_reads = store_->counters().reads - reads_before;
  profile.tick_sec = Now() - started;
  last_table_profiles_ = profile.tables;
  if (result.kind == CommitResult::Kind::kPendingKept) return Context(result.status);
  return profile;
}

Result<StepProfile> World::StepLocked() {
  KILN_RETURN_NOT_OK(CheckSteppable());
  double started = Now();
  const std::int32_t t = tick_;
  std::vector<Prepared> prepared;
  for (TableState* ts : ActiveTables()) {
    TableProfile p;
    double t0 = Now();
    KILN_ASSIGN_OR_RETURN(auto prior, PriorWithDespawns(*ts, p));
    KILN_ASSIGN_OR_RETURN(auto processed, RunChain(*ts, prior, t, p));
    KILN_ASSIGN_OR_RETURN(auto pr, Finish(*ts, processed, t, p));
    pr.profile.table_sec = Now() - t0;
    prepared.push_back(std::move(pr));
  }
  return CommitPrepared(t, std::move(prepared), started);
}

Result<StepProfile> World::Step() {
  std::lock_guard<std::mutex> lock(mu_);
  stepping_ = true;
  auto out = Guarded([&]() -> Result<StepProfile> {
    KILN_RETURN_NOT_OK(CheckSteppable());
    InternalCheckpoint();
    KILN_RETURN_NOT_OK(RetryFailedFlush());
    return StepLocked();
  });
  stepping_ = false;
  return out;
}

Status World::Run(std::int32_t n, std::int32_t* ticks_done, StepProfile* total) {
  if (ticks_done) *ticks_done = 0;
  if (n < 0) return Context(Error(Code::ARCT_ERR_INVALID_ARGUMENT, "run needs n >= 0, got " + std::to_string(n)));
  for (std::int32_t i = 0; i < n; ++i) {
    auto r = Step();
    if (!r.ok()) {
      Status st = r.status();
      st.with_detail("ticks_completed", i);
      return st;
    }
    if (ticks_done) *ticks_done = i + 1;
    if (total) {
      total->tick = r->tick;
      total->n_tables += r->n_tables;
      total->rows_written += r->rows_written;
      total->store_reads += r->store_reads;
      total->read_prior_sec += r->read_prior_sec;
      total->materialize_sec += r->materialize_sec;
      total->process_sec += r->process_sec;
      total->append_sec += r->append_sec;
      total->live_snapshot_sec += r->live_snapshot_sec;
      total->commit_sec += r->commit_sec;
      total->tick_sec += r->tick_sec;
    }
  }
  return Status::OK();
}

Result<std::shared_ptr<arrow::RecordBatch>> World::StepBegin(const std::string& table) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&]() -> Result<std::shared_ptr<arrow::RecordBatch>> {
    if (!epoch_) KILN_RETURN_NOT_OK(CheckSteppable());
    InternalCheckpoint();
    if (!epoch_) KILN_RETURN_NOT_OK(RetryFailedFlush());
    KILN_ASSIGN_OR_RETURN(TableState * t, FindTable(table));
    if (!epoch_) {
      Epoch e;
      e.tick = tick_;
      e.tables = ActiveTables();
      bool member = std::find(e.tables.begin(), e.tables.end(), t) != e.tables.end();
      if (!member) return Context(Error(Code::ARCT_ERR_TABLE_NOT_ACTIVE, "table " + table + " is not active this tick"), table);
      epoch_ = std::move(e);
    } else {
      bool member = std::find(epoch_->tables.begin(), epoch_->tables.end(), t) != epoch_->tables.end();
      if (!member) return Context(Error(Code::ARCT_ERR_TABLE_NOT_ACTIVE, "table " + table + " is not in this epoch's active set"), table);
      if (epoch_->inputs.count(table) || epoch_->committed.count(table))
        return Context(Error(Code::ARCT_ERR_STEP_ALREADY_IN_FLIGHT, "table " + table + " was already begun in this epoch"), table);
    }
    TableProfile p;
    KILN_ASSIGN_OR_RETURN(auto input, PriorWithDespawns(*t, p));
    epoch_->inputs[table] = input;
    return input;
  });
}

Status World::CheckInFlight(const std::string& table) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!epoch_) return Context(Error(Code::ARCT_ERR_NO_STEP_IN_FLIGHT, "no split-step epoch is open"), table);
  if (!epoch_->inputs.count(table))
    return Context(Error(Code::ARCT_ERR_STEP_TABLE_MISMATCH, "table " + table + " is not in flight in this epoch"), table);
  return Status::OK();
}

Result<std::optional<StepProfile>> World::StepCommit(const std::string& table,
                                                     const std::shared_ptr<arrow::RecordBatch>& processed) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&]() -> Result<std::optional<StepProfile>> {
    if (!epoch_) return Context(Error(Code::ARCT_ERR_NO_STEP_IN_FLIGHT, "no split-step epoch is open"), table);
    auto it = epoch_->inputs.find(table);
    if (it == epoch_->inputs.end())
      return Context(Error(Code::ARCT_ERR_STEP_TABLE_MISMATCH, "table " + table + " is not in flight in this epoch"), table);
    InternalCheckpoint();
    TableState* t = &tables_.at(table);
    auto checked = CheckProcessedBatch(t->schema, *it->second, *processed, "split-step commit");
    if (!checked.ok()) {
      store_->DiscardStaged();
      epoch_.reset();  // a contract violation fails the whole epoch, like abort
      return Context(checked.status(), table);
    }
    TableProfile p;
    auto prepared = Finish(*t, *checked, epoch_->tick, p);
    if (!prepared.ok()) {
      store_->DiscardStaged();
      epoch_.reset();
      return Context(prepared.status(), table);
    }
    // §7.6: the batch is staged in the epoch's store transaction now, not when the epoch ends.
    if (prepared->stamped->num_rows() > 0) {
      Status staged = store_->StageForEpoch(epoch_->tick, TickBatch{table, prepared->stamped});
      if (!staged.ok()) {
        store_->DiscardStaged();
        epoch_.reset();
        return Context(staged, table);
      }
    }
    epoch_->inputs.erase(it);
    epoch_->committed.emplace(table, std::move(*prepared));
    if (epoch_->committed.size() < epoch_->tables.size()) return std::optional<StepProfile>();
    std::vector<Prepared> all;
    for (TableState* ts : epoch_->tables) all.push_back(std::move(epoch_->committed.at(ts->name)));
    std::int32_t tick = epoch_->tick;
    epoch_.reset();
    KILN_ASSIGN_OR_RETURN(auto profile, CommitPrepared(tick, std::move(all), Now()));
    return std::optional<StepProfile>(std::move(profile));
  });
}

Status World::StepAbort(const std::string& table) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&]() -> Status {
    if (!epoch_) return Context(Error(Code::ARCT_ERR_NO_STEP_IN_FLIGHT, "no split-step epoch is open"), table);
    auto it = tables_.find(table);
    bool member = it != tables_.end() &&
                  std::find(epoch_->tables.begin(), epoch_->tables.end(), &it->second) != epoch_->tables.end();
    if (!member)
      return Context(Error(Code::ARCT_ERR_STEP_TABLE_MISMATCH, "table " + table + " is not in this epoch"), table);
    store_->DiscardStaged();
    epoch_.reset();  // nothing was consumed, so nothing needs restoring
    return Status::OK();
  });
}

// ---------------------------------------------------------------------------------------------
// Reads

Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> World::Query(const std::string& table, Source source,
                                                                      const ReadFilter& filter,
                                                                      std::shared_ptr<arrow::Schema>* schema_out) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&]() -> Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> {
    if (closed_) return Error(Code::ARCT_ERR_BAD_HANDLE, "the world is closed");
    std::vector<std::shared_ptr<arrow::RecordBatch>> out;
    auto it = tables_.find(table);
    std::shared_ptr<arrow::Schema> schema = it != tables_.end() ? it->second.schema : nullptr;
    if (!schema) {
      if (source != Source::kLedger || !store_->HasTable(table))
        return Context(Error(Code::ARCT_ERR_UNKNOWN_TABLE, "table " + table + " is not registered"), table);
      KILN_ASSIGN_OR_RETURN(schema, store_->StoredSchema(table));
    }
    if (schema_out) *schema_out = schema;
    bool foreign = (filter.world_id && *filter.world_id != world_id_) || (filter.run_id && *filter.run_id != run_id_);
    if (source == Source::kLedger) {
      auto r = store_->Read(table, schema, filter);
      if (!r.ok()) return Context(r.status(), table);
      return r;
    }
    if (foreign) return out;
    std::shared_ptr<arrow::RecordBatch> batch;
    if (source == Source::kLive) {
      batch = it->second.live;
    } else {
      TableProfile p;
      TableState& t = it->second;
      KILN_ASSIGN_OR_RETURN(auto spawns, t.staged.Materialize(t.component_schema));
      const std::int64_t n = spawns.components->num_rows();
      arrow::ArrayVector cols(static_cast<std::size_t>(t.schema->num_fields()));
      KILN_ASSIGN_OR_RETURN(cols[0], stamps_.WorldIds(n));
      KILN_ASSIGN_OR_RETURN(cols[1], stamps_.RunIds(n));
      cols[2] = spawns.ids;
      KILN_ASSIGN_OR_RETURN(cols[3], stamps_.Ticks(epoch_ ? epoch_->tick : tick_, n));
      KILN_ASSIGN_OR_RETURN(cols[4], stamps_.AllTrue(n));
      for (int i = kBaseColumns; i < t.schema->num_fields(); ++i) cols[i] = spawns.components->column(i - kBaseColumns);
      batch = arrow::RecordBatch::Make(t.schema, n, std::move(cols));
    }
    if (!batch || batch->num_rows() == 0) return out;
    KILN_ASSIGN_OR_RETURN(auto filtered, FilterBatch(batch, filter, false, world_id_, run_id_));
    if (filtered->num_rows() > 0) out.push_back(std::move(filtered));
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

Status World::Flush() {
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&]() -> Status {
    if (closed_) return Status::OK();
    if (epoch_) return Context(Error(Code::ARCT_ERR_STEP_ALREADY_IN_FLIGHT, "a split-step epoch is open"));
    // A world poisoned by an internal error still writes the ticks it completed (only changes are
    // refused, §3.8); after a partial tick the store holds nothing more to write.
    return FlushLocked();
  });
}

Status World::RetryFailedFlush() {
  // k > 1 and the flush of an earlier step failed: retry it before anything else (§5.7).
  if (!store_->flush_failed()) return Status::OK();
  return FlushLocked();
}

Status World::FlushLocked() {
  if (state_ == WorldState::kPoisonedPartialTick) return Status::OK();
  bool had = store_->HasPending();
  Status st = store_->FlushPending();
  if (st.code() == code(Code::ARCT_ERR_PARTIAL_TICK)) {
    state_ = WorldState::kPoisonedPartialTick;
    st.with_detail("tick", tick_ - 1);  // the flush's last tick is the partially published one
    poison_cause_ = st;
    last_committed_tick_ = tick_ - 1;  // the flush's record exists: its ticks are committed
  }
  if (st.ok() && had) last_committed_tick_ = tick_ - 1;
  return Context(st);
}

Status World::Close(bool discard_unflushed) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&]() -> Status {
    if (closed_) return Status::OK();
    if (epoch_ && !discard_unflushed)
      return Context(Error(Code::ARCT_ERR_WORLD_BUSY, "cannot close while a split-step epoch is open"));
    if (epoch_) store_->DiscardStaged();
    epoch_.reset();
    // discard: unflushed ticks are dropped without writing them (Python's close(discard=True)).
    if (!discard_unflushed) KILN_RETURN_NOT_OK(FlushLocked());
    store_->DiscardPending();
    store_.reset();  // releases the writer lock
    parquet_ = nullptr;
    closed_ = true;
    return Status::OK();
  });
}

Status World::SetFaultPlan(std::string_view plan) {
  std::lock_guard<std::mutex> lock(mu_);
  auto parsed = core::FaultPlan::Parse(plan, code(Code::ARCT_ERR_INVALID_ARGUMENT));
  if (!parsed.ok()) return parsed.status();
  faults_ = std::move(*parsed);
  return Status::OK();
}

}  // namespace kiln::world
