#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kiln/core/error_codes.h"
#include "kiln/world/processor.h"
#include "world/world_test_util.h"

namespace kiln::world {
namespace {

using namespace testing;

TEST(Movement, AcceptanceValues) {  // item 39
  auto m = Movement::Make(1.0, 0);
  ASSERT_TRUE(m.ok());
  auto out = (*m)->Process(PositionVelocityBatch({0, 10}, {1, 2}, {2, 3}, {-0.5, 1.5}), ProcessContext{});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(Doubles(*out, "position__x"), (std::vector<double>{2, 13}));
  EXPECT_EQ(Doubles(*out, "position__y"), (std::vector<double>{0.5, 3.5}));
}

TEST(Movement, NoFusedMultiplyAdd) {
  // With an FMA, x + dx*dt would be rounded once; we require two roundings (the reference's
  // pc.add(x, pc.multiply(dx, dt))).
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-1e6, 1e6);
  std::vector<double> x(1000), dx(1000), out(1000);
  for (int i = 0; i < 1000; ++i) {
    x[i] = u(rng);
    dx[i] = u(rng);
  }
  const double dt = 0.1;
  MovementKernel(x.data(), dx.data(), dt, out.data(), 1000);
  for (int i = 0; i < 1000; ++i) {
    volatile double prod = dx[i] * dt;
    volatile double sum = x[i] + prod;
    ASSERT_EQ(out[i], sum);
  }
}

TEST(Movement, NonFiniteDtAndWrongTypes) {
  EXPECT_EQ(Movement::Make(NAN, 0).status().code(), static_cast<int>(Code::ARCT_ERR_PROCESSOR_CONFIG));
  EXPECT_EQ(Movement::Make(INFINITY, 0).status().code(), static_cast<int>(Code::ARCT_ERR_PROCESSOR_CONFIG));
  auto m = Movement::Make(1.0, 0);
  auto missing = (*m)->Process(PositionBatch({1.0}), ProcessContext{});
  EXPECT_NE(missing.status().message().find("missing required movement column"), std::string::npos);
}

}  // namespace
}  // namespace kiln::world
