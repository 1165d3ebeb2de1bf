#include "kiln/core/json.h"

#include <gtest/gtest.h>

namespace kiln::core {

TEST(Json, RoundTripKeepsOrderAndTypes) {
  Json doc(Json::Object{{"b", 1}, {"a", "x\"y\n"}, {"c", Json(Json::Array{Json(true), Json(nullptr), Json(2.5)})}});
  std::string text = doc.Dump();
  EXPECT_EQ(text, R"({"b":1,"a":"x\"y\n","c":[true,null,2.5]})");
  auto parsed = Json::Parse(text, 77);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->Dump(), text);
  EXPECT_EQ(parsed->find("b")->as_int(), 1);
  EXPECT_EQ(parsed->find("a")->as_string(), "x\"y\n");
}

TEST(Json, MalformedInputReportsCodeAndOffset) {
  auto r = Json::Parse("{\"a\": [1, 2", 204);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), 204);
  EXPECT_NE(r.status().message().find("byte"), std::string::npos);
  EXPECT_FALSE(Json::Parse("{} x", 1).ok());
  EXPECT_FALSE(Json::Parse("", 1).ok());
}

TEST(Json, UnicodeEscapes) {
  auto r = Json::Parse(R"("\u00e9\u20ac")", 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->as_string(), "\xc3\xa9\xe2\x82\xac");
}

}  // namespace kiln::core
