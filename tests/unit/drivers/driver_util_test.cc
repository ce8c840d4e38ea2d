// The drivers' shared helpers: command-line splitting and the template variables of a context.
#include "driver_util.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace shipd {
namespace {

using ::testing::ElementsAre;

TEST(SplitCommandLineTest, SplitsOnWhitespaceAndHonoursQuotes) {
  auto words =
      SplitCommandLine("  demo-service --name 'my orders' --msg \"say \\\"hi\\\"\" a\\ b ''");
  ASSERT_TRUE(words.ok());
  EXPECT_THAT(*words,
              ElementsAre("demo-service", "--name", "my orders", "--msg", "say \"hi\"", "a b", ""));
}

TEST(SplitCommandLineTest, RejectsAnUnterminatedQuote) {
  auto words = SplitCommandLine("demo-service --name 'orders");
  ASSERT_FALSE(words.ok());
  EXPECT_EQ(words.error().code(), ErrorCode::kInvalid);
}

TEST(TemplateVariablesTest, NamesEveryStandardVariable) {
  DriverContext ctx;
  ctx.service = "orders";
  ctx.version = "3.2.0";
  ctx.weight = 25;
  ctx.variables = {{"canary_url", "http://c"}, {"operation_id", "r1"}};
  auto variables = TemplateVariables(ctx);
  for (std::string_view name : kTemplateVariables) {
    EXPECT_TRUE(variables.count(std::string(name))) << name;
  }
  EXPECT_EQ(variables["weight"], "25");
  EXPECT_EQ(variables["canary_url"], "http://c");
  EXPECT_EQ(variables["stable_url"], "");
  EXPECT_EQ(variables["operation_id"], "r1");
}

TEST(DriverActionNameTest, MatchesShipAction) {
  EXPECT_EQ(DriverActionName(DriverAction::kDeploy), "deploy");
  EXPECT_EQ(DriverActionName(DriverAction::kWeight), "weight");
  EXPECT_EQ(DriverActionName(DriverAction::kPromote), "promote");
  EXPECT_EQ(DriverActionName(DriverAction::kRollback), "rollback");
}

}  // namespace
}  // namespace shipd
