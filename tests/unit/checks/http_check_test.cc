#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "shipd/checks/health_check.h"
#include "support/loopback_server.h"

namespace shipd {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

using shipd::testing::LoopbackServer;

// What the canary answers: a status per path, and an optional hold on /slow.
struct Canary {
  std::mutex mutex;
  std::condition_variable released;
  bool release = false;
  std::string last_path;
  std::string last_user_agent;

  void Routes(httplib::Server& s) {
    s.Get("/healthz", [this](const httplib::Request& req, httplib::Response& res) {
      Record(req);
      res.set_content("ok", "text/plain");
    });
    s.Get("/down", [this](const httplib::Request& req, httplib::Response& res) {
      Record(req);
      res.status = 503;
      res.set_content("database\nunreachable", "text/plain");
    });
    s.Get("/ready", [this](const httplib::Request& req, httplib::Response& res) {
      Record(req);
      res.set_content(R"({"status":"ready","version":"1.4.0"})", "application/json");
    });
    s.Get("/empty", [this](const httplib::Request& req, httplib::Response& res) {
      Record(req);
      res.status = 204;
    });
    s.Get("/moved",
          [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/healthz"); });
    // Answers after 150 ms unless released earlier: latency comes from the handler, never from
    // the test thread sleeping.
    s.Get("/slow", [this](const httplib::Request& req, httplib::Response& res) {
      Record(req);
      std::unique_lock lock(mutex);
      released.wait_for(lock, milliseconds(150), [this] { return release; });
      res.set_content("slow", "text/plain");
    });
    // Answers only when released.
    s.Get("/hang", [this](const httplib::Request&, httplib::Response& res) {
      std::unique_lock lock(mutex);
      released.wait(lock, [this] { return release; });
      res.set_content("late", "text/plain");
    });
  }
  void Record(const httplib::Request& req) {
    std::lock_guard lock(mutex);
    last_path = req.path;
    last_user_agent = req.get_header_value("User-Agent");
  }
  void Release() {
    std::lock_guard lock(mutex);
    release = true;
    released.notify_all();
  }
};

std::map<std::string, std::string> Variables(const std::string& canary_url) {
  return {{"service", "orders"},
          {"version", "1.4.0"},
          {"previous_version", "1.3.2"},
          {"environment", "staging"},
          {"weight", "10"},
          {"artifact", "registry/orders:1.4.0"},
          {"canary_url", canary_url},
          {"stable_url", "http://127.0.0.1:1"}};
}

class HttpCheckTest : public ::testing::Test {
 protected:
  ~HttpCheckTest() override { canary_.Release(); }

  Measurement Measure(const std::string& url, std::optional<milliseconds> max_latency = {},
                      milliseconds timeout = seconds(5)) {
    Check config = Config(url);
    config.timeout = timeout;
    config.max_latency = max_latency;
    return MeasureWith(config);
  }

  static Check Config(const std::string& url) {
    Check config;
    config.name = "healthz";
    config.type = CheckType::kHttp;
    config.url = url;
    config.timeout = seconds(5);
    return config;
  }

  Measurement MeasureWith(const Check& config) {
    auto check = MakeHealthCheck(config, *runner_, *http_, clock_);
    EXPECT_TRUE(check.ok()) << check.error().message();
    if (!check.ok()) return {};
    CheckContext context;
    context.variables = Variables(server_.Origin());
    return (*check)->Measure(context);
  }

  Canary canary_;
  LoopbackServer server_{[this](httplib::Server& s) { canary_.Routes(s); }};
  FakeClock clock_{1'900'000'000'000};
  std::unique_ptr<ProcessRunner> runner_ = MakePosixProcessRunner();
  std::unique_ptr<HttpClient> http_ = MakeHttplibHttpClient();
};

TEST_F(HttpCheckTest, TwoHundredPassesWithLatencyAsValue) {
  const Measurement m = Measure("{{canary_url}}/healthz");
  EXPECT_EQ(m.result, MeasurementResult::kPass) << m.detail;
  EXPECT_THAT(m.detail, MatchesRegex("HTTP 200 in [0-9]+ ms"));
  ASSERT_TRUE(m.value.has_value());
  EXPECT_GE(*m.value, 0);
  EXPECT_EQ(m.at, 1'900'000'000'000);
  EXPECT_EQ(canary_.last_path, "/healthz");
  EXPECT_EQ(canary_.last_user_agent, "shipd-check/healthz");
}

TEST_F(HttpCheckTest, ServerErrorFailsAndShowsTheBody) {
  const Measurement m = Measure("{{ canary_url }}/down");
  EXPECT_EQ(m.result, MeasurementResult::kFail);
  EXPECT_THAT(m.detail, MatchesRegex("HTTP 503 in [0-9]+ ms \\(expected 2xx\\): database "
                                     "unreachable"));
  EXPECT_TRUE(m.value.has_value());
}

TEST_F(HttpCheckTest, RedirectIsNotFollowedAndFails) {
  const Measurement m = Measure("{{canary_url}}/moved");
  EXPECT_EQ(m.result, MeasurementResult::kFail);
  EXPECT_THAT(m.detail, HasSubstr("HTTP 302"));
}

TEST_F(HttpCheckTest, SlowerThanMaxLatencyFails) {
  const Measurement m = Measure("{{canary_url}}/slow", milliseconds(20));
  EXPECT_EQ(m.result, MeasurementResult::kFail);
  EXPECT_THAT(m.detail, MatchesRegex("HTTP 200 in [0-9]+ ms > max_latency 20 ms"));
  ASSERT_TRUE(m.value.has_value());
  EXPECT_GT(*m.value, 20);
}

TEST_F(HttpCheckTest, WithinMaxLatencyPasses) {
  const Measurement m = Measure("{{canary_url}}/healthz", seconds(5));
  EXPECT_EQ(m.result, MeasurementResult::kPass) << m.detail;
}

TEST_F(HttpCheckTest, ExpectedStatusReplacesAny2xx) {
  Check config = Config("{{canary_url}}/healthz");
  config.expected_status = {200, 204};
  EXPECT_EQ(MeasureWith(config).result, MeasurementResult::kPass);

  config.url = "{{canary_url}}/down";
  const Measurement down = MeasureWith(config);
  EXPECT_EQ(down.result, MeasurementResult::kFail);
  EXPECT_THAT(down.detail, MatchesRegex("HTTP 503 in [0-9]+ ms \\(expected 200 or 204\\): "
                                        "database unreachable"));

  config.url = "{{canary_url}}/ready";
  config.expected_status = {204};
  const Measurement not_listed = MeasureWith(config);
  EXPECT_EQ(not_listed.result, MeasurementResult::kFail) << "a 2xx that is not listed fails";
  EXPECT_THAT(not_listed.detail, MatchesRegex("HTTP 200 in [0-9]+ ms \\(expected 204\\): .*"));
}

TEST_F(HttpCheckTest, ExpectedStatusCanAcceptARedirectOrAnError) {
  Check config = Config("{{canary_url}}/moved");
  config.expected_status = {301, 302, 307};
  EXPECT_EQ(MeasureWith(config).result, MeasurementResult::kPass);
  config.url = "{{canary_url}}/down";
  config.expected_status = {503};
  EXPECT_EQ(MeasureWith(config).result, MeasurementResult::kPass);
}

TEST_F(HttpCheckTest, BodyContainingTheTextPasses) {
  Check config = Config("{{canary_url}}/ready");
  config.body_contains = R"("status":"ready")";
  const Measurement m = MeasureWith(config);
  EXPECT_EQ(m.result, MeasurementResult::kPass) << m.detail;
  EXPECT_THAT(m.detail, MatchesRegex("HTTP 200 in [0-9]+ ms"));
}

TEST_F(HttpCheckTest, BodyWithoutTheTextFailsSayingSo) {
  Check config = Config("{{canary_url}}/ready");
  config.body_contains = R"("version":"1.5.0")";
  const Measurement m = MeasureWith(config);
  EXPECT_EQ(m.result, MeasurementResult::kFail);
  EXPECT_THAT(m.detail, MatchesRegex("HTTP 200 in [0-9]+ ms: .*"));
  EXPECT_THAT(m.detail, HasSubstr(R"(: the body does not contain "\"version\":\"1.5.0\"" )"
                                  R"((it starts: {"status":"ready","version":"1.4.0"}))"));
  EXPECT_TRUE(m.value.has_value());

  config.url = "{{canary_url}}/empty";
  config.expected_status = {204};
  config.body_contains = "ready";
  const Measurement empty = MeasureWith(config);
  EXPECT_EQ(empty.result, MeasurementResult::kFail);
  EXPECT_THAT(empty.detail, HasSubstr(R"(HTTP 204 in )"));
  EXPECT_THAT(empty.detail, HasSubstr(R"(: the body does not contain "ready" (it is empty))"));
}

TEST_F(HttpCheckTest, WrongStatusIsReportedBeforeTheBody) {
  Check config = Config("{{canary_url}}/down");
  config.body_contains = "ready";
  const Measurement m = MeasureWith(config);
  EXPECT_EQ(m.result, MeasurementResult::kFail);
  EXPECT_THAT(m.detail, HasSubstr("(expected 2xx)"));
  EXPECT_THAT(m.detail, Not(HasSubstr("does not contain")));
}

TEST_F(HttpCheckTest, RightBodyTooLateFails) {
  Check config = Config("{{canary_url}}/slow");
  config.body_contains = "slow";
  config.max_latency = milliseconds(20);
  const Measurement m = MeasureWith(config);
  EXPECT_EQ(m.result, MeasurementResult::kFail);
  EXPECT_THAT(m.detail, MatchesRegex("HTTP 200 in [0-9]+ ms > max_latency 20 ms"));
}

TEST_F(HttpCheckTest, NoAnswerWithinTimeoutFails) {
  const Measurement m = Measure("{{canary_url}}/hang", std::nullopt, milliseconds(100));
  canary_.Release();
  EXPECT_EQ(m.result, MeasurementResult::kFail);
  EXPECT_THAT(m.detail, HasSubstr("/hang"));
  EXPECT_FALSE(m.value.has_value());
}

TEST_F(HttpCheckTest, RefusedConnectionFailsNamingTheUrl) {
  std::string origin;
  {
    LoopbackServer closed([](httplib::Server&) {});
    origin = closed.Origin();
  }
  const Measurement m = Measure(origin + "/healthz");
  EXPECT_EQ(m.result, MeasurementResult::kFail);
  EXPECT_THAT(m.detail, HasSubstr("GET " + origin + "/healthz: cannot connect"));
}

TEST_F(HttpCheckTest, MissingVariableInContextIsAnError) {
  Check config;
  config.name = "healthz";
  config.type = CheckType::kHttp;
  config.url = "{{canary_url}}/healthz";
  auto check = MakeHealthCheck(config, *runner_, *http_, clock_);
  ASSERT_TRUE(check.ok()) << check.error().message();
  const Measurement m = (*check)->Measure(CheckContext{});
  EXPECT_EQ(m.result, MeasurementResult::kError);
  EXPECT_THAT(m.detail, HasSubstr("url: unknown template variable \"canary_url\""));
}

TEST_F(HttpCheckTest, RenderedUrlThatIsNotAUrlIsAnError) {
  Check config;
  config.name = "healthz";
  config.type = CheckType::kHttp;
  config.url = "{{canary_url}}/healthz";
  auto check = MakeHealthCheck(config, *runner_, *http_, clock_);
  ASSERT_TRUE(check.ok()) << check.error().message();
  CheckContext context;
  context.variables = Variables("");  // the driver reported no canary URL
  const Measurement m = (*check)->Measure(context);
  EXPECT_EQ(m.result, MeasurementResult::kError);
  EXPECT_THAT(m.detail, HasSubstr("invalid URL \"/healthz\""));
}

}  // namespace
}  // namespace shipd
