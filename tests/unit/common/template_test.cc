#include "shipd/common/template.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

namespace shipd {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

const std::map<std::string, std::string> kVariables = {
    {"service", "orders"}, {"version", "1.2.3"}, {"canary_url", "http://127.0.0.1:9001"}};

TEST(RenderTemplate, SubstitutesVariables) {
  auto out = RenderTemplate("{{canary_url}}/healthz?v={{version}}&s={{service}}", kVariables);
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_EQ(*out, "http://127.0.0.1:9001/healthz?v=1.2.3&s=orders");
}

TEST(RenderTemplate, AllowsWhitespaceInsideBraces) {
  auto out = RenderTemplate("{{ version }}-{{\tservice\t}}", kVariables);
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_EQ(*out, "1.2.3-orders");
}

TEST(RenderTemplate, LeavesTextWithoutVariablesAndSingleBracesAlone) {
  const std::string query = R"(sum(rate(errors{version="{{version}}"}[1m])) by (le))";
  auto out = RenderTemplate(query, kVariables);
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_EQ(*out, R"(sum(rate(errors{version="1.2.3"}[1m])) by (le))");
  EXPECT_EQ(*RenderTemplate("", kVariables), "");
  EXPECT_EQ(*RenderTemplate("plain } { text", kVariables), "plain } { text");
}

TEST(RenderTemplate, DoesNotRescanSubstitutedValues) {
  auto out = RenderTemplate("{{a}}", {{"a", "{{b}}"}, {"b", "no"}});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "{{b}}");
}

TEST(RenderTemplate, UnknownVariableIsAnErrorNamingIt) {
  auto out = RenderTemplate("{{canary_url}}/x/{{ versoin }}", kVariables);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code(), ErrorCode::kInvalid);
  EXPECT_THAT(out.error().message(), HasSubstr("\"versoin\""));
  EXPECT_THAT(out.error().message(), HasSubstr("version"));  // lists what is known
}

TEST(RenderTemplate, MalformedTemplatesAreErrors) {
  auto unterminated = RenderTemplate("abc {{version", kVariables);
  ASSERT_FALSE(unterminated.ok());
  EXPECT_THAT(unterminated.error().message(), HasSubstr("unterminated"));
  auto empty = RenderTemplate("a{{ }}b", kVariables);
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.error().message(), HasSubstr("empty variable name"));
}

TEST(ShipEnvironment, PrefixesAndUpperCasesEveryVariable) {
  const std::map<std::string, std::string> variables = {
      {"service", "orders"},      {"version", "1.2.3"},      {"previous_version", ""},
      {"environment", "prod"},    {"weight", "10"},          {"artifact", "reg/orders:1.2.3"},
      {"canary_url", "http://c"}, {"stable_url", "http://s"}};
  EXPECT_THAT(ShipEnvironment(variables),
              UnorderedElementsAre(
                  Pair("SHIP_SERVICE", "orders"), Pair("SHIP_VERSION", "1.2.3"),
                  Pair("SHIP_PREVIOUS_VERSION", ""), Pair("SHIP_ENVIRONMENT", "prod"),
                  Pair("SHIP_WEIGHT", "10"), Pair("SHIP_ARTIFACT", "reg/orders:1.2.3"),
                  Pair("SHIP_CANARY_URL", "http://c"), Pair("SHIP_STABLE_URL", "http://s")));
}

TEST(ShipEnvironment, ReplacesCharactersInvalidInNames) {
  EXPECT_THAT(ShipEnvironment({{"my-var.x", "v"}}),
              UnorderedElementsAre(Pair("SHIP_MY_VAR_X", "v")));
}

}  // namespace
}  // namespace shipd
