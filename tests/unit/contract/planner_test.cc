// Unit tests of the planner beyond the scenario files: every plan passes the gate step by step,
// the JSON shape, the bounds of the search, how candidates are listed and chosen, and how the
// consumers a promotion would break are upgraded first.

#include "shipd/contract/planner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <span>
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
    auto& versions = registered_[version->service];
    auto pos =
        std::lower_bound(versions.begin(), versions.end(), version,
                         [](const auto& a, const auto& b) { return a->version < b->version; });
    if (pos != versions.end() && (*pos)->version == version->version) {
      *pos = version;
    } else {
      versions.insert(pos, version);
    }
  }
  void Live(const std::shared_ptr<const Version>& version) {
    Register(version);
    index_ = index_.With(AfterPromotion(index_.Find(version->service), version));
  }
  Plan PlanFor(const std::shared_ptr<const Version>& target) {
    Register(target);
    const ServiceVersions versions = [this](std::string_view service) {
      auto it = registered_.find(service);
      return it == registered_.end() ? std::span<const std::shared_ptr<const Version>>()
                                     : std::span<const std::shared_ptr<const Version>>(it->second);
    };
    return PlanPromotion(target, index_, catalog_, versions, context_);
  }

  EnvironmentIndex index_{"prod"};
  ProviderCatalog catalog_;
  std::map<std::string, std::vector<std::shared_ptr<const Version>>, std::less<>> registered_;
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

// ---- Upgrading the consumers a promotion would break ----

class ConsumerUpgradeTest : public PlannerTest {
 protected:
  void SetUp() override {
    Live(Make("orders@3.1.0", {{"orders", "3.1.0"}}));
    Live(Make("web@5.2.0", {}, {{"orders", "^3.0"}}));
  }
  std::shared_ptr<const Version> Orders4() { return Make("orders@4.0.0", {{"orders", "4.0.0"}}); }

  // The plan's steps as a change set, evaluated by the gate in order.
  Verdict Replay(const Plan& plan) {
    ChangeSet set;
    for (const PlanStep& step : plan.steps) {
      for (const auto& version : registered_[step.service]) {
        if (version->version == step.version) set.changes.push_back(Change{version});
      }
    }
    EXPECT_EQ(set.changes.size(), plan.steps.size());
    return Evaluate(set, index_, context_);
  }
};

TEST_F(ConsumerUpgradeTest, UpgradesTheConsumerFirstWithTheOldestVersionThatAcceptsBoth) {
  Register(Make("web@5.3.0", {}, {{"orders", "^3.0"}}));  // still refuses 4.0.0
  Register(Make("web@6.0.0", {}, {{"orders", ">=3.1.0 <5.0.0"}}));
  Register(Make("web@6.1.0", {}, {{"orders", ">=3.1.0 <5.0.0"}}));  // a bigger change
  const Plan plan = PlanFor(Orders4());
  ASSERT_TRUE(plan.possible) << PlanToJson(plan).dump(2);
  EXPECT_THAT(Labels(plan), ElementsAre("web@6.0.0", "orders@4.0.0"));
  EXPECT_EQ(plan.steps[0].reason,
            "accepts orders 4.0.0 (requires >=3.1.0 <5.0.0); web@5.2.0 does not (requires ^3.0)");
  EXPECT_EQ(plan.steps[1].reason, "requested");
  EXPECT_TRUE(plan.verdict.allowed);
  EXPECT_TRUE(Replay(plan).allowed);
  EXPECT_EQ(PlanToJson(plan)["summary"], "orders@4.0.0 can go to prod after 1 other promotion");
}

TEST_F(ConsumerUpgradeTest, NoNewerConsumerVersionMeansNoPlanNamingTheConsumer) {
  Register(Make("web@5.0.0", {}, {{"orders", ">=3.0.0"}}));  // older than live: not a candidate
  const Plan plan = PlanFor(Orders4());
  EXPECT_FALSE(plan.possible);
  ASSERT_THAT(plan.problems, SizeIs(2));
  const PlanProblem& problem = plan.problems[0];
  EXPECT_EQ(problem.kind, "no-compatible-consumer");
  EXPECT_EQ(problem.version, "web@5.2.0");
  EXPECT_EQ(problem.api, "orders");
  EXPECT_EQ(problem.requires_, "^3.0");
  EXPECT_EQ(problem.message,
            "orders@4.0.0 would break web@5.2.0 (requires orders ^3.0) and no registered version "
            "of web accepts orders 4.0.0: none is newer than 5.2.0");
  EXPECT_EQ(plan.problems[1].kind, "blocked");
  EXPECT_THAT(Labels(plan), ElementsAre("orders@4.0.0"));
  EXPECT_THAT(PlanToJson(plan)["summary"].get<std::string>(),
              HasSubstr("cannot go to prod: orders@4.0.0 would break web@5.2.0"));
}

TEST_F(ConsumerUpgradeTest, ListsTheNewerConsumerVersionsAndWhyNoneFits) {
  for (int i = 3; i < 15; ++i) {
    Register(Make("web@5." + std::to_string(i) + ".0", {}, {{"orders", "^3.0"}}));
  }
  const Plan plan = PlanFor(Orders4());
  ASSERT_FALSE(plan.problems.empty());
  const PlanProblem& problem = plan.problems[0];
  EXPECT_EQ(problem.kind, "no-compatible-consumer");
  ASSERT_THAT(problem.candidates, SizeIs(9));
  EXPECT_EQ(problem.candidates.front(), "web@5.3.0: requires orders ^3.0");
  EXPECT_EQ(problem.candidates.back(), "... and 4 more");
  EXPECT_THAT(problem.message,
              HasSubstr("no registered version of web accepts orders 4.0.0 (registered: "
                        "web@5.3.0: requires orders ^3.0, ...)"));
}

TEST_F(ConsumerUpgradeTest, ConsumerUpgradeGetsItsOwnProvidersFirst) {
  Live(Make("users@1.4.0", {{"users", "1.4.0"}}));
  Register(Make("users@2.0.0", {{"users", "2.0.0"}}));
  Register(Make("web@6.0.0", {}, {{"orders", ">=3.1.0 <5.0.0"}, {"users", "^2.0"}}));
  const Plan plan = PlanFor(Orders4());
  ASSERT_TRUE(plan.possible) << PlanToJson(plan).dump(2);
  EXPECT_THAT(Labels(plan), ElementsAre("users@2.0.0", "web@6.0.0", "orders@4.0.0"));
  EXPECT_EQ(plan.steps[0].reason, "provides users 2.0.0 for web@6.0.0 (requires ^2.0)");
  EXPECT_TRUE(Replay(plan).allowed);
}

TEST_F(ConsumerUpgradeTest, PrefersAConsumerVersionThatCanGoFirstAsThingsAre) {
  Register(Make("orders@3.2.0", {{"orders", "3.2.0"}}));
  // Older, but needs orders 3.2.0 promoted first; 6.0.0 needs nothing.
  Register(Make("web@5.5.0", {}, {{"orders", ">=3.2.0 <5.0.0"}}));
  Register(Make("web@6.0.0", {}, {{"orders", ">=3.1.0 <5.0.0"}}));
  EXPECT_THAT(Labels(PlanFor(Orders4())), ElementsAre("web@6.0.0", "orders@4.0.0"));
}

TEST_F(ConsumerUpgradeTest, FallsBackToAConsumerVersionThatNeedsAProviderFirst) {
  Register(Make("orders@3.2.0", {{"orders", "3.2.0"}}));
  Register(Make("web@5.5.0", {}, {{"orders", ">=3.2.0 <5.0.0"}}));
  const Plan plan = PlanFor(Orders4());
  ASSERT_TRUE(plan.possible) << PlanToJson(plan).dump(2);
  EXPECT_THAT(Labels(plan), ElementsAre("orders@3.2.0", "web@5.5.0", "orders@4.0.0"));
  EXPECT_TRUE(Replay(plan).allowed);
}

TEST_F(ConsumerUpgradeTest, UpgradesEveryBrokenConsumer) {
  Live(Make("mobile@2.0.0", {}, {{"orders", "~3.1"}}));
  Register(Make("mobile@2.1.0", {}, {{"orders", "^3.1 || ^4.0"}}));
  Register(Make("web@6.0.0", {}, {{"orders", ">=3.1.0 <5.0.0"}}));
  const Plan plan = PlanFor(Orders4());
  ASSERT_TRUE(plan.possible) << PlanToJson(plan).dump(2);
  EXPECT_THAT(Labels(plan), ElementsAre("mobile@2.1.0", "web@6.0.0", "orders@4.0.0"));
  EXPECT_EQ(plan.steps[0].reason,
            "accepts orders 4.0.0 (requires ^3.1 || ^4.0); mobile@2.0.0 does not (requires ~3.1)");
  EXPECT_TRUE(Replay(plan).allowed);
}

TEST_F(ConsumerUpgradeTest, ReportsEachConsumerThatCannotBeUpgraded) {
  Live(Make("mobile@2.0.0", {}, {{"orders", "~3.1"}}));
  Register(Make("web@6.0.0", {}, {{"orders", ">=3.1.0 <5.0.0"}}));
  const Plan plan = PlanFor(Orders4());
  EXPECT_FALSE(plan.possible);
  ASSERT_THAT(plan.problems, SizeIs(2)) << PlanToJson(plan).dump(2);
  EXPECT_EQ(plan.problems[0].kind, "no-compatible-consumer");
  EXPECT_EQ(plan.problems[0].version, "mobile@2.0.0");
  EXPECT_EQ(plan.problems[1].kind, "blocked");
  ASSERT_THAT(plan.problems[1].reasons, SizeIs(1));
  EXPECT_EQ(plan.problems[1].reasons[0].consumer, "mobile@2.0.0");
  // web's upgrade is still listed: it is part of any way forward.
  EXPECT_THAT(Labels(plan), ElementsAre("web@6.0.0", "orders@4.0.0"));
}

TEST_F(ConsumerUpgradeTest, OneUpgradeCoversTheConsumersStableAndCanary) {
  const auto canary = Make("web@5.3.0", {}, {{"orders", "~3.1"}});
  Register(canary);
  index_ = index_.With(AfterCanary(index_.Find("web"), canary, 10));
  Register(Make("web@6.0.0", {}, {{"orders", ">=3.1.0 <5.0.0"}}));
  const Plan plan = PlanFor(Orders4());
  ASSERT_TRUE(plan.possible) << PlanToJson(plan).dump(2);
  EXPECT_THAT(Labels(plan), ElementsAre("web@6.0.0", "orders@4.0.0"));
  EXPECT_EQ(plan.steps[0].reason,
            "accepts orders 4.0.0 (requires >=3.1.0 <5.0.0); web@5.2.0 does not (requires ^3.0); "
            "web@5.3.0 does not (requires ~3.1)");
}

TEST_F(ConsumerUpgradeTest, SkipsAConsumerVersionThatWouldBreakItsOwnConsumers) {
  index_ = EnvironmentIndex("prod");
  Live(Make("orders@3.1.0", {{"orders", "3.1.0"}}));
  Live(Make("web@5.2.0", {{"pages", "1.0.0"}}, {{"orders", "^3.0"}}));
  Live(Make("app@1.0.0", {}, {{"pages", "^1.0"}}));
  Register(Make("web@6.0.0", {{"pages", "2.0.0"}}, {{"orders", ">=3.1.0 <5.0.0"}}));
  Register(Make("web@6.1.0", {{"pages", "1.1.0"}}, {{"orders", ">=3.1.0 <5.0.0"}}));
  const Plan plan = PlanFor(Orders4());
  ASSERT_TRUE(plan.possible) << PlanToJson(plan).dump(2);
  EXPECT_THAT(Labels(plan), ElementsAre("web@6.1.0", "orders@4.0.0"));
  EXPECT_TRUE(Replay(plan).allowed);
}

TEST_F(ConsumerUpgradeTest, SkipsAConsumerVersionThatWouldLeaveTheTargetUnsatisfied) {
  index_ = EnvironmentIndex("prod");
  Live(Make("orders@3.1.0", {{"orders", "3.1.0"}}));
  Live(Make("web@5.2.0", {{"hooks", "2.0.0"}}, {{"orders", "^3.0"}}));
  Register(Make("web@6.0.0", {{"hooks", "1.0.0"}}, {{"orders", ">=3.1.0 <5.0.0"}}));
  Register(Make("web@6.1.0", {{"hooks", "2.1.0"}}, {{"orders", ">=3.1.0 <5.0.0"}}));
  const Plan plan = PlanFor(Make("orders@4.0.0", {{"orders", "4.0.0"}}, {{"hooks", "^2.0"}}));
  ASSERT_TRUE(plan.possible) << PlanToJson(plan).dump(2);
  EXPECT_THAT(Labels(plan), ElementsAre("web@6.1.0", "orders@4.0.0"));
  EXPECT_TRUE(Replay(plan).allowed);
}

TEST_F(ConsumerUpgradeTest, AConsumerVersionThatNeedsTheTargetLiveIsACycle) {
  Register(Make("web@6.0.0", {}, {{"orders", "^4.0"}}));
  const Plan plan = PlanFor(Orders4());
  EXPECT_FALSE(plan.possible);
  ASSERT_FALSE(plan.problems.empty());
  EXPECT_EQ(plan.problems[0].kind, "cycle");
  EXPECT_THAT(plan.problems[0].cycle, ElementsAre("orders@4.0.0", "web@6.0.0", "orders@4.0.0"));
}

TEST_F(ConsumerUpgradeTest, AConsumerVersionNotYetUpstreamIsNotEligible) {
  context_.lifecycle.after = "staging";
  Register(Make("web@6.0.0", {}, {{"orders", ">=3.1.0 <5.0.0"}}));
  const Plan plan = PlanFor(Orders4());
  EXPECT_FALSE(plan.possible);
  ASSERT_FALSE(plan.problems.empty());
  EXPECT_EQ(plan.problems[0].kind, "no-compatible-consumer");
  EXPECT_THAT(plan.problems[0].candidates, ElementsAre("web@6.0.0: has not succeeded in staging"));
}

TEST_F(ConsumerUpgradeTest, UpgradesHundredsOfConsumersInOnePlan) {
  // A popular API's new major: every consumer has a newer version that accepts it, after a
  // history of versions that do not. Each upgrade is checked against the environment with the
  // earlier steps applied, so its checks do not grow with the length of the plan.
  constexpr int kConsumers = 300;
  Register(Make("web@6.0.0", {}, {{"orders", ">=3.1.0 <5.0.0"}}));
  for (int i = 0; i < kConsumers; ++i) {
    const std::string name = "c" + std::to_string(i);
    Live(Make(name + "@1.0.0", {}, {{"orders", "^3.0"}}));
    for (int v = 1; v < 20; ++v) {
      Register(Make(name + "@1." + std::to_string(v) + ".0", {}, {{"orders", "^3.0"}}));
    }
    Register(Make(name + "@2.0.0", {}, {{"orders", ">=3.0.0 <5.0.0"}}));
  }
  const auto start = std::chrono::steady_clock::now();
  const Plan plan = PlanFor(Orders4());
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(plan.possible) << PlanToJson(plan).dump(2);
  EXPECT_THAT(plan.steps, SizeIs(kConsumers + 2));  // web and the 300, then orders
  EXPECT_EQ(plan.steps.back().service, "orders");
  // ~0.1 s in a Debug build; re-evaluating the whole plan for every upgrade took 5 s.
  EXPECT_LT(elapsed, std::chrono::seconds(3));
}

}  // namespace
}  // namespace shipd
