#include "kiln/popgen/samplers.h"

#include <array>

namespace kiln::popgen {

using core::detmath::det_exp;
using core::detmath::det_log;

namespace {

// Built by summing det_log(i) in order: deterministic on every platform.
const std::array<double, 256>& LogFactTable() {
  static const std::array<double, 256> table = [] {
    std::array<double, 256> t{};
    double acc = 0.0;
    t[0] = 0.0;
    for (int i = 1; i < 256; ++i) {
      acc += det_log(static_cast<double>(i));
      t[i] = acc;
    }
    return t;
  }();
  return table;
}

}  // namespace

double LogFactorial(std::int64_t k) {
  if (k < 256) return LogFactTable()[static_cast<std::size_t>(k)];
  const double n = static_cast<double>(k) + 1.0;
  const double n2 = n * n;
  // log Gamma(n) = (n - 1/2) log n - n + log(2 pi)/2 + 1/(12n) - 1/(360n^3) + 1/(1260n^5)
  return (n - 0.5) * det_log(n) - n + 0.91893853320467274178 +
         (1.0 / (12.0 * n)) * (1.0 - (1.0 / (30.0 * n2)) * (1.0 - 2.0 / (7.0 * n2)));
}

std::int64_t Poisson(PhiloxStream& s, double lam) {
  if (lam <= 0.0) return 0;
  if (lam < 10.0) {
    const double u = s.next_double();
    double p = det_exp(-lam);
    double cdf = p;
    std::int64_t x = 0;
    // The tail beyond 200 has probability < 1e-150 at lam < 10; the cap only guards rounding.
    while (u > cdf && x < 200) {
      ++x;
      p *= lam / static_cast<double>(x);
      cdf += p;
    }
    return x;
  }
  const double slam = std::sqrt(lam);
  const double loglam = det_log(lam);
  const double b = 0.931 + 2.53 * slam;
  const double a = -0.059 + 0.02483 * b;
  const double invalpha = 1.1239 + 1.1328 / (b - 3.4);
  const double vr = 0.9277 - 3.6224 / (b - 2.0);
  for (;;) {
    const double U = s.next_double() - 0.5;
    const double V = s.next_double();
    const double us = 0.5 - std::fabs(U);
    const double kd = std::floor((2.0 * a / us + b) * U + lam + 0.43);
    if (us >= 0.07 && V <= vr) return static_cast<std::int64_t>(kd);
    if (kd < 0.0 || (us < 0.013 && V > us)) continue;
    const auto k = static_cast<std::int64_t>(kd);
    if (det_log(V) + det_log(invalpha) - det_log(a / (us * us) + b) <= -lam + kd * loglam - LogFactorial(k))
      return k;
  }
}

}  // namespace kiln::popgen
