// Unit tests of the indexes, the gate's code paths that scenario files cannot show (JSON shape,
// which inputs the gate consults, structure sharing) and the dependency graph. Tables of fleets
// and verdicts live in tests/scenarios/contracts/ instead.

#include "shipd/contract/gate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "shipd/contract/graph.h"
#include "shipd/contract/index.h"
#include "shipd/contract/verdict.h"

namespace shipd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using Contracts = std::vector<std::pair<std::string, std::string>>;

// "orders@3.1.0" providing {api, version}... and requiring {api, range}... ("api?" = optional).
std::shared_ptr<const Version> Make(const std::string& label, const Contracts& provides = {},
                                    const Contracts& requirements = {}) {
  auto version = std::make_shared<Version>();
  const size_t at = label.find('@');
  version->service = label.substr(0, at);
  version->version = *Semver::Parse(label.substr(at + 1));
  for (const auto& [api, v] : provides) {
    version->provides.push_back(Provide{api, *Semver::Parse(v), ""});
  }
  for (auto [api, range] : requirements) {
    const bool optional = api.back() == '?';
    if (optional) api.pop_back();
    version->requires_.push_back(Require{api, *Range::Parse(range), optional});
  }
  return version;
}

LiveService Stable(const std::shared_ptr<const Version>& version) {
  return LiveService{version->service, version, nullptr, 0, nullptr};
}

std::vector<std::string> ProviderNames(const EnvironmentIndex& index, std::string_view api) {
  std::vector<std::string> out;
  for (const auto& live : index.Providers(api)) out.push_back(live->service);
  return out;
}

// "range: consumer consumer ..." per group.
std::vector<std::string> ConsumerGroups(const EnvironmentIndex& index, std::string_view api) {
  std::vector<std::string> out;
  for (const auto& group : index.Consumers(api)) {
    std::string text = group->range.text() + (group->optional ? "?" : "") + ":";
    for (const ConsumerSlot& slot : group->members) {
      text += " " + slot.version->service + "@" + slot.version->version.ToString() +
              (slot.canary ? "(canary)" : "");
    }
    out.push_back(text);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Change Promote(std::shared_ptr<const Version> version) {
  return Change{std::move(version), ChangeKind::kPromote, 0};
}

Change Canary(std::shared_ptr<const Version> version, int weight) {
  return Change{std::move(version), ChangeKind::kCanary, weight};
}

class RecordingDiffer final : public SpecDiffer {
 public:
  Result<std::vector<SpecFinding>> BreakingChanges(const Version& live, const Version& candidate,
                                                   std::string_view api) const override {
    calls.push_back(live.service + "@" + live.version.ToString() + " -> " + candidate.service +
                    "@" + candidate.version.ToString() + " " + std::string(api));
    return findings;
  }
  mutable std::vector<std::string> calls;
  std::vector<SpecFinding> findings;
};

class MapHistory final : public PromotionHistory {
 public:
  std::optional<TimeMs> SucceededAt(const Version& version,
                                    std::string_view environment) const override {
    asked.push_back(version.service + "@" + version.version.ToString() + " in " +
                    std::string(environment));
    auto it =
        times.find({version.service + "@" + version.version.ToString(), std::string(environment)});
    if (it == times.end()) return std::nullopt;
    return it->second;
  }
  std::map<std::pair<std::string, std::string>, TimeMs> times;
  mutable std::vector<std::string> asked;
};

// ---- transitions ----

TEST(LiveServiceTest, PromotionMakesReplacedStableTheRollbackTarget) {
  auto v1 = Make("orders@1.0.0");
  auto v2 = Make("orders@2.0.0");
  LiveService first = AfterPromotion(nullptr, v1);
  EXPECT_EQ(first.stable, v1);
  EXPECT_EQ(first.rollback_target, nullptr);
  LiveService canary = AfterCanary(&first, v2, 10);
  EXPECT_EQ(canary.stable, v1);
  EXPECT_EQ(canary.canary, v2);
  EXPECT_EQ(canary.canary_weight, 10);
  LiveService second = AfterPromotion(&canary, v2);
  EXPECT_EQ(second.stable, v2);
  EXPECT_EQ(second.canary, nullptr);
  EXPECT_EQ(second.canary_weight, 0);
  EXPECT_EQ(second.rollback_target, v1);
}

TEST(LiveServiceTest, PromotingTheStableAgainOnlyDropsTheCanary) {
  auto v1 = Make("orders@1.0.0");
  auto v2 = Make("orders@2.0.0");
  auto v0 = Make("orders@0.9.0");
  LiveService live{"orders", v1, v2, 30, v0};
  LiveService next = AfterPromotion(&live, v1);
  EXPECT_EQ(next.stable, v1);
  EXPECT_EQ(next.canary, nullptr);
  EXPECT_EQ(next.rollback_target, v0);
}

TEST(LiveServiceTest, FromDeploymentResolvesEveryVersion) {
  auto v1 = Make("orders@1.0.0");
  auto v2 = Make("orders@2.0.0");
  auto v3 = Make("orders@3.0.0");
  Deployment deployment;
  deployment.environment = "prod";
  deployment.service = "orders";
  deployment.stable = v2->version;
  deployment.canary = v3->version;
  deployment.canary_weight = 25;
  deployment.previous = v1->version;
  LiveService live = LiveServiceFromDeployment(
      deployment, [&](std::string_view, const Semver& version) -> std::shared_ptr<const Version> {
        for (const auto& v : {v1, v2, v3}) {
          if (v->version == version) return v;
        }
        return nullptr;
      });
  EXPECT_EQ(live.stable, v2);
  EXPECT_EQ(live.canary, v3);
  EXPECT_EQ(live.rollback_target, v1);
  EXPECT_EQ(live.canary_weight, 25);
}

// ---- EnvironmentIndex ----

TEST(EnvironmentIndexTest, IndexesProvidersAndConsumerGroups) {
  auto orders = Make("orders@3.1.0", {{"orders", "3.1.0"}}, {{"billing", "^2.0"}});
  auto web = Make("web@5.2.0", {}, {{"orders", "^3.0"}, {"users?", "^1.0"}});
  auto mobile = Make("mobile@1.0.0", {}, {{"orders", "^3.0"}});
  auto admin = Make("admin@1.0.0", {}, {{"orders", ">=3.1.0"}});
  auto index =
      EnvironmentIndex::Build("prod", {Stable(orders), Stable(web), Stable(mobile), Stable(admin)});
  EXPECT_EQ(index.environment(), "prod");
  EXPECT_EQ(index.size(), 4u);
  EXPECT_THAT(ProviderNames(index, "orders"), ElementsAre("orders"));
  EXPECT_THAT(ProviderNames(index, "billing"), IsEmpty());
  EXPECT_THAT(ConsumerGroups(index, "orders"),
              ElementsAre(">=3.1.0: admin@1.0.0", "^3.0: mobile@1.0.0 web@5.2.0"));
  EXPECT_THAT(ConsumerGroups(index, "users"), ElementsAre("^1.0?: web@5.2.0"));
  EXPECT_THAT(ConsumerGroups(index, "billing"), ElementsAre("^2.0: orders@3.1.0"));
}

TEST(EnvironmentIndexTest, WithLeavesTheOriginalUntouched) {
  auto orders1 = Make("orders@3.1.0", {{"orders", "3.1.0"}});
  auto orders2 = Make("orders@4.0.0", {{"orders-v2", "1.0.0"}}, {{"billing", "^2"}});
  auto web = Make("web@5.2.0", {}, {{"orders", "^3.0"}});
  const auto before = EnvironmentIndex::Build("prod", {Stable(orders1), Stable(web)});
  const auto after = before.With(AfterPromotion(before.Find("orders"), orders2));

  EXPECT_EQ(before.Find("orders")->stable, orders1);
  EXPECT_THAT(ProviderNames(before, "orders"), ElementsAre("orders"));
  EXPECT_THAT(ProviderNames(before, "orders-v2"), IsEmpty());

  EXPECT_EQ(after.Find("orders")->stable, orders2);
  EXPECT_EQ(after.Find("orders")->rollback_target, orders1);
  EXPECT_THAT(ProviderNames(after, "orders"), IsEmpty());
  EXPECT_THAT(ProviderNames(after, "orders-v2"), ElementsAre("orders"));
  EXPECT_THAT(ConsumerGroups(after, "billing"), ElementsAre("^2: orders@4.0.0"));
  // Untouched APIs share their lists with the older index.
  EXPECT_EQ(before.Consumers("orders").data(), after.Consumers("orders").data());
}

TEST(EnvironmentIndexTest, CanaryCountsAsProviderAndConsumer) {
  auto stable = Make("orders@3.1.0", {{"orders", "3.1.0"}});
  auto canary =
      Make("orders@3.2.0", {{"orders", "3.2.0"}, {"refunds", "1.0.0"}}, {{"billing", "^2.0"}});
  auto index = EnvironmentIndex("prod").With(Stable(stable));
  index = index.With(AfterCanary(index.Find("orders"), canary, 10));
  EXPECT_THAT(ProviderNames(index, "orders"), ElementsAre("orders"));
  EXPECT_THAT(ProviderNames(index, "refunds"), ElementsAre("orders"));
  EXPECT_THAT(ConsumerGroups(index, "billing"), ElementsAre("^2.0: orders@3.2.0(canary)"));
  index = index.With(LiveService{"orders", nullptr, nullptr, 0, nullptr});
  EXPECT_EQ(index.Find("orders"), nullptr);
  EXPECT_EQ(index.size(), 0u);
  EXPECT_THAT(ProviderNames(index, "orders"), IsEmpty());
  EXPECT_THAT(ConsumerGroups(index, "billing"), IsEmpty());
}

// Random updates through With() must give the same index as building the end state at once.
TEST(EnvironmentIndexTest, WithAgreesWithBuildUnderRandomUpdates) {
  std::mt19937 random(7);
  const std::vector<std::string> apis = {"a", "b", "c", "d", "e"};
  const std::vector<std::string> ranges = {"^1.0", "^2.0", ">=1.0.0", "~1.2"};
  std::vector<std::shared_ptr<const Version>> versions;
  for (int s = 0; s < 30; ++s) {
    for (int v = 1; v <= 4; ++v) {
      Contracts provides;
      Contracts requirements;
      provides.push_back({apis[random() % apis.size()], std::to_string(v) + ".0.0"});
      for (int r = 0; r < 2; ++r) {
        std::string api = apis[random() % apis.size()];
        if (random() % 4 == 0) api += "?";
        requirements.push_back({api, ranges[random() % ranges.size()]});
      }
      versions.push_back(
          Make("s" + std::to_string(s) + "@" + std::to_string(v) + ".0.0", provides, requirements));
    }
  }
  EnvironmentIndex index("prod");
  std::map<std::string, LiveService> truth;
  for (int i = 0; i < 2000; ++i) {
    const auto& version = versions[random() % versions.size()];
    const LiveService* current = index.Find(version->service);
    LiveService next;
    switch (random() % 4) {
      case 0:
        next = AfterCanary(current, version, 10);
        break;
      case 1:
        next = LiveService{version->service, nullptr, nullptr, 0, nullptr};
        break;
      default:
        next = AfterPromotion(current, version);
    }
    index = index.With(next);
    if (next.empty()) {
      truth.erase(version->service);
    } else {
      truth[version->service] = next;
    }
  }
  std::vector<LiveService> all;
  for (const auto& [name, live] : truth) all.push_back(live);
  const auto built = EnvironmentIndex::Build("prod", all);
  ASSERT_EQ(index.size(), built.size());
  for (const auto& api : apis) {
    EXPECT_EQ(ProviderNames(index, api), ProviderNames(built, api)) << api;
    EXPECT_EQ(ConsumerGroups(index, api), ConsumerGroups(built, api)) << api;
  }
  for (const auto& [name, live] : truth) {
    ASSERT_NE(index.Find(name), nullptr);
    EXPECT_EQ(index.Find(name)->stable, live.stable);
    EXPECT_EQ(index.Find(name)->canary, live.canary);
  }
}

// ---- ProviderCatalog ----

TEST(ProviderCatalogTest, OrdersByApiVersionThenServiceThenNewest) {
  ProviderCatalog catalog;
  catalog = catalog.With(Make("orders@3.1.0", {{"orders", "3.1.0"}}));
  catalog = catalog.With(Make("legacy@9.0.0", {{"orders", "3.1.0"}}));
  catalog = catalog.With(Make("orders@3.1.1", {{"orders", "3.1.0"}}));
  catalog = catalog.With(Make("orders@4.0.0", {{"orders", "4.0.0"}}));
  catalog = catalog.With(Make("orders@3.1.1", {{"orders", "3.1.0"}}));  // again: replaced
  std::vector<std::string> order;
  catalog.ForEachProvider("orders", [&](const CatalogEntry& entry) {
    order.push_back(entry.version->service + "@" + entry.version->version.ToString());
    return true;
  });
  EXPECT_THAT(order, ElementsAre("orders@4.0.0", "legacy@9.0.0", "orders@3.1.1", "orders@3.1.0"));
  EXPECT_EQ(catalog.ProviderCount("orders"), 4u);
  EXPECT_EQ(catalog.ProviderCount("nothing"), 0u);
}

TEST(ProviderCatalogTest, StaysSortedAcrossChunkSplitsAndSharesOlderCatalogs) {
  std::vector<std::shared_ptr<const Version>> versions;
  std::mt19937 random(3);
  for (int i = 0; i < 1000; ++i) {
    const std::string v = std::to_string(random() % 50) + "." + std::to_string(i) + ".0";
    versions.push_back(Make("svc@" + v, {{"api", v}}));
  }
  ProviderCatalog incremental;
  ProviderCatalog halfway;
  for (size_t i = 0; i < versions.size(); ++i) {
    incremental = incremental.With(versions[i]);
    if (i == 499) halfway = incremental;
  }
  const ProviderCatalog built = ProviderCatalog::Build(versions);
  auto list = [](const ProviderCatalog& catalog) {
    std::vector<Semver> out;
    catalog.ForEachProvider("api", [&](const CatalogEntry& entry) {
      out.push_back(entry.provide->version);
      return true;
    });
    return out;
  };
  const auto sorted = list(incremental);
  ASSERT_EQ(sorted.size(), 1000u);
  EXPECT_TRUE(std::is_sorted(sorted.begin(), sorted.end(),
                             [](const Semver& a, const Semver& b) { return a > b; }));
  EXPECT_EQ(sorted, list(built));
  EXPECT_EQ(list(halfway).size(), 500u);
  EXPECT_EQ(incremental.size(), 1000u);
}

TEST(ProviderCatalogTest, ForEachStopsWhenAsked) {
  ProviderCatalog catalog;
  for (int i = 0; i < 10; ++i) {
    catalog = catalog.With(Make("s@1." + std::to_string(i) + ".0", {{"api", "1.0.0"}}));
  }
  int seen = 0;
  catalog.ForEachProvider("api", [&](const CatalogEntry&) { return ++seen < 3; });
  EXPECT_EQ(seen, 3);
}

// ---- the gate ----

class GateTest : public ::testing::Test {
 protected:
  GateTest() {
    context_.now = 1'000'000;
    context_.history = &history_;
    context_.differ = &differ_;
  }

  Verdict Run(std::vector<Change> changes, std::string override_reason = "") {
    ChangeSet set;
    set.changes = std::move(changes);
    set.override_reason = std::move(override_reason);
    return Evaluate(set, index_, context_);
  }

  EnvironmentIndex index_{"prod"};
  GateContext context_;
  MapHistory history_;
  RecordingDiffer differ_;
};

TEST_F(GateTest, ConsumerBrokenReasonHasTheDocumentedShape) {
  auto orders3 = Make("orders@3.1.0", {{"orders", "3.1.0"}});
  auto orders4 = Make("orders@4.0.0", {{"orders", "4.0.0"}});
  auto web = Make("web@5.2.0", {}, {{"orders", "^3.0"}});
  index_ = EnvironmentIndex::Build("prod", {Stable(orders3), Stable(web)});
  const Verdict verdict = Run({Promote(orders4)});
  const nlohmann::json json = VerdictToJson(verdict);
  EXPECT_EQ(json["allowed"], false);
  ASSERT_EQ(json["reasons"].size(), 1u);
  nlohmann::json reason = json["reasons"][0];
  EXPECT_THAT(reason["message"].get<std::string>(), HasSubstr("web@5.2.0 requires orders ^3.0"));
  reason.erase("message");
  EXPECT_EQ(reason, nlohmann::json::parse(R"({"rule": "consumer-broken", "consumer": "web@5.2.0",
      "api": "orders", "requires": "^3.0", "would_have": "4.0.0", "provider": "orders@4.0.0"})"));
  EXPECT_EQ(json["warnings"], nlohmann::json::array());
  EXPECT_EQ(json["environment"], "prod");
  EXPECT_EQ(json["changes"], nlohmann::json::array({"orders@4.0.0"}));
  EXPECT_THAT(json["summary"].get<std::string>(),
              HasSubstr("orders@4.0.0 may not go to prod: web@5.2.0 requires orders ^3.0"));
}

TEST_F(GateTest, StepAppearsOnlyForSeveralChanges) {
  auto web = Make("web@6.0.0", {}, {{"orders", "^3.0"}});
  auto other = Make("other@1.0.0");
  nlohmann::json one = VerdictToJson(Run({Promote(web)}));
  EXPECT_FALSE(one["reasons"][0].contains("step"));
  nlohmann::json two = VerdictToJson(Run({Promote(other), Canary(web, 5)}));
  EXPECT_EQ(two["reasons"][0]["step"], 2);
  EXPECT_EQ(two["changes"], nlohmann::json::array({"other@1.0.0", "web@6.0.0 (canary)"}));
  EXPECT_THAT(two["summary"].get<std::string>(), HasSubstr("these 2 versions may not go"));
}

TEST_F(GateTest, AllowedSummaryMentionsWarnings) {
  auto web = Make("web@6.0.0", {}, {{"users?", "^1.0"}});
  nlohmann::json json = VerdictToJson(Run({Promote(web)}));
  EXPECT_EQ(json["allowed"], true);
  EXPECT_THAT(json["summary"].get<std::string>(),
              HasSubstr("web@6.0.0 may go to prod, with 1 warning: web@6.0.0 requires users"));
}

TEST_F(GateTest, AsksTheDifferOnlyWithinOneCompatibilityLine) {
  auto live = Make("orders@3.1.0", {{"orders", "3.1.0"}, {"admin", "0.2.0"}});
  index_ = EnvironmentIndex::Build("prod", {Stable(live)});
  Run({Promote(Make("orders@3.2.0", {{"orders", "3.2.0"}, {"admin", "0.2.1"}}))});
  EXPECT_THAT(differ_.calls, ElementsAre("orders@3.1.0 -> orders@3.2.0 orders",
                                         "orders@3.1.0 -> orders@3.2.0 admin"));
  differ_.calls.clear();
  Run({Promote(Make("orders@4.0.0", {{"orders", "4.0.0"}, {"admin", "0.3.0"}}))});
  EXPECT_THAT(differ_.calls, IsEmpty());
  Run({Promote(Make("orders@3.0.9", {{"orders", "3.0.9"}}))});  // a downgrade
  EXPECT_THAT(differ_.calls, IsEmpty());
}

TEST_F(GateTest, DishonestSemverListsTheFindings) {
  auto live = Make("orders@3.1.0", {{"orders", "3.1.0"}});
  index_ = EnvironmentIndex::Build("prod", {Stable(live)});
  differ_.findings = {{"DELETE /orders/{}", "operation removed"}};
  const nlohmann::json json =
      VerdictToJson(Run({Promote(Make("orders@3.2.0", {{"orders", "3.2.0"}}))}));
  ASSERT_EQ(json["reasons"].size(), 1u);
  const auto& reason = json["reasons"][0];
  EXPECT_EQ(reason["rule"], "dishonest-semver");
  EXPECT_EQ(reason["findings"], nlohmann::json::parse(
                                    R"([{"where": "DELETE /orders/{}",
                                         "message": "operation removed"}])"));
  EXPECT_THAT(reason["message"].get<std::string>(), HasSubstr("a new major version (4.0.0)"));
}

TEST_F(GateTest, LifecycleAsksAboutTheUpstreamEnvironmentAndUsesNow) {
  context_.lifecycle = LifecyclePolicy{"staging", std::chrono::minutes(10)};
  auto version = Make("orders@3.2.0");
  history_.times[{"orders@3.2.0", "staging"}] = context_.now - 3 * 60'000 - 30'000;
  const Verdict verdict = Run({Promote(version)});
  EXPECT_THAT(history_.asked, ElementsAre("orders@3.2.0 in staging"));
  ASSERT_EQ(verdict.reasons.size(), 1u);
  EXPECT_EQ(verdict.reasons[0].rule, kRuleSoakNotElapsed);
  EXPECT_EQ(verdict.reasons[0].remaining_ms, 6 * 60'000 + 30'000);
  EXPECT_EQ(ReasonToJson(verdict.reasons[0], false)["remaining"], "6m30s");
  context_.now += 7 * 60'000;
  EXPECT_TRUE(Run({Promote(version)}).allowed);
}

TEST_F(GateTest, WithoutHistoryNothingHasSucceededUpstream) {
  context_.lifecycle.after = "staging";
  context_.history = nullptr;
  const Verdict verdict = Run({Promote(Make("orders@3.2.0"))});
  ASSERT_EQ(verdict.reasons.size(), 1u);
  EXPECT_EQ(verdict.reasons[0].rule, kRuleNotPromotedUpstream);
}

TEST_F(GateTest, ConsumerGroupIsCheckedOncePerRange) {
  // 500 consumers with one range: one group, one reason per consumer.
  auto orders3 = Make("orders@3.1.0", {{"orders", "3.1.0"}});
  std::vector<LiveService> live = {Stable(orders3)};
  for (int i = 0; i < 500; ++i) {
    live.push_back(Stable(Make("c" + std::to_string(i) + "@1.0.0", {}, {{"orders", "^3.0"}})));
  }
  index_ = EnvironmentIndex::Build("prod", live);
  ASSERT_EQ(index_.Consumers("orders").size(), 1u);
  const Verdict verdict = Run({Promote(Make("orders@4.0.0", {{"orders", "4.0.0"}}))});
  EXPECT_EQ(verdict.reasons.size(), 500u);
  EXPECT_TRUE(Run({Promote(Make("orders@3.2.0", {{"orders", "3.2.0"}}))}).allowed);
}

TEST(FormatDurationTest, PrintsTheLargestUnitsFirst) {
  EXPECT_EQ(FormatDurationMs(250), "250ms");
  EXPECT_EQ(FormatDurationMs(45'000), "45s");
  EXPECT_EQ(FormatDurationMs(600'000), "10m");
  EXPECT_EQ(FormatDurationMs(5'400'000), "1h30m");
  EXPECT_EQ(FormatDurationMs(90'061'000), "1d1h1m1s");
}

// ---- graph ----

TEST(DependencyGraphTest, MarksUnsatisfiedAndMissingEdges) {
  auto orders3 = Make("orders@3.1.0", {{"orders", "3.1.0"}});
  auto orders4 = Make("orders@4.0.0", {{"orders", "4.0.0"}});
  auto web = Make("web@5.2.0", {}, {{"orders", "^3.0"}, {"users?", "^1.0"}});
  auto index = EnvironmentIndex::Build(
      "prod", {LiveService{"orders", orders3, orders4, 10, nullptr}, Stable(web)});
  const DependencyGraph graph = BuildDependencyGraph(index);
  ASSERT_EQ(graph.nodes.size(), 3u);
  EXPECT_EQ(graph.nodes[0].id, "orders@3.1.0");
  EXPECT_EQ(graph.nodes[0].weight, 90);
  EXPECT_TRUE(graph.nodes[1].canary);
  EXPECT_EQ(graph.nodes[1].weight, 10);
  ASSERT_EQ(graph.edges.size(), 3u);
  EXPECT_EQ(graph.edges[0].to, "orders@3.1.0");
  EXPECT_TRUE(graph.edges[0].satisfied);
  EXPECT_EQ(graph.edges[1].to, "orders@4.0.0");
  EXPECT_FALSE(graph.edges[1].satisfied);
  EXPECT_EQ(graph.edges[2].to, "");
  EXPECT_TRUE(graph.edges[2].optional);

  const nlohmann::json json = GraphToJson(graph);
  EXPECT_EQ(json["nodes"][1]["role"], "canary");
  EXPECT_TRUE(json["edges"][2]["to"].is_null());
  EXPECT_EQ(json["edges"][1]["provides"], "4.0.0");

  const std::string dot = GraphToDot(graph);
  EXPECT_THAT(dot, HasSubstr("digraph \"prod\" {"));
  EXPECT_THAT(dot, HasSubstr("\"web@5.2.0\" -> \"orders@4.0.0\" [label=\"orders ^3.0\", "
                             "color=red, fontcolor=red];"));
  EXPECT_THAT(dot, HasSubstr("\"web@5.2.0\" -> \"missing:users\""));
}

}  // namespace
}  // namespace shipd
