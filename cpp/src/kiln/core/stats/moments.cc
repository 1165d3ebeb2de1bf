#include "kiln/core/stats/moments.h"

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

double Pearson(std::span<const double> x, std::span<const double> y) {
  const std::size_t n = x.size();
  if (n < 2 || y.size() != n) return std::numeric_limits<double>::quiet_NaN();
  ChunkedSum cx, cy;
  for (std::size_t i = 0; i < n; ++i) {
    cx.add(x[i]);
    cy.add(y[i]);
  }
  ExactSum sx, sy;
  cx.add_to(sx);
  cy.add_to(sy);
  const double mx = sx.divided_by(n), my = sy.divided_by(n);
  ChunkedSum cxy, cxx, cyy;
  for (std::size_t i = 0; i < n; ++i) {
    const double dx = x[i] - mx, dy = y[i] - my;
    cxy.add(dx * dy);
    cxx.add(dx * dx);
    cyy.add(dy * dy);
  }
  ExactSum sxy, sxx, syy;
  cxy.add_to(sxy);
  cxx.add_to(sxx);
  cyy.add_to(syy);
  const double r = sxy.value() / (std::sqrt(sxx.value()) * std::sqrt(syy.value()));
  if (std::isnan(r)) return r;
  // Rounding can push |r| a hair past 1 for (anti)collinear inputs; a correlation cannot.
  return std::clamp(r, -1.0, 1.0);
}

}  // namespace kiln::core::stats
