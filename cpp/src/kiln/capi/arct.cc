// The arct_ C ABI over kiln::world::World (specs/world.md §7).
//
// Every entry point follows the same order (§7.3): (a) NULL pointers → 3, handle → 6, strings
// → 5/158, output shells → 4, all before anything is moved; (b) move the inputs into library
// ownership; (c) validate and work. Every body runs inside Boundary(), so no exception crosses:
// bad_alloc → 10, anything else → 2 (and the world is poisoned, 105).
#include "kiln/capi/arct.h"

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/c/bridge.h>
#include <arrow/compute/initialize.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <unordered_set>
#include <vector>

#include "kiln/core/utf8.h"
#include "kiln/world/names.h"
#include "kiln/world/processor.h"
#include "kiln/world/schema.h"
#include "kiln/world/world.h"

using kiln::core::Status;
using kiln::world::World;

struct arct_world {
  std::unique_ptr<World> world;
  std::atomic<int> calls{0};  // calls in progress on any thread (free refuses while > 0)
};

namespace {

using Code = kiln::core::errors::Code;
constexpr int32_t C(Code c) { return static_cast<int32_t>(c); }

// ---- thread-local last error ---------------------------------------------------------------

thread_local std::string t_error;
thread_local bool t_has_error = false;
thread_local std::vector<const arct_world*> t_inside;  // worlds this thread is inside (reentrancy)

int32_t SetError(int32_t code, std::string_view message) {
  t_error = kiln::core::SanitizeForC(message);
  t_has_error = true;
  return code;
}

int32_t Fail(const Status& st) { return st.ok() ? 0 : SetError(st.code(), st.message()); }

void ClearError() {
  t_has_error = false;
  t_error.clear();
}

// ---- handles ---------------------------------------------------------------------------------

std::mutex g_handles_mu;
std::unordered_set<const arct_world*>& Handles() {
  static auto* handles = new std::unordered_set<const arct_world*>();  // never destroyed: used at exit
  return *handles;
}

/// Scope of one call on a world: validates the handle, detects reentrancy, counts the call.
class WorldCall {
 public:
  explicit WorldCall(arct_world* w) : w_(w) {
    std::lock_guard<std::mutex> lock(g_handles_mu);
    if (!Handles().count(w)) {
      status_ = SetError(C(Code::ARCT_ERR_BAD_HANDLE), "world pointer is not a live arct_world handle (freed, foreign or garbage)");
      return;
    }
    if (std::find(t_inside.begin(), t_inside.end(), w) != t_inside.end()) {
      status_ = SetError(C(Code::ARCT_ERR_RUNTIME_REENTRANT),
                         "call re-entered the same world on the same thread (e.g. from a release callback)");
      return;
    }
    w->calls.fetch_add(1);
    t_inside.push_back(w);
    entered_ = true;
  }
  ~WorldCall() {
    if (!entered_) return;
    t_inside.pop_back();
    w_->calls.fetch_sub(1);
  }
  bool ok() const { return entered_; }
  int32_t status() const { return status_; }
  World& world() { return *w_->world; }

 private:
  arct_world* w_;
  bool entered_ = false;
  int32_t status_ = 0;
};

/// Runs `f` with exceptions converted to statuses; an unexpected one poisons `world` (if any).
template <class F>
int32_t Boundary(World* world, F&& f) noexcept {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return SetError(C(Code::ARCT_ERR_OUT_OF_MEMORY), "out of memory");
  } catch (const std::exception& e) {
    Status st(C(Code::ARCT_ERR_PANIC), std::string("internal error crossing the arct ABI boundary: ") + e.what());
    if (world) {
      try {
        world->PoisonInternal(st);
      } catch (...) {
      }
    }
    return Fail(st);
  } catch (...) {
    Status st(C(Code::ARCT_ERR_PANIC), "internal error crossing the arct ABI boundary: unknown exception");
    if (world) {
      try {
        world->PoisonInternal(st);
      } catch (...) {
      }
    }
    return Fail(st);
  }
}

// ---- argument checks -------------------------------------------------------------------------

int32_t NullPointer(const char* what) { return SetError(C(Code::ARCT_ERR_NULL_POINTER), std::string(what) + " is NULL"); }

int32_t CheckString(const char* s, const char* what) {
  if (!kiln::core::IsValidUtf8(s)) return SetError(C(Code::ARCT_ERR_INVALID_UTF8), std::string(what) + " is not valid UTF-8");
  return 0;
}

int32_t CheckTableName(const char* s) {
  if (int32_t rc = CheckString(s, "table name")) return rc;
  return Fail(kiln::world::ValidateTableName(s, "table"));
}

int32_t OutputNotEmpty(const char* what) {
  return SetError(C(Code::ARCT_ERR_OUTPUT_NOT_EMPTY), std::string(what) + " still holds data (release is not NULL)");
}

/// Output shells must be empty (release NULL) before anything is written into them.
int32_t CheckOutputShells(const ArrowArray* out_array, const ArrowSchema* out_schema) {
  if (out_array->release) return OutputNotEmpty("out_array");
  if (out_schema->release) return OutputNotEmpty("out_schema");
  return 0;
}

int32_t StructTooSmall(const char* what, uint32_t got, std::size_t need) {
  return SetError(C(Code::ARCT_ERR_ABI_VERSION), std::string(what) + ".struct_size is " + std::to_string(got) +
                                                     ", below the ABI-2 size " + std::to_string(need));
}

/// Input Arrow data moved into library ownership; whatever is not imported is released here.
struct MovedArray {
  ArrowArray array{};
  ArrowSchema schema{};
  MovedArray(ArrowArray* a, ArrowSchema* s) {
    if (a) {
      array = *a;
      a->release = nullptr;
    }
    if (s) {
      schema = *s;
      s->release = nullptr;
    }
  }
  ~MovedArray() {
    if (array.release) array.release(&array);
    if (schema.release) schema.release(&schema);
  }
  MovedArray(const MovedArray&) = delete;
  MovedArray& operator=(const MovedArray&) = delete;

  kiln::core::Result<std::shared_ptr<arrow::RecordBatch>> ImportBatch() {
    if (!array.release || !schema.release)
      return Status(C(Code::ARCT_ERR_ARROW), "input Arrow data was already released");
    if (schema.format == nullptr || std::strcmp(schema.format, "+s") != 0)
      return Status(C(Code::ARCT_ERR_ARROW), std::string("a record batch crosses as a top-level struct array (format "
                                                         "\"+s\"), got format \"") +
                                                 (schema.format ? schema.format : "(null)") + "\"");
    if (array.null_count != 0)
      return Status(C(Code::ARCT_ERR_ARROW), "the top-level struct array of a record batch must have no nulls");
    auto r = arrow::ImportRecordBatch(&array, &schema);
    if (!r.ok()) return Status(C(Code::ARCT_ERR_ARROW), "cannot import the record batch: " + r.status().message());
    // Foreign producers may hand over inconsistent data (offsets out of range, bad null counts):
    // reject it here rather than read out of bounds later.
    if (auto st = (*r)->ValidateFull(); !st.ok())
      return Status(C(Code::ARCT_ERR_ARROW), "invalid record batch: " + st.message());
    return *r;
  }
};

/// The shared middle of spawn_with_ids and migrate: a non-negative id count, then the import.
kiln::core::Result<std::shared_ptr<arrow::RecordBatch>> ImportWithIds(MovedArray& in, int64_t n_ids) {
  if (n_ids < 0) return Status(C(Code::ARCT_ERR_INVALID_ARGUMENT), "n_ids must be >= 0");
  return in.ImportBatch();
}

int32_t ExportBatch(const std::shared_ptr<arrow::RecordBatch>& batch, ArrowArray* out_array, ArrowSchema* out_schema) {
  ArrowArray a{};
  ArrowSchema s{};
  arrow::Status st = arrow::ExportRecordBatch(*batch, &a, &s);
  if (!st.ok()) return SetError(C(Code::ARCT_ERR_ARROW), "cannot export the record batch: " + st.message());
  *out_array = a;
  *out_schema = s;
  return 0;
}

kiln::world::ReadFilter ToFilter(const arct_read_filter* f) {
  kiln::world::ReadFilter out;
  if (!f) return out;
  if (f->world_id) out.world_id = std::string(f->world_id);
  if (f->run_id) out.run_id = std::string(f->run_id);
  if (f->ticks) out.ticks = std::vector<int32_t>(f->ticks, f->ticks + f->n_ticks);
  if (f->entity_ids) out.entity_ids = std::vector<int32_t>(f->entity_ids, f->entity_ids + f->n_entity_ids);
  if (f->flags & ARCT_FILTER_TICK_RANGE) out.tick_range = std::make_pair(f->tick_min, f->tick_max);
  out.active_only = f->active_only;
  return out;
}

int32_t CheckFilter(const arct_read_filter* f) {
  if (!f) return 0;
  if (f->struct_size < sizeof(arct_read_filter)) return StructTooSmall("arct_read_filter", f->struct_size, sizeof(arct_read_filter));
  if (f->source < ARCT_SOURCE_LEDGER || f->source > ARCT_SOURCE_STAGED)
    return SetError(C(Code::ARCT_ERR_INVALID_ARGUMENT), "unknown read source " + std::to_string(f->source));
  if (f->n_ticks < 0 || f->n_entity_ids < 0)
    return SetError(C(Code::ARCT_ERR_INVALID_ARGUMENT), "negative list length in arct_read_filter");
  if (f->world_id && CheckString(f->world_id, "filter world_id")) return C(Code::ARCT_ERR_INVALID_UTF8);
  if (f->run_id && CheckString(f->run_id, "filter run_id")) return C(Code::ARCT_ERR_INVALID_UTF8);
  if ((f->flags & ~static_cast<uint32_t>(ARCT_FILTER_TICK_RANGE)) != 0)
    return SetError(C(Code::ARCT_ERR_INVALID_ARGUMENT), "unknown arct_read_filter flags");
  return 0;
}

void FillProfile(const kiln::world::StepProfile& p, arct_step_profile* out) {
  out->tick = p.tick;
  out->n_tables = p.n_tables;
  out->rows_written = p.rows_written;
  out->store_reads = p.store_reads;
  out->read_prior_sec = p.read_prior_sec;
  out->materialize_sec = p.materialize_sec;
  out->process_sec = p.process_sec;
  out->append_sec = p.append_sec;
  out->live_snapshot_sec = p.live_snapshot_sec;
  out->commit_sec = p.commit_sec;
  out->tick_sec = p.tick_sec;
}

kiln::core::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> RunQuery(World& w, const char* table,
                                                                            const arct_read_filter* filter,
                                                                            std::shared_ptr<arrow::Schema>* schema) {
  auto source = static_cast<kiln::world::Source>(filter ? filter->source : ARCT_SOURCE_LEDGER);
  return w.Query(table, source, ToFilter(filter), schema);
}

}  // namespace

// ==== version 1 ==================================================================================

extern "C" {

uint32_t arct_ffi_version(void) { return ARCT_ABI_VERSION; }

const char* arct_last_error_message(void) { return t_has_error ? t_error.c_str() : nullptr; }

void arct_clear_last_error(void) { ClearError(); }

bool arct_arrow_c_data_is_present(const ArrowSchema* schema, const ArrowArray* array) {
  return schema != nullptr && array != nullptr && schema->release != nullptr && array->release != nullptr;
}

int32_t arct_record_batch_roundtrip(ArrowArray* in_array, ArrowSchema* in_schema, ArrowArray* out_array,
                                    ArrowSchema* out_schema) {
  ClearError();
  if (!in_array) return NullPointer("in_array");
  if (!in_schema) return NullPointer("in_schema");
  if (!out_array) return NullPointer("out_array");
  if (!out_schema) return NullPointer("out_schema");
  if (int32_t rc = CheckOutputShells(out_array, out_schema)) return rc;
  return Boundary(nullptr, [&]() -> int32_t {
    MovedArray in(in_array, in_schema);
    auto batch = in.ImportBatch();
    if (!batch.ok()) return Fail(batch.status());
    return ExportBatch(*batch, out_array, out_schema);
  });
}

int32_t arct_movement_process(ArrowArray* in_array, ArrowSchema* in_schema, ArrowArray* out_array,
                              ArrowSchema* out_schema, double dt, int32_t tick) {
  ClearError();
  if (!in_array) return NullPointer("in_array");
  if (!in_schema) return NullPointer("in_schema");
  if (!out_array) return NullPointer("out_array");
  if (!out_schema) return NullPointer("out_schema");
  if (int32_t rc = CheckOutputShells(out_array, out_schema)) return rc;
  return Boundary(nullptr, [&]() -> int32_t {
    MovedArray in(in_array, in_schema);
    if (!std::isfinite(dt)) return SetError(C(Code::ARCT_ERR_INVALID_ARGUMENT), "dt must be finite");
    auto batch = in.ImportBatch();
    if (!batch.ok()) return Fail(batch.status());
    // ABI 1 compatibility: schema and type problems are status 1 with the source's wording.
    for (const char* col : {"position__x", "position__y", "velocity__dx", "velocity__dy"}) {
      auto field = (*batch)->schema()->GetFieldByName(col);
      if (!field) return SetError(C(Code::ARCT_ERR_ARROW), std::string("Schema error: missing required movement column: ") + col);
      if (field->type()->id() != arrow::Type::DOUBLE)
        return SetError(C(Code::ARCT_ERR_ARROW), std::string("Schema error: movement column ") + col +
                                                     " must be Float64, got " + field->type()->ToString());
    }
    auto m = kiln::world::Movement::Make(dt, 0);
    if (!m.ok()) return Fail(m.status());
    kiln::world::ProcessContext ctx{"ffi-world", "ffi-run", tick, ""};
    auto out = (*m)->Process(*batch, ctx);
    if (!out.ok()) return SetError(C(Code::ARCT_ERR_ARROW), out.status().message());
    return ExportBatch(*out, out_array, out_schema);
  });
}

// ==== world handles ==============================================================================

int32_t arct_world_create(const char* world_id, const char* run_id, const char* store_root, const char* ns,
                          const arct_world_options* options, arct_world** out_world) {
  ClearError();
  if (!out_world) return NullPointer("out_world");
  *out_world = nullptr;
  if (world_id && CheckString(world_id, "world_id")) return C(Code::ARCT_ERR_INVALID_UTF8);
  if (run_id && CheckString(run_id, "run_id")) return C(Code::ARCT_ERR_INVALID_UTF8);
  if (store_root && CheckString(store_root, "store_root")) return C(Code::ARCT_ERR_INVALID_UTF8);
  if (ns && CheckString(ns, "namespace")) return C(Code::ARCT_ERR_INVALID_UTF8);
  if (options && options->struct_size < sizeof(arct_world_options))
    return StructTooSmall("arct_world_options", options->struct_size, sizeof(arct_world_options));
  return Boundary(nullptr, [&]() -> int32_t {
    static const bool initialized = arrow::compute::Initialize().ok();
    if (!initialized) return SetError(C(Code::ARCT_ERR_PANIC), "internal error crossing the arct ABI boundary: Arrow compute failed to initialize");
    kiln::world::WorldOptions o;
    if (world_id) o.world_id = world_id;
    if (run_id) o.run_id = run_id;
    if (store_root) o.store_root = store_root;
    if (ns) o.ns = ns;
    if (options) {
      if (options->open_mode < 0 || options->open_mode > 2)
        return SetError(C(Code::ARCT_ERR_INVALID_ARGUMENT), "unknown open_mode " + std::to_string(options->open_mode));
      o.open_mode = static_cast<kiln::world::OpenMode>(options->open_mode);
      if (options->flush_every_ticks < 0)
        return SetError(C(Code::ARCT_ERR_INVALID_ARGUMENT), "flush_every_ticks must be >= 0");
      o.flush_every_ticks = std::max(1, options->flush_every_ticks);
      if (options->durability != ARCT_DURABILITY_PROCESS && options->durability != ARCT_DURABILITY_FSYNC)
        return SetError(C(Code::ARCT_ERR_INVALID_ARGUMENT), "unknown durability " + std::to_string(options->durability));
      o.durability = options->durability == ARCT_DURABILITY_FSYNC ? kiln::core::Durability::kFsync
                                                                   : kiln::core::Durability::kProcess;
      switch (options->compression) {
        case ARCT_COMPRESSION_ZSTD: o.writer.compression = arrow::Compression::ZSTD; break;
        case ARCT_COMPRESSION_SNAPPY: o.writer.compression = arrow::Compression::SNAPPY; break;
        case ARCT_COMPRESSION_LZ4: o.writer.compression = arrow::Compression::LZ4; break;
        case ARCT_COMPRESSION_NONE: o.writer.compression = arrow::Compression::UNCOMPRESSED; break;
        default:
          return SetError(C(Code::ARCT_ERR_INVALID_ARGUMENT), "unknown compression " + std::to_string(options->compression));
      }
      o.writer.compression_level = options->compression_level == 0 ? 1 : options->compression_level;
      // ABI: 0 = keep all, -1 = none, N = last N; the kernel uses -1 = all, 0 = none.
      if (options->memory_retain_ticks < -1)
        return SetError(C(Code::ARCT_ERR_INVALID_ARGUMENT), "memory_retain_ticks must be >= -1");
      o.memory_retain_ticks = options->memory_retain_ticks == 0 ? -1 : options->memory_retain_ticks == -1 ? 0 : options->memory_retain_ticks;
    }
    auto w = World::Open(o);
    if (!w.ok()) return Fail(w.status());
    auto* handle = new arct_world();
    handle->world = std::move(*w);
    {
      std::lock_guard<std::mutex> lock(g_handles_mu);
      Handles().insert(handle);
    }
    *out_world = handle;
    return 0;
  });
}

int32_t arct_world_free(arct_world* world, uint32_t flags) {
  ClearError();
  if (!world) return 0;
  if ((flags & ~static_cast<uint32_t>(ARCT_FREE_DISCARD_UNFLUSHED)) != 0)
    return SetError(C(Code::ARCT_ERR_INVALID_ARGUMENT), "unknown arct_world_free flags");
  {
    std::lock_guard<std::mutex> lock(g_handles_mu);
    if (!Handles().count(world))
      return SetError(C(Code::ARCT_ERR_BAD_HANDLE), "world pointer is not a live arct_world handle (freed, foreign or garbage)");
    if (std::find(t_inside.begin(), t_inside.end(), world) != t_inside.end())
      return SetError(C(Code::ARCT_ERR_RUNTIME_REENTRANT), "arct_world_free re-entered the world it is freeing");
    if (world->calls.load() > 0)
      return SetError(C(Code::ARCT_ERR_WORLD_BUSY), "cannot free the world while another thread is inside a call");
    if (world->world->info().state == kiln::world::WorldState::kEpochOpen)
      return SetError(C(Code::ARCT_ERR_WORLD_BUSY), "cannot free the world while a split-step epoch is open");
    Handles().erase(world);
  }
  const bool discard = flags & ARCT_FREE_DISCARD_UNFLUSHED;
  int32_t rc = Boundary(world->world.get(), [&]() -> int32_t {
    Status st = world->world->Close(false);
    if (!st.ok() && discard) st = world->world->Close(true);  // unflushed ticks dropped, freed anyway
    return Fail(st);
  });
  if (rc != 0 && !discard) {
    std::lock_guard<std::mutex> lock(g_handles_mu);
    Handles().insert(world);  // the flush failed: the handle stays valid
    return rc;
  }
  delete world;
  return rc == 0 ? 0 : rc;
}

#define ARCT_WORLD_CALL(world)         \
  ClearError();                        \
  if (!(world)) return NullPointer("world"); \
  WorldCall call(world);               \
  if (!call.ok()) return call.status()

int32_t arct_world_flush(arct_world* world) {
  ARCT_WORLD_CALL(world);
  return Boundary(&call.world(), [&] { return Fail(call.world().Flush()); });
}

int32_t arct_world_get_id(arct_world* world, int32_t which, char* buf, size_t buf_size, size_t* out_len) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!out_len) return NullPointer("out_len");
  if (!buf && buf_size != 0) return NullPointer("buf");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  if (which != ARCT_ID_WORLD && which != ARCT_ID_RUN)
    return SetError(C(Code::ARCT_ERR_INVALID_ARGUMENT), "which must be ARCT_ID_WORLD or ARCT_ID_RUN");
  const std::string& id = which == ARCT_ID_WORLD ? call.world().world_id() : call.world().run_id();
  *out_len = id.size();
  if (!buf) return 0;  // size query
  if (buf_size < id.size() + 1)
    return SetError(C(Code::ARCT_ERR_BUFFER_TOO_SMALL), "buffer holds " + std::to_string(buf_size) + " bytes; " +
                                                           std::to_string(id.size() + 1) + " needed (with NUL)");
  std::memcpy(buf, id.c_str(), id.size() + 1);
  return 0;
}

int32_t arct_world_get_info(arct_world* world, arct_world_info* out_info) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!out_info) return NullPointer("out_info");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  if (out_info->struct_size < sizeof(arct_world_info))
    return StructTooSmall("arct_world_info", out_info->struct_size, sizeof(arct_world_info));
  return Boundary(&call.world(), [&]() -> int32_t {
    auto i = call.world().info();
    out_info->tick = i.tick;
    out_info->next_entity_id = i.next_entity_id;
    out_info->last_committed_tick = i.last_committed_tick;
    out_info->state = static_cast<int32_t>(i.state);
    out_info->registered_entities = i.registered_entities;
    out_info->live_rows = i.live_rows;
    out_info->n_tables = i.n_tables;
    out_info->n_processors = i.n_processors;
    return 0;
  });
}

int32_t arct_world_tick(arct_world* world, int32_t* out_tick) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!out_tick) return NullPointer("out_tick");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  return Boundary(&call.world(), [&]() -> int32_t {
    *out_tick = call.world().info().tick;
    return 0;
  });
}

int32_t arct_world_register_table(arct_world* world, const char* table, ArrowSchema* schema) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!table) return NullPointer("table");
  if (!schema) return NullPointer("schema");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  if (int32_t rc = CheckTableName(table)) return rc;
  return Boundary(&call.world(), [&]() -> int32_t {
    ArrowSchema moved = *schema;
    schema->release = nullptr;
    if (!moved.release) return SetError(C(Code::ARCT_ERR_ARROW), "input schema was already released");
    auto imported = arrow::ImportSchema(&moved);  // releases `moved` in every case
    if (!imported.ok()) return SetError(C(Code::ARCT_ERR_ARROW), "cannot import the schema: " + imported.status().message());
    return Fail(call.world().RegisterTable(table, *imported));
  });
}

int32_t arct_world_table_schema(arct_world* world, const char* table, ArrowSchema* out_schema) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!table) return NullPointer("table");
  if (!out_schema) return NullPointer("out_schema");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  if (int32_t rc = CheckString(table, "table name")) return rc;
  if (out_schema->release) return OutputNotEmpty("out_schema");
  return Boundary(&call.world(), [&]() -> int32_t {
    auto schema = call.world().TableSchema(table);
    if (!schema.ok()) return Fail(schema.status());
    ArrowSchema s{};
    auto st = arrow::ExportSchema(**schema, &s);
    if (!st.ok()) return SetError(C(Code::ARCT_ERR_ARROW), "cannot export the schema: " + st.message());
    *out_schema = s;
    return 0;
  });
}

int32_t arct_world_tables(arct_world* world, int32_t which, ArrowArray* out_array, ArrowSchema* out_schema) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!out_array) return NullPointer("out_array");
  if (!out_schema) return NullPointer("out_schema");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  if (int32_t rc = CheckOutputShells(out_array, out_schema)) return rc;
  if (which != ARCT_TABLES_REGISTERED && which != ARCT_TABLES_ACTIVE)
    return SetError(C(Code::ARCT_ERR_INVALID_ARGUMENT), "which must be ARCT_TABLES_REGISTERED or ARCT_TABLES_ACTIVE");
  return Boundary(&call.world(), [&]() -> int32_t {
    arrow::StringBuilder b;
    for (const auto& name : call.world().Tables(which == ARCT_TABLES_ACTIVE))
      if (!b.Append(name).ok()) throw std::bad_alloc();
    std::shared_ptr<arrow::Array> names;
    if (!b.Finish(&names).ok()) throw std::bad_alloc();
    auto batch = arrow::RecordBatch::Make(arrow::schema({arrow::field("table_name", arrow::utf8(), false)}),
                                          names->length(), {names});
    return ExportBatch(batch, out_array, out_schema);
  });
}

int32_t arct_world_registry(arct_world* world, ArrowArray* out_array, ArrowSchema* out_schema) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!out_array) return NullPointer("out_array");
  if (!out_schema) return NullPointer("out_schema");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  if (int32_t rc = CheckOutputShells(out_array, out_schema)) return rc;
  return Boundary(&call.world(), [&]() -> int32_t {
    auto batch = call.world().Registry();
    if (!batch.ok()) return Fail(batch.status());
    return ExportBatch(*batch, out_array, out_schema);
  });
}

int32_t arct_world_spawn(arct_world* world, const char* table, ArrowArray* array, ArrowSchema* schema,
                         int32_t* out_ids, int64_t out_ids_capacity, int64_t* out_n_ids) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!table) return NullPointer("table");
  if (!array) return NullPointer("array");
  if (!schema) return NullPointer("schema");
  if (!out_ids) return NullPointer("out_ids");
  if (!out_n_ids) return NullPointer("out_n_ids");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  if (int32_t rc = CheckTableName(table)) return rc;
  return Boundary(&call.world(), [&]() -> int32_t {
    MovedArray in(array, schema);
    auto batch = in.ImportBatch();
    if (!batch.ok()) return Fail(batch.status());
    if ((*batch)->num_rows() > out_ids_capacity)
      return SetError(C(Code::ARCT_ERR_BUFFER_TOO_SMALL), "out_ids holds " + std::to_string(out_ids_capacity) +
                                                             " ids; the batch has " + std::to_string((*batch)->num_rows()) +
                                                             " rows (nothing was staged)");
    auto ids = call.world().Spawn(table, *batch);
    if (!ids.ok()) return Fail(ids.status());
    std::copy(ids->begin(), ids->end(), out_ids);
    *out_n_ids = static_cast<int64_t>(ids->size());
    return 0;
  });
}

int32_t arct_world_spawn_with_ids(arct_world* world, const char* table, ArrowArray* array, ArrowSchema* schema,
                                  const int32_t* ids, int64_t n_ids) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!table) return NullPointer("table");
  if (!array) return NullPointer("array");
  if (!schema) return NullPointer("schema");
  if (!ids && n_ids != 0) return NullPointer("ids");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  if (int32_t rc = CheckTableName(table)) return rc;
  return Boundary(&call.world(), [&]() -> int32_t {
    MovedArray in(array, schema);
    auto batch = ImportWithIds(in, n_ids);
    if (!batch.ok()) return Fail(batch.status());
    return Fail(call.world().SpawnWithIds(table, *batch, ids, n_ids));
  });
}

int32_t arct_world_reserve_ids(arct_world* world, int32_t n, int32_t* out_first_id) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!out_first_id) return NullPointer("out_first_id");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  return Boundary(&call.world(), [&]() -> int32_t {
    auto first = call.world().ReserveIds(n);
    if (!first.ok()) return Fail(first.status());
    *out_first_id = *first;
    return 0;
  });
}

int32_t arct_world_despawn(arct_world* world, const int32_t* ids, int64_t n_ids) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!ids && n_ids != 0) return NullPointer("ids");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  if (n_ids < 0) return SetError(C(Code::ARCT_ERR_INVALID_ARGUMENT), "n_ids must be >= 0");
  return Boundary(&call.world(), [&] { return Fail(call.world().Despawn(ids, n_ids)); });
}

int32_t arct_world_migrate(arct_world* world, const char* new_table, ArrowArray* array, ArrowSchema* schema,
                           const int32_t* ids, int64_t n_ids) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!new_table) return NullPointer("new_table");
  if (!array) return NullPointer("array");
  if (!schema) return NullPointer("schema");
  if (!ids && n_ids != 0) return NullPointer("ids");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  if (int32_t rc = CheckTableName(new_table)) return rc;
  return Boundary(&call.world(), [&]() -> int32_t {
    MovedArray in(array, schema);
    auto batch = ImportWithIds(in, n_ids);
    if (!batch.ok()) return Fail(batch.status());
    return Fail(call.world().Migrate(new_table, *batch, ids, n_ids));
  });
}

int32_t arct_world_add_movement(arct_world* world, double dt, int32_t priority, int32_t* out_processor_id) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!out_processor_id) return NullPointer("out_processor_id");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  if (!std::isfinite(dt)) return SetError(C(Code::ARCT_ERR_PROCESSOR_CONFIG), "Movement dt must be finite");
  return Boundary(&call.world(), [&]() -> int32_t {
    auto id = call.world().AddMovement(dt, priority);
    if (!id.ok()) return Fail(id.status());
    *out_processor_id = *id;
    return 0;
  });
}

int32_t arct_world_add_formula(arct_world* world, const char* name, const char* const* targets,
                               const char* const* expressions, int32_t n_assignments, const char* const* param_names,
                               const double* param_values, int32_t n_params, int32_t priority,
                               int32_t* out_processor_id) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!name) return NullPointer("name");
  if (!targets && n_assignments != 0) return NullPointer("targets");
  if (!expressions && n_assignments != 0) return NullPointer("expressions");
  if ((!param_names || !param_values) && n_params != 0) return NullPointer("param_names/param_values");
  if (!out_processor_id) return NullPointer("out_processor_id");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  if (n_assignments < 1 || n_params < 0)
    return SetError(C(Code::ARCT_ERR_INVALID_ARGUMENT), "a formula needs n_assignments >= 1 and n_params >= 0");
  if (int32_t rc = CheckString(name, "processor name")) return rc;
  std::vector<std::pair<std::string, std::string>> rules;
  for (int32_t i = 0; i < n_assignments; ++i) {
    if (!targets[i] || !expressions[i]) return NullPointer("targets[i]/expressions[i]");
    if (int32_t rc = CheckString(targets[i], "formula target")) return rc;
    if (int32_t rc = CheckString(expressions[i], "formula expression")) return rc;
    rules.emplace_back(targets[i], expressions[i]);
  }
  std::vector<std::pair<std::string, double>> params;
  for (int32_t i = 0; i < n_params; ++i) {
    if (!param_names[i]) return NullPointer("param_names[i]");
    if (int32_t rc = CheckString(param_names[i], "formula parameter name")) return rc;
    params.emplace_back(param_names[i], param_values[i]);
  }
  return Boundary(&call.world(), [&]() -> int32_t {
    auto id = call.world().AddFormula(name, rules, params, priority, /*strict=*/false);
    if (!id.ok()) return Fail(id.status());
    *out_processor_id = *id;
    return 0;
  });
}

int32_t arct_world_remove_processor(arct_world* world, int32_t processor_id) {
  ARCT_WORLD_CALL(world);
  return Boundary(&call.world(), [&] { return Fail(call.world().RemoveProcessor(processor_id)); });
}

int32_t arct_world_run_processor(arct_world* world, int32_t processor_id, const char* table, ArrowArray* in_array,
                                 ArrowSchema* in_schema, ArrowArray* out_array, ArrowSchema* out_schema) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!table) return NullPointer("table");
  if (!in_array) return NullPointer("in_array");
  if (!in_schema) return NullPointer("in_schema");
  if (!out_array) return NullPointer("out_array");
  if (!out_schema) return NullPointer("out_schema");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  if (int32_t rc = CheckString(table, "table name")) return rc;
  if (int32_t rc = CheckOutputShells(out_array, out_schema)) return rc;
  return Boundary(&call.world(), [&]() -> int32_t {
    MovedArray in(in_array, in_schema);
    auto batch = in.ImportBatch();
    if (!batch.ok()) return Fail(batch.status());
    auto out = call.world().RunProcessor(processor_id, table, *batch);
    if (!out.ok()) return Fail(out.status());
    return ExportBatch(*out, out_array, out_schema);
  });
}

int32_t arct_world_step(arct_world* world, arct_step_profile* out_profile) {
  ARCT_WORLD_CALL(world);
  if (out_profile && out_profile->struct_size < sizeof(arct_step_profile))
    return StructTooSmall("arct_step_profile", out_profile->struct_size, sizeof(arct_step_profile));
  return Boundary(&call.world(), [&]() -> int32_t {
    auto p = call.world().Step();
    if (!p.ok()) return Fail(p.status());
    if (out_profile) FillProfile(*p, out_profile);
    return 0;
  });
}

int32_t arct_world_run(arct_world* world, int32_t n_ticks, int32_t* out_ticks_done) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!out_ticks_done) return NullPointer("out_ticks_done");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  *out_ticks_done = 0;
  return Boundary(&call.world(), [&] { return Fail(call.world().Run(n_ticks, out_ticks_done, nullptr)); });
}

int32_t arct_world_profile_table(arct_world* world, int32_t index, arct_table_profile* out) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!out) return NullPointer("out");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  if (out->struct_size < sizeof(arct_table_profile))
    return StructTooSmall("arct_table_profile", out->struct_size, sizeof(arct_table_profile));
  return Boundary(&call.world(), [&]() -> int32_t {
    const auto& profiles = call.world().last_table_profiles();
    if (index < 0 || index >= static_cast<int32_t>(profiles.size()))
      return SetError(C(Code::ARCT_ERR_INVALID_ARGUMENT), "table profile index " + std::to_string(index) +
                                                             " out of range (last step had " +
                                                             std::to_string(profiles.size()) + " tables)");
    const auto& p = profiles[static_cast<std::size_t>(index)];
    std::memset(out->table_name, 0, sizeof out->table_name);
    std::memcpy(out->table_name, p.table.data(), std::min(p.table.size(), sizeof out->table_name - 1));
    out->rows_in = p.rows_in;
    out->rows_out = p.rows_out;
    out->read_prior_sec = p.read_prior_sec;
    out->materialize_sec = p.materialize_sec;
    out->process_sec = p.process_sec;
    out->append_sec = p.append_sec;
    out->live_snapshot_sec = p.live_snapshot_sec;
    out->table_sec = p.table_sec;
    return 0;
  });
}

int32_t arct_world_query(arct_world* world, const char* table, const arct_read_filter* filter,
                         ArrowArrayStream* out_stream) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!table) return NullPointer("table");
  if (!out_stream) return NullPointer("out_stream");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  if (int32_t rc = CheckString(table, "table name")) return rc;
  if (out_stream->release) return OutputNotEmpty("out_stream");
  if (int32_t rc = CheckFilter(filter)) return rc;
  return Boundary(&call.world(), [&]() -> int32_t {
    std::shared_ptr<arrow::Schema> schema;
    auto batches = RunQuery(call.world(), table, filter, &schema);
    if (!batches.ok()) return Fail(batches.status());
    // The stream owns its batches, so it stays readable after the world is freed.
    auto reader = arrow::RecordBatchReader::Make(std::move(*batches), schema);
    if (!reader.ok()) return SetError(C(Code::ARCT_ERR_ARROW), reader.status().message());
    ArrowArrayStream s{};
    auto st = arrow::ExportRecordBatchReader(*reader, &s);
    if (!st.ok()) return SetError(C(Code::ARCT_ERR_ARROW), "cannot export the stream: " + st.message());
    *out_stream = s;
    return 0;
  });
}

int32_t arct_world_query_batch(arct_world* world, const char* table, const arct_read_filter* filter,
                               ArrowArray* out_array, ArrowSchema* out_schema) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!table) return NullPointer("table");
  if (!out_array) return NullPointer("out_array");
  if (!out_schema) return NullPointer("out_schema");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  if (int32_t rc = CheckString(table, "table name")) return rc;
  if (int32_t rc = CheckOutputShells(out_array, out_schema)) return rc;
  if (int32_t rc = CheckFilter(filter)) return rc;
  return Boundary(&call.world(), [&]() -> int32_t {
    std::shared_ptr<arrow::Schema> schema;
    auto batches = RunQuery(call.world(), table, filter, &schema);
    if (!batches.ok()) return Fail(batches.status());
    auto tbl = arrow::Table::FromRecordBatches(schema, *batches);
    if (!tbl.ok()) return SetError(C(Code::ARCT_ERR_ARROW), tbl.status().message());
    auto batch = (*tbl)->CombineChunksToBatch();
    if (!batch.ok()) return SetError(C(Code::ARCT_ERR_OUT_OF_MEMORY), batch.status().message());
    return ExportBatch(*batch, out_array, out_schema);
  });
}

// ==== split-step =================================================================================

int32_t arct_step_begin(arct_world* world, const char* table, ArrowArray* out_array, ArrowSchema* out_schema) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!table) return NullPointer("table");
  if (!out_array) return NullPointer("out_array");
  if (!out_schema) return NullPointer("out_schema");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  if (int32_t rc = CheckString(table, "table name")) return rc;
  if (int32_t rc = CheckOutputShells(out_array, out_schema)) return rc;
  return Boundary(&call.world(), [&]() -> int32_t {
    auto input = call.world().StepBegin(table);
    if (!input.ok()) return Fail(input.status());
    return ExportBatch(*input, out_array, out_schema);
  });
}

int32_t arct_step_commit(arct_world* world, const char* table, ArrowArray* processed_array,
                         ArrowSchema* processed_schema) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!table) return NullPointer("table");
  if (!processed_array) return NullPointer("processed_array");
  if (!processed_schema) return NullPointer("processed_schema");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  if (int32_t rc = CheckString(table, "table name")) return rc;
  return Boundary(&call.world(), [&]() -> int32_t {
    MovedArray in(processed_array, processed_schema);
    if (int32_t rc = Fail(call.world().CheckInFlight(table))) return rc;  // 101/102 keep the epoch
    auto batch = in.ImportBatch();
    if (!batch.ok()) {
      (void)call.world().StepAbort(table);  // an import failure fails the whole epoch, like abort
      return Fail(batch.status());
    }
    auto done = call.world().StepCommit(table, *batch);
    return Fail(done.status());
  });
}

int32_t arct_step_abort(arct_world* world, const char* table) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!table) return NullPointer("table");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  if (int32_t rc = CheckString(table, "table name")) return rc;
  return Boundary(&call.world(), [&] { return Fail(call.world().StepAbort(table)); });
}

int32_t arct_testing_set_fault_plan(arct_world* world, const char* plan) {
  ClearError();
  if (!world) return NullPointer("world");
  if (!plan) return NullPointer("plan");
  WorldCall call(world);
  if (!call.ok()) return call.status();
  if (int32_t rc = CheckString(plan, "fault plan")) return rc;
  return Boundary(&call.world(), [&] { return Fail(call.world().SetFaultPlan(plan)); });
}

}  // extern "C"
