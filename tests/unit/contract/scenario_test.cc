// Runs every tests/scenarios/contracts/*.yaml: a fleet (registered versions, what is live in the
// target environment, upstream history, fake OpenAPI findings), a request to the gate and/or the
// planner, and the expected outcome. The file format is described in docs/contracts.md.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "shipd/contract/gate.h"
#include "shipd/contract/index.h"
#include "shipd/contract/planner.h"
#include "shipd/contract/verdict.h"

namespace shipd {
namespace {

namespace fs = std::filesystem;

constexpr TimeMs kNow = 1'800'000'000'000;

fs::path ScenarioDir() { return fs::path(SHIPD_SOURCE_DIR) / "tests/scenarios/contracts"; }

std::vector<std::string> ScenarioFiles() {
  std::vector<std::string> files;
  if (!fs::is_directory(ScenarioDir())) return files;
  for (const auto& entry : fs::directory_iterator(ScenarioDir())) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// "90s", "10m", "1h30m", "2d" -> milliseconds; -1 when malformed.
int64_t ParseDuration(const std::string& text) {
  int64_t total = 0;
  size_t i = 0;
  if (text.empty()) return -1;
  while (i < text.size()) {
    size_t digits = i;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
    if (digits == i) return -1;
    const int64_t n = std::stoll(text.substr(i, digits - i));
    std::string unit;
    while (digits < text.size() && std::isalpha(static_cast<unsigned char>(text[digits]))) {
      unit += text[digits++];
    }
    if (unit == "ms") {
      total += n;
    } else if (unit == "s") {
      total += n * 1000;
    } else if (unit == "m") {
      total += n * 60'000;
    } else if (unit == "h") {
      total += n * 3'600'000;
    } else if (unit == "d") {
      total += n * 86'400'000;
    } else {
      return -1;
    }
    i = digits;
  }
  return total;
}

// A malformed scenario file: the test fails with the file name and this message.
[[noreturn]] void Bad(const std::string& what) { throw std::runtime_error(what); }

std::pair<std::string, Semver> SplitLabel(const std::string& label) {
  const size_t at = label.find('@');
  if (at == std::string::npos) Bad("expected service@version, got \"" + label + "\"");
  auto version = Semver::Parse(label.substr(at + 1));
  if (!version.ok()) Bad(version.error().message());
  return {label.substr(0, at), *version};
}

class FakeHistory final : public PromotionHistory {
 public:
  void Add(const std::string& label, const std::string& environment, TimeMs at) {
    times_[label + " in " + environment] = at;
  }
  std::optional<TimeMs> SucceededAt(const Version& version,
                                    std::string_view environment) const override {
    auto it = times_.find(version.service + "@" + version.version.ToString() + " in " +
                          std::string(environment));
    if (it == times_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::map<std::string, TimeMs> times_;
};

// Answers from the scenario's `breaking:` list; everything else is compatible.
class FakeSpecDiffer final : public SpecDiffer {
 public:
  struct Answer {
    std::vector<SpecFinding> findings;
    std::string error;
  };
  void Add(const std::string& live, const std::string& candidate, const std::string& api,
           Answer answer) {
    answers_[live + " " + candidate + " " + api] = std::move(answer);
  }
  Result<std::vector<SpecFinding>> BreakingChanges(const Version& live, const Version& candidate,
                                                   std::string_view api) const override {
    auto it = answers_.find(live.service + "@" + live.version.ToString() + " " + candidate.service +
                            "@" + candidate.version.ToString() + " " + std::string(api));
    if (it == answers_.end()) return std::vector<SpecFinding>{};
    if (!it->second.error.empty()) return Error(ErrorCode::kIo, it->second.error);
    return it->second.findings;
  }

 private:
  std::map<std::string, Answer> answers_;
};

struct Scenario {
  std::map<std::string, std::shared_ptr<const Version>> versions;  // by label
  // By service, ascending: what the planner looks up to upgrade consumers.
  std::map<std::string, std::vector<std::shared_ptr<const Version>>, std::less<>> by_service;
  EnvironmentIndex environment;
  ProviderCatalog catalog;
  FakeHistory history;
  FakeSpecDiffer differ;
  GateContext context;

  std::shared_ptr<const Version> Get(const std::string& label) const {
    auto it = versions.find(label);
    if (it == versions.end()) Bad("unknown version " + label + " (list it under versions:)");
    return it->second;
  }
};

void LoadVersions(const YAML::Node& node, Scenario& scenario) {
  for (const auto& entry : node) {
    const std::string label = entry.first.as<std::string>();
    auto [service, semver] = SplitLabel(label);
    auto version = std::make_shared<Version>();
    version->service = service;
    version->version = semver;
    const YAML::Node& body = entry.second;
    if (body && body["provides"]) {
      for (const auto& provide : body["provides"]) {
        auto api_version = Semver::Parse(provide.second.as<std::string>());
        if (!api_version.ok()) Bad(label + ": " + api_version.error().message());
        version->provides.push_back(Provide{provide.first.as<std::string>(), *api_version, ""});
      }
    }
    if (body && body["requires"]) {
      // api: range, or api: { range: ..., optional: true }
      for (const auto& require : body["requires"]) {
        const YAML::Node& spec = require.second;
        const bool optional = spec.IsMap() && spec["optional"].as<bool>(false);
        auto range =
            Range::Parse(spec.IsMap() ? spec["range"].as<std::string>() : spec.as<std::string>());
        if (!range.ok()) Bad(label + ": " + range.error().message());
        version->requires_.push_back(Require{require.first.as<std::string>(), *range, optional});
      }
    }
    scenario.versions[label] = std::move(version);
  }
}

void LoadEnvironment(const YAML::Node& node, Scenario& scenario) {
  const std::string name = node["name"].as<std::string>("prod");
  scenario.context.lifecycle.after = node["after"].as<std::string>("");
  if (node["soak"]) {
    const int64_t soak = ParseDuration(node["soak"].as<std::string>());
    if (soak < 0) Bad("bad soak " + node["soak"].as<std::string>());
    scenario.context.lifecycle.soak = std::chrono::milliseconds(soak);
  }
  std::vector<LiveService> live;
  for (const auto& entry : node["live"]) {
    LiveService service;
    service.service = entry.first.as<std::string>();
    auto version = [&](const std::string& text) {
      return scenario.Get(service.service + "@" + text);
    };
    if (entry.second.IsScalar()) {
      service.stable = version(entry.second.as<std::string>());
    } else {
      if (entry.second["stable"])
        service.stable = version(entry.second["stable"].as<std::string>());
      if (entry.second["canary"])
        service.canary = version(entry.second["canary"].as<std::string>());
      if (entry.second["previous"]) {
        service.rollback_target = version(entry.second["previous"].as<std::string>());
      }
      service.canary_weight = entry.second["weight"].as<int>(service.canary ? 10 : 0);
    }
    live.push_back(std::move(service));
  }
  scenario.environment = EnvironmentIndex::Build(name, std::move(live));
}

std::unique_ptr<Scenario> LoadScenario(const YAML::Node& doc) {
  auto scenario = std::make_unique<Scenario>();
  LoadVersions(doc["versions"], *scenario);
  std::vector<std::shared_ptr<const Version>> all;
  for (const auto& [label, version] : scenario->versions) {
    all.push_back(version);
    scenario->by_service[version->service].push_back(version);
  }
  for (auto& [service, versions] : scenario->by_service) {
    std::sort(versions.begin(), versions.end(),
              [](const auto& a, const auto& b) { return a->version < b->version; });
  }
  scenario->catalog = ProviderCatalog::Build(all);
  LoadEnvironment(doc["environment"] ? doc["environment"] : YAML::Node(YAML::NodeType::Map),
                  *scenario);
  for (const auto& entry : doc["succeeded"]) {
    const std::string label = entry.first.as<std::string>();
    scenario->Get(label);
    for (const auto& where : entry.second) {
      const int64_t ago = ParseDuration(where.second.as<std::string>());
      if (ago < 0) Bad("bad duration " + where.second.as<std::string>());
      scenario->history.Add(label, where.first.as<std::string>(), kNow - ago);
    }
  }
  for (const auto& entry : doc["breaking"]) {
    FakeSpecDiffer::Answer answer;
    for (const auto& finding : entry["findings"]) {
      const std::string text = finding.as<std::string>();
      const size_t colon = text.find(": ");
      answer.findings.push_back(colon == std::string::npos
                                    ? SpecFinding{"", text}
                                    : SpecFinding{text.substr(0, colon), text.substr(colon + 2)});
    }
    answer.error = entry["error"].as<std::string>("");
    scenario->differ.Add(entry["live"].as<std::string>(), entry["candidate"].as<std::string>(),
                         entry["api"].as<std::string>(), std::move(answer));
  }
  scenario->context.now = kNow;
  scenario->context.history = &scenario->history;
  scenario->context.differ = &scenario->differ;
  return scenario;
}

// Whether `actual` (a JSON value) equals the expected YAML scalar; an array is compared by size.
bool ValueMatches(const nlohmann::json& actual, const std::string& expected) {
  if (actual.is_string()) return actual.get<std::string>() == expected;
  if (actual.is_boolean()) return (actual.get<bool>() ? "true" : "false") == expected;
  if (actual.is_number()) return actual.dump() == expected;
  if (actual.is_array()) return std::to_string(actual.size()) == expected;
  return actual.is_null() && (expected == "null" || expected == "~");
}

bool EntryMatches(const nlohmann::json& actual, const YAML::Node& expected) {
  for (const auto& field : expected) {
    const std::string key = field.first.as<std::string>();
    if (!actual.contains(key)) return false;
    if (field.second.IsSequence()) {
      const auto& list = actual[key];
      if (!list.is_array() || list.size() != field.second.size()) return false;
      for (size_t i = 0; i < list.size(); ++i) {
        if (!ValueMatches(list[i], field.second[i].as<std::string>())) return false;
      }
      continue;
    }
    if (!ValueMatches(actual[key], field.second.as<std::string>())) return false;
  }
  return true;
}

// Every expected entry matches a distinct actual one, and there are no others.
void ExpectEntries(const nlohmann::json& actual, const YAML::Node& expected,
                   const std::string& what) {
  ASSERT_TRUE(actual.is_array());
  EXPECT_EQ(actual.size(), expected.size()) << what << ": " << actual.dump(2);
  std::vector<bool> used(actual.size(), false);
  for (const auto& want : expected) {
    bool found = false;
    for (size_t i = 0; i < actual.size() && !found; ++i) {
      if (!used[i] && EntryMatches(actual[i], want)) used[i] = found = true;
    }
    EXPECT_TRUE(found) << what << ": nothing matches " << YAML::Dump(want) << "\nin "
                       << actual.dump(2);
  }
}

ChangeSet LoadRequest(const YAML::Node& request, const Scenario& scenario) {
  ChangeSet set;
  for (const auto& change : request["changes"]) {
    if (change.IsScalar()) {
      set.changes.push_back(
          Change{scenario.Get(change.as<std::string>()), ChangeKind::kPromote, 0});
    } else if (change["canary"]) {
      set.changes.push_back(Change{scenario.Get(change["canary"].as<std::string>()),
                                   ChangeKind::kCanary, change["weight"].as<int>(10)});
    } else {
      set.changes.push_back(
          Change{scenario.Get(change["promote"].as<std::string>()), ChangeKind::kPromote, 0});
    }
  }
  set.override_reason = request["override"].as<std::string>("");
  return set;
}

// SHIPD_SCENARIO_DUMP=1 prints every verdict and plan, for writing new scenarios.
bool Dump() {
  const char* value = std::getenv("SHIPD_SCENARIO_DUMP");
  return value != nullptr && std::string(value) == "1";
}

class ContractScenario : public ::testing::TestWithParam<std::string> {};

TEST_P(ContractScenario, MatchesExpectation) {
  const fs::path path = ScenarioDir() / GetParam();
  try {
    const YAML::Node doc = YAML::LoadFile(path.string());
    ASSERT_TRUE(doc["description"]) << "every scenario says what it shows";
    ASSERT_TRUE(doc["request"] || doc["plan"]) << "a scenario needs a request or a plan";
    auto scenario = LoadScenario(doc);

    if (doc["request"]) {
      const ChangeSet set = LoadRequest(doc["request"], *scenario);
      const Verdict verdict = Evaluate(set, scenario->environment, scenario->context);
      const nlohmann::json json = VerdictToJson(verdict);
      if (Dump()) std::cout << GetParam() << " verdict:\n" << json.dump(2) << "\n";
      const YAML::Node& expect = doc["expect"];
      ASSERT_TRUE(expect) << "a request needs an expect:";
      EXPECT_EQ(verdict.allowed, expect["allowed"].as<bool>()) << json.dump(2);
      EXPECT_EQ(json["allowed"], verdict.allowed);
      EXPECT_FALSE(json["summary"].get<std::string>().empty());
      if (expect["reasons"]) ExpectEntries(json["reasons"], expect["reasons"], "reasons");
      if (expect["warnings"]) ExpectEntries(json["warnings"], expect["warnings"], "warnings");
    }

    if (doc["plan"]) {
      const YAML::Node& plan_node = doc["plan"];
      const ServiceVersions versions = [&](std::string_view service) {
        auto it = scenario->by_service.find(service);
        return it == scenario->by_service.end()
                   ? std::span<const std::shared_ptr<const Version>>()
                   : std::span<const std::shared_ptr<const Version>>(it->second);
      };
      const Plan plan = PlanPromotion(scenario->Get(plan_node["target"].as<std::string>()),
                                      scenario->environment, scenario->catalog, versions,
                                      scenario->context, plan_node["override"].as<std::string>(""));
      const nlohmann::json json = PlanToJson(plan);
      if (Dump()) std::cout << GetParam() << " plan:\n" << json.dump(2) << "\n";
      const YAML::Node& expect = plan_node["expect"];
      ASSERT_TRUE(expect) << "a plan needs an expect:";
      EXPECT_EQ(plan.possible, expect["possible"].as<bool>()) << json.dump(2);
      if (expect["steps"]) {
        std::vector<std::string> steps;
        for (const PlanStep& step : plan.steps) {
          steps.push_back(step.service + "@" + step.version.ToString());
        }
        EXPECT_EQ(steps, expect["steps"].as<std::vector<std::string>>()) << json.dump(2);
      }
      if (expect["why"]) {
        std::vector<std::string> why;
        for (const PlanStep& step : plan.steps) why.push_back(step.reason);
        EXPECT_EQ(why, expect["why"].as<std::vector<std::string>>()) << json.dump(2);
      }
      if (expect["problems"]) ExpectEntries(json["problems"], expect["problems"], "problems");
    }
  } catch (const std::exception& e) {
    FAIL() << path.string() << ": " << e.what();
  }
}

std::string TestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = fs::path(info.param).stem().string();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Files, ContractScenario, ::testing::ValuesIn(ScenarioFiles()), TestName);

TEST(ContractScenarios, AtLeastFortyFiles) { EXPECT_GE(ScenarioFiles().size(), 40u); }

}  // namespace
}  // namespace shipd
