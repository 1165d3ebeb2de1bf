#include "kiln/core/stats/rollup.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>

#include "kiln/core/error_codes.h"
#include "kiln/core/program/exact_sum.h"
#include "kiln/core/stats/order_statistics.h"

namespace kiln::core::stats {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::size_t kNone = static_cast<std::size_t>(-1);

// What one thread learns from its slice in the first pass.
struct Partial {
  ExactSum sum;
  std::size_t count = 0, nan_count = 0;
  std::size_t first_nonfinite = kNone;  // global index
  bool any = false;                     // a value entered min/max
  bool nan_seen = false;
  double min = 0.0, max = 0.0;
};

// Calls fn(values, n, global_offset) for the parts of the chunks inside [lo, hi).
template <class Fn>
void ForRange(std::span<const std::span<const double>> chunks, std::size_t lo, std::size_t hi, Fn&& fn) {
  std::size_t offset = 0;
  for (auto c : chunks) {
    const std::size_t b = std::max(lo, offset), e = std::min(hi, offset + c.size());
    if (b < e) fn(c.data() + (b - offset), e - b, b);
    offset += c.size();
    if (offset >= hi) break;
  }
}

// Runs task(i, lo, hi) over `parts` equal slices of [0, total), slice 0 on the calling thread.
template <class Task>
void RunSlices(std::size_t total, int parts, Task&& task) {
  std::vector<std::thread> pool;
  const std::size_t per = (total + static_cast<std::size_t>(parts) - 1) / static_cast<std::size_t>(parts);
  for (int i = 1; i < parts; ++i) {
    const std::size_t lo = std::min(total, per * static_cast<std::size_t>(i));
    const std::size_t hi = std::min(total, lo + per);
    pool.emplace_back([&task, i, lo, hi] { task(i, lo, hi); });
  }
  task(0, 0, std::min(total, per));
  for (auto& t : pool) t.join();
}

std::string KindOf(double v) { return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"); }

}  // namespace

Result<Rollup> ComputeRollup(std::span<const std::span<const double>> chunks, const RollupOptions& o) {
  for (double q : o.quantiles)
    if (!(q >= 0.0 && q <= 1.0)) return errors::stats_invalid_quantile(q);
  std::size_t total = 0;
  for (auto c : chunks) total += c.size();
  const int parts = (total >= kParallelValues && o.threads > 1) ? o.threads : 1;

  std::vector<Partial> partials(static_cast<std::size_t>(parts));
  RunSlices(total, parts, [&](int i, std::size_t lo, std::size_t hi) {
    Partial& p = partials[static_cast<std::size_t>(i)];
    ForRange(chunks, lo, hi, [&](const double* x, std::size_t n, std::size_t base) {
      for (std::size_t j = 0; j < n; ++j) {
        const double v = x[j];
        if (std::isnan(v)) {
          ++p.nan_count;
          if (o.skipna) continue;
          p.nan_seen = true;
        }
        if (p.first_nonfinite == kNone && !std::isfinite(v)) p.first_nonfinite = base + j;
        ++p.count;
        if (o.moments) p.sum.add(v);
        if (!p.any) {
          p.min = p.max = v;
          p.any = true;
        } else {
          if (TotalLess(v, p.min)) p.min = v;
          if (TotalLess(p.max, v)) p.max = v;
        }
      }
    });
  });
  Rollup r;
  ExactSum sum;
  bool any = false, nan_seen = false;
  std::size_t first_nonfinite = kNone;
  double mn = 0.0, mx = 0.0;
  for (const auto& p : partials) {  // in slice order: the first non-finite index is the global first
    r.count += p.count;
    r.nan_count += p.nan_count;
    sum.add(p.sum);
    nan_seen = nan_seen || p.nan_seen;
    if (first_nonfinite == kNone) first_nonfinite = p.first_nonfinite;
    if (p.any && !p.nan_seen) {
      if (!any) {
        mn = p.min;
        mx = p.max;
        any = true;
      } else {
        if (TotalLess(p.min, mn)) mn = p.min;
        if (TotalLess(mx, p.max)) mx = p.max;
      }
    }
  }
  if (o.strict) {
    if (r.count == 0) return errors::stats_empty(o.stat);
    if (first_nonfinite != kNone) {
      double v = 0.0;
      ForRange(chunks, first_nonfinite, first_nonfinite + 1, [&](const double* x, std::size_t, std::size_t) { v = x[0]; });
      return errors::stats_nonfinite(KindOf(v), static_cast<std::int64_t>(first_nonfinite));
    }
    if (o.stddev && r.count <= static_cast<std::size_t>(std::max(o.ddof, 0)))
      return errors::stats_degenerate(o.stat, "needs more than ddof = " + std::to_string(o.ddof) + " values");
  }
  const bool empty = r.count == 0;
  r.sum = nan_seen ? kNaN : sum.value();
  r.mean = empty || nan_seen ? kNaN : sum.divided_by(r.count);
  r.min = empty || nan_seen ? kNaN : mn;
  r.max = empty || nan_seen ? kNaN : mx;
  r.stddev = kNaN;
  if (o.stddev && !empty && !nan_seen && r.count > static_cast<std::size_t>(std::max(o.ddof, 0))) {
    std::vector<ExactSum> sq(static_cast<std::size_t>(parts));
    const double mean = r.mean;
    RunSlices(total, parts, [&](int i, std::size_t lo, std::size_t hi) {
      ExactSum& s = sq[static_cast<std::size_t>(i)];
      ForRange(chunks, lo, hi, [&](const double* x, std::size_t n, std::size_t) {
        for (std::size_t j = 0; j < n; ++j) {
          if (o.skipna && std::isnan(x[j])) continue;
          const double d = x[j] - mean;
          s.add(d * d);
        }
      });
    });
    ExactSum all;
    for (const auto& s : sq) all.add(s);
    r.stddev = std::sqrt(all.value() / static_cast<double>(r.count - static_cast<std::size_t>(o.ddof)));
  }
  r.quantiles.assign(o.quantiles.size(), kNaN);
  if (!o.quantiles.empty() && !empty && !nan_seen) {
    std::vector<double> work;
    work.reserve(r.count);
    for (auto c : chunks)
      for (double v : c)
        if (!std::isnan(v)) work.push_back(v);
    QuantilesLinear(work, o.quantiles, r.quantiles);
  }
  return r;
}

}  // namespace kiln::core::stats
