// kiln::core::stats and kiln::core::bench: values checked against numpy and scipy by hand, and the
// invariances the Python parity tests cannot see (threads, chunking, merging).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <span>
#include <vector>

#include "kiln/core/bench/bootstrap.h"
#include "kiln/core/bench/mann_whitney.h"
#include "kiln/core/bench/summary.h"
#include "kiln/core/philox.h"
#include "kiln/core/program/exact_sum.h"
#include "kiln/core/stats/chunked_sum.h"
#include "kiln/core/stats/moments.h"
#include "kiln/core/stats/order_statistics.h"
#include "kiln/core/stats/rollup.h"

namespace kiln::core {
namespace {

std::uint64_t Bits(double v) { return std::bit_cast<std::uint64_t>(v); }

TEST(StatsQuantile, MatchesNumpyLinear) {
  // numpy.quantile([1, 2, 3, 4], [0, .25, .5, .95, 1]) = 1, 1.75, 2.5, 3.8499999999999996, 4
  std::vector<double> x{4, 1, 3, 2};
  const double qs[] = {0.0, 0.25, 0.5, 0.95, 1.0};
  double out[5];
  stats::QuantilesLinear(x, qs, out);
  EXPECT_EQ(out[0], 1.0);
  EXPECT_EQ(out[1], 1.75);
  EXPECT_EQ(out[2], 2.5);
  EXPECT_EQ(Bits(out[3]), Bits(3.8499999999999996));  // numpy's value, to the bit
  EXPECT_EQ(out[4], 4.0);
}

TEST(StatsQuantile, LastValueInfiniteIsNaNAsInNumpy) {
  // numpy.quantile([1, inf], 1.0) is NaN: both neighbours are inf and inf - inf = NaN.
  std::vector<double> x{1.0, INFINITY};
  EXPECT_TRUE(std::isnan(stats::QuantileLinear(x, 1.0)));
}

TEST(StatsMedian, EvenCountIsMeanOfMiddlePair) {
  std::vector<double> x{0.1, 0.7, 0.2, 0.3};
  EXPECT_EQ(Bits(stats::MedianNumpy(x)), Bits((0.2 + 0.3) / 2.0));
}

TEST(ExactSumMerge, ChunkedEqualsOnePass) {
  PhiloxStream rng({1, 2}, {0, 0, 0, 0});
  std::vector<double> x(10000);
  for (auto& v : x) v = std::ldexp(rng.next_double() - 0.5, static_cast<int>(rng.next_u64() % 200) - 100);
  ExactSum one, a, b;
  for (double v : x) one.add(v);
  for (std::size_t i = 0; i < 3333; ++i) a.add(x[i]);
  for (std::size_t i = 3333; i < x.size(); ++i) b.add(x[i]);
  b.add(a);
  EXPECT_EQ(Bits(one.value()), Bits(b.value()));
  EXPECT_EQ(Bits(one.divided_by(x.size())), Bits(b.divided_by(x.size())));
}

TEST(ChunkedSum, EqualsExactSumOnEveryExponent) {
  PhiloxStream rng({3, 4}, {0, 0, 0, 0});
  for (int round = 0; round < 20; ++round) {
    stats::ChunkedSum fast;
    ExactSum exact;
    for (int i = 0; i < 5000; ++i) {
      // Every biased exponent (subnormals and the largest finite values included), both signs.
      const std::uint64_t bits = rng.next_u64() & ~(std::uint64_t{0x7ff} << 52);
      const std::uint64_t e = rng.next_u64() % 0x7ff;
      const double v = std::bit_cast<double>(bits | (e << 52));
      fast.add(v);
      exact.add(v);
    }
    ExactSum via;
    fast.add_to(via);
    EXPECT_EQ(Bits(exact.value()), Bits(via.value()));
    EXPECT_EQ(Bits(exact.divided_by(5000)), Bits(via.divided_by(5000)));
  }
  stats::ChunkedSum special;
  special.add(1.0);
  special.add(INFINITY);
  special.add(-INFINITY);
  ExactSum out;
  special.add_to(out);
  EXPECT_TRUE(std::isnan(out.value()));
}

TEST(StatsRollup, ThreadsAndChunksDoNotChangeBits) {
  PhiloxStream rng({7, 9}, {0, 0, 0, 0});
  std::vector<double> x(300000);
  for (auto& v : x) v = (rng.next_double() - 0.3) * 1e3;
  stats::RollupOptions o;
  o.quantiles = {0.5, 0.95, 0.99};
  const std::span<const double> whole[1] = {x};
  const std::span<const double> parts[3] = {std::span<const double>(x).subspan(0, 1),
                                            std::span<const double>(x).subspan(1, 150000),
                                            std::span<const double>(x).subspan(150001)};
  auto one = stats::ComputeRollup(whole, o);
  o.threads = 2;
  auto two = stats::ComputeRollup(parts, o);
  ASSERT_TRUE(one.ok());
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(one->count, two->count);
  EXPECT_EQ(Bits(one->sum), Bits(two->sum));
  EXPECT_EQ(Bits(one->mean), Bits(two->mean));
  EXPECT_EQ(Bits(one->min), Bits(two->min));
  EXPECT_EQ(Bits(one->max), Bits(two->max));
  EXPECT_EQ(Bits(one->stddev), Bits(two->stddev));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Bits(one->quantiles[i]), Bits(two->quantiles[i]));
  EXPECT_LE(one->min, one->mean);
  EXPECT_LE(one->mean, one->max);
}

TEST(StatsRollup, StrictErrorsCarryCatalogCodes) {
  const std::vector<double> x{1.0, NAN, 2.0};
  const std::span<const double> c[1] = {x};
  stats::RollupOptions o;
  o.strict = true;
  auto r = stats::ComputeRollup(c, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), 6103);
  EXPECT_NE(r.status().message().find("index 1"), std::string::npos);
  o.quantiles = {1.5};
  EXPECT_EQ(stats::ComputeRollup(c, o).status().code(), 6104);
  o.quantiles.clear();
  EXPECT_EQ(stats::ComputeRollup(std::span<const std::span<const double>>(), o).status().code(), 6102);
}

TEST(StatsPearson, ClampedAndNaNForZeroVariance) {
  const std::vector<double> x{1, 2, 3, 4}, y{2, 4, 6, 8}, c{5, 5, 5, 5};
  const std::vector<double> far{1, 2, 3, 1e300};
  EXPECT_NEAR(stats::Pearson(x, y), 1.0, 1e-15);
  EXPECT_LE(stats::Pearson(x, y), 1.0);
  EXPECT_LE(stats::Pearson(x, far), 1.0);
  EXPECT_TRUE(std::isnan(stats::Pearson(x, c)));
}

TEST(BenchMannWhitney, ExactAndNormalMatchScipy) {
  // scipy.stats.mannwhitneyu([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]): U = 0, p = 2/252.
  const std::vector<double> a{1, 2, 3, 4, 5}, b{6, 7, 8, 9, 10};
  auto r = bench::MannWhitneyU(a, b);
  EXPECT_EQ(r.u1, 0.0);
  EXPECT_EQ(Bits(r.p), Bits(2.0 * (1.0 / 252.0)));
  // With ties: normal approximation; symmetric samples give p = 1.
  const std::vector<double> t{1, 1, 2, 2};
  EXPECT_EQ(bench::MannWhitneyU(t, t).p, 1.0);
}

TEST(BenchBootstrap, IntervalIsT50AndT1951) {
  std::vector<double> s(2000);
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<double>(2000 - i);
  auto ci = bench::PercentileInterval(s);
  ASSERT_TRUE(ci.has_value());
  EXPECT_EQ((*ci)[0], 50.0);
  EXPECT_EQ((*ci)[1], 1951.0);
}

TEST(BenchSummary, FieldsAndReproducibleInterval) {
  const std::vector<double> x{10, 11, 12, 13, 100};
  auto s = bench::Summarize(x, "formula/S1.S", "kiln", 2.0);
  EXPECT_EQ(s.n, 5u);
  EXPECT_EQ(s.median, 12.0);
  EXPECT_EQ(s.q1, 11.0);
  EXPECT_EQ(s.q3, 13.0);
  EXPECT_EQ(s.outliers_severe, 1u);
  EXPECT_EQ(s.outliers_mild, 0u);
  EXPECT_EQ(*s.cost_per_unit, 6.0);
  ASSERT_TRUE(s.ci95.has_value());
  auto again = bench::Summarize(x, "formula/S1.S", "kiln", 2.0);
  EXPECT_EQ(Bits((*s.ci95)[0]), Bits((*again.ci95)[0]));
  EXPECT_EQ(Bits((*s.ci95)[1]), Bits((*again.ci95)[1]));
}

}  // namespace
}  // namespace kiln::core
