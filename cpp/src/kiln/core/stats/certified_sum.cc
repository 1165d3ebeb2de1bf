#include "kiln/core/stats/certified_sum.h"

#include <limits>

#include "kiln/core/cpu_features.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace kiln::core::stats {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kUnitRoundoff = 0x1p-53;
// Covers the handful of roundings in computing a bound and its comparisons (each <= 2^-53).
constexpr double kSlack = 1.0 + 0x1p-30;

// s + x = t + e exactly (Knuth), when nothing overflows.
inline void TwoSum(double s, double x, double* t, double* e) {
  *t = s + x;
  const double z = *t - s;
  *e = (s - (*t - z)) + (x - z);
}

// True when x + err < limit is certain for the exact (unrounded) x + err, given
// 0 < limit - x (true whenever |x| <= limit). The computed difference is within a factor (1 + u)
// of the true one; kSlack on err covers it.
inline bool Below(double x, double err, double limit) { return err * kSlack < limit - x; }

// Half the gaps to the neighbours of a finite nonzero normal double, or nullopt when a neighbour
// is infinite or the half gap is not representable (subnormal range).
struct HalfGaps {
  double below, above;
};
std::optional<HalfGaps> GapsAround(double v) {
  const double up = std::nextafter(v, kInf), down = std::nextafter(v, -kInf);
  if (!std::isfinite(up) || !std::isfinite(down) || std::fabs(v) < std::numeric_limits<double>::min() * 0x1p60)
    return std::nullopt;
  return HalfGaps{(v - down) / 2.0, (up - v) / 2.0};
}

}  // namespace

#if defined(KILN_HAVE_AVX2_DISPATCH)
// The lane loop with AVX2 (two registers of four lanes), chosen at run time: the same operations
// on the same lanes as AddToLane, so the state is bit-identical whichever runs.
__attribute__((target("avx2"))) std::size_t CertifiedSum::AddAvx2(const double* x, std::size_t n) {
  __m256d s[2], c[2], a[2];
  for (std::size_t k = 0; k < 2; ++k) {
    s[k] = _mm256_loadu_pd(&s_[4 * k]);
    c[k] = _mm256_loadu_pd(&c_[4 * k]);
    a[k] = _mm256_loadu_pd(&a_[4 * k]);
  }
  const __m256d sign = _mm256_set1_pd(-0.0);
  std::size_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (std::size_t k = 0; k < 2; ++k) {
      const __m256d v = _mm256_loadu_pd(x + j + 4 * k);
      const __m256d t = _mm256_add_pd(s[k], v);
      const __m256d z = _mm256_sub_pd(t, s[k]);
      const __m256d e = _mm256_add_pd(_mm256_sub_pd(s[k], _mm256_sub_pd(t, z)), _mm256_sub_pd(v, z));
      s[k] = t;
      c[k] = _mm256_add_pd(c[k], e);
      a[k] = _mm256_add_pd(a[k], _mm256_andnot_pd(sign, e));
    }
  }
  for (std::size_t k = 0; k < 2; ++k) {
    _mm256_storeu_pd(&s_[4 * k], s[k]);
    _mm256_storeu_pd(&c_[4 * k], c[k]);
    _mm256_storeu_pd(&a_[4 * k], a[k]);
  }
  return j;
}
#endif

void CertifiedSum::add(const double* x, std::size_t n) {
  std::size_t j = 0;
#if defined(KILN_HAVE_AVX2_DISPATCH)
  if (HasAvx2() && n >= kLanes) j = AddAvx2(x, n);
#endif
  for (; j + kLanes <= n; j += kLanes)
    for (std::size_t l = 0; l < kLanes; ++l) AddToLane(l, x[j + l]);
  for (std::size_t l = 0; l < kLanes && j + l < n; ++l) AddToLane(l, x[j + l]);
  terms_ += n;
}

void CertifiedSum::merge(const CertifiedSum& other) {
  for (std::size_t l = 0; l < kLanes; ++l) {
    double t, e;
    TwoSum(s_[l], other.s_[l], &t, &e);
    s_[l] = t;
    c_[l] = c_[l] + other.c_[l] + e;
    a_[l] = a_[l] + other.a_[l] + std::fabs(e);
  }
  terms_ += other.terms_ + kLanes;
}

std::optional<CertifiedSum::Total> CertifiedSum::total() const {
  double s = s_[0], c = c_[0], a = a_[0];
  for (std::size_t l = 1; l < kLanes; ++l) {
    double t, e;
    TwoSum(s, s_[l], &t, &e);
    s = t;
    c = c + c_[l] + e;
    a = a + a_[l] + std::fabs(e);
  }
  const double m = static_cast<double>(terms_ + kLanes);  // error terms: values, merges, lanes
  if (!(m * kUnitRoundoff < 0x1p-20)) return std::nullopt;  // keeps gamma far below 1
  const double gamma = m * kUnitRoundoff / (1.0 - m * kUnitRoundoff);
  Total r{};
  TwoSum(s, c, &r.hi, &r.lo);  // exact: s + c = hi + lo
  r.bound = gamma * a / (1.0 - gamma);
  if (!std::isfinite(r.hi) || !std::isfinite(r.lo) || !std::isfinite(r.bound)) return std::nullopt;
  return r;
}

std::optional<double> CertifiedSum::value() const {
  const auto t = total();
  if (!t || t->hi == 0.0) return std::nullopt;  // an exact zero's sign is the exact path's to decide
  const auto gaps = GapsAround(t->hi);
  if (!gaps) return std::nullopt;
  // S lies in [hi + lo - bound, hi + lo + bound]; it rounds to hi when that interval stays strictly
  // inside (hi - below, hi + above).
  if (Below(t->lo, t->bound, gaps->above) && Below(-t->lo, t->bound, gaps->below)) return t->hi;
  return std::nullopt;
}

std::optional<double> CertifiedSum::divided_by(std::uint64_t n) const {
  const auto t = total();
  if (!t || t->hi == 0.0 || n == 0 || n > (std::uint64_t{1} << 53)) return std::nullopt;
  const double nd = static_cast<double>(n);  // exact
  // q: the quotient of hi + lo (hi / n corrected by its exact remainder), which is round(S / n)
  // unless S / n lies within the bound of a rounding boundary; that is checked below.
  const double q0 = t->hi / nd;
  const double q = q0 + (std::fma(-q0, nd, t->hi) + t->lo) / nd;
  const auto gaps = GapsAround(q);
  if (!gaps) return std::nullopt;
  // S - q*n = (hi - p) - p_lo + lo + delta, where q*n = p + p_lo exactly and hi - p is exact
  // (Sterbenz: p is within a factor 2 of hi). w = fl(fl((hi - p) - p_lo) + lo) is off by at most
  // (|w1| + |w|) * 2^-53.
  const double p = q * nd, p_lo = std::fma(q, nd, -p);
  if (!(p / t->hi >= 0.5 && p / t->hi <= 2.0)) return std::nullopt;
  const double w1 = (t->hi - p) - p_lo;
  const double w = w1 + t->lo;
  const double err = t->bound + (std::fabs(w1) + std::fabs(w)) * 0x1p-52;
  // S/n rounds to q when -below*n < S - q*n < above*n, strictly.
  const double above = gaps->above * nd, below = gaps->below * nd;  // exact: powers of two times n
  if (!std::isfinite(w) || !std::isfinite(err) || !(std::fabs(w) < above && std::fabs(w) < below)) return std::nullopt;
  if (Below(w, err, above) && Below(-w, err, below)) return q;
  return std::nullopt;
}

}  // namespace kiln::core::stats
