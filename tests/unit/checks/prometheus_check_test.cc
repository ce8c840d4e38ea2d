#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "shipd/checks/health_check.h"
#include "support/loopback_server.h"

namespace shipd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;

using shipd::testing::LoopbackServer;

// Answers /api/v1/query with a canned document and records the queries it received.
class FakePrometheus {
 public:
  void Answer(int status, std::string body) {
    std::lock_guard lock(mutex_);
    status_ = status;
    body_ = std::move(body);
  }
  void AnswerVector(const std::string& value) {
    Answer(200, R"({"status":"success","data":{"resultType":"vector","result":[)"
                R"({"metric":{"le":"+Inf"},"value":[1800000000.123,")" +
                    value + R"("]}]}})");
  }
  std::vector<std::string> queries() {
    std::lock_guard lock(mutex_);
    return queries_;
  }
  void Routes(httplib::Server& s) {
    s.Get("/api/v1/query", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      queries_.push_back(req.get_param_value("query"));
      res.status = status_;
      res.set_content(body_, "application/json");
    });
  }

 private:
  std::mutex mutex_;
  int status_ = 200;
  std::string body_;
  std::vector<std::string> queries_;
};

class PrometheusCheckTest : public ::testing::Test {
 protected:
  Measurement Measure(std::optional<double> min, std::optional<double> max,
                      std::string query = "up") {
    Check config;
    config.name = "latency";
    config.type = CheckType::kPrometheus;
    config.address = address_;
    config.query = std::move(query);
    config.min = min;
    config.max = max;
    auto check = MakeHealthCheck(config, *runner_, *http_, clock_);
    EXPECT_TRUE(check.ok()) << check.error().message();
    if (!check.ok()) return {};
    CheckContext context;
    context.variables = {
        {"service", "orders"}, {"version", "1.4.0+build.7"}, {"environment", "prod"}};
    return (*check)->Measure(context);
  }

  FakePrometheus prometheus_;
  LoopbackServer server_{[this](httplib::Server& s) { prometheus_.Routes(s); }};
  std::string address_ = server_.Origin() + "/";
  FakeClock clock_;
  std::unique_ptr<ProcessRunner> runner_ = MakePosixProcessRunner();
  std::unique_ptr<HttpClient> http_ = MakeHttplibHttpClient();
};

TEST_F(PrometheusCheckTest, SendsTheRenderedQueryUrlEncoded) {
  prometheus_.AnswerVector("0.12");
  const std::string query =
      R"(histogram_quantile(0.99, sum(rate(http_request_seconds_bucket{version="{{version}}",)"
      R"( env=~"{{ environment }}|x"}[1m])) by (le)) + 0 & 1)";
  const Measurement m = Measure(std::nullopt, 0.25, query);
  EXPECT_EQ(m.result, MeasurementResult::kPass) << m.detail;
  EXPECT_THAT(prometheus_.queries(),
              ElementsAre(R"(histogram_quantile(0.99, sum(rate(http_request_seconds_bucket{)"
                          R"(version="1.4.0+build.7", env=~"prod|x"}[1m])) by (le)) + 0 & 1)"));
}

TEST_F(PrometheusCheckTest, ValueWithinBoundsPasses) {
  prometheus_.AnswerVector("0.12");
  const Measurement m = Measure(0.1, 0.25);
  EXPECT_EQ(m.result, MeasurementResult::kPass);
  EXPECT_THAT(m.value, Optional(0.12));
  EXPECT_EQ(m.detail, "value 0.12 >= min 0.1 and <= max 0.25");
  EXPECT_EQ(m.at, clock_.NowMs());
}

TEST_F(PrometheusCheckTest, AboveMaxFails) {
  prometheus_.AnswerVector("0.31");
  const Measurement m = Measure(std::nullopt, 0.25);
  EXPECT_EQ(m.result, MeasurementResult::kFail);
  EXPECT_THAT(m.value, Optional(0.31));
  EXPECT_EQ(m.detail, "value 0.31 > max 0.25");
}

TEST_F(PrometheusCheckTest, BelowMinFails) {
  prometheus_.AnswerVector("97.5");
  const Measurement m = Measure(99, std::nullopt);
  EXPECT_EQ(m.result, MeasurementResult::kFail);
  EXPECT_EQ(m.detail, "value 97.5 < min 99");
}

TEST_F(PrometheusCheckTest, InfinityIsComparedLikeAnyNumber) {
  prometheus_.AnswerVector("+Inf");
  EXPECT_EQ(Measure(std::nullopt, 0.25).result, MeasurementResult::kFail);
}

TEST_F(PrometheusCheckTest, ScalarResultIsAccepted) {
  prometheus_.Answer(200,
                     R"({"status":"success","data":{"resultType":"scalar","result":[1.5,"3"]}})");
  const Measurement m = Measure(1, 5);
  EXPECT_EQ(m.result, MeasurementResult::kPass) << m.detail;
  EXPECT_THAT(m.value, Optional(3.0));
}

TEST_F(PrometheusCheckTest, EmptyVectorIsInconclusive) {
  prometheus_.Answer(200, R"({"status":"success","data":{"resultType":"vector","result":[]}})");
  const Measurement m = Measure(std::nullopt, 0.25);
  EXPECT_EQ(m.result, MeasurementResult::kInconclusive);
  EXPECT_THAT(m.detail, HasSubstr("no data"));
  EXPECT_FALSE(m.value.has_value());
}

TEST_F(PrometheusCheckTest, NaNIsInconclusive) {
  prometheus_.AnswerVector("NaN");
  const Measurement m = Measure(std::nullopt, 0.25);
  EXPECT_EQ(m.result, MeasurementResult::kInconclusive);
  EXPECT_THAT(m.detail, HasSubstr("NaN"));
}

TEST_F(PrometheusCheckTest, QueryErrorFromPrometheusIsAnError) {
  prometheus_.Answer(400, R"({"status":"error","errorType":"bad_data",)"
                          R"("error":"1:5: parse error: unexpected \"}\""})");
  const Measurement m = Measure(std::nullopt, 0.25);
  EXPECT_EQ(m.result, MeasurementResult::kError);
  EXPECT_THAT(m.detail, HasSubstr("HTTP 400: bad_data: 1:5: parse error"));
}

TEST_F(PrometheusCheckTest, MalformedAnswersAreErrors) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"<html>bad gateway</html>", "not a JSON object"},
      {R"({"status":"success"})", "no \"data\""},
      {R"({"status":"success","data":{"resultType":"vector"}})", "data.result"},
      {R"({"status":"success","data":{"resultType":"vector","result":{}}})", "not an array"},
      {R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}})",
       "no \"value\""},
      {R"({"status":"success","data":{"resultType":"vector","result":[{"value":[1,"abc"]}]}})",
       "not [time, \"number\"]"},
      {R"({"status":"success","data":{"resultType":"scalar","result":[1,2]}})",
       "not [time, \"number\"]"},
      {R"({"status":"success","data":{"resultType":"matrix","result":[]}})", "a matrix"},
      {R"({"status":"success","data":{"resultType":"vector","result":[)"
       R"({"value":[1,"1"]},{"value":[1,"2"]}]}})",
       "2 series"},
      {R"({"status":"error"})", "without \"status\": \"success\""},
  };
  for (const auto& [body, expected] : cases) {
    prometheus_.Answer(200, body);
    const Measurement m = Measure(std::nullopt, 0.25);
    EXPECT_EQ(m.result, MeasurementResult::kError) << body;
    EXPECT_THAT(m.detail, HasSubstr(expected)) << body;
  }
}

TEST_F(PrometheusCheckTest, UnreachablePrometheusIsAnErrorNotAFailure) {
  {
    LoopbackServer closed([](httplib::Server&) {});
    address_ = closed.Origin();
  }
  const Measurement m = Measure(std::nullopt, 0.25);
  EXPECT_EQ(m.result, MeasurementResult::kError);
  EXPECT_THAT(m.detail, HasSubstr("prometheus: GET " + address_ + "/api/v1/query?query=up"));
}

}  // namespace
}  // namespace shipd
