// kiln._kiln.WorldKernel: the native kernel of kiln.world (wrapped by kiln/world/_native.py,
// which speaks the kernel interface of docs/dev/kernel-interface.md).
#include <arrow/record_batch.h>
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstring>

#include "kiln/core/buffer_cache.h"
#include "kiln/python/arrow_capsule.h"
#include "kiln/python/errors.h"
#include "kiln/world/world.h"

namespace kiln::python {
namespace {

using world::World;
using IdArray = nb::ndarray<const std::int32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using core::errors::Code;

const char* StateName(world::WorldState s) {
  switch (s) {
    case world::WorldState::kReady: return "ready";
    case world::WorldState::kEpochOpen: return "epoch_open";
    case world::WorldState::kPoisonedPartialTick: return "poisoned_partial_tick";
    case world::WorldState::kPoisonedInternal: return "poisoned_internal";
  }
  return "?";
}

// The keys of the profile dicts, made once. A step of a 27-table world fills ~300 entries, and a
// fresh str per key per step was a visible share of World.step() from Python. Leaked on purpose:
// static nb::str destructors would run after the interpreter is gone.
struct ProfileKeys {
  nb::str table{"table"}, rows_in{"rows_in"}, rows_out{"rows_out"}, read_prior_sec{"read_prior_sec"},
      materialize_sec{"materialize_sec"}, process_sec{"process_sec"}, append_sec{"append_sec"},
      live_snapshot_sec{"live_snapshot_sec"}, table_sec{"table_sec"}, tick{"tick"}, n_tables{"n_tables"},
      rows_written{"rows_written"}, store_reads{"store_reads"}, commit_sec{"commit_sec"}, tick_sec{"tick_sec"},
      rows_written_by_table{"rows_written_by_table"}, tables{"tables"};
};

const ProfileKeys& Keys() {
  static const ProfileKeys* keys = new ProfileKeys();
  return *keys;
}

nb::dict TableProfileDict(const world::TableProfile& p) {
  const ProfileKeys& k = Keys();
  nb::dict d;
  d[k.table] = p.table;
  d[k.rows_in] = p.rows_in;
  d[k.rows_out] = p.rows_out;
  d[k.read_prior_sec] = p.read_prior_sec;
  d[k.materialize_sec] = p.materialize_sec;
  d[k.process_sec] = p.process_sec;
  d[k.append_sec] = p.append_sec;
  d[k.live_snapshot_sec] = p.live_snapshot_sec;
  d[k.table_sec] = p.table_sec;
  return d;
}

nb::dict ProfileDict(const world::StepProfile& p) {
  const ProfileKeys& k = Keys();
  nb::dict d;
  d[k.tick] = p.tick;
  d[k.n_tables] = p.n_tables;
  d[k.rows_written] = p.rows_written;
  d[k.store_reads] = p.store_reads;
  d[k.read_prior_sec] = p.read_prior_sec;
  d[k.materialize_sec] = p.materialize_sec;
  d[k.process_sec] = p.process_sec;
  d[k.append_sec] = p.append_sec;
  d[k.live_snapshot_sec] = p.live_snapshot_sec;
  d[k.commit_sec] = p.commit_sec;
  d[k.tick_sec] = p.tick_sec;
  nb::dict rows;
  nb::list tables;
  for (const auto& t : p.tables) {
    if (t.rows_out > 0) rows[t.table.c_str()] = t.rows_out;
    tables.append(TableProfileDict(t));
  }
  d[k.rows_written_by_table] = rows;
  d[k.tables] = tables;
  return d;
}

nb::ndarray<nb::numpy, std::int32_t, nb::ndim<1>> ToNumpy(std::vector<std::int32_t> ids) {
  auto* heap = new std::vector<std::int32_t>(std::move(ids));
  nb::capsule owner(heap, [](void* p) noexcept { delete static_cast<std::vector<std::int32_t>*>(p); });
  return nb::ndarray<nb::numpy, std::int32_t, nb::ndim<1>>(heap->data(), {heap->size()}, owner);
}

class WorldKernel {
 public:
  WorldKernel(std::optional<std::string> world_id, std::optional<std::string> run_id,
              std::optional<std::string> store_root, std::string ns, int open_mode, int flush_every_ticks,
              int durability, const std::string& compression, int compression_level, std::int64_t retain_ticks) {
    world::WorldOptions o;
    o.world_id = std::move(world_id);
    o.run_id = std::move(run_id);
    o.store_root = std::move(store_root);
    o.ns = std::move(ns);
    if (open_mode < 0 || open_mode > 2) ThrowIfError(core::Status(8, "unknown open mode"));
    o.open_mode = static_cast<world::OpenMode>(open_mode);
    o.flush_every_ticks = flush_every_ticks;
    o.durability = durability == 1 ? core::Durability::kFsync : core::Durability::kProcess;
    if (compression == "zstd") o.writer.compression = arrow::Compression::ZSTD;
    else if (compression == "snappy") o.writer.compression = arrow::Compression::SNAPPY;
    else if (compression == "lz4") o.writer.compression = arrow::Compression::LZ4;
    else if (compression == "none") o.writer.compression = arrow::Compression::UNCOMPRESSED;
    else ThrowIfError(core::Status(8, "unknown compression " + compression));
    o.writer.compression_level = compression_level;
    o.memory_retain_ticks = retain_ticks;
    core::Result<std::unique_ptr<World>> w = core::Status();
    {
      nb::gil_scoped_release release;
      w = World::Open(o);
    }
    world_ = ValueOrThrow(std::move(w));
  }

  World& w() { return *world_; }

  std::unique_ptr<World> world_;
};

}  // namespace

void BindWorld(nb::module_& m) {
  m.def("buffer_cache_stats", [] {
    const core::BufferCacheStats s = core::GetBufferCacheStats();
    nb::dict d;
    d["limit_bytes"] = s.limit_bytes;
    d["cached_bytes"] = s.cached_bytes;
    d["hits"] = s.hits;
    d["misses"] = s.misses;
    return d;
  });
  m.def("set_buffer_cache_limit", [](std::int64_t bytes) { core::SetBufferCacheLimit(bytes); });
  nb::class_<WorldKernel>(m, "WorldKernel")
      .def(nb::init<std::optional<std::string>, std::optional<std::string>, std::optional<std::string>, std::string, int,
                    int, int, const std::string&, int, std::int64_t>(),
           nb::arg("world_id").none(), nb::arg("run_id").none(), nb::arg("store_root").none(), nb::arg("namespace"),
           nb::arg("open_mode"), nb::arg("flush_every_ticks"), nb::arg("durability"), nb::arg("compression"),
           nb::arg("compression_level"), nb::arg("retain_ticks"))
      .def_prop_ro("world_id", [](WorldKernel& k) { return k.w().world_id(); })
      .def_prop_ro("run_id", [](WorldKernel& k) { return k.w().run_id(); })
      .def("info",
           [](WorldKernel& k) {
             auto i = k.w().info();
             nb::dict d;
             d["tick"] = i.tick;
             d["next_entity_id"] = i.next_entity_id;
             d["last_committed_tick"] = i.last_committed_tick;
             d["state"] = StateName(i.state);
             d["registered_entities"] = i.registered_entities;
             d["live_rows"] = i.live_rows;
             d["n_tables"] = i.n_tables;
             d["n_processors"] = i.n_processors;
             return d;
           })
      .def("store_counters",
           [](WorldKernel& k) {
             auto c = k.w().store_counters();
             nb::dict d;
             d["reads"] = c.reads;
             d["files_opened"] = c.files_opened;
             d["row_groups_read"] = c.row_groups_read;
             d["parts_written"] = c.parts_written;
             d["bytes_written"] = c.bytes_written;
             return d;
           })
      .def("last_table_profiles",
           [](WorldKernel& k) {
             nb::list out;
             for (const auto& p : k.w().last_table_profiles()) out.append(TableProfileDict(p));
             return out;
           })
      .def("register_table",
           [](WorldKernel& k, const std::string& name, nb::handle schema) {
             auto s = ImportSchema(schema);
             nb::gil_scoped_release release;
             ThrowIfError(k.w().RegisterTable(name, s));
           })
      .def("table_schema", [](WorldKernel& k, const std::string& name) { return ExportSchema(ValueOrThrow(k.w().TableSchema(name))); })
      .def("tables", [](WorldKernel& k, bool active) { return k.w().Tables(active); }, nb::arg("active") = false)
      .def("registry", [](WorldKernel& k) { return ExportBatch(ValueOrThrow(k.w().Registry())); })
      .def("spawn",
           [](WorldKernel& k, const std::string& table, nb::handle batch) {
             auto b = ImportBatch(batch);
             core::Result<std::vector<std::int32_t>> ids = std::vector<std::int32_t>{};
             {
               nb::gil_scoped_release release;
               ids = k.w().Spawn(table, b);
             }
             return ToNumpy(ValueOrThrow(std::move(ids)));
           })
      .def("spawn_with_ids",
           [](WorldKernel& k, const std::string& table, nb::handle batch, IdArray ids) {
             auto b = ImportBatch(batch);
             nb::gil_scoped_release release;
             ThrowIfError(k.w().SpawnWithIds(table, b, ids.data(), static_cast<std::int64_t>(ids.shape(0))));
           })
      .def("reserve_ids", [](WorldKernel& k, std::int64_t n) {
             if (n < INT32_MIN || n > INT32_MAX) n = n < 0 ? 0 : INT32_MAX;
             return ValueOrThrow(k.w().ReserveIds(static_cast<std::int32_t>(n)));
           })
      .def("despawn",
           [](WorldKernel& k, IdArray ids) {
             nb::gil_scoped_release release;
             ThrowIfError(k.w().Despawn(ids.data(), static_cast<std::int64_t>(ids.shape(0))));
           })
      .def("migrate",
           [](WorldKernel& k, const std::string& table, nb::handle batch, IdArray ids) {
             auto b = ImportBatch(batch);
             nb::gil_scoped_release release;
             ThrowIfError(k.w().Migrate(table, b, ids.data(), static_cast<std::int64_t>(ids.shape(0))));
           })
      .def("add_movement", [](WorldKernel& k, double dt, std::int32_t priority) { return ValueOrThrow(k.w().AddMovement(dt, priority)); })
      .def("add_formula",
           [](WorldKernel& k, const std::string& name, const std::vector<std::pair<std::string, std::string>>& rules,
              const std::vector<std::pair<std::string, double>>& params, std::int32_t priority, const std::string& mode) {
             return ValueOrThrow(k.w().AddFormula(name, rules, params, priority, mode == "strict"));
           },
           nb::arg("name"), nb::arg("rules"), nb::arg("params"), nb::arg("priority"), nb::arg("mode") = "ieee")
      .def("remove_processor", [](WorldKernel& k, std::int32_t id) { ThrowIfError(k.w().RemoveProcessor(id)); })
      .def("run_processor",
           [](WorldKernel& k, std::int32_t id, const std::string& table, nb::handle batch) {
             auto b = ImportBatch(batch);
             core::Result<std::shared_ptr<arrow::RecordBatch>> out = core::Status();
             {
               nb::gil_scoped_release release;
               out = k.w().RunProcessor(id, table, b);
             }
             return ExportBatch(ValueOrThrow(std::move(out)));
           })
      .def("step",
           [](WorldKernel& k) {
             core::Result<world::StepProfile> r = core::Status();
             {
               nb::gil_scoped_release release;
               r = k.w().Step();
             }
             return ProfileDict(ValueOrThrow(std::move(r)));
           })
      .def("step_begin",
           [](WorldKernel& k, const std::string& table) {
             core::Result<std::shared_ptr<arrow::RecordBatch>> r = core::Status();
             {
               nb::gil_scoped_release release;
               r = k.w().StepBegin(table);
             }
             return ExportBatch(ValueOrThrow(std::move(r)));
           })
      .def("step_commit",
           [](WorldKernel& k, const std::string& table, nb::handle batch) -> nb::object {
             auto b = ImportBatch(batch);
             core::Result<std::optional<world::StepProfile>> r = core::Status();
             {
               nb::gil_scoped_release release;
               r = k.w().StepCommit(table, b);
             }
             auto p = ValueOrThrow(std::move(r));
             if (!p) return nb::none();
             return ProfileDict(*p);
           })
      .def("step_abort", [](WorldKernel& k, const std::string& table) { ThrowIfError(k.w().StepAbort(table)); })
      .def(
          "query",
          [](WorldKernel& k, const std::string& table, int source, std::optional<std::string> world_id,
             std::optional<std::string> run_id, std::optional<std::vector<std::int32_t>> ticks,
             std::optional<std::pair<std::int32_t, std::int32_t>> tick_range,
             std::optional<std::vector<std::int32_t>> entity_ids, bool active_only) {
            if (source < 0 || source > 2) ThrowIfError(core::Status(8, "unknown query source"));
            world::ReadFilter f;
            f.world_id = std::move(world_id);
            f.run_id = std::move(run_id);
            f.ticks = std::move(ticks);
            f.tick_range = tick_range;
            f.entity_ids = std::move(entity_ids);
            f.active_only = active_only;
            std::shared_ptr<arrow::Schema> schema;
            core::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> r = core::Status();
            {
              nb::gil_scoped_release release;
              r = k.w().Query(table, static_cast<world::Source>(source), f, &schema);
            }
            auto batches = ValueOrThrow(std::move(r));
            return ExportStream(schema, std::move(batches));
          },
          nb::arg("table"), nb::arg("source"), nb::arg("world_id").none(), nb::arg("run_id").none(),
          nb::arg("ticks").none(), nb::arg("tick_range").none(), nb::arg("entity_ids").none(), nb::arg("active_only"))
      .def("flush",
           [](WorldKernel& k) {
             nb::gil_scoped_release release;
             ThrowIfError(k.w().Flush());
           })
      .def("close",
           [](WorldKernel& k, bool discard) {
             nb::gil_scoped_release release;
             ThrowIfError(k.w().Close(discard));
           },
           nb::arg("discard") = false)
      .def("set_fault_plan", [](WorldKernel& k, const std::string& plan) { ThrowIfError(k.w().SetFaultPlan(plan)); });
}

}  // namespace kiln::python
