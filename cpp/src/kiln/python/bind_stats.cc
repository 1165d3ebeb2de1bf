// kiln._kiln statistics entry points: kiln.stats rollups and the benchmark statistics of kiln.bench
// (specs/formula.md C.2, C.3).
//
// Python resolves inputs (numpy, Arrow chunks, sequences) to contiguous float64 buffers and keeps
// them alive; these functions only read them, with the GIL released, and return plain Python values.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/array.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <span>
#include <string>
#include <vector>

#include "kiln/core/bench/bootstrap.h"
#include "kiln/core/bench/mann_whitney.h"
#include "kiln/core/bench/summary.h"
#include "kiln/core/error_codes.h"
#include "kiln/core/stats/moments.h"
#include "kiln/core/stats/rollup.h"
#include "kiln/python/errors.h"

namespace nb = nanobind;

namespace kiln::python {
namespace {

using F64Array = nb::ndarray<const double, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

std::span<const double> View(const F64Array& a) { return {a.data(), a.shape(0)}; }

std::vector<std::span<const double>> Views(const std::vector<F64Array>& chunks) {
  std::vector<std::span<const double>> out;
  out.reserve(chunks.size());
  for (const auto& c : chunks) out.push_back(View(c));
  return out;
}

nb::tuple Rollup(const std::vector<F64Array>& chunks, std::vector<double> quantiles, bool sum, bool extremes,
                 bool stddev, int ddof, bool skipna, bool strict, int threads, std::string stat) {
  core::stats::RollupOptions o;
  o.quantiles = std::move(quantiles);
  o.sum = sum;
  o.extremes = extremes;
  o.stddev = stddev;
  o.ddof = ddof;
  o.skipna = skipna;
  o.strict = strict;
  o.threads = threads < 1 ? 1 : threads;
  o.stat = std::move(stat);
  const auto views = Views(chunks);
  core::Result<core::stats::Rollup> r = core::Status();
  {
    nb::gil_scoped_release release;
    r = core::stats::ComputeRollup(views, o);
  }
  const auto& v = ValueOrThrow(std::move(r));
  return nb::make_tuple(v.count, v.nan_count, v.sum, v.mean, v.min, v.max, v.stddev, v.quantiles);
}

double Pearson(const F64Array& x, const F64Array& y) {
  if (x.shape(0) != y.shape(0))
    throw NativeError(core::errors::stats_length_mismatch(static_cast<std::int64_t>(x.shape(0)),
                                                          static_cast<std::int64_t>(y.shape(0))));
  nb::gil_scoped_release release;
  return core::stats::Pearson(View(x), View(y));
}

nb::object Interval(const std::optional<std::array<double, 2>>& ci) {
  if (!ci) return nb::none();
  nb::list l;
  l.append((*ci)[0]);
  l.append((*ci)[1]);
  return l;
}

template <class T>
nb::object Opt(const std::optional<T>& v) {
  return v ? nb::cast(*v) : nb::none();
}

nb::dict Summarize(const F64Array& samples, const std::string& name, const std::string& impl, double work_count) {
  core::bench::Summary s;
  {
    nb::gil_scoped_release release;
    s = core::bench::Summarize(View(samples), name, impl, work_count);
  }
  nb::dict d;
  d["n"] = s.n;
  if (s.n == 0) return d;
  d["min"] = s.min;
  d["max"] = s.max;
  d["mean"] = s.mean;
  d["stddev"] = Opt(s.stddev);
  d["median"] = s.median;
  d["mad"] = s.mad;
  d["q1"] = s.q1;
  d["q3"] = s.q3;
  d["iqr"] = s.iqr;
  d["p95"] = s.p95;
  d["outliers_mild"] = s.outliers_mild;
  d["outliers_severe"] = s.outliers_severe;
  d["ci95"] = Interval(s.ci95);
  d["cost_per_unit"] = Opt(s.cost_per_unit);
  d["throughput"] = Opt(s.throughput);
  return d;
}

std::vector<double> BootstrapMedians(const F64Array& x, const std::string& name, const std::string& impl,
                                     std::size_t resamples) {
  nb::gil_scoped_release release;
  return core::bench::BootstrapMedians(View(x), name, impl, resamples);
}

nb::object BootstrapCI(const F64Array& x, const std::string& name, const std::string& impl) {
  std::optional<std::array<double, 2>> ci;
  {
    nb::gil_scoped_release release;
    ci = core::bench::BootstrapCI(View(x), name, impl);
  }
  return Interval(ci);
}

nb::object RatioCI(const F64Array& peer, const F64Array& kiln, const std::string& name, const std::string& peer_impl,
                   const std::string& kiln_impl, bool higher_is_better) {
  std::optional<std::array<double, 2>> ci;
  {
    nb::gil_scoped_release release;
    ci = core::bench::RatioCI(View(peer), View(kiln), name, peer_impl, kiln_impl, higher_is_better);
  }
  return Interval(ci);
}

nb::tuple MannWhitney(const F64Array& a, const F64Array& b) {
  core::bench::MannWhitney r{};
  {
    nb::gil_scoped_release release;
    r = core::bench::MannWhitneyU(View(a), View(b));
  }
  return nb::make_tuple(r.u1, r.p);
}

}  // namespace

void BindStats(nb::module_& m) {
  m.def("stats_rollup", &Rollup, nb::arg("chunks"), nb::arg("quantiles"), nb::arg("sum"), nb::arg("extremes"),
        nb::arg("stddev"),
        nb::arg("ddof"), nb::arg("skipna"), nb::arg("strict"), nb::arg("threads"), nb::arg("stat"),
        "(count, nan_count, sum, mean, min, max, stddev, quantiles) of float64 chunks (kiln.stats).");
  m.def("stats_pearson", &Pearson, nb::arg("x"), nb::arg("y"), "Pearson's r of two float64 arrays (kiln.stats).");
  m.def("bench_summarize", &Summarize, nb::arg("samples"), nb::arg("name"), nb::arg("impl"), nb::arg("work_count"),
        "Summary of benchmark samples (kiln.bench.stats.summarize).");
  m.def("bench_bootstrap_medians", &BootstrapMedians, nb::arg("samples"), nb::arg("name"), nb::arg("impl"),
        nb::arg("resamples"), "Medians of Philox-keyed bootstrap resamples, in draw order.");
  m.def("bench_bootstrap_ci", &BootstrapCI, nb::arg("samples"), nb::arg("name"), nb::arg("impl"),
        "95 % bootstrap interval of the median, or None below 2 samples.");
  m.def("bench_ratio_ci", &RatioCI, nb::arg("peer"), nb::arg("kiln"), nb::arg("name"), nb::arg("peer_impl"),
        nb::arg("kiln_impl"), nb::arg("higher_is_better"), "95 % bootstrap interval of a ratio of medians.");
  m.def("bench_mann_whitney", &MannWhitney, nb::arg("a"), nb::arg("b"), "Two-sided Mann-Whitney U: (U of a, p).");
}

}  // namespace kiln::python
