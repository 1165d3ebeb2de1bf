#include "kiln/core/utf8.h"

#include <gtest/gtest.h>

namespace kiln::core {

TEST(Utf8, ValidationRejectsOverlongSurrogatesAndTruncation) {
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\xff"));
}

TEST(Utf8, SanitizeShowsNulAndReplacesInvalidBytes) {
  EXPECT_EQ(SanitizeForC(std::string("a\0b", 3)), "a\\0b");
  EXPECT_EQ(SanitizeForC("x\xffy"), "x\xEF\xBF\xBDy");
  EXPECT_EQ(SanitizeForC("\xe2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(SanitizeForC("\xc3\xa9"), "\xc3\xa9");
}

}  // namespace kiln::core
