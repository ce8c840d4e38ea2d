#include "shipd/common/yaml_json.h"

#include <gtest/gtest.h>

namespace shipd {
namespace {

TEST(YamlToJson, KeepsVersionLikeScalarsAsStrings) {
  auto doc = YamlToJson("version: 3.10\nrange: ^2.1\ncount: 3\nflag: true\nnothing: ~\n");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ((*doc)["version"], "3.10");
  EXPECT_EQ((*doc)["range"], "^2.1");
  EXPECT_EQ((*doc)["count"], "3");
  EXPECT_EQ((*doc)["flag"], true);
  EXPECT_TRUE((*doc)["nothing"].is_null());
}

TEST(YamlToJson, InfersNumbersWhenAsked) {
  auto doc = YamlToJson("a: 3\nb: 2.5\nc: '7'\n", {.numbers_as_strings = false});
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ((*doc)["a"], 3);
  EXPECT_DOUBLE_EQ((*doc)["b"].get<double>(), 2.5);
  EXPECT_EQ((*doc)["c"], "7");
}

TEST(YamlToJson, QuotedTrueStaysAString) {
  auto doc = YamlToJson("a: 'true'\nb: \"null\"\n");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ((*doc)["a"], "true");
  EXPECT_EQ((*doc)["b"], "null");
}

TEST(YamlToJson, NestedSequencesAndMaps) {
  auto doc = YamlToJson("provides:\n  - api: orders\n    version: 1.0.0\n");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ((*doc)["provides"][0]["api"], "orders");
}

TEST(YamlToJson, MalformedYamlReportsLineAndColumn) {
  auto doc = YamlToJson("a: 1\nb: [unclosed\n");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.error().code(), ErrorCode::kBadRequest);
  EXPECT_NE(doc.error().message().find("line "), std::string::npos) << doc.error().message();
}

TEST(ParseJsonOrYaml, SniffsJsonByFirstCharacter) {
  auto json_doc = ParseJsonOrYaml("  {\"a\": 1}");
  ASSERT_TRUE(json_doc.ok());
  EXPECT_EQ((*json_doc)["a"], 1);
  auto yaml_doc = ParseJsonOrYaml("a: 1");
  ASSERT_TRUE(yaml_doc.ok());
  EXPECT_EQ((*yaml_doc)["a"], "1");
  auto bad = ParseJsonOrYaml("{\"a\": ");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("malformed JSON"), std::string::npos);
}

}  // namespace
}  // namespace shipd
