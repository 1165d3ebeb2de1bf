#include "kiln/core/fault_plan.h"

#include <gtest/gtest.h>

namespace kiln::core {

TEST(FaultPlan, FiresOnceOnTheNthMatchingOccurrence) {
  auto plan = FaultPlan::Parse("fail:publish:b@2,fail:stage", 8);
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(plan->ShouldFail(FaultPoint::kPublish, "a"));
  EXPECT_FALSE(plan->ShouldFail(FaultPoint::kPublish, "b"));
  EXPECT_TRUE(plan->ShouldFail(FaultPoint::kPublish, "b"));
  EXPECT_FALSE(plan->ShouldFail(FaultPoint::kPublish, "b"));
  EXPECT_TRUE(plan->ShouldFail(FaultPoint::kStage, "x"));
  EXPECT_FALSE(plan->ShouldFail(FaultPoint::kStage, "x"));
}

TEST(FaultPlan, BadSyntaxIsInvalidArgument) {
  for (const char* bad : {"boom:stage", "fail:nowhere", "fail", "fail:stage@0", "fail:record:t", "fail:stage,"}) {
    auto plan = FaultPlan::Parse(bad, 8);
    ASSERT_FALSE(plan.ok()) << bad;
    EXPECT_EQ(plan.status().code(), 8);
  }
  EXPECT_TRUE(FaultPlan::Parse("", 8)->empty());
}

}  // namespace kiln::core
