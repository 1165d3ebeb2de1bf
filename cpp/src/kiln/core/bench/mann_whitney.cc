#include "kiln/core/bench/mann_whitney.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

namespace kiln::core::bench {

namespace {

// P(U >= u) under H0 as (count of arrangements with U >= u, total), by the recurrence
// f(i, j, k) = f(i - 1, j, k - j) + f(i, j - 1, k). With n1, n2 <= 20 every count is below
// C(40, 20) < 2^53, so the final division of two exact integers is correctly rounded, as
// Python's int / int is.
double ExactSurvival(int u, int n1, int n2) {
  const int maxu = n1 * n2;
  const std::size_t width = static_cast<std::size_t>(maxu) + 1;
  std::vector<std::vector<std::uint64_t>> prev(static_cast<std::size_t>(n2) + 1, std::vector<std::uint64_t>(width, 0));
  for (auto& row : prev) row[0] = 1;  // i = 0: U = 0 for any j
  for (int i = 1; i <= n1; ++i) {
    std::vector<std::vector<std::uint64_t>> cur(static_cast<std::size_t>(n2) + 1, std::vector<std::uint64_t>(width, 0));
    cur[0][0] = 1;
    for (int j = 1; j <= n2; ++j) {
      const auto& a = prev[static_cast<std::size_t>(j)];
      const auto& b = cur[static_cast<std::size_t>(j) - 1];
      auto& row = cur[static_cast<std::size_t>(j)];
      for (int k = 0; k <= maxu; ++k)
        row[static_cast<std::size_t>(k)] = (k >= j ? a[static_cast<std::size_t>(k - j)] : 0) + b[static_cast<std::size_t>(k)];
    }
    prev = std::move(cur);
  }
  const auto& counts = prev[static_cast<std::size_t>(n2)];
  std::uint64_t tail = 0, total = 0;
  for (int k = 0; k <= maxu; ++k) {
    total += counts[static_cast<std::size_t>(k)];
    if (k >= u) tail += counts[static_cast<std::size_t>(k)];
  }
  return static_cast<double>(tail) / static_cast<double>(total);
}

}  // namespace

MannWhitney MannWhitneyU(std::span<const double> a, std::span<const double> b) {
  const std::size_t n1 = a.size(), n2 = b.size();
  if (n1 == 0 || n2 == 0) return {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
  const std::size_t n = n1 + n2;
  std::vector<double> x(n);
  std::copy(a.begin(), a.end(), x.begin());
  std::copy(b.begin(), b.end(), x.begin() + static_cast<std::ptrdiff_t>(n1));
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t i, std::size_t j) { return x[i] < x[j]; });
  // Mid-ranks are halves of integers and their sums stay far below 2^53: exact in any order.
  std::vector<double> ranks(n);
  std::vector<std::uint64_t> ties;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j + 1 < n && x[order[j + 1]] == x[order[i]]) ++j;
    const double r = static_cast<double>(i + j + 2) / 2.0;
    for (std::size_t k = i; k <= j; ++k) ranks[order[k]] = r;
    if (j > i) ties.push_back(j - i + 1);
    i = j + 1;
  }
  double r1 = 0.0;
  for (std::size_t i = 0; i < n1; ++i) r1 += ranks[i];
  const double dn1 = static_cast<double>(n1), dn2 = static_cast<double>(n2);
  const double u1 = r1 - dn1 * (dn1 + 1.0) / 2.0;
  const double u2 = dn1 * dn2 - u1;
  const double big = std::max(u1, u2);
  if (n1 <= kMannWhitneyExactMaxN && n2 <= kMannWhitneyExactMaxN && ties.empty()) {
    const double p = 2.0 * ExactSurvival(static_cast<int>(std::llround(big)), static_cast<int>(n1), static_cast<int>(n2));
    return {u1, std::min(1.0, p)};
  }
  std::uint64_t tie_sum = 0;  // sum of t^3 - t, an exact integer as in the reference
  for (auto t : ties) tie_sum += t * t * t - t;
  const double tie_term = static_cast<double>(tie_sum) / static_cast<double>(n * (n - 1));
  const double var = static_cast<double>(n1 * n2) / 12.0 * (static_cast<double>(n + 1) - tie_term);
  if (var <= 0) return {u1, 1.0};
  const double z = (big - static_cast<double>(n1 * n2) / 2.0 - 0.5) / std::sqrt(var);
  return {u1, std::min(1.0, std::erfc(std::max(z, 0.0) / std::sqrt(2.0)))};
}

}  // namespace kiln::core::bench
