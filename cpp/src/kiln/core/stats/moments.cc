#include "kiln/core/stats/moments.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln::core::stats {

ExactSum SumOf(std::span<const std::span<const double>> chunks) {
  ExactSum s;
  for (auto c : chunks)
    for (double v : c) s.add(v);
  return s;
}

ExactSum SquaredDeviations(std::span<const std::span<const double>> chunks, double mean) {
  ExactSum s;
  for (auto c : chunks)
    for (double v : c) {
      const double d = v - mean;
      s.add(d * d);
    }
  return s;
}

double StdDevFrom(const ExactSum& squared_deviations, std::size_t n, int ddof) {
  if (ddof < 0 || n <= static_cast<std::size_t>(ddof)) return std::numeric_limits<double>::quiet_NaN();
  return std::sqrt(squared_deviations.value() / static_cast<double>(n - static_cast<std::size_t>(ddof)));
}

double Pearson(std::span<const double> x, std::span<const double> y) {
  const std::size_t n = x.size();
  if (n < 2 || y.size() != n) return std::numeric_limits<double>::quiet_NaN();
  ExactSum sx, sy;
  for (std::size_t i = 0; i < n; ++i) {
    sx.add(x[i]);
    sy.add(y[i]);
  }
  const double mx = sx.divided_by(n), my = sy.divided_by(n);
  ExactSum sxy, sxx, syy;
  for (std::size_t i = 0; i < n; ++i) {
    const double dx = x[i] - mx, dy = y[i] - my;
    sxy.add(dx * dy);
    sxx.add(dx * dx);
    syy.add(dy * dy);
  }
  const double r = sxy.value() / (std::sqrt(sxx.value()) * std::sqrt(syy.value()));
  if (std::isnan(r)) return r;
  // Rounding can push |r| a hair past 1 for (anti)collinear inputs; a correlation cannot.
  return std::clamp(r, -1.0, 1.0);
}

}  // namespace kiln::core::stats
