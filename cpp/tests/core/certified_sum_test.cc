// kiln::core::stats::CertifiedSum: whenever it answers, the answer is the exactly rounded sum
// (and mean) that ExactSum computes; near a rounding boundary it declines instead.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>
#include <vector>

#include "kiln/core/program/exact_sum.h"
#include "kiln/core/stats/certified_sum.h"

namespace kiln::core::stats {
namespace {

std::uint64_t Bits(double v) { return std::bit_cast<std::uint64_t>(v); }

struct Outcome {
  bool sum_certified = false, mean_certified = false;
};

// Checks every answer against ExactSum; returns which ones were given.
Outcome Check(const std::vector<double>& x) {
  CertifiedSum fast;
  fast.add(x.data(), x.size());
  ExactSum exact;
  for (double v : x) exact.add(v);
  Outcome o;
  if (auto v = fast.value()) {
    o.sum_certified = true;
    EXPECT_EQ(Bits(*v), Bits(exact.value())) << "sum of " << x.size() << " values";
  }
  if (!x.empty()) {
    if (auto m = fast.divided_by(x.size())) {
      o.mean_certified = true;
      EXPECT_EQ(Bits(*m), Bits(exact.divided_by(x.size()))) << "mean of " << x.size() << " values";
    }
  }
  return o;
}

TEST(CertifiedSum, AgreesWithTheExactSumOnRandomInputs) {
  std::mt19937_64 rng(7);
  int sums = 0, means = 0, total = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const std::size_t n = 1 + rng() % (trial % 3 == 0 ? 5000 : 40);
    std::vector<double> x(n);
    std::normal_distribution<double> normal;
    for (auto& v : x) {
      switch (trial % 5) {
        case 0: v = normal(rng); break;
        case 1: v = std::ldexp(normal(rng), static_cast<int>(rng() % 200) - 100); break;  // wide exponents
        case 2: v = static_cast<double>(static_cast<std::int64_t>(rng() % 2001) - 1000) * 0x1p-3; break;  // exact ties
        case 3: v = 1.0 + std::ldexp(static_cast<double>(rng() % 8), -53); break;  // half-ulp pieces
        default: v = (rng() & 1 ? 1e16 : -1e16) + normal(rng); break;  // cancellation
      }
    }
    const Outcome o = Check(x);
    sums += o.sum_certified;
    means += o.mean_certified;
    ++total;
  }
  // The fast path must answer most of the time, or it is no fast path.
  EXPECT_GT(sums, total * 7 / 10);
  EXPECT_GT(means, total * 6 / 10);
}

TEST(CertifiedSum, DeclinesAtRoundingTiesAndZero) {
  // 1 + 2^-53 is exactly halfway between 1 and its successor: the rounding needs the exact sum.
  EXPECT_FALSE(Check({1.0, 0x1p-53}).sum_certified);
  EXPECT_FALSE(Check({0x1p-53, 1.0}).sum_certified);
  // A tiny term beyond the tie decides it; the bound must not round it away.
  Check({1.0, 0x1p-53, 0x1p-200});
  // Exact zeros keep the exact path's sign rule.
  EXPECT_FALSE(Check({-0.0}).sum_certified);
  EXPECT_FALSE(Check({1.0, -1.0}).sum_certified);
  // Overflowing partial sums and non-finite values decline.
  EXPECT_FALSE(Check({1e308, 1e308, -1e308}).sum_certified);
  CertifiedSum inf;
  inf.add(std::vector<double>{1.0, INFINITY}.data(), 2);
  EXPECT_FALSE(inf.value().has_value());
}

TEST(CertifiedSum, MergedPartsGiveTheSameAnswer) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal;
  std::vector<double> x(100000);
  for (auto& v : x) v = normal(rng);
  CertifiedSum whole, a, b;
  whole.add(x.data(), x.size());
  a.add(x.data(), 33333);
  b.add(x.data() + 33333, x.size() - 33333);
  a.merge(b);
  ExactSum exact;
  for (double v : x) exact.add(v);
  ASSERT_TRUE(whole.value() && a.value());
  EXPECT_EQ(Bits(*whole.value()), Bits(exact.value()));
  EXPECT_EQ(Bits(*a.value()), Bits(exact.value()));
  ASSERT_TRUE(a.divided_by(x.size()));
  EXPECT_EQ(Bits(*a.divided_by(x.size())), Bits(exact.divided_by(x.size())));
}

}  // namespace
}  // namespace kiln::core::stats
