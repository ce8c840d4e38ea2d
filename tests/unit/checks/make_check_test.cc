#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "shipd/checks/health_check.h"

namespace shipd {
namespace {

using ::testing::HasSubstr;
using ::testing::Le;
using ::testing::SizeIs;

// Answers every request with one canned response, or throws when told to.
class FakeHttpClient final : public HttpClient {
 public:
  Result<HttpResponse> Send(const HttpRequest&) override {
    if (throws) throw std::runtime_error("boom");
    return response;
  }
  HttpResponse response;
  bool throws = false;
};

// Finishes every command with one canned result.
class FakeProcessRunner final : public ProcessRunner {
 public:
  Result<ProcessResult> Run(const ProcessSpec&) override { return result; }
  ProcessResult result;
};

class MakeHealthCheckTest : public ::testing::Test {
 protected:
  Result<std::unique_ptr<HealthCheck>> Make(const Check& config) {
    return MakeHealthCheck(config, *runner_, *http_, clock_);
  }
  void ExpectInvalid(const Check& config, const std::string& message) {
    auto check = Make(config);
    ASSERT_FALSE(check.ok()) << message;
    EXPECT_EQ(check.error().code(), ErrorCode::kInvalid);
    EXPECT_THAT(check.error().message(), HasSubstr("check \"" + config.name + "\": "));
    EXPECT_THAT(check.error().message(), HasSubstr(message));
  }

  FakeClock clock_;
  std::unique_ptr<ProcessRunner> runner_ = MakePosixProcessRunner();
  std::unique_ptr<HttpClient> http_ = MakeHttplibHttpClient();
};

Check Named(CheckType type) {
  Check check;
  check.name = "c";
  check.type = type;
  return check;
}

TEST_F(MakeHealthCheckTest, BuildsEveryTypeFromAValidConfig) {
  Check http = Named(CheckType::kHttp);
  http.url = "{{canary_url}}/healthz";
  Check prometheus = Named(CheckType::kPrometheus);
  prometheus.address = "http://127.0.0.1:9090";
  prometheus.query = "up{version=\"{{version}}\"}";
  prometheus.min = 1;
  Check exec = Named(CheckType::kExec);
  exec.command = {"tests/smoke.sh", "{{service}}", "{{version}}"};
  Check traffic = Named(CheckType::kTraffic);
  traffic.max_error_rate = 0.02;
  for (const Check& config : {http, prometheus, exec, traffic}) {
    auto check = Make(config);
    EXPECT_TRUE(check.ok()) << CheckTypeName(config.type) << ": " << check.error().message();
  }
}

TEST_F(MakeHealthCheckTest, RejectsMissingFieldsOfTheType) {
  ExpectInvalid(Named(CheckType::kHttp), "requires \"url\"");
  Check prometheus = Named(CheckType::kPrometheus);
  ExpectInvalid(prometheus, "requires \"address\"");
  prometheus.address = "http://p:9090";
  ExpectInvalid(prometheus, "requires \"query\"");
  prometheus.query = "up";
  ExpectInvalid(prometheus, "requires \"min\" or \"max\"");
  prometheus.min = 2;
  prometheus.max = 1;
  ExpectInvalid(prometheus, "max is below min");
  ExpectInvalid(Named(CheckType::kExec), "requires \"command\"");
  ExpectInvalid(Named(CheckType::kTraffic),
                "requires \"max_error_rate\", \"max_latency\" or \"max_error_rate_increase\"");
  Check traffic = Named(CheckType::kTraffic);
  traffic.max_error_rate = 1.5;
  ExpectInvalid(traffic, "between 0 and 1");
}

TEST_F(MakeHealthCheckTest, ValidatesTheNewerFields) {
  Check http = Named(CheckType::kHttp);
  http.url = "http://x/";
  http.consecutive_error_limit = 0;
  ExpectInvalid(http, "consecutive_error_limit must be at least 1");
  http.consecutive_error_limit = 4;
  http.expected_status = {200, 99};
  ExpectInvalid(http, "expected_status 99 is not an HTTP status (100..599)");
  http.expected_status = {200, 204};
  http.body_contains = "ok";
  EXPECT_TRUE(Make(http).ok());

  Check traffic = Named(CheckType::kTraffic);
  traffic.max_error_rate_increase = 0.01;
  EXPECT_TRUE(Make(traffic).ok()) << "the increase alone is a limit";
  traffic.min_requests = 0;
  ExpectInvalid(traffic, "min_requests must be at least 1");
  traffic.min_requests = 10;
  traffic.max_error_rate_increase = -0.1;
  ExpectInvalid(traffic, "max_error_rate_increase must be between 0 and 1");
}

TEST_F(MakeHealthCheckTest, RejectsUnknownTemplateVariablesUpFront) {
  Check http = Named(CheckType::kHttp);
  http.url = "{{canary}}/healthz";
  ExpectInvalid(http, "url: unknown template variable \"canary\"");
  Check exec = Named(CheckType::kExec);
  exec.command = {"smoke.sh", "{{version"};
  ExpectInvalid(exec, "command[1]: unterminated");
}

TEST_F(MakeHealthCheckTest, RejectsNonPositiveTimeout) {
  Check http = Named(CheckType::kHttp);
  http.url = "http://x/";
  http.timeout = std::chrono::milliseconds(0);
  ExpectInvalid(http, "timeout must be positive");
}

TEST(GuardedCheck, AnExceptionBecomesAnErrorMeasurement) {
  FakeClock clock;
  FakeHttpClient http;
  http.throws = true;
  FakeProcessRunner runner;
  Check config = Named(CheckType::kHttp);
  config.url = "http://127.0.0.1:1/healthz";
  auto check = MakeHealthCheck(config, runner, http, clock);
  ASSERT_TRUE(check.ok());
  const Measurement m = (*check)->Measure(CheckContext{});
  EXPECT_EQ(m.result, MeasurementResult::kError);
  EXPECT_EQ(m.detail, "internal error: boom");
  EXPECT_EQ(m.at, clock.NowMs());
}

TEST(GuardedCheck, DetailIsValidUtf8WithoutControlCharacters) {
  FakeClock clock;
  FakeHttpClient http;
  http.response.status = 500;
  http.response.body = "caf\xC3\xA9 \xFF\xC3 ok\x01";  // é, a stray byte, a cut sequence
  FakeProcessRunner runner;
  Check config = Named(CheckType::kHttp);
  config.url = "http://127.0.0.1:1/healthz";
  auto check = MakeHealthCheck(config, runner, http, clock);
  ASSERT_TRUE(check.ok());
  const Measurement m = (*check)->Measure(CheckContext{});
  EXPECT_EQ(m.result, MeasurementResult::kFail);
  EXPECT_EQ(m.detail, "HTTP 500 in 0 ms (expected 2xx): caf\xC3\xA9 \xEF\xBF\xBD\xEF\xBF\xBD ok");
}

TEST(GuardedCheck, LongDetailIsCut) {
  FakeClock clock;
  FakeHttpClient http;
  FakeProcessRunner runner;
  runner.result.exit_code = 1;
  runner.result.output = std::string(100'000, 'x');
  Check config = Named(CheckType::kExec);
  config.command = {"smoke"};
  auto check = MakeHealthCheck(config, runner, http, clock);
  ASSERT_TRUE(check.ok());
  const Measurement m = (*check)->Measure(CheckContext{});
  EXPECT_EQ(m.result, MeasurementResult::kFail);
  EXPECT_THAT(m.detail, SizeIs(Le(4096u + 3)));
  EXPECT_THAT(m.detail, HasSubstr("exit 1 in 0 ms: xxx"));
}

TEST(MeasurementResultName, NamesEveryResult) {
  EXPECT_EQ(MeasurementResultName(MeasurementResult::kPass), "pass");
  EXPECT_EQ(MeasurementResultName(MeasurementResult::kFail), "fail");
  EXPECT_EQ(MeasurementResultName(MeasurementResult::kInconclusive), "inconclusive");
  EXPECT_EQ(MeasurementResultName(MeasurementResult::kError), "error");
}

}  // namespace
}  // namespace shipd
