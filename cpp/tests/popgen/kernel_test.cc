// Kernel-level checks that need no Python: validation codes, worker-count independence, §2.2.
#include <arrow/record_batch.h>
#include <gtest/gtest.h>

#include <cmath>

#include "kiln/core/error_codes.h"
#include "kiln/popgen/batch.h"
#include "kiln/popgen/samplers.h"

namespace kiln::popgen {
namespace {

using core::errors::Code;

Params Base() {
  Params p;
  p.K = 200;
  p.n = 2;
  p.u = 0.005;
  p.T = 60;
  return p;
}

TEST(PopgenParams, RangesGiveCatalogCodes) {
  Params p = Base();
  EXPECT_TRUE(Validate(p).ok());
  p.R = 2.0;
  auto st = Validate(p);
  EXPECT_EQ(st.code(), static_cast<int>(Code::POPGEN_PARAM_OUT_OF_RANGE));
  EXPECT_NE(st.message().find("R must exceed 2"), std::string::npos);
  p = Base();
  p.R = NAN;
  EXPECT_EQ(Validate(p).code(), static_cast<int>(Code::POPGEN_PARAM_NOT_FINITE));
  p = Base();
  p.allele_min = 3;
  p.allele_max = 3;
  EXPECT_EQ(Validate(p).code(), static_cast<int>(Code::POPGEN_PARAM_CONFLICT));
  EXPECT_EQ(ValidateHorizon(0).code(), static_cast<int>(Code::POPGEN_HORIZON_INVALID));
  EXPECT_EQ(ValidateHorizon(100000001).code(), static_cast<int>(Code::POPGEN_HORIZON_INVALID));
}

TEST(PopgenKernel, MemoryLimitBeforeAllocation) {
  Params p = Base();
  p.K = 100000000;
  p.n = 32;
  RunOptions o;
  o.horizon = 10;
  o.record = Record::kOutcome;
  auto r = RunReplicate(p, 1, 0, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), static_cast<int>(Code::POPGEN_MEMORY_LIMIT));
}

TEST(PopgenKernel, IdenticalForAnyWorkerCount) {
  std::vector<RunSpec> specs;
  for (std::uint64_t rep = 0; rep < 6; ++rep) specs.push_back({Base(), 7, rep, 150, -1});
  RunOptions o;
  o.record = Record::kFull;
  auto one = SimulateMany(specs, o, {1, false});
  auto two = SimulateMany(specs, o, {2, false});
  ASSERT_TRUE(one.ok());
  ASSERT_TRUE(two.ok());
  for (std::size_t i = 0; i < specs.size(); ++i) {
    EXPECT_EQ((*one)[i].outcome, (*two)[i].outcome);
    EXPECT_EQ((*one)[i].total_births, (*two)[i].total_births);
    EXPECT_TRUE((*one)[i].generations->Equals(*(*two)[i].generations));
  }
}

TEST(PopgenKernel, FecundityAndUniformLagSurvival) {
  // f(K) = 2, and a uniform lag d at every locus gives w = exp(-r d^2) (§2.2).
  for (int n = 1; n <= 7; ++n) {
    Params p = Base();
    p.n = n;
    p.u = 0;
    p.T = INFINITY;
    p.optimum_offset = 0.5;
    std::vector<std::int32_t> alleles(4 * 2 * n, 0);
    auto tr = TraceGeneration(p, 3, 0, 1, alleles, {1, 0, 1, 0});
    ASSERT_TRUE(tr.ok());
    for (double w : tr->offspring_w) EXPECT_NEAR(w, std::exp(-p.r() * 0.25), 1e-15);
  }
}

TEST(PopgenSamplers, PoissonMeanAndBounded) {
  core::PhiloxStream s({1, 2}, {0, 0, 0, 0});
  for (double lam : {0.5, 3.0, 9.9, 10.0, 50.0, 1e5}) {
    double sum = 0;
    const int n = 20000;
    for (int i = 0; i < n; ++i) sum += static_cast<double>(Poisson(s, lam));
    EXPECT_NEAR(sum / n, lam, 5 * std::sqrt(lam / n)) << lam;
  }
  for (int i = 0; i < 1000; ++i) EXPECT_LT(Bounded(s, 7), 7u);
}

}  // namespace
}  // namespace kiln::popgen
