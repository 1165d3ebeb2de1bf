#include "kiln/core/bench/bootstrap.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "kiln/core/sha256.h"
#include "kiln/core/stats/order_statistics.h"

namespace kiln::core::bench {

PhiloxStream::Key BootstrapKey(std::string_view name, std::string_view impl) {
  std::string text(name);
  text.append(impl);
  const auto digest = Sha256(text);
  PhiloxStream::Key key{0, 0};
  for (int w = 0; w < 2; ++w)
    for (int b = 7; b >= 0; --b) key[w] = (key[w] << 8) | digest[static_cast<std::size_t>(w * 8 + b)];
  return key;
}

std::vector<double> BootstrapMedians(std::span<const double> x, std::string_view name, std::string_view impl,
                                     std::size_t resamples) {
  const std::size_t n = x.size();
  std::vector<double> medians(resamples);
  if (n == 0) {
    std::fill(medians.begin(), medians.end(), std::numeric_limits<double>::quiet_NaN());
    return medians;
  }
  PhiloxStream rng(BootstrapKey(name, impl), PhiloxStream::Counter{0, 0, 0, 0});
  const double dn = static_cast<double>(n);
  std::vector<double> work(n);
  for (std::size_t r = 0; r < resamples; ++r) {
    bool nan = false;
    for (std::size_t j = 0; j < n; ++j) {
      // The reference computes floor(u * n) in doubles and casts; do exactly that.
      const auto i = static_cast<std::size_t>(std::floor(rng.next_double() * dn));
      work[j] = x[i];
      nan = nan || std::isnan(work[j]);
    }
    medians[r] = nan ? std::numeric_limits<double>::quiet_NaN() : stats::MedianNumpy(work);
  }
  return medians;
}

std::optional<std::array<double, 2>> PercentileInterval(std::vector<double>& stats, double alpha) {
  if (stats.empty()) return std::nullopt;
  std::sort(stats.begin(), stats.end());
  const std::size_t b = stats.size();
  auto k = static_cast<std::size_t>(std::ceil(static_cast<double>(b) * alpha / 2.0));
  k = std::clamp<std::size_t>(k, 1, b);
  return std::array<double, 2>{stats[k - 1], stats[b - k]};
}

std::optional<std::array<double, 2>> BootstrapCI(std::span<const double> x, std::string_view name,
                                                 std::string_view impl) {
  if (x.size() < 2) return std::nullopt;
  auto medians = BootstrapMedians(x, name, impl);
  return PercentileInterval(medians);
}

std::optional<std::array<double, 2>> RatioCI(std::span<const double> peer, std::span<const double> kiln,
                                             std::string_view name, std::string_view peer_impl,
                                             std::string_view kiln_impl, bool higher_is_better) {
  if (peer.size() < 2 || kiln.size() < 2) return std::nullopt;
  const auto p = BootstrapMedians(peer, name, peer_impl);
  const auto k = BootstrapMedians(kiln, name, kiln_impl);
  std::vector<double> r;
  r.reserve(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) {
    const double v = higher_is_better ? k[i] / p[i] : p[i] / k[i];
    if (std::isfinite(v)) r.push_back(v);
  }
  return PercentileInterval(r);
}

}  // namespace kiln::core::bench
