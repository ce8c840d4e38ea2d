#include "shipd/config/pipelines.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

namespace shipd {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

const fs::path kSourceDir = SHIPD_SOURCE_DIR;

// A fresh directory under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("shipd_pipelines_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path Write(const std::string& name, const std::string& text) const {
    fs::path file = path_ / name;
    std::ofstream(file) << text;
    return file;
  }

 private:
  fs::path path_;
};

// Sections every small test document needs besides its environments.
constexpr char kBasics[] = R"(
strategies:
  direct: { steps: [] }
drivers:
  local: { type: local }
)";

std::string ErrorOf(const Result<Pipelines>& result) {
  return result.ok() ? std::string("(loaded without error)") : result.error().message();
}

std::vector<std::string> EnvironmentNames(const Pipelines& pipelines) {
  std::vector<std::string> names;
  for (const Environment& environment : pipelines.environments) names.push_back(environment.name);
  return names;
}

// ---- the documents in the repository ----

TEST(PipelinesTest, LoadsExampleFromArchitecture) {
  Result<Pipelines> result = LoadPipelines(kSourceDir / "pipelines/example.yaml");
  ASSERT_TRUE(result.ok()) << result.error().message();
  const Pipelines& p = *result;

  EXPECT_THAT(EnvironmentNames(p), ElementsAre("dev", "staging", "prod"));
  const Environment& dev = p.environments[0];
  EXPECT_FALSE(dev.after.has_value());
  EXPECT_EQ(dev.driver, "local");
  EXPECT_EQ(dev.strategy, "direct");
  EXPECT_FALSE(dev.soak.has_value());
  EXPECT_FALSE(dev.approvals.has_value());
  EXPECT_TRUE(dev.freeze.empty());
  EXPECT_EQ(dev.location.line, 2);
  EXPECT_EQ(dev.location.column, 5);

  const Environment* prod = p.FindEnvironment("prod");
  ASSERT_NE(prod, nullptr);
  EXPECT_EQ(prod->after, "staging");
  EXPECT_EQ(prod->driver, "edge");
  EXPECT_EQ(prod->strategy, "canary-prod");
  EXPECT_EQ(prod->soak, minutes(10));
  ASSERT_TRUE(prod->approvals.has_value());
  EXPECT_EQ(prod->approvals->count, 1);
  EXPECT_THAT(prod->approvals->roles, ElementsAre("release-manager"));
  EXPECT_TRUE(prod->approvals->not_requester);
  ASSERT_EQ(prod->freeze.size(), 1u);
  const FreezeWindow& freeze = prod->freeze[0];
  EXPECT_EQ(freeze.cron.text, "0 18 * * FRI");
  EXPECT_EQ(freeze.duration, hours(62));
  EXPECT_EQ(freeze.timezone, "Europe/Berlin");
  EXPECT_TRUE(freeze.cron.Matches(0, 18, 7, 11, 5));   // a Friday at 18:00
  EXPECT_FALSE(freeze.cron.Matches(0, 18, 6, 11, 4));  // Thursday
  EXPECT_EQ(p.FindEnvironment("nowhere"), nullptr);

  ASSERT_EQ(p.strategies.size(), 3u);
  EXPECT_TRUE(p.strategies.at("direct").steps.empty());
  const std::vector<Step>& canary = p.strategies.at("canary").steps;
  ASSERT_EQ(canary.size(), 5u);
  EXPECT_EQ(std::get<WeightStep>(canary[0]).percent, 10);
  EXPECT_THAT(std::get<AnalyzeStep>(canary[1]).checks, ElementsAre("healthz", "errors"));
  EXPECT_EQ(std::get<AnalyzeStep>(canary[1]).duration, seconds(30));
  EXPECT_EQ(std::get<WeightStep>(canary[2]).percent, 50);
  EXPECT_EQ(std::get<PauseStep>(canary[3]).duration, seconds(30));
  const std::vector<Step>& canary_prod = p.strategies.at("canary-prod").steps;
  ASSERT_EQ(canary_prod.size(), 5u);
  EXPECT_TRUE(std::holds_alternative<ApproveStep>(canary_prod[2]));
  EXPECT_EQ(std::get<AnalyzeStep>(canary_prod[4]).duration, minutes(5));

  ASSERT_EQ(p.checks.size(), 4u);
  const Check& healthz = p.checks.at("healthz");
  EXPECT_EQ(healthz.type, CheckType::kHttp);
  EXPECT_EQ(healthz.url, "{{canary_url}}/healthz");
  EXPECT_EQ(healthz.interval, seconds(2));
  EXPECT_EQ(healthz.failure_limit, 1);
  const Check& errors = p.checks.at("errors");
  EXPECT_EQ(errors.type, CheckType::kTraffic);
  EXPECT_EQ(errors.max_error_rate, 0.02);
  EXPECT_EQ(errors.failure_limit, 2);
  EXPECT_EQ(errors.interval, seconds(5));
  const Check& latency = p.checks.at("latency");
  EXPECT_EQ(latency.type, CheckType::kPrometheus);
  EXPECT_EQ(latency.address, "http://127.0.0.1:9090");
  EXPECT_THAT(latency.query, HasSubstr("version=\"{{version}}\""));
  EXPECT_FALSE(latency.min.has_value());
  EXPECT_EQ(latency.max, 0.25);
  EXPECT_EQ(latency.interval, seconds(30));
  const Check& smoke = p.checks.at("smoke");
  EXPECT_EQ(smoke.type, CheckType::kExec);
  EXPECT_THAT(smoke.command, ElementsAre("tests/smoke.sh", "{{service}}", "{{version}}"));
  EXPECT_EQ(smoke.timeout, seconds(60));
  EXPECT_EQ(CheckTypeName(smoke.type), "exec");

  ASSERT_EQ(p.drivers.size(), 4u);
  EXPECT_EQ(p.drivers.at("local").type, DriverType::kLocal);
  EXPECT_EQ(p.drivers.at("k8s").type, DriverType::kExec);
  EXPECT_THAT(p.drivers.at("k8s").command, ElementsAre("deploy/hooks/kubectl-canary.sh"));
  const Driver& edge = p.drivers.at("edge");
  EXPECT_EQ(edge.type, DriverType::kNginx);
  EXPECT_EQ(edge.upstreams_file, "/etc/nginx/conf.d/shipd-upstreams.conf");
  EXPECT_THAT(edge.reload, ElementsAre("nginx", "-s", "reload"));
  const Driver& hook = p.drivers.at("cd-hook");
  EXPECT_EQ(hook.type, DriverType::kWebhook);
  EXPECT_EQ(hook.url, "https://cd.example.com/deploy");
  EXPECT_EQ(hook.secret_env, "CD_HOOK_SECRET");
  EXPECT_EQ(DriverTypeName(hook.type), "webhook");

  EXPECT_THAT(p.files, ElementsAre((kSourceDir / "pipelines/example.yaml").string()));
}

TEST(PipelinesTest, LoadsDemoThatFinishesQuickly) {
  Result<Pipelines> result = LoadPipelines(kSourceDir / "pipelines/demo.yaml");
  ASSERT_TRUE(result.ok()) << result.error().message();
  const Pipelines& p = *result;
  EXPECT_THAT(EnvironmentNames(p), ElementsAre("dev", "staging", "prod"));
  EXPECT_EQ(p.environments[1].after, "dev");
  EXPECT_EQ(p.environments[2].after, "staging");
  EXPECT_EQ(p.environments[0].strategy, "direct");

  milliseconds total{0};
  for (const Environment& environment : p.environments) {
    EXPECT_EQ(p.drivers.at(environment.driver).type, DriverType::kLocal);
    EXPECT_FALSE(environment.approvals.has_value());
    total += environment.soak.value_or(milliseconds(0));
    for (const Step& step : p.strategies.at(environment.strategy).steps) {
      EXPECT_FALSE(std::holds_alternative<ApproveStep>(step)) << environment.name;
      if (const auto* pause = std::get_if<PauseStep>(&step)) {
        ASSERT_TRUE(pause->duration.has_value()) << "the demo must not wait for a person";
        total += *pause->duration;
      }
      if (const auto* analyze = std::get_if<AnalyzeStep>(&step)) total += analyze->duration;
    }
  }
  EXPECT_LT(total, seconds(60));
  EXPECT_NE(p.environments[1].strategy, "direct");
  EXPECT_NE(p.environments[2].strategy, "direct");

  const Check& healthz = p.checks.at("healthz");
  EXPECT_EQ(healthz.type, CheckType::kHttp);
  EXPECT_EQ(healthz.url, "{{canary_url}}/healthz");
  EXPECT_EQ(healthz.interval, seconds(1));
  const Check& errors = p.checks.at("errors");
  EXPECT_EQ(errors.type, CheckType::kTraffic);
  EXPECT_EQ(errors.max_error_rate, 0.05);
  EXPECT_EQ(errors.interval, seconds(1));
  EXPECT_EQ(errors.failure_limit, 1);
}

// ---- behaviour ----

TEST(PipelinesTest, OrdersEnvironmentsByAfterKeepingFileOrderAmongEquals) {
  Result<Pipelines> result = ParsePipelines(std::string(R"(
environments:
  - { name: prod, after: staging, driver: local, strategy: direct }
  - { name: qa, driver: local, strategy: direct }
  - { name: staging, after: dev, driver: local, strategy: direct }
  - { name: dev, driver: local, strategy: direct }
  - { name: perf, after: dev, driver: local, strategy: direct }
)") + kBasics,
                                            "order.yaml");
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_THAT(EnvironmentNames(*result), ElementsAre("qa", "dev", "staging", "prod", "perf"));
  for (size_t i = 0; i < result->environments.size(); ++i) {
    EXPECT_EQ(result->environment_index.at(result->environments[i].name), i);
  }
}

TEST(PipelinesTest, AppliesDefaults) {
  Result<Pipelines> result = ParsePipelines(R"(
environments:
  - name: dev
    driver: edge
    strategy: s
    approvals: {}
    freeze: [ { cron: "*/15 9-17 1,15 JAN-MAR *", duration: 1h } ]
strategies:
  s: { steps: [ { pause: {} }, { approve: } ] }
checks:
  t: { type: traffic, max_latency: 250ms }
drivers:
  edge: { type: nginx, upstreams_file: upstreams.conf }
)",
                                            "defaults.yaml");
  ASSERT_TRUE(result.ok()) << result.error().message();
  const Environment& dev = result->environments[0];
  ASSERT_TRUE(dev.approvals.has_value());
  EXPECT_EQ(dev.approvals->count, 1);
  EXPECT_TRUE(dev.approvals->roles.empty());
  EXPECT_FALSE(dev.approvals->not_requester);
  ASSERT_EQ(dev.freeze.size(), 1u);
  EXPECT_EQ(dev.freeze[0].timezone, "UTC");
  const std::vector<Step>& steps = result->strategies.at("s").steps;
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_FALSE(std::get<PauseStep>(steps[0]).duration.has_value());
  EXPECT_TRUE(std::holds_alternative<ApproveStep>(steps[1]));
  const Check& t = result->checks.at("t");
  EXPECT_EQ(t.interval, seconds(10));
  EXPECT_EQ(t.timeout, seconds(10));
  EXPECT_EQ(t.failure_limit, 1);
  EXPECT_FALSE(t.max_error_rate.has_value());
  EXPECT_EQ(t.max_latency, milliseconds(250));
  EXPECT_EQ(t.consecutive_error_limit, 4);
  EXPECT_EQ(t.min_requests, 10);
  EXPECT_FALSE(t.max_error_rate_increase.has_value());
  EXPECT_FALSE(dev.progress_deadline.has_value());
  EXPECT_THAT(result->drivers.at("edge").reload, ElementsAre("nginx", "-s", "reload"));
  EXPECT_EQ(result->checks.at("t").location.ToString(), "defaults.yaml:11:3");
}

TEST(PipelinesTest, ReadsProgressDeadline) {
  Result<Pipelines> result = ParsePipelines(std::string(R"(
environments:
  - { name: dev, driver: local, strategy: direct, progress_deadline: 2m30s }
)") + kBasics,
                                            "deadline.yaml");
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->environments[0].progress_deadline, seconds(150));
}

TEST(PipelinesTest, AnalyzeNeedsDurationOrCountOrBoth) {
  Result<Pipelines> result = ParsePipelines(std::string(R"(
environments:
  - { name: dev, driver: local, strategy: s }
strategies:
  s:
    steps:
      - analyze: { checks: [errors], count: 5 }
      - analyze: { checks: [errors], duration: 1m }
      - analyze: { checks: [errors], duration: 30s, count: 3 }
checks:
  errors: { type: traffic, max_error_rate: 0.02 }
drivers:
  local: { type: local }
)"),
                                            "analyze.yaml");
  ASSERT_TRUE(result.ok()) << result.error().message();
  const std::vector<Step>& steps = result->strategies.at("s").steps;
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(std::get<AnalyzeStep>(steps[0]).count, 5);
  EXPECT_EQ(std::get<AnalyzeStep>(steps[0]).duration, milliseconds(0));
  EXPECT_EQ(std::get<AnalyzeStep>(steps[1]).count, 0);
  EXPECT_EQ(std::get<AnalyzeStep>(steps[1]).duration, minutes(1));
  EXPECT_EQ(std::get<AnalyzeStep>(steps[2]).count, 3);
  EXPECT_EQ(std::get<AnalyzeStep>(steps[2]).duration, seconds(30));

  Result<Pipelines> neither = ParsePipelines(
      "environments: [ { name: dev, driver: local, strategy: s } ]\n"
      "strategies: { s: { steps: [ { analyze: { checks: [e] } } ] } }\n"
      "checks: { e: { type: traffic, max_error_rate: 0.1 } }\n"
      "drivers: { local: { type: local } }\n",
      "neither.yaml");
  EXPECT_EQ(ErrorOf(neither),
            "neither.yaml:2:40: strategy \"s\": step 1: analyze: needs \"duration\" (how long to "
            "measure), \"count\" (how many measurements of each check) or both");
}

TEST(PipelinesTest, ReadsConsecutiveErrorLimitForEveryType) {
  Result<Pipelines> result = ParsePipelines(std::string(R"(
environments:
  - { name: dev, driver: local, strategy: direct }
checks:
  a: { type: http, url: "{{canary_url}}/", consecutive_error_limit: 1 }
  b: { type: prometheus, address: "http://p:9090", query: up, min: 1, consecutive_error_limit: 2 }
  c: { type: exec, command: [smoke], consecutive_error_limit: 3 }
  d: { type: traffic, max_error_rate: 0.1, consecutive_error_limit: 10 }
)") + kBasics,
                                            "errors.yaml");
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->checks.at("a").consecutive_error_limit, 1);
  EXPECT_EQ(result->checks.at("b").consecutive_error_limit, 2);
  EXPECT_EQ(result->checks.at("c").consecutive_error_limit, 3);
  EXPECT_EQ(result->checks.at("d").consecutive_error_limit, 10);
}

TEST(PipelinesTest, ReadsHttpExpectationsAndLatency) {
  Result<Pipelines> result = ParsePipelines(std::string(R"(
environments:
  - { name: dev, driver: local, strategy: direct }
checks:
  one: { type: http, url: "{{canary_url}}/a", expected_status: 204 }
  many:
    type: http
    url: "{{canary_url}}/b"
    expected_status: [200, 301, 503]
    body_contains: '"status": "ready"'
    max_latency: 300ms
  none: { type: http, url: "{{canary_url}}/c", expected_status: [] }
)") + kBasics,
                                            "http.yaml");
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_THAT(result->checks.at("one").expected_status, ElementsAre(204));
  EXPECT_TRUE(result->checks.at("one").body_contains.empty());
  EXPECT_FALSE(result->checks.at("one").max_latency.has_value());
  const Check& many = result->checks.at("many");
  EXPECT_THAT(many.expected_status, ElementsAre(200, 301, 503));
  EXPECT_EQ(many.body_contains, "\"status\": \"ready\"");
  EXPECT_EQ(many.max_latency, milliseconds(300));
  EXPECT_TRUE(result->checks.at("none").expected_status.empty());  // any 2xx
}

TEST(PipelinesTest, RejectsBadExpectedStatus) {
  auto load = [](const std::string& value) {
    return ErrorOf(ParsePipelines(
        std::string("environments: [ { name: dev, driver: local, strategy: direct } ]\n"
                    "checks:\n  h: { type: http, url: \"http://x/\", expected_status: ") +
            value + " }\n" + kBasics,
        "status.yaml"));
  };
  EXPECT_THAT(load("[200, 204, 200]"),
              HasSubstr("check \"h\": expected_status: item 3: 200 is listed twice"));
  EXPECT_THAT(load("[200, ok]"),
              HasSubstr("expected_status: item 2: expected a whole number, got \"ok\""));
  EXPECT_THAT(load("99"), HasSubstr("expected_status: must be between 100 and 599, got 99"));
  EXPECT_THAT(load("{ code: 200 }"),
              HasSubstr("expected_status: expected a status (200) or a list of them ([200, 204]), "
                        "got a mapping"));
  EXPECT_THAT(load("[[200]]"),
              HasSubstr("expected_status: item 1: expected a whole number, got a list"));
}

TEST(PipelinesTest, ReadsTrafficComparisonWithStable) {
  Result<Pipelines> result = ParsePipelines(std::string(R"(
environments:
  - { name: dev, driver: local, strategy: direct }
checks:
  relative: { type: traffic, max_error_rate_increase: 0.01, min_requests: 50 }
  both: { type: traffic, max_error_rate: 0.05, max_error_rate_increase: 0 }
)") + kBasics,
                                            "traffic.yaml");
  ASSERT_TRUE(result.ok()) << result.error().message();
  const Check& relative = result->checks.at("relative");
  EXPECT_EQ(relative.max_error_rate_increase, 0.01);
  EXPECT_FALSE(relative.max_error_rate.has_value());
  EXPECT_FALSE(relative.max_latency.has_value());
  EXPECT_EQ(relative.min_requests, 50);
  const Check& both = result->checks.at("both");
  EXPECT_EQ(both.max_error_rate, 0.05);
  EXPECT_EQ(both.max_error_rate_increase, 0.0);
  EXPECT_EQ(both.min_requests, 10);
}

TEST(PipelinesTest, RejectsNewKeysOutsideTheirType) {
  Result<Pipelines> result = ParsePipelines(std::string(R"(
environments:
  - { name: dev, driver: local, strategy: direct }
checks:
  p: { type: prometheus, address: "http://p:9090", query: up, min: 1, max_latency: 1s }
  t: { type: traffic, max_error_rate: 0.1, body_contains: ok }
  e: { type: exec, command: [x], max_error_rate_increase: -0.5 }
)") + kBasics,
                                            "types.yaml");
  const std::string error = ErrorOf(result);
  EXPECT_THAT(error, HasSubstr("types.yaml:5:71: check \"p\": key \"max_latency\" does not apply "
                               "to a prometheus check (it is for: http, traffic)"));
  EXPECT_THAT(error, HasSubstr("types.yaml:6:44: check \"t\": key \"body_contains\" does not "
                               "apply to a traffic check (it is for: http)"));
  EXPECT_THAT(error, HasSubstr("types.yaml:7:34: check \"e\": key \"max_error_rate_increase\" "
                               "does not apply to a exec check (it is for: traffic)"));
}

TEST(PipelinesTest, RejectsNegativeErrorRateIncrease) {
  Result<Pipelines> result = ParsePipelines(
      std::string("environments: [ { name: dev, driver: local, strategy: direct } ]\n"
                  "checks:\n  t: { type: traffic, max_error_rate_increase: -0.01 }\n") +
          kBasics,
      "negative.yaml");
  EXPECT_THAT(ErrorOf(result), HasSubstr("negative.yaml:3:48: check \"t\": "
                                         "max_error_rate_increase: must be between 0 and 1 (a "
                                         "fraction of requests), got -0.01"));
}

TEST(PipelinesTest, MergesDirectoryInNameOrderSkippingOtherFiles) {
  TempDir dir;
  dir.Write("20-environments.yml", R"(
environments:
  - { name: prod, after: staging, driver: local, strategy: canary }
  - { name: staging, driver: local, strategy: canary }
)");
  dir.Write("10-shared.yaml", R"(
x-timing: &fast { interval: 1s, failure_limit: 3 }
strategies:
  canary: { steps: [ { weight: 50 }, { analyze: { checks: [errors], duration: 10s } } ] }
checks:
  errors: { <<: *fast, type: traffic, max_error_rate: 0.1 }
drivers:
  local: { type: local }
)");
  dir.Write("30-more.yaml", "environments:\n  - { name: dev, driver: local, strategy: canary }\n");
  dir.Write(".hidden.yaml", "this: [is not valid");
  dir.Write("README.txt", "not yaml");
  fs::create_directories(dir.path() / "nested.yaml");

  Result<Pipelines> result = LoadPipelines(dir.path());
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_THAT(EnvironmentNames(*result), ElementsAre("staging", "prod", "dev"));
  EXPECT_THAT(result->files, ElementsAre((dir.path() / "10-shared.yaml").string(),
                                         (dir.path() / "20-environments.yml").string(),
                                         (dir.path() / "30-more.yaml").string()));
  const Check& errors = result->checks.at("errors");
  EXPECT_EQ(errors.interval, seconds(1));
  EXPECT_EQ(errors.failure_limit, 3);
  EXPECT_EQ(result->environments[0].location.file, (dir.path() / "20-environments.yml").string());
}

TEST(PipelinesTest, NameDefinedInTwoFilesNamesBothPlaces) {
  TempDir dir;
  fs::path a = dir.Write("a.yaml", std::string("environments:\n  - { name: dev, driver: local, "
                                               "strategy: direct }\n") +
                                       kBasics);
  fs::path b = dir.Write("b.yaml",
                         "drivers:\n  local: { type: exec, command: [x] }\nenvironments:\n"
                         "  - name: dev\n    driver: local\n    strategy: direct\n");
  Result<Pipelines> result = LoadPipelines(dir.path());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalid);
  EXPECT_THAT(
      result.error().message(),
      HasSubstr(b.string() + ":2:3: driver \"local\": already defined at " + a.string() + ":7:3"));
  EXPECT_THAT(result.error().message(),
              HasSubstr(b.string() + ":4:11: environment \"dev\": already defined at " +
                        a.string() + ":2:5"));
}

TEST(PipelinesTest, ReportsEveryProblemSortedByPosition) {
  Result<Pipelines> result = ParsePipelines(std::string(R"(
environments:
  - { name: dev, driver: lokal, strategy: direct }
  - { name: prod, after: dev, driver: local, strategy: direct, soak: 5 }
)") + kBasics,
                                            "many.yaml");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message(),
            "many.yaml:3:26: environment \"dev\": unknown driver \"lokal\" (did you mean "
            "\"local\"?)\n"
            "many.yaml:4:70: environment \"prod\": soak: invalid duration \"5\": missing unit "
            "after \"5\" (ms, s, m, h or d)");
}

TEST(PipelinesTest, UnparsableFileDoesNotCascadeIntoUnknownNames) {
  TempDir dir;
  dir.Write("a.yaml", "environments:\n  - { name: dev, driver: local, strategy: direct }\n");
  dir.Write("b.yaml", "strategies: { direct: { steps: [] }\ndrivers: {}\n");
  Result<Pipelines> result = LoadPipelines(dir.path());
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.error().message(), HasSubstr("b.yaml:"));
  EXPECT_THAT(result.error().message(), HasSubstr("invalid YAML"));
  EXPECT_THAT(result.error().message(), Not(HasSubstr("unknown")));
}

TEST(PipelinesTest, FileSystemErrors) {
  Result<Pipelines> missing = LoadPipelines("/nonexistent/shipd/pipelines");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(missing.error().message(), StartsWith("/nonexistent/shipd/pipelines: "));

  TempDir dir;
  dir.Write("notes.txt", "nothing here");
  Result<Pipelines> empty = LoadPipelines(dir.path());
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.error().message(), HasSubstr("no *.yaml or *.yml files"));
}

TEST(PipelinesTest, EmptyDocumentHasNoEnvironments) {
  Result<Pipelines> result = ParsePipelines("", "empty.yaml");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.error().message(), StartsWith("empty.yaml:1:1: no environments defined"));
}

TEST(PipelinesTest, TimezonesComeFromTzdir) {
  TempDir dir;
  const char* previous = std::getenv("TZDIR");
  std::string saved = previous != nullptr ? previous : "";
  ::setenv("TZDIR", dir.path().c_str(), 1);
  fs::create_directories(dir.path() / "Mars");
  dir.Write("Mars/Olympus", std::string("TZif2") + std::string(40, '\0'));
  dir.Write("leapseconds", "# not a zone file\n");
  auto load = [](const std::string& tz) {
    return ParsePipelines(std::string("environments:\n  - name: dev\n    driver: local\n"
                                      "    strategy: direct\n    freeze: [ { cron: \"0 0 * * *\", "
                                      "duration: 1h, timezone: ") +
                              tz + " } ]\n" + kBasics,
                          "tz.yaml");
  };
  Result<Pipelines> olympus = load("Mars/Olympus");
  Result<Pipelines> utc = load("UTC");
  Result<Pipelines> berlin = load("Europe/Berlin");
  Result<Pipelines> table = load("leapseconds");
  Result<Pipelines> escape = load("../../etc/passwd");
  if (previous != nullptr) {
    ::setenv("TZDIR", saved.c_str(), 1);
  } else {
    ::unsetenv("TZDIR");
  }
  EXPECT_TRUE(olympus.ok()) << ErrorOf(olympus);
  EXPECT_TRUE(utc.ok()) << ErrorOf(utc);
  EXPECT_THAT(ErrorOf(berlin), HasSubstr("unknown timezone \"Europe/Berlin\""));
  EXPECT_THAT(ErrorOf(table), HasSubstr("unknown timezone \"leapseconds\""));
  EXPECT_THAT(ErrorOf(escape), HasSubstr("is not a timezone name"));
}

TEST(PipelinesTest, NoYamlExceptionEscapesOnOddInput) {
  const std::vector<std::string> inputs = {
      "\t- tab",
      "{",
      "[1, 2",
      "a: *undefined_alias",
      "? [a]\n: b",
      "environments: !!binary x",
      "---\n---\n",
      "\xff\xfe",
      ": :",
      "environments:\n  - &a { name: dev, after: *a }",
      "environments:\n  - &x { name: dev, driver: local, strategy: direct, <<: *x }"};
  for (const std::string& input : inputs) {
    Result<Pipelines> result = ParsePipelines(input, "odd.yaml");
    EXPECT_FALSE(result.ok()) << input;
    if (!result.ok()) {
      EXPECT_THAT(result.error().message(), StartsWith("odd.yaml:")) << input;
    }
  }
}

// ---- each mistake in tests/data/pipelines/bad/ ----

std::vector<fs::path> BadFiles() {
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(kSourceDir / "tests/data/pipelines/bad", ec), end;
       !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".yaml") files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

class BadPipelineFileTest : public ::testing::TestWithParam<fs::path> {};

// The first line of each file is "# expect: <substring of the error, from :LINE:COL: on>".
TEST_P(BadPipelineFileTest, FailsWithExpectedMessage) {
  const fs::path& file = GetParam();
  std::ifstream in(file);
  std::string first_line;
  std::getline(in, first_line);
  const std::string prefix = "# expect: ";
  ASSERT_THAT(first_line, StartsWith(prefix));
  std::string expected = first_line.substr(prefix.size());
  ASSERT_TRUE(std::regex_search(expected, std::regex("^:[0-9]+:[0-9]+: ")))
      << "the expectation must start with :LINE:COL: but is: " << expected;

  Result<Pipelines> result = LoadPipelines(file);
  ASSERT_FALSE(result.ok()) << file << " loaded";
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalid);
  const std::string& message = result.error().message();
  EXPECT_THAT(message, StartsWith(file.string() + expected.substr(0, expected.find(' '))));
  EXPECT_THAT(message, HasSubstr(expected));
  EXPECT_EQ(message.find('\n'), std::string::npos) << "one mistake per file, got:\n" << message;
}

std::string BadFileTestName(const ::testing::TestParamInfo<fs::path>& param_info) {
  std::string name = param_info.param.stem().string();
  for (char& c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(DataFiles, BadPipelineFileTest, ::testing::ValuesIn(BadFiles()),
                         BadFileTestName);

TEST(BadPipelineFilesTest, CoverAtLeastFifteenMistakes) { EXPECT_GE(BadFiles().size(), 15u); }

// ---- durations ----

struct DurationCase {
  const char* text;
  int64_t ms;
};

TEST(ParseDurationTest, AcceptsUnitsFromLargestToSmallest) {
  const DurationCase cases[] = {
      {"0s", 0},
      {"500ms", 500},
      {"1s", 1'000},
      {"30s", 30'000},
      {"10m", 600'000},
      {"62h", 223'200'000},
      {"1h30m", 5'400'000},
      {"2d", 172'800'000},
      {"1d2h3m4s5ms", 93'784'005},
      {"90s", 90'000},
      {"1500ms", 1'500},
      {"3650d", 315'360'000'000},
  };
  for (const DurationCase& c : cases) {
    Result<milliseconds> parsed = ParseDuration(c.text);
    ASSERT_TRUE(parsed.ok()) << c.text << ": " << parsed.error().message();
    EXPECT_EQ(parsed->count(), c.ms) << c.text;
  }
}

struct BadDurationCase {
  const char* text;
  const char* message;
};

TEST(ParseDurationTest, RejectsWithReason) {
  const BadDurationCase cases[] = {
      {"", "empty"},
      {"30", "missing unit after \"30\""},
      {"10 minutes", "missing unit after \"10\""},
      {"1.5h", "fractions are not supported"},
      {"-5s", "must not be negative"},
      {"s", "must start with a number"},
      {"5x", "unknown unit \"x\""},
      {"5S", "unknown unit \"S\""},
      {"30m1h", "from largest to smallest"},
      {"1h1h", "from largest to smallest"},
      {"1h ", "expected a number after \"1h\""},
      {"1h30", "missing unit after \"30\""},
      {"3651d", "longer than 3650d"},
      {"99999999999999999999s", "longer than 3650d"},
  };
  for (const BadDurationCase& c : cases) {
    Result<milliseconds> parsed = ParseDuration(c.text);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalid);
    EXPECT_THAT(parsed.error().message(),
                StartsWith("invalid duration \"" + std::string(c.text) + "\": "));
    EXPECT_THAT(parsed.error().message(), HasSubstr(c.message)) << c.text;
  }
}

TEST(FormatDurationTest, RoundTripsThroughParse) {
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(milliseconds(500)), "500ms");
  EXPECT_EQ(FormatDuration(minutes(90)), "1h30m");
  EXPECT_EQ(FormatDuration(hours(62)), "2d14h");
  EXPECT_EQ(FormatDuration(milliseconds(-1500)), "-1s500ms");
  for (int64_t ms : {1LL, 999LL, 1'000LL, 61'001LL, 93'784'005LL, 315'360'000'000LL}) {
    Result<milliseconds> parsed = ParseDuration(FormatDuration(milliseconds(ms)));
    ASSERT_TRUE(parsed.ok()) << ms;
    EXPECT_EQ(parsed->count(), ms);
  }
}

// ---- cron ----

TEST(ParseCronTest, ParsesFieldsAndNames) {
  Result<CronSchedule> cron = ParseCron("*/20 9-17/4 1,15 jan-MAR,dec sun,6");
  ASSERT_TRUE(cron.ok()) << cron.error().message();
  EXPECT_TRUE(cron->minutes[0] && cron->minutes[20] && cron->minutes[40]);
  EXPECT_EQ(cron->minutes.count(), 3u);
  EXPECT_TRUE(cron->hours[9] && cron->hours[13] && cron->hours[17]);
  EXPECT_EQ(cron->hours.count(), 3u);
  EXPECT_EQ(cron->days_of_month.count(), 2u);
  EXPECT_TRUE(cron->months[1] && cron->months[2] && cron->months[3] && cron->months[12]);
  EXPECT_EQ(cron->months.count(), 4u);
  EXPECT_TRUE(cron->days_of_week[0] && cron->days_of_week[6]);
  EXPECT_FALSE(cron->day_of_month_star);
  EXPECT_FALSE(cron->day_of_week_star);

  Result<CronSchedule> sunday = ParseCron("0 0 * * 7");
  ASSERT_TRUE(sunday.ok());
  EXPECT_TRUE(sunday->days_of_week[0]);
  EXPECT_EQ(sunday->days_of_week.count(), 1u);
}

TEST(ParseCronTest, MatchesLikeVixieCron) {
  // Both day fields restricted: either matches.
  CronSchedule either = *ParseCron("30 2 1 * MON");
  EXPECT_TRUE(either.Matches(30, 2, 1, 6, 3));   // the 1st, a Wednesday
  EXPECT_TRUE(either.Matches(30, 2, 9, 6, 1));   // a Monday
  EXPECT_FALSE(either.Matches(30, 2, 9, 6, 2));  // neither
  EXPECT_FALSE(either.Matches(31, 2, 1, 6, 1));  // wrong minute
  // One day field is '*': both must match.
  CronSchedule friday = *ParseCron("0 18 * * FRI");
  EXPECT_TRUE(friday.Matches(0, 18, 13, 6, 5));
  EXPECT_FALSE(friday.Matches(0, 18, 13, 6, 4));
  EXPECT_FALSE(friday.Matches(60, 18, 13, 6, 5));  // out of range is never a match
}

TEST(ParseCronTest, RejectsWithFieldName) {
  const BadDurationCase cases[] = {
      {"0 18 * FRI", "expected 5 fields"},
      {"0 18 * * FRI extra", "got 6"},
      {"60 * * * *", "minute: 60 is out of range 0-59"},
      {"0 24 * * *", "hour: 24 is out of range 0-23"},
      {"0 0 0 * *", "day-of-month: 0 is out of range 1-31"},
      {"0 0 * 13 *", "month: 13 is out of range 1-12"},
      {"0 0 * * 8", "day-of-week: 8 is out of range 0-7"},
      {"0 0 * * FRX", "day-of-week: \"FRX\" is not a number 0-7 or a name SUN-SAT"},
      {"0 0 * * 5-1", "day-of-week: range \"5-1\" goes backwards"},
      {"*/0 * * * *", "minute: step in \"*/0\" must be a positive number"},
      {"1,,2 * * * *", "minute: empty item"},
      {"@daily", "expected 5 fields"},
  };
  for (const BadDurationCase& c : cases) {
    Result<CronSchedule> cron = ParseCron(c.text);
    ASSERT_FALSE(cron.ok()) << c.text;
    EXPECT_THAT(cron.error().message(), HasSubstr(c.message)) << c.text;
  }
}

}  // namespace
}  // namespace shipd
