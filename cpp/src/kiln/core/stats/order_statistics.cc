#include "kiln/core/stats/order_statistics.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace kiln::core::stats {

namespace {

// Places the order statistics at the sorted, distinct positions `ks` (within [lo, hi) of `x`) by
// recursive selection: each nth_element splits the range, and the positions on either side are
// selected inside their half only, so m positions cost about n·log(m) comparisons.
void SelectMany(double* x, std::size_t lo, std::size_t hi, const std::size_t* ks, std::size_t m) {
  if (m == 0 || hi - lo <= 1) return;
  const std::size_t mid = m / 2;
  const std::size_t k = ks[mid];
  std::nth_element(x + lo, x + k, x + hi, TotalLess);
  SelectMany(x, lo, k, ks, mid);
  SelectMany(x, k + 1, hi, ks + mid + 1, m - mid - 1);
}

}  // namespace

void QuantilesLinear(std::span<double> work, std::span<const double> qs, std::span<double> out) {
  const std::size_t n = work.size();
  const double last = static_cast<double>(n - 1);
  struct Plan {
    std::size_t prev, next;
    double t;
  };
  std::vector<Plan> plan(qs.size());
  std::vector<std::size_t> ks;
  ks.reserve(qs.size());
  for (std::size_t i = 0; i < qs.size(); ++i) {
    const double h = last * qs[i];
    if (h >= last) {
      plan[i] = {n - 1, n - 1, h + 1.0};  // numpy: previous index -1, so t = h - (-1)
    } else {
      const double f = std::floor(h);
      const auto p = static_cast<std::size_t>(f);
      plan[i] = {p, p + 1, h - f};
    }
    ks.push_back(plan[i].prev);
  }
  std::sort(ks.begin(), ks.end());
  ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
  // Select only the lower neighbours; each upper neighbour k + 1 is then the minimum of the
  // stretch between k and the next selected position, found by a scan instead of a selection.
  SelectMany(work.data(), 0, n, ks.data(), ks.size());
  auto upper = [&](std::size_t k) {
    if (k + 1 >= n) return work[n - 1];
    const auto next = std::upper_bound(ks.begin(), ks.end(), k);
    const std::size_t end = next == ks.end() ? n : *next + 1;  // x[*next] bounds the stretch
    return *std::min_element(work.begin() + static_cast<std::ptrdiff_t>(k + 1),
                             work.begin() + static_cast<std::ptrdiff_t>(end), TotalLess);
  };
  for (std::size_t i = 0; i < qs.size(); ++i) {
    const double a = work[plan[i].prev];
    const double b = plan[i].next == plan[i].prev ? a : upper(plan[i].prev);
    const double t = plan[i].t;
    const double diff = b - a;
    out[i] = t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
  }
}

double QuantileLinear(std::span<double> work, double q) {
  double r = 0.0;
  QuantilesLinear(work, std::span<const double>(&q, 1), std::span<double>(&r, 1));
  return r;
}

double MedianNumpy(std::span<double> work) {
  const std::size_t n = work.size();
  const std::size_t half = n / 2;
  if (n % 2 == 1) {
    std::nth_element(work.begin(), work.begin() + static_cast<std::ptrdiff_t>(half), work.end(), TotalLess);
    return work[half];
  }
  const std::size_t ks[2] = {half - 1, half};
  SelectMany(work.data(), 0, n, ks, 2);
  // numpy takes the mean of the two middle values: their sum, then divided by the count 2.
  return (work[half - 1] + work[half]) / 2.0;
}

}  // namespace kiln::core::stats
