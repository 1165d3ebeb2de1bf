#include "kiln/world/parquet_store.h"

#include <arrow/array.h>
#include <arrow/io/file.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>
#include <parquet/arrow/reader.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>
#include <parquet/statistics.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "kiln/world/names.h"

namespace kiln::world {
namespace {

using core::errors::Code;

/// Maps a core part-store status onto the world's store codes (§5.1).
Status MapStoreStatus(const Status& st, Code io_code) {
  if (st.ok()) return st;
  Code mapped = io_code;
  switch (static_cast<Code>(st.code())) {
    case Code::CORE_STORE_OPEN: mapped = Code::ARCT_ERR_STORE_OPEN; break;
    case Code::CORE_STORE_LOCKED: mapped = Code::ARCT_ERR_STORE_LOCKED; break;
    case Code::CORE_STORE_CORRUPT: mapped = Code::ARCT_ERR_STORE_CORRUPT; break;
    case Code::CORE_OUT_OF_MEMORY: mapped = Code::ARCT_ERR_OUT_OF_MEMORY; break;
    default: break;
  }
  Status out(code(mapped), st.message());
  for (const auto& [k, v] : st.details()) out.with_detail(k, v);
  return out;
}

std::string NowRfc3339() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];  // sized for any int fields, so the format cannot truncate
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

Status ReadError(const std::string& path, const arrow::Status& st) {
  if (st.IsOutOfMemory()) return Error(Code::ARCT_ERR_OUT_OF_MEMORY, st.message());
  return Error(Code::ARCT_ERR_STORE_READ, "cannot read part " + path + ": " + st.message()).with_detail("path", path);
}

template <class T>
void MinMax(const arrow::Int32Array& a, std::optional<T>* lo, std::optional<T>* hi) {
  if (a.length() == 0) return;
  const std::int32_t* v = a.raw_values();
  std::int32_t mn = v[0], mx = v[0];
  for (std::int64_t i = 1; i < a.length(); ++i) {
    mn = std::min(mn, v[i]);
    mx = std::max(mx, v[i]);
  }
  *lo = mn;
  *hi = mx;
}

}  // namespace

Result<std::unique_ptr<ParquetStore>> ParquetStore::Open(const ParquetStoreOptions& options, std::string world_id,
                                                         std::string run_id, core::FaultPlan* faults) {
  std::unique_ptr<ParquetStore> store(new ParquetStore());
  store->options_ = options;
  store->world_id_ = std::move(world_id);
  store->run_id_ = std::move(run_id);
  store->world_key_ = WorldKey(store->world_id_, store->run_id_);
  store->faults_ = faults;
  auto parts = core::PartStore::Open(options.root, options.ns, store->world_key_, options.durability, faults);
  if (!parts.ok()) return MapStoreStatus(parts.status(), Code::ARCT_ERR_STORE_OPEN);
  store->parts_ = std::move(*parts);
  return store;
}

CommitResult ParquetStore::CommitTick(std::int32_t tick, std::vector<TickBatch> batches, std::int32_t next_entity_id,
                                      std::vector<std::string> live_tables) {
  CommitResult out;
  for (auto& tb : batches) pending_[tb.table].push_back(std::move(tb.batch));
  pending_ticks_.push_back(tick);
  pending_next_entity_id_ = next_entity_id;
  pending_live_tables_ = std::move(live_tables);
  if (static_cast<std::int32_t>(pending_ticks_.size()) < options_.flush_every_ticks) return out;
  Status st = Flush(tick, &out);
  if (st.ok()) return out;
  out.status = st;
  if (out.kind == CommitResult::Kind::kPartial) {
    // k = 1: the tick did not complete, so nothing of it is readable; k > 1: the flushed ticks
    // had completed and stay readable from memory (Flush froze the pending buffer).
    out.tick_completed = options_.flush_every_ticks > 1;
    if (!out.tick_completed) DiscardPending();
    return out;
  }
  if (options_.flush_every_ticks > 1) {
    flush_failed_ = true;
    out.kind = CommitResult::Kind::kPendingKept;
  } else {
    // k = 1: the tick did not happen; take it back out of the pending buffer.
    DiscardPending();
    out.kind = CommitResult::Kind::kNothingVisible;
  }
  return out;
}

Status ParquetStore::FlushPending() {
  if (pending_ticks_.empty() || pending_frozen_) return Status::OK();
  CommitResult result;
  Status st = Flush(pending_ticks_.back(), &result);
  flush_failed_ = !st.ok() && result.kind != CommitResult::Kind::kPartial;
  if (!st.ok() && result.kind == CommitResult::Kind::kPartial) {
    return Error(Code::ARCT_ERR_PARTIAL_TICK, st.message());
  }
  return st;
}

void ParquetStore::DiscardPending() {
  flush_failed_ = false;
  pending_.clear();
  pending_ticks_.clear();
}

Result<ParquetStore::StagedTable> ParquetStore::StageTable(const std::string& table,
                                                         const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches) {
  auto tbl = arrow::Table::FromRecordBatches(batches.front()->schema(), batches);
  if (!tbl.ok()) return Error(Code::ARCT_ERR_STORE_APPEND, tbl.status().message());
  auto part = parts_->Stage(table, **tbl, options_.writer);
  if (!part.ok()) return MapStoreStatus(part.status(), Code::ARCT_ERR_STORE_APPEND);
  StagedTable out;
  out.part = std::move(*part);
  // Index entry from what we wrote, so later reads need not open the footer.
  std::int64_t offset = 0;
  const std::int64_t total = (*tbl)->num_rows();
  while (offset < total) {
    std::int64_t len = std::min(options_.writer.max_row_group_length, total - offset);
    RowGroupMeta rg;
    rg.rows = len;
    rg.world_id = world_id_;
    rg.run_id = run_id_;
    auto slice = (*tbl)->Slice(offset, len);
    for (const auto& chunk : slice->column(3)->chunks()) {
      std::optional<std::int32_t> lo, hi;
      MinMax(static_cast<const arrow::Int32Array&>(*chunk), &lo, &hi);
      if (lo) {
        rg.min_tick = rg.min_tick ? std::min(*rg.min_tick, *lo) : *lo;
        rg.max_tick = rg.max_tick ? std::max(*rg.max_tick, *hi) : *hi;
      }
    }
    for (const auto& chunk : slice->column(2)->chunks()) {
      std::optional<std::int32_t> lo, hi;
      MinMax(static_cast<const arrow::Int32Array&>(*chunk), &lo, &hi);
      if (lo) {
        rg.min_entity = rg.min_entity ? std::min(*rg.min_entity, *lo) : *lo;
        rg.max_entity = rg.max_entity ? std::max(*rg.max_entity, *hi) : *hi;
      }
    }
    out.meta.row_groups.push_back(rg);
    offset += len;
  }
  return out;
}

Status ParquetStore::StageForEpoch(std::int32_t /*tick*/, const TickBatch& batch) {
  // With k > 1 the batch only joins the pending buffer at commit; staging happens at the flush.
  if (options_.flush_every_ticks > 1) return Status::OK();
  KILN_ASSIGN_OR_RETURN(auto staged, StageTable(batch.table, {batch.batch}));
  epoch_staged_[batch.table] = std::move(staged);
  return Status::OK();
}

void ParquetStore::DiscardStaged() {
  std::vector<core::StagedPart> parts;
  for (auto& [table, staged] : epoch_staged_) parts.push_back(staged.part);
  parts_->Discard(parts);
  epoch_staged_.clear();
}

Status ParquetStore::Flush(std::int32_t last_tick, CommitResult* result) {
  const std::int32_t first_tick = pending_ticks_.front();
  std::vector<core::StagedPart> staged;
  std::vector<core::Json::Object> extras;
  std::vector<PartMeta> metas;
  for (const auto& [table, batches] : pending_) {
    if (batches.empty()) continue;
    StagedTable one;
    if (auto pre = epoch_staged_.find(table); pre != epoch_staged_.end()) {
      one = std::move(pre->second);  // staged at its split-step commit
      epoch_staged_.erase(pre);
    } else {
      auto fresh = StageTable(table, batches);
      if (!fresh.ok()) {
        parts_->Discard(staged);
        DiscardStaged();
        result->kind = CommitResult::Kind::kNothingVisible;
        return fresh.status();
      }
      one = std::move(*fresh);
    }
    std::int32_t min_tick = last_tick, max_tick = first_tick;
    for (const auto& rg : one.meta.row_groups) {
      if (rg.min_tick) min_tick = std::min(min_tick, *rg.min_tick);
      if (rg.max_tick) max_tick = std::max(max_tick, *rg.max_tick);
    }
    extras.push_back(core::Json::Object{{"min_tick", min_tick}, {"max_tick", max_tick}});
    staged.push_back(std::move(one.part));
    metas.push_back(std::move(one.meta));
  }
  core::Json::Array live;
  for (const auto& t : pending_live_tables_) live.emplace_back(t);
  core::Json::Object record{{"format", "kiln.world.commit/1"},
                            {"world_id", world_id_},
                            {"run_id", run_id_},
                            {"first_tick", first_tick},
                            {"last_tick", last_tick},
                            {"next_entity_id", pending_next_entity_id_},
                            {"created_at", NowRfc3339()},
                            {"live_tables", core::Json(std::move(live))}};
  core::CommitOutcome outcome = parts_->Commit(last_tick, std::move(record), staged, extras);
  for (std::size_t i = 0; i < static_cast<std::size_t>(outcome.published) && i < staged.size(); ++i) {
    index_[parts_->TableDir(staged[i].table) + "/" + staged[i].name] = std::move(metas[i]);
    result->committed_tables.push_back(staged[i].table);
  }
  if (!outcome.committed) {
    result->kind = CommitResult::Kind::kNothingVisible;
    return MapStoreStatus(outcome.status, Code::ARCT_ERR_STORE_APPEND);
  }
  if (outcome.published < static_cast<int>(staged.size())) {
    // Committed but not fully published: the record stays and recovery rolls it forward. Until
    // then this world must not read the published half as if it were a whole tick.
    for (std::size_t i = 0; i < static_cast<std::size_t>(outcome.published); ++i)
      hidden_parts_.insert(staged[i].name);
    pending_frozen_ = true;
    result->kind = CommitResult::Kind::kPartial;
    return MapStoreStatus(outcome.status, Code::ARCT_ERR_STORE_APPEND);
  }
  result->kind = CommitResult::Kind::kCommitted;
  DiscardPending();
  counters_.parts_written = parts_->parts_written();
  counters_.bytes_written = parts_->bytes_written();
  // A durability warning (directory fsync failed) after a full publication is still a failure to
  // report: the tick is visible but may not survive a power loss.
  return MapStoreStatus(outcome.status, Code::ARCT_ERR_STORE_APPEND);
}

bool ParquetStore::HasTable(const std::string& table) const {
  struct stat sb;
  return ::stat(parts_->TableDir(table).c_str(), &sb) == 0 && S_ISDIR(sb.st_mode);
}

Result<std::shared_ptr<arrow::Schema>> ParquetStore::StoredSchema(const std::string& table) {
  KILN_ASSIGN_OR_RETURN(auto names, parts_->ListParts(table));
  if (names.empty()) return std::shared_ptr<arrow::Schema>();
  std::string path = parts_->TableDir(table) + "/" + names.front();
  auto infile = arrow::io::ReadableFile::Open(path);
  if (!infile.ok()) return ReadError(path, infile.status());
  ++counters_.files_opened;
  auto reader = parquet::arrow::OpenFile(*infile, arrow::default_memory_pool());
  if (!reader.ok()) return Error(Code::ARCT_ERR_STORE_CORRUPT, "unreadable part schema " + path + ": " + reader.status().message());
  std::shared_ptr<arrow::Schema> schema;
  auto st = (*reader)->GetSchema(&schema);
  if (!st.ok()) return Error(Code::ARCT_ERR_STORE_CORRUPT, "unreadable part schema " + path + ": " + st.message());
  return schema;
}

StoreCounters ParquetStore::counters() const { return counters_; }

Result<const ParquetStore::PartMeta*> ParquetStore::PartIndex(const std::string& path) {
  auto it = index_.find(path);
  if (it != index_.end()) return &it->second;
  std::unique_ptr<parquet::ParquetFileReader> reader;
  try {
    reader = parquet::ParquetFileReader::OpenFile(path, /*memory_map=*/false);
  } catch (const std::exception& e) {
    return Error(Code::ARCT_ERR_STORE_READ, "cannot read footer of " + path + ": " + e.what()).with_detail("path", path);
  }
  ++counters_.files_opened;
  auto md = reader->metadata();
  PartMeta meta;
  const auto* schema = md->schema();
  int c_world = schema->ColumnIndex("world_id"), c_run = schema->ColumnIndex("run_id");
  int c_entity = schema->ColumnIndex("entity_id"), c_tick = schema->ColumnIndex("tick");
  for (int g = 0; g < md->num_row_groups(); ++g) {
    auto rg = md->RowGroup(g);
    RowGroupMeta m;
    m.rows = rg->num_rows();
    auto int_stats = [&](int col, std::optional<std::int32_t>* lo, std::optional<std::int32_t>* hi) {
      if (col < 0) return;
      auto stats = rg->ColumnChunk(col)->statistics();
      if (!stats || !stats->HasMinMax()) return;
      auto typed = std::dynamic_pointer_cast<parquet::Int32Statistics>(stats);
      if (!typed) return;
      *lo = typed->min();
      *hi = typed->max();
    };
    auto str_stats = [&](int col, std::optional<std::string>* value) {
      if (col < 0) return;
      auto stats = rg->ColumnChunk(col)->statistics();
      if (!stats || !stats->HasMinMax()) return;
      auto typed = std::dynamic_pointer_cast<parquet::ByteArrayStatistics>(stats);
      if (!typed) return;
      std::string lo = parquet::ByteArrayToString(typed->min());
      std::string hi = parquet::ByteArrayToString(typed->max());
      if (lo == hi) *value = lo;
    };
    int_stats(c_tick, &m.min_tick, &m.max_tick);
    int_stats(c_entity, &m.min_entity, &m.max_entity);
    str_stats(c_world, &m.world_id);
    str_stats(c_run, &m.run_id);
    meta.row_groups.push_back(std::move(m));
  }
  return &(index_[path] = std::move(meta));
}

Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> ParquetStore::ReadFile(
    const std::string& path, const ReadFilter& filter, bool own_world, const std::string& world_id,
    const std::string& run_id, std::optional<std::int32_t> watermark, std::shared_ptr<arrow::Schema>* schema_out) {
  std::vector<std::shared_ptr<arrow::RecordBatch>> out;
  KILN_ASSIGN_OR_RETURN(const PartMeta* meta, PartIndex(path));
  std::vector<int> groups;
  for (int g = 0; g < static_cast<int>(meta->row_groups.size()); ++g) {
    const auto& rg = meta->row_groups[g];
    if (rg.rows == 0) continue;
    if (rg.world_id && *rg.world_id != world_id) continue;
    if (rg.run_id && *rg.run_id != run_id) continue;
    if (rg.min_tick && rg.max_tick) {
      if (!TickMayMatch(filter, *rg.min_tick, *rg.max_tick)) continue;
      if (watermark && *rg.min_tick > *watermark) continue;
    }
    if (filter.entity_ids && rg.min_entity && rg.max_entity) {
      bool any = std::any_of(filter.entity_ids->begin(), filter.entity_ids->end(),
                             [&](std::int32_t e) { return e >= *rg.min_entity && e <= *rg.max_entity; });
      if (!any) continue;
    }
    groups.push_back(g);
  }
  if (groups.empty()) return out;
  auto infile = arrow::io::ReadableFile::Open(path);
  if (!infile.ok()) return ReadError(path, infile.status());
  ++counters_.files_opened;
  auto reader = parquet::arrow::OpenFile(*infile, arrow::default_memory_pool());
  if (!reader.ok()) return ReadError(path, reader.status());
  for (int g : groups) {
    auto table = (*reader)->ReadRowGroup(g);
    if (!table.ok()) return ReadError(path, table.status());
    ++counters_.row_groups_read;
    auto batch = (*table)->CombineChunksToBatch();
    if (!batch.ok()) return ReadError(path, batch.status());
    if (schema_out && !*schema_out) *schema_out = (*batch)->schema();
    ReadFilter f = filter;
    if (watermark) {
      // Hide ticks past the publication watermark of a foreign writer.
      std::int32_t lo = f.tick_range ? f.tick_range->first : INT32_MIN;
      std::int32_t hi = f.tick_range ? std::min(f.tick_range->second, *watermark) : *watermark;
      f.tick_range = std::make_pair(lo, hi);
    }
    KILN_ASSIGN_OR_RETURN(auto filtered, FilterBatch(*batch, f, /*check_identity=*/true, world_id, run_id));
    if (filtered->num_rows() > 0) out.push_back(std::move(filtered));
  }
  (void)own_world;
  return out;
}

Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> ParquetStore::Read(const std::string& table,
                                                                            const std::shared_ptr<arrow::Schema>& schema,
                                                                            const ReadFilter& filter) {
  ++counters_.reads;
  if (faults_->ShouldFail(core::FaultPoint::kRead))
    return Error(Code::ARCT_ERR_STORE_READ, "injected I/O failure at read");
  const std::string& wid = filter.world_id ? *filter.world_id : world_id_;
  const std::string& rid = filter.run_id ? *filter.run_id : run_id_;
  bool own = wid == world_id_ && rid == run_id_;
  std::optional<std::int32_t> watermark;
  std::vector<std::shared_ptr<arrow::RecordBatch>> out;
  if (!own) {
    watermark = core::PartStore::PublishedTick(parts_->dir(), WorldKey(wid, rid));
    if (!watermark) return out;  // nothing published by that writer
  }
  KILN_ASSIGN_OR_RETURN(auto names, parts_->ListParts(table));
  for (const auto& name : names) {
    if (own && hidden_parts_.count(name)) continue;
    std::shared_ptr<arrow::Schema> ignored;
    KILN_ASSIGN_OR_RETURN(auto batches, ReadFile(parts_->TableDir(table) + "/" + name, filter, own, wid, rid, watermark, &ignored));
    for (auto& b : batches) out.push_back(schema ? arrow::RecordBatch::Make(schema, b->num_rows(), b->columns()) : b);
  }
  if (own) {
    auto it = pending_.find(table);
    if (it != pending_.end()) {
      for (const auto& b : it->second) {
        KILN_ASSIGN_OR_RETURN(auto filtered, FilterBatch(b, filter, false, world_id_, run_id_));
        if (filtered->num_rows() > 0) out.push_back(std::move(filtered));
      }
    }
  }
  return out;
}

Result<std::optional<CommitRecord>> ParquetStore::LatestRecord() {
  auto latest = parts_->LatestRecord();
  if (!latest.ok()) return MapStoreStatus(latest.status(), Code::ARCT_ERR_STORE_CORRUPT);
  if (!*latest) return std::optional<CommitRecord>();
  const core::Json& j = **latest;
  auto corrupt = [&](const std::string& why) {
    return Error(Code::ARCT_ERR_STORE_CORRUPT, "commit record of world " + world_id_ + "/" + run_id_ + ": " + why);
  };
  const core::Json* format = j.find("format");
  if (!format || !format->is_string() || format->as_string().rfind("kiln.world.commit/1", 0) != 0)
    return corrupt("unknown format");
  CommitRecord rec;
  const core::Json* last = j.find("last_tick");
  const core::Json* first = j.find("first_tick");
  const core::Json* next = j.find("next_entity_id");
  const core::Json* live = j.find("live_tables");
  const core::Json* parts = j.find("parts");
  if (!last || !last->is_int() || !first || !first->is_int() || !next || !next->is_int() || !live ||
      !live->is_array() || !parts || !parts->is_array())
    return corrupt("missing fields");
  rec.first_tick = static_cast<std::int32_t>(first->as_int());
  rec.last_tick = static_cast<std::int32_t>(last->as_int());
  rec.next_entity_id = static_cast<std::int32_t>(next->as_int());
  for (const auto& t : live->as_array()) {
    if (!t.is_string()) return corrupt("bad live_tables");
    rec.live_tables.push_back(t.as_string());
  }
  for (const auto& p : parts->as_array()) {
    const core::Json* table = p.find("table");
    const core::Json* name = p.find("name");
    if (!table || !name || !table->is_string() || !name->is_string()) return corrupt("bad part entry");
    rec.parts.push_back({table->as_string(), name->as_string()});
  }
  return std::optional<CommitRecord>(std::move(rec));
}

Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> ParquetStore::ReadParts(
    const std::string& table, const std::vector<std::string>& names, const ReadFilter& filter,
    std::shared_ptr<arrow::Schema>* schema_out) {
  ++counters_.reads;
  std::vector<std::shared_ptr<arrow::RecordBatch>> out;
  for (const auto& name : names) {
    std::string path = parts_->TableDir(table) + "/" + name;
    // Resume opens each listed part once: read its footer with the data, not separately.
    auto infile = arrow::io::ReadableFile::Open(path);
    if (!infile.ok()) return Error(Code::ARCT_ERR_STORE_CORRUPT, "commit record names missing part " + path);
    ++counters_.files_opened;
    auto reader = parquet::arrow::OpenFile(*infile, arrow::default_memory_pool());
    if (!reader.ok()) return Error(Code::ARCT_ERR_STORE_CORRUPT, "unreadable part " + path + ": " + reader.status().message());
    auto table_res = (*reader)->ReadTable();
    if (!table_res.ok()) return ReadError(path, table_res.status());
    counters_.row_groups_read += (*reader)->num_row_groups();
    auto batch = (*table_res)->CombineChunksToBatch();
    if (!batch.ok()) return ReadError(path, batch.status());
    if (schema_out && !*schema_out) *schema_out = (*batch)->schema();
    KILN_ASSIGN_OR_RETURN(auto filtered, FilterBatch(*batch, filter, true, world_id_, run_id_));
    if (filtered->num_rows() > 0) out.push_back(std::move(filtered));
  }
  return out;
}

}  // namespace kiln::world
