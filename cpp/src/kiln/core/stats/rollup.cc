#include "kiln/core/stats/rollup.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <thread>

#include "kiln/core/error_codes.h"
#include "kiln/core/program/exact_sum.h"
#include "kiln/core/stats/chunked_sum.h"
#include "kiln/core/stats/order_statistics.h"

namespace kiln::core::stats {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::size_t kNone = static_cast<std::size_t>(-1);

// What one thread learns from its slice in the first pass.
struct Partial {
  ChunkedSum sum, sum2;  // two accumulators: alternating values breaks the bins' dependency chain
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

// True when no value is NaN or infinite (exponent field all ones), by an integer OR-reduction the
// compiler vectorises.
bool AllFinite(const double* x, std::size_t n) {
  std::uint64_t bad = 0;
  for (std::size_t j = 0; j < n; ++j) bad |= (((std::bit_cast<std::uint64_t>(x[j]) >> 52) & 0x7ff) + 1) >> 11;
  return bad == 0;
}

std::string KindOf(double v) { return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"); }

}  // namespace

Result<Rollup> ComputeRollup(std::span<const std::span<const double>> chunks, const RollupOptions& o) {
  for (double q : o.quantiles)
    if (!(q >= 0.0 && q <= 1.0)) return errors::stats_invalid_quantile(q);
  std::size_t total = 0;
  for (auto c : chunks) total += c.size();
  const int parts = (total >= kParallelValues && o.threads > 1) ? o.threads : 1;
  const bool want_sum = o.sum || o.stddev;  // the deviations need the mean

  std::vector<Partial> partials(static_cast<std::size_t>(parts));
  RunSlices(total, parts, [&](int i, std::size_t lo, std::size_t hi) {
    Partial& p = partials[static_cast<std::size_t>(i)];
    ForRange(chunks, lo, hi, [&](const double* x, std::size_t n, std::size_t base) {
      if (AllFinite(x, n)) {  // the common case: loops without branches on the values
        p.count += n;
        if (want_sum) {
          std::size_t j = 0;
          for (; j + 1 < n; j += 2) {
            p.sum.add(x[j]);
            p.sum2.add(x[j + 1]);
          }
          if (j < n) p.sum.add(x[j]);
        }
        if (o.extremes && n > 0) {
          double mn = x[0], mx = x[0];
          for (std::size_t j = 1; j < n; ++j) {
            mn = x[j] < mn ? x[j] : mn;
            mx = x[j] > mx ? x[j] : mx;
          }
          // `<` cannot tell -0.0 from 0.0: settle a zero extreme under the total order.
          if (mn == 0.0) mn = std::any_of(x, x + n, [](double v) { return v == 0.0 && std::signbit(v); }) ? -0.0 : 0.0;
          if (mx == 0.0) mx = std::any_of(x, x + n, [](double v) { return v == 0.0 && !std::signbit(v); }) ? 0.0 : -0.0;
          if (!p.any) {
            p.min = mn;
            p.max = mx;
            p.any = true;
          } else {
            if (TotalLess(mn, p.min)) p.min = mn;
            if (TotalLess(p.max, mx)) p.max = mx;
          }
        }
        return;
      }
      for (std::size_t j = 0; j < n; ++j) {
        const double v = x[j];
        if (std::isnan(v)) {
          ++p.nan_count;
          if (o.skipna) continue;
          p.nan_seen = true;
        }
        if (p.first_nonfinite == kNone && !std::isfinite(v)) p.first_nonfinite = base + j;
        ++p.count;
        if (want_sum) p.sum.add(v);
        if (!o.extremes) continue;
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
    p.sum.add_to(sum);
    p.sum2.add_to(sum);
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
  r.min = empty || nan_seen || !o.extremes ? kNaN : mn;
  r.max = empty || nan_seen || !o.extremes ? kNaN : mx;
  r.stddev = kNaN;
  if (o.stddev && !empty && !nan_seen && r.count > static_cast<std::size_t>(std::max(o.ddof, 0))) {
    std::vector<ChunkedSum> sq(2 * static_cast<std::size_t>(parts));
    const double mean = r.mean;
    RunSlices(total, parts, [&](int i, std::size_t lo, std::size_t hi) {
      ChunkedSum& s = sq[2 * static_cast<std::size_t>(i)];
      ChunkedSum& s2 = sq[2 * static_cast<std::size_t>(i) + 1];
      ForRange(chunks, lo, hi, [&](const double* x, std::size_t n, std::size_t) {
        std::size_t j = 0;
        if (!o.skipna) {
          for (; j + 1 < n; j += 2) {
            const double d = x[j] - mean, d2 = x[j + 1] - mean;
            s.add(d * d);
            s2.add(d2 * d2);
          }
        }
        for (; j < n; ++j) {
          if (o.skipna && std::isnan(x[j])) continue;
          const double d = x[j] - mean;
          s.add(d * d);
        }
      });
    });
    ExactSum all;
    for (const auto& s : sq) s.add_to(all);
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
