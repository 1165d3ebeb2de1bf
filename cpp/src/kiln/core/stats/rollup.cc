#include "kiln/core/stats/rollup.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <new>
#include <thread>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kiln/core/buffer_cache.h"
#include "kiln/core/cpu_features.h"
#include "kiln/core/error_codes.h"
#include "kiln/core/program/exact_sum.h"
#include "kiln/core/stats/certified_sum.h"
#include "kiln/core/stats/chunked_sum.h"
#include "kiln/core/stats/order_statistics.h"

namespace kiln::core::stats {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::size_t kNone = static_cast<std::size_t>(-1);

// The IEEE sum of the infinities and NaNs of a sum, which decides it (as ExactSum keeps them).
struct SpecialSum {
  double value = 0.0;
  bool any = false;
  void add(double v) {
    value = any ? value + v : v;
    any = true;
  }
};

// What one thread learns from its slice in the first pass.
struct Partial {
  CertifiedSum sum;     // the finite values (exact fallback: ExactSumOf)
  SpecialSum special;   // the others
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

#if defined(KILN_HAVE_AVX2_DISPATCH)

// x - x is +0 for a finite x and NaN otherwise; sixteen lanes of sums of those stay 0 or turn NaN.
__attribute__((target("avx2"))) bool AllFiniteAvx2(const double* x, std::size_t n) {
  __m256d acc[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
  std::size_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int k = 0; k < 4; ++k) {
      const __m256d v = _mm256_loadu_pd(x + j + 4 * k);
      acc[k] = _mm256_add_pd(acc[k], _mm256_sub_pd(v, v));
    }
  const __m256d all = _mm256_add_pd(_mm256_add_pd(acc[0], acc[1]), _mm256_add_pd(acc[2], acc[3]));
  if (_mm256_movemask_pd(_mm256_cmp_pd(all, all, _CMP_UNORD_Q)) != 0) return false;
  for (; j < n; ++j)
    if (!std::isfinite(x[j])) return false;
  return true;
}

// FiniteExtremes' lanes in AVX2: four registers of four, the same compare-select per lane.
__attribute__((target("avx2"))) void FiniteExtremesAvx2(const double* x, std::size_t n, double* min_out,
                                                          double* max_out) {
  __m256d lo[4], hi[4];
  for (int k = 0; k < 4; ++k) lo[k] = hi[k] = _mm256_loadu_pd(x + 4 * k);
  std::size_t j = 16;
  for (; j + 16 <= n; j += 16)
    for (int k = 0; k < 4; ++k) {
      const __m256d v = _mm256_loadu_pd(x + j + 4 * k);
      lo[k] = _mm256_min_pd(v, lo[k]);
      hi[k] = _mm256_max_pd(v, hi[k]);
    }
  double l[16], h[16];
  for (int k = 0; k < 4; ++k) {
    _mm256_storeu_pd(l + 4 * k, lo[k]);
    _mm256_storeu_pd(h + 4 * k, hi[k]);
  }
  double mn = l[0], mx = h[0];
  for (int k = 1; k < 16; ++k) {
    mn = l[k] < mn ? l[k] : mn;
    mx = h[k] > mx ? h[k] : mx;
  }
  for (; j < n; ++j) {
    mn = x[j] < mn ? x[j] : mn;
    mx = x[j] > mx ? x[j] : mx;
  }
  *min_out = mn;
  *max_out = mx;
}
#endif

// True when no value is NaN or infinite (exponent field all ones), by an integer OR-reduction the
// compiler vectorises (AVX2: the x - x sums above).
bool AllFinite(const double* x, std::size_t n) {
#if defined(KILN_HAVE_AVX2_DISPATCH)
  if (HasAvx2()) return AllFiniteAvx2(x, n);
#endif
  std::uint64_t bad = 0;
  for (std::size_t j = 0; j < n; ++j) bad |= (((std::bit_cast<std::uint64_t>(x[j]) >> 52) & 0x7ff) + 1) >> 11;
  return bad == 0;
}

// min and max of n > 0 finite values by `<` (zeros of either sign compare equal: the caller
// settles their sign). With AVX2, sixteen independent lanes: one compare-select chain was
// ~1.5 ns per value, its latency; the lanes run at load throughput.
void FiniteExtremes(const double* x, std::size_t n, double* min_out, double* max_out) {
#if defined(KILN_HAVE_AVX2_DISPATCH)
  if (HasAvx2() && n >= 16) return FiniteExtremesAvx2(x, n, min_out, max_out);
#endif
  std::size_t j = 0;
  double mn = x[0], mx = x[0];
  for (; j < n; ++j) {
    mn = x[j] < mn ? x[j] : mn;
    mx = x[j] > mx ? x[j] : mx;
  }
  *min_out = mn;
  *max_out = mx;
}

std::string KindOf(double v) { return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"); }

// n doubles of scratch from the column pool (recycled, so its pages stay resident between calls).
class PooledScratch {
 public:
  explicit PooledScratch(std::size_t n) : bytes_(static_cast<std::int64_t>(std::max<std::size_t>(n, 1) * sizeof(double))) {
    if (!ColumnPool()->Allocate(bytes_, kAlignment, &data_).ok()) throw std::bad_alloc();
  }
  ~PooledScratch() { ColumnPool()->Free(data_, bytes_, kAlignment); }
  PooledScratch(const PooledScratch&) = delete;
  PooledScratch& operator=(const PooledScratch&) = delete;
  double* data() { return reinterpret_cast<double*>(data_); }

 private:
  static constexpr std::int64_t kAlignment = 64;
  std::int64_t bytes_;
  std::uint8_t* data_ = nullptr;
};

// The exact sum of f(v) over the values (NaN skipped under skipna), on `parts` slices: the
// fallback when a CertifiedSum cannot prove its rounding.
template <class F>
ExactSum ExactSumOf(std::span<const std::span<const double>> chunks, std::size_t total, int parts, bool skipna, F f) {
  std::vector<ChunkedSum> acc(static_cast<std::size_t>(parts));
  RunSlices(total, parts, [&](int i, std::size_t lo, std::size_t hi) {
    ChunkedSum& s = acc[static_cast<std::size_t>(i)];
    ForRange(chunks, lo, hi, [&](const double* x, std::size_t n, std::size_t) {
      for (std::size_t j = 0; j < n; ++j)
        if (!(skipna && std::isnan(x[j]))) s.add(f(x[j]));
    });
  });
  ExactSum out;
  for (const auto& s : acc) s.add_to(out);
  return out;
}

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
        if (want_sum) p.sum.add(x, n);
        if (o.extremes && n > 0) {
          double mn, mx;
          FiniteExtremes(x, n, &mn, &mx);
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
        if (want_sum) {
          if (std::isfinite(v))
            p.sum.add(v);
          else
            p.special.add(v);
        }
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
  CertifiedSum sum;
  SpecialSum special;
  bool any = false, nan_seen = false;
  std::size_t first_nonfinite = kNone;
  double mn = 0.0, mx = 0.0;
  for (const auto& p : partials) {  // in slice order: the first non-finite index is the global first
    r.count += p.count;
    r.nan_count += p.nan_count;
    sum.merge(p.sum);
    if (p.special.any) special.add(p.special.value);
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
  r.mean = 0.0;  // sum and mean of an accumulator nothing was asked of, as before
  if (special.any) {  // what ExactSum gives: the specials decide, finite values do not matter
    r.sum = special.value;
    r.mean = special.value / static_cast<double>(r.count);
  } else if (want_sum) {
    auto fast_sum = sum.value();
    auto fast_mean = empty ? std::optional<double>(kNaN) : sum.divided_by(r.count);
    if (!fast_sum || !fast_mean) {  // too close to a rounding boundary (or zero): sum exactly
      const ExactSum exact = ExactSumOf(chunks, total, parts, o.skipna, [](double v) { return v; });
      fast_sum = exact.value();
      fast_mean = empty ? kNaN : exact.divided_by(r.count);
    }
    r.sum = *fast_sum;
    r.mean = *fast_mean;
  }
  if (nan_seen) r.sum = kNaN;
  if (empty || nan_seen) r.mean = kNaN;
  r.min = empty || nan_seen || !o.extremes ? kNaN : mn;
  r.max = empty || nan_seen || !o.extremes ? kNaN : mx;
  r.stddev = kNaN;
  if (o.stddev && !empty && !nan_seen && r.count > static_cast<std::size_t>(std::max(o.ddof, 0))) {
    const double mean = r.mean;
    auto square = [mean](double v) {
      const double d = v - mean;
      return d * d;
    };
    std::vector<CertifiedSum> sq(static_cast<std::size_t>(parts));
    RunSlices(total, parts, [&](int i, std::size_t lo, std::size_t hi) {
      CertifiedSum& acc = sq[static_cast<std::size_t>(i)];
      double block[256];
      ForRange(chunks, lo, hi, [&](const double* x, std::size_t n, std::size_t) {
        if (!o.skipna) {  // no NaN here (nan_seen would have skipped the pass): a loop that vectorises
          for (std::size_t i = 0; i < n; i += 256) {
            const std::size_t k = std::min<std::size_t>(256, n - i);
            for (std::size_t j = 0; j < k; ++j) block[j] = square(x[i + j]);
            acc.add(block, k);
          }
          return;
        }
        std::size_t k = 0;
        for (std::size_t j = 0; j < n; ++j) {
          if (std::isnan(x[j])) continue;
          block[k++] = square(x[j]);
          if (k == 256) {
            acc.add(block, k);
            k = 0;
          }
        }
        acc.add(block, k);
      });
    });
    for (std::size_t i = 1; i < sq.size(); ++i) sq[0].merge(sq[i]);
    // Squares of finite deviations are finite unless they overflow; an overflow, a zero variance or
    // a sum near a rounding boundary goes to the exact path.
    auto fast = sq[0].value();
    const double squares = fast ? *fast : ExactSumOf(chunks, total, parts, o.skipna, square).value();
    r.stddev = std::sqrt(squares / static_cast<double>(r.count - static_cast<std::size_t>(o.ddof)));

  }
  r.quantiles.assign(o.quantiles.size(), kNaN);
  if (!o.quantiles.empty() && !empty && !nan_seen) {
    // The selection's scratch copy comes from the column pool: a fresh 8 MB vector per call paid
    // ~6 ms of first-touch page faults at 10^6 values on the reference VM, half of R4's time.
    PooledScratch work(r.count);
    std::size_t k = 0;
    for (auto c : chunks)
      for (double v : c)
        if (!std::isnan(v)) work.data()[k++] = v;
    QuantilesLinear(std::span<double>(work.data(), k), o.quantiles, r.quantiles);
  }
  return r;
}

}  // namespace kiln::core::stats
