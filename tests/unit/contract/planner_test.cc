// Unit tests of the planner beyond the scenario files: every plan passes the gate step by step,
// the JSON shape, the bounds of the search and how candidates are listed and chosen.

#include "shipd/contract/planner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "shipd/contract/gate.h"
#include "shipd/contract/index.h"

namespace shipd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

using Contracts = std::vector<std::pair<std::string, std::string>>;

std::shared_ptr<const Version> Make(const std::string& label, const Contracts& provides = {},
                                    const Contracts& requirements = {}) {
  auto version = std::make_shared<Version>();
  const size_t at = label.find('@');
  version->service = label.substr(0, at);
  version->version = *Semver::Parse(label.substr(at + 1));
  for (const auto& [api, v] : provides) {
    version->provides.push_back(Provide{api, *Semver::Parse(v), ""});
  }
  for (const auto& [api, range] : requirements) {
    version->requires_.push_back(Require{api, *Range::Parse(range), false});
  }
  return version;
}

std::vector<std::string> Labels(const Plan& plan) {
  std::vector<std::string> out;
  for (const PlanStep& step : plan.steps)
    out.push_back(step.service + "@" + step.version.ToString());
  return out;
}

class PlannerTest : public ::testing::Test {
 protected:
  void Register(const std::shared_ptr<const Version>& version) {
    catalog_ = catalog_.With(version);
  }
  void Live(const std::shared_ptr<const Version>& version) {
    Register(version);
    index_ = index_.With(AfterPromotion(index_.Find(version->service), version));
  }
  Plan PlanFor(const std::shared_ptr<const Version>& target) {
    Register(target);
    return PlanPromotion(target, index_, catalog_, context_);
  }

  EnvironmentIndex index_{"prod"};
  ProviderCatalog catalog_;
  GateContext context_;
};

TEST_F(PlannerTest, ChainPlanPassesTheGateStepByStep) {
  // s0 <- s1 <- ... <- s9: each new version needs the next service's new version.
  for (int i = 0; i < 10; ++i) {
    const std::string name = "s" + std::to_string(i);
    Live(Make(name + "@1.0.0", {{name, "1.0.0"}}));
  }
  for (int i = 0; i < 10; ++i) {
    const std::string name = "s" + std::to_string(i);
    Contracts requirements;
    if (i + 1 < 10) requirements.push_back({"s" + std::to_string(i + 1), "^2.0"});
    Register(Make(name + "@2.0.0", {{name, "2.0.0"}}, requirements));
  }
  std::shared_ptr<const Version> target;
  catalog_.ForEachProvider("s0", [&](const CatalogEntry& entry) {
    target = entry.version;
    return false;
  });
  const Plan plan = PlanFor(target);
  ASSERT_TRUE(plan.possible) << PlanToJson(plan).dump(2);
  EXPECT_THAT(plan.steps, SizeIs(10));
  EXPECT_EQ(plan.steps.front().service, "s9");
  EXPECT_EQ(plan.steps.back().service, "s0");
  EXPECT_EQ(plan.steps.back().reason, "requested");
  EXPECT_EQ(plan.steps.front().reason, "provides s9 2.0.0 for s8@2.0.0 (requires ^2.0)");

  ChangeSet set;
  for (const PlanStep& step : plan.steps) {
    catalog_.ForEachProvider(step.service, [&](const CatalogEntry& entry) {
      if (entry.version->version == step.version) {
        set.changes.push_back(Change{entry.version, ChangeKind::kPromote, 0});
      }
      return true;
    });
  }
  EXPECT_TRUE(Evaluate(set, index_, context_).allowed);
  EXPECT_TRUE(plan.verdict.allowed);
}

TEST_F(PlannerTest, TooDeepChainsStopAtTheSearchLimit) {
  constexpr int kLength = 40;
  std::shared_ptr<const Version> target;
  for (int i = kLength - 1; i >= 0; --i) {
    const std::string name = "d" + std::to_string(i);
    Contracts requirements;
    if (i + 1 < kLength) requirements.push_back({"d" + std::to_string(i + 1), "^1.0"});
    target = Make(name + "@1.0.0", {{name, "1.0.0"}}, requirements);
    Register(target);
  }
  const Plan plan = PlanFor(target);
  EXPECT_FALSE(plan.possible);
  ASSERT_FALSE(plan.problems.empty());
  EXPECT_EQ(plan.problems.front().kind, "search-limit");
}

TEST_F(PlannerTest, ListsWhatExistsWhenNothingIsEligible) {
  for (int i = 0; i < 12; ++i)
    Register(Make("orders@1." + std::to_string(i) + ".0",
                  {{"orders", "1." + std::to_string(i) + ".0"}}));
  const Plan plan = PlanFor(Make("web@1.0.0", {}, {{"orders", "^2.0"}}));
  EXPECT_FALSE(plan.possible);
  ASSERT_THAT(plan.problems, SizeIs(1));
  const PlanProblem& problem = plan.problems[0];
  EXPECT_EQ(problem.kind, "no-eligible-provider");
  ASSERT_THAT(problem.candidates, SizeIs(9));
  EXPECT_EQ(problem.candidates.front(), "orders@1.11.0 (orders 1.11.0): outside ^2.0");
  EXPECT_EQ(problem.candidates.back(), "... and 4 more");
  EXPECT_THAT(problem.message, HasSubstr("web@1.0.0 requires orders ^2.0"));
}

TEST_F(PlannerTest, SaysWhenNothingProvidesTheApiAtAll) {
  const Plan plan = PlanFor(Make("web@1.0.0", {}, {{"payments", "^1.0"}}));
  ASSERT_THAT(plan.problems, SizeIs(1));
  EXPECT_THAT(plan.problems[0].message, HasSubstr("no registered version provides payments"));
}

TEST_F(PlannerTest, PrefersAServiceAlreadyLiveAmongEqualApiVersions) {
  Live(Make("orders@3.1.0", {{"orders", "3.1.0"}}));
  Register(Make("aardvark@1.0.0", {{"orders", "3.2.0"}}));
  Register(Make("orders@3.2.0", {{"orders", "3.2.0"}}));
  const Plan plan = PlanFor(Make("web@1.0.0", {}, {{"orders", "^3.2"}}));
  EXPECT_THAT(Labels(plan), ElementsAre("orders@3.2.0", "web@1.0.0"));
}

TEST_F(PlannerTest, JsonHasStepsProblemsVerdictAndSummary) {
  Live(Make("orders@3.1.0", {{"orders", "3.1.0"}}));
  Register(Make("orders@3.2.0", {{"orders", "3.2.0"}}));
  const Plan plan = PlanFor(Make("web@6.0.0", {}, {{"orders", "^3.2"}}));
  const nlohmann::json json = PlanToJson(plan);
  EXPECT_EQ(json["possible"], true);
  EXPECT_EQ(json["service"], "web");
  EXPECT_EQ(json["version"], "6.0.0");
  EXPECT_EQ(json["environment"], "prod");
  EXPECT_EQ(json["steps"][0], nlohmann::json::parse(R"json({"service": "orders", "version": "3.2.0",
      "environment": "prod", "reason": "provides orders 3.2.0 for web@6.0.0 (requires ^3.2)"})json"));
  EXPECT_EQ(json["problems"], nlohmann::json::array());
  EXPECT_EQ(json["verdict"]["allowed"], true);
  EXPECT_EQ(json["summary"], "web@6.0.0 can go to prod after 1 other promotion");
}

TEST_F(PlannerTest, CycleProblemNamesThePath) {
  Live(Make("a@1.0.0", {{"a", "1.0.0"}}));
  Live(Make("b@1.0.0", {{"b", "1.0.0"}}));
  Register(Make("b@2.0.0", {{"b", "2.0.0"}}, {{"c", "^2.0"}}));
  Register(Make("c@2.0.0", {{"c", "2.0.0"}}, {{"a", "^2.0"}}));
  const Plan plan = PlanFor(Make("a@2.0.0", {{"a", "2.0.0"}}, {{"b", "^2.0"}}));
  EXPECT_FALSE(plan.possible);
  ASSERT_THAT(plan.problems, SizeIs(1));
  EXPECT_EQ(plan.problems[0].kind, "cycle");
  EXPECT_THAT(plan.problems[0].cycle, ElementsAre("a@2.0.0", "b@2.0.0", "c@2.0.0", "a@2.0.0"));
  EXPECT_THAT(plan.problems[0].message,
              HasSubstr("dependency cycle: a@2.0.0 -> b@2.0.0 -> c@2.0.0 -> a@2.0.0"));
  EXPECT_THAT(PlanToJson(plan)["summary"].get<std::string>(), HasSubstr("cannot go to prod"));
}

}  // namespace
}  // namespace shipd
