#include "kiln/core/uuid7.h"

#include <gtest/gtest.h>

#include <regex>

namespace kiln::core {

TEST(Uuid7, CanonicalVersion7AndMonotonic) {
  std::regex shape("^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::string prev = NewUuid7();
  for (int i = 0; i < 20000; ++i) {
    std::string next = NewUuid7();
    ASSERT_TRUE(std::regex_match(next, shape)) << next;
    ASSERT_LT(prev, next) << "generation order must be sort order";
    prev = next;
  }
}

}  // namespace kiln::core
