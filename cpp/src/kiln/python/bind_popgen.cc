// The popgen part of kiln._kiln (wrapped by python/kiln/popgen/_native.py). Model parameters
// arrive as a dict already type-checked by kiln.popgen.Params; the kernel re-validates every
// range, so direct callers get catalog errors too. Long calls release the GIL; results leave as
// Arrow C stream capsules (zero-copy into pyarrow, polars, duckdb).
#include <arrow/record_batch.h>
#include <arrow/table.h>
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

#include "kiln/core/detmath.h"
#include "kiln/core/error_codes.h"
#include "kiln/core/part_store.h"
#include "kiln/popgen/batch.h"
#include "kiln/popgen/samplers.h"
#include "kiln/popgen/streams.h"
#include "kiln/python/arrow_capsule.h"
#include "kiln/python/errors.h"

namespace kiln::python {
namespace {

namespace errors = core::errors;
using namespace kiln::popgen;

template <class E>
E ParseEnum(const nb::dict& d, const char* key, std::initializer_list<std::pair<const char*, E>> options, E dflt) {
  if (!d.contains(key) || d[key].is_none()) return dflt;
  const std::string v = nb::cast<std::string>(d[key]);
  std::string valid;
  for (const auto& [name, e] : options) {
    if (v == name) return e;
    valid += (valid.empty() ? "" : ", ") + std::string(name);
  }
  auto st = errors::popgen_option_invalid(std::string(key) + "='" + v + "' is not one of " + valid);
  st.with_detail("parameter", key).with_detail("value", v);
  throw NativeError(st);
}

template <class T>
T Get(const nb::dict& d, const char* key, T dflt) {
  if (!d.contains(key) || d[key].is_none()) return dflt;
  return nb::cast<T>(d[key]);
}

template <class T>
std::optional<T> GetOpt(const nb::dict& d, const char* key) {
  if (!d.contains(key) || d[key].is_none()) return std::nullopt;
  return nb::cast<T>(d[key]);
}

Params ParseParams(const nb::dict& d) {
  Params p;
  p.K = Get<std::int64_t>(d, "K", 0);
  p.n = static_cast<std::int32_t>(Get<std::int64_t>(d, "n", 0));
  p.R = Get<double>(d, "R", 10.0);
  p.u = Get<double>(d, "u", 0.0);
  p.T = Get<double>(d, "T", std::numeric_limits<double>::infinity());
  p.offspring_dist = ParseEnum<OffspringDist>(
      d, "offspring_dist", {{"poisson", OffspringDist::kPoisson}, {"stochastic_rounding", OffspringDist::kStochasticRounding}},
      OffspringDist::kPoisson);
  p.mating = ParseEnum<Mating>(d, "mating", {{"per_offspring", Mating::kPerOffspring}, {"per_female", Mating::kPerFemale}},
                               Mating::kPerOffspring);
  p.mutation = ParseEnum<Mutation>(d, "mutation", {{"up", Mutation::kUp}, {"symmetric", Mutation::kSymmetric}}, Mutation::kUp);
  p.locus_phase = ParseEnum<LocusPhase>(
      d, "locus_phase", {{"synchronous", LocusPhase::kSynchronous}, {"staggered", LocusPhase::kStaggered}},
      LocusPhase::kSynchronous);
  if (auto v = GetOpt<std::int64_t>(d, "allele_min")) p.allele_min = static_cast<std::int32_t>(*v);
  if (auto v = GetOpt<std::int64_t>(d, "allele_max")) p.allele_max = static_cast<std::int32_t>(*v);
  p.female_fraction = Get<double>(d, "female_fraction", 0.5);
  p.optimum_offset = Get<double>(d, "optimum_offset", 0.0);
  p.initial_size = Get<std::int64_t>(d, "initial_size", 0);
  p.initial_allele = static_cast<std::int32_t>(Get<std::int64_t>(d, "initial_allele", 0));
  p.burn_in = Get<std::int64_t>(d, "burn_in", 0);
  p.quasi_extinction = Get<std::int64_t>(d, "quasi_extinction", 0);
  return p;
}

Record ParseRecord(const std::string& s) {
  if (s == "outcome") return Record::kOutcome;
  if (s == "summary") return Record::kSummary;
  if (s == "full") return Record::kFull;
  auto st = errors::popgen_option_invalid("record='" + s + "' is not one of outcome, summary, full");
  throw NativeError(st.with_detail("parameter", "record"));
}

nb::object Stream(const std::shared_ptr<arrow::RecordBatch>& b) {
  if (!b) return nb::none();
  return ExportStream(b->schema(), {b});
}

/// A user's cancel request for running batches (kiln.popgen.CancelToken): the kernel checks it
/// between generations and before each replicate, so completed runs are kept and the rest end
/// as K2207.
class CancelSource {
 public:
  void Cancel() { source_.request_stop(); }
  bool Cancelled() const { return source_.stop_requested(); }
  std::stop_source& source() { return source_; }

 private:
  std::stop_source source_;
};

// How often the waiting caller takes the GIL back to run Python signal handlers (Ctrl-C).
constexpr std::chrono::milliseconds kSignalPoll{50};

nb::tuple RunMany(nb::list specs, const std::string& record, std::int64_t record_every, bool final_population,
                  std::optional<std::int64_t> stop_min_N, std::optional<double> stop_max_msd,
                  std::uint64_t max_memory_bytes, std::uint64_t max_record_bytes, int workers,
                  bool stop_group_on_extinction, CancelSource* cancel) {
  std::vector<RunSpec> rs;
  rs.reserve(specs.size());
  for (nb::handle h : specs) {
    nb::dict d = nb::cast<nb::dict>(h);
    RunSpec s;
    s.params = ParseParams(nb::cast<nb::dict>(d["params"]));
    s.seed = nb::cast<std::uint64_t>(d["seed"]);
    s.replicate = nb::cast<std::uint64_t>(d["replicate"]);
    s.horizon = nb::cast<std::int64_t>(d["horizon"]);
    s.group = Get<std::int64_t>(d, "group", -1);
    rs.push_back(std::move(s));
  }
  RunOptions opts;
  opts.record = ParseRecord(record);
  opts.record_every = record_every;
  opts.final_population = final_population;
  opts.stop.min_N = stop_min_N;
  opts.stop.max_msd = stop_max_msd;
  opts.max_memory_bytes = max_memory_bytes;
  opts.max_record_bytes = max_record_bytes;
  ParallelOptions par{workers, stop_group_on_extinction};
  core::Result<std::vector<RunResult>> res = core::Status::OK();
  std::shared_ptr<arrow::RecordBatch> runs;
  // A signal (Ctrl-C) raises in the main thread only when it holds the GIL, so the batch runs on
  // its own thread while this one wakes every kSignalPoll to run the handlers. A handler's
  // exception requests a stop; the batch then finishes its current generation, every completed
  // run is returned, and the exception goes back to Python beside the results (never dropped).
  std::stop_source local;
  std::stop_source& source = cancel ? cancel->source() : local;
  nb::object signal_exc = nb::none();
  {
    std::mutex mu;
    std::condition_variable cv;
    bool finished = false;
    std::jthread runner([&] {
      auto r = SimulateMany(rs, opts, par, source.get_token());
      std::shared_ptr<arrow::RecordBatch> b;
      if (r.ok()) {
        auto batch = RunsToBatch(*r);
        if (!batch.ok()) r = batch.status();
        else b = *batch;
      }
      std::lock_guard<std::mutex> lk(mu);
      res = std::move(r);
      runs = std::move(b);
      finished = true;
      cv.notify_all();
    });
    for (;;) {
      bool done;
      {
        nb::gil_scoped_release release;
        std::unique_lock<std::mutex> lk(mu);
        done = cv.wait_for(lk, kSignalPoll, [&] { return finished; });
      }
      if (done) break;
      if (signal_exc.is_none() && PyErr_CheckSignals() != 0) {
        PyObject *type = nullptr, *value = nullptr, *tb = nullptr;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        if (tb && value) PyException_SetTraceback(value, tb);
        signal_exc = nb::steal(value);
        Py_XDECREF(type);
        Py_XDECREF(tb);
        source.request_stop();
      }
    }
  }
  std::vector<RunResult> results = ValueOrThrow(std::move(res));
  nb::list gens, pops, messages;
  for (const auto& r : results) {
    gens.append(Stream(r.generations));
    pops.append(Stream(r.final_population));
    messages.append(nb::str(r.error_message.c_str()));
  }
  return nb::make_tuple(Stream(runs), gens, pops, messages, signal_exc);
}

// The sweep results store is the core part store (specs/README.md: one PartStore, popgen maps its
// lock and corruption errors to K2401/K2403); Python only decides what goes into each commit.
core::Status MapStoreStatus(const core::Status& st) {
  if (st.ok()) return st;
  core::Status out = st;
  if (st.code() == static_cast<std::int32_t>(errors::Code::CORE_STORE_LOCKED)) {
    out = errors::popgen_store_locked(st.message());
  } else if (st.code() == static_cast<std::int32_t>(errors::Code::CORE_STORE_CORRUPT)) {
    out = errors::popgen_store_corrupt(st.message());
  }
  return out;
}

class SweepPartStore {
 public:
  SweepPartStore(const std::string& root, const std::string& ns, const std::string& writer_key, bool fsync) {
    auto r = core::PartStore::Open(root, ns, writer_key, fsync ? core::Durability::kFsync : core::Durability::kProcess,
                                   nullptr);
    if (!r.ok()) throw NativeError(MapStoreStatus(r.status()));
    store_ = std::move(*r);
  }

  /// Stages one part per (table, data) and commits them atomically under `tick` with the JSON
  /// object `record_json`; returns the final part names. Nothing is visible if it fails.
  std::vector<std::string> Commit(std::int32_t tick, const std::string& record_json,
                                  const std::vector<std::pair<std::string, nb::object>>& tables) {
    Live();
    std::vector<std::shared_ptr<arrow::Table>> data;
    for (const auto& [name, obj] : tables) {
      auto batch = ImportBatch(obj);
      auto t = arrow::Table::FromRecordBatches({batch});
      if (!t.ok()) throw NativeError(errors::popgen_store_corrupt(t.status().ToString()));
      data.push_back(*t);
    }
    auto rec = core::Json::Parse(record_json, static_cast<std::int32_t>(errors::Code::POPGEN_STORE_CORRUPT));
    if (!rec.ok() || !rec->is_object()) throw NativeError(errors::popgen_store_corrupt("commit record is not a JSON object"));
    core::Json::Object record = rec->as_object();
    std::vector<std::string> names;
    core::Status failure;
    {
      nb::gil_scoped_release release;  // Parquet encoding and fsync take the bulk of a commit
      std::vector<core::StagedPart> staged;
      std::vector<core::Json::Object> extras;
      for (std::size_t i = 0; i < data.size() && failure.ok(); ++i) {
        auto part = store_->Stage(tables[i].first, *data[i], core::ParquetWriterSettings{});
        if (!part.ok()) {
          failure = part.status();
          break;
        }
        staged.push_back(*part);
        extras.emplace_back();
      }
      if (!failure.ok()) {
        store_->Discard(staged);
      } else {
        auto outcome = store_->Commit(tick, std::move(record), staged, extras);
        if (!outcome.committed) failure = outcome.status;
        for (const auto& p : staged) names.push_back(p.table + "/" + p.name);
      }
    }
    if (!failure.ok()) throw NativeError(MapStoreStatus(failure));
    return names;
  }

  std::vector<std::string> ListParts(const std::string& table) const {
    Live();
    return ValueOrThrow(store_->ListParts(table));
  }

  std::optional<std::string> LatestRecord() const {
    Live();
    auto r = store_->LatestRecord();
    if (!r.ok()) throw NativeError(MapStoreStatus(r.status()));
    if (!r->has_value()) return std::nullopt;
    return (*r)->Dump();
  }

  std::string Dir() const {
    Live();
    return store_->dir();
  }
  void Close() { store_.reset(); }  // releases the writer lock

 private:
  void Live() const {
    if (!store_) throw NativeError(errors::popgen_store_locked("the results store was closed"));
  }
  std::unique_ptr<core::PartStore> store_;
};

}  // namespace

void BindPopgen(nb::module_& m) {
  m.def("popgen_validate", [](nb::dict d) { ThrowIfError(Validate(ParseParams(d))); });
  m.def("popgen_resolve_horizon", [](double cycles, std::int64_t min_gen, std::int64_t max_gen, double T) {
    return ValueOrThrow(ResolveHorizonRule(cycles, min_gen, max_gen, T));
  });
  nb::class_<CancelSource>(m, "PopgenCancelSource", "A cancel request for running popgen batches.")
      .def(nb::init<>())
      .def("cancel", &CancelSource::Cancel, "Ask every batch using this source to stop; safe from any thread.")
      .def_prop_ro("cancelled", &CancelSource::Cancelled);
  m.def("popgen_run_many", &RunMany, nb::arg("specs"), nb::arg("record"), nb::arg("record_every"),
        nb::arg("final_population"), nb::arg("stop_min_N").none(), nb::arg("stop_max_msd").none(),
        nb::arg("max_memory_bytes"), nb::arg("max_record_bytes"), nb::arg("workers"),
        nb::arg("stop_group_on_extinction"), nb::arg("cancel").none() = nb::none(),
        "Runs replicates on the native pool; returns (runs stream, [generation streams], [final populations], "
        "[error messages], the exception a signal handler raised meanwhile or None).");
  nb::class_<SweepPartStore>(m, "PopgenPartStore",
                              "The core Parquet part store opened for one popgen writer (sweep results).")
      .def(nb::init<const std::string&, const std::string&, const std::string&, bool>(), nb::arg("root"),
           nb::arg("ns"), nb::arg("writer_key"), nb::arg("fsync"))
      .def("commit", &SweepPartStore::Commit, nb::arg("tick"), nb::arg("record_json"), nb::arg("tables"))
      .def("list_parts", &SweepPartStore::ListParts, nb::arg("table"))
      .def("latest_record", &SweepPartStore::LatestRecord)
      .def_prop_ro("dir", &SweepPartStore::Dir)
      .def("close", &SweepPartStore::Close);
  m.def("popgen_generation_schema", [](std::int64_t n, const std::string& record) {
    return ExportSchema(GenerationSchema(static_cast<std::int32_t>(n), ParseRecord(record)));
  });
  m.def("popgen_stream_counter", [](std::int64_t t, int purpose, std::uint64_t chunk) {
    auto c = StreamCounter(t, static_cast<Purpose>(purpose), chunk);
    return std::vector<std::uint64_t>(c.begin(), c.end());
  });
  m.def("philox_raw", [](std::uint64_t k0, std::uint64_t k1, std::vector<std::uint64_t> ctr, std::size_t count) {
    if (ctr.size() != 4) throw NativeError(errors::popgen_param_conflict("counter must have 4 words"));
    core::PhiloxStream s({k0, k1}, {ctr[0], ctr[1], ctr[2], ctr[3]});
    std::vector<std::uint64_t> out(count);
    for (auto& x : out) x = s.next_u64();
    return out;
  });
  m.def("popgen_fecundity", [](nb::dict d, std::vector<std::int64_t> N) {
    Params p = ParseParams(d);
    ThrowIfError(Validate(p));
    const double r = p.r();
    std::vector<double> out;
    for (auto x : N) {
      const double y = static_cast<double>(x) / static_cast<double>(p.K);
      out.push_back(2.0 * core::detmath::det_exp(r - r * core::detmath::det_exp(core::detmath::det_log(y) / r)));
    }
    return out;
  });
  m.def("popgen_survival", [](nb::dict d, std::int64_t t, std::vector<std::int64_t> sums) {
    // w for genotypes given as allele sums a+b, n per individual, exactly as the kernel computes it.
    Params p = ParseParams(d);
    ThrowIfError(Validate(p));
    const double rn = p.r() / p.n;
    std::vector<double> out;
    for (std::size_t i = 0; i + p.n <= sums.size(); i += p.n) {
      double w = 1.0;
      for (std::int32_t j = 0; j < p.n; ++j) {
        double phase = p.locus_phase == LocusPhase::kStaggered ? (j - (p.n - 1) / 2.0) / p.n : 0.0;
        const double th = p.optimum_offset + static_cast<double>(std::max<std::int64_t>(t, 0)) / p.T + phase;
        const double dd = static_cast<double>(sums[i + j]) / 2.0 - th;
        const double fj = core::detmath::det_exp(-rn * (dd * dd));
        w = j == 0 ? fj : w * fj;
      }
      out.push_back(w);
    }
    return out;
  });
  m.def("popgen_trace_generation", [](nb::dict d, std::uint64_t seed, std::uint64_t rep, std::int64_t t,
                                      std::vector<std::int32_t> alleles, std::vector<std::uint8_t> female) {
    auto tr = ValueOrThrow(TraceGeneration(ParseParams(d), seed, rep, t, alleles, female));
    nb::dict out;
    out["offspring_alleles"] = tr.offspring_alleles;
    out["offspring_female"] = tr.offspring_female;
    out["offspring_w"] = tr.offspring_w;
    out["survived"] = tr.survived;
    out["mothers"] = tr.mothers;
    out["fathers"] = tr.fathers;
    out["mutations"] = tr.mutations;
    out["blocked"] = tr.blocked;
    out["fecundity"] = tr.fecundity;
    return out;
  });
  m.def("det_math", [](const std::string& fn, std::vector<double> xs) {
    std::vector<double> out;
    for (double x : xs) {
      if (fn == "exp") out.push_back(core::detmath::det_exp(x));
      else if (fn == "log") out.push_back(core::detmath::det_log(x));
      else if (fn == "log1p") out.push_back(core::detmath::det_log1p(x));
      else throw NativeError(errors::popgen_option_invalid("det_math: unknown function " + fn));
    }
    return out;
  });
}

}  // namespace kiln::python
