#include "kiln/core/stats/moments.h"

#include "kiln/core/stats/certified_sum.h"
#include "kiln/core/stats/chunked_sum.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln::core::stats {

ExactSum SumOf(std::span<const std::span<const double>> chunks) {
  ChunkedSum s;
  for (auto c : chunks)
    for (double v : c) s.add(v);
  ExactSum out;
  s.add_to(out);
  return out;
}

ExactSum SquaredDeviations(std::span<const std::span<const double>> chunks, double mean) {
  ChunkedSum s;
  for (auto c : chunks)
    for (double v : c) {
      const double d = v - mean;
      s.add(d * d);
    }
  ExactSum out;
  s.add_to(out);
  return out;
}

double StdDevFrom(const ExactSum& squared_deviations, std::size_t n, int ddof) {
  if (ddof < 0 || n <= static_cast<std::size_t>(ddof)) return std::numeric_limits<double>::quiet_NaN();
  return std::sqrt(squared_deviations.value() / static_cast<double>(n - static_cast<std::size_t>(ddof)));
}

namespace {

// The exactly rounded mean of x: the certified fast sum, or the exact one when it cannot prove it.
double ExactlyRoundedMean(std::span<const double> x) {
  CertifiedSum fast;
  fast.add(x.data(), x.size());
  if (auto m = fast.divided_by(x.size())) return *m;
  return SumOf(std::span<const std::span<const double>>(&x, 1)).divided_by(x.size());
}

// The exactly rounded sum of term(i), i < n: `fast` (the terms' certified sum) when it proves its
// rounding, else the exact sum of the terms computed again.
template <class Term>
double Resolve(const CertifiedSum& fast, std::size_t n, Term term) {
  if (auto v = fast.value()) return *v;
  ChunkedSum c;
  for (std::size_t i = 0; i < n; ++i) c.add(term(i));
  ExactSum e;
  c.add_to(e);
  return e.value();
}

}  // namespace

double Pearson(std::span<const double> x, std::span<const double> y) {
  const std::size_t n = x.size();
  if (n < 2 || y.size() != n) return std::numeric_limits<double>::quiet_NaN();
  const double mx = ExactlyRoundedMean(x), my = ExactlyRoundedMean(y);
  auto dxdy = [&](std::size_t i) { return (x[i] - mx) * (y[i] - my); };
  auto dx2 = [&](std::size_t i) {
    const double d = x[i] - mx;
    return d * d;
  };
  auto dy2 = [&](std::size_t i) {
    const double d = y[i] - my;
    return d * d;
  };
  // One pass feeds the three certified sums, a block of rounded terms at a time.
  CertifiedSum fxy, fxx, fyy;
  double bxy[256], bxx[256], byy[256];
  for (std::size_t i = 0; i < n; i += 256) {
    const std::size_t k = std::min<std::size_t>(256, n - i);
    for (std::size_t j = 0; j < k; ++j) {
      bxy[j] = dxdy(i + j);
      bxx[j] = dx2(i + j);
      byy[j] = dy2(i + j);
    }
    fxy.add(bxy, k);
    fxx.add(bxx, k);
    fyy.add(byy, k);
  }
  const double sxy = Resolve(fxy, n, dxdy), sxx = Resolve(fxx, n, dx2), syy = Resolve(fyy, n, dy2);
  const double r = sxy / (std::sqrt(sxx) * std::sqrt(syy));
  if (std::isnan(r)) return r;
  // Rounding can push |r| a hair past 1 for (anti)collinear inputs; a correlation cannot.
  return std::clamp(r, -1.0, 1.0);
}

}  // namespace kiln::core::stats
