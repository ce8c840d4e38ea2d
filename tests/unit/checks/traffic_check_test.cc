#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "shipd/checks/health_check.h"

namespace shipd {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::DoubleNear;
using ::testing::HasSubstr;
using ::testing::Optional;

// Serves whatever sample the test put in for one service × environment.
class FakeTrafficSource final : public TrafficSource {
 public:
  void Set(std::string service, std::string environment, TrafficSample sample) {
    std::lock_guard lock(mutex_);
    samples_[{std::move(service), std::move(environment)}] = sample;
  }
  std::optional<TrafficSample> Sample(const std::string& service,
                                      const std::string& environment) const override {
    std::lock_guard lock(mutex_);
    auto it = samples_.find({service, environment});
    if (it == samples_.end()) return std::nullopt;
    return it->second;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, TrafficSample> samples_;
};

TrafficSample Sample(int64_t requests, int64_t errors, double p99_ms = 40,
                     VersionTraffic stable = {}) {
  TrafficSample sample;
  sample.canary = {requests, errors, 12, p99_ms};
  sample.stable = stable;
  sample.window = seconds(30);
  return sample;
}

class TrafficCheckTest : public ::testing::Test {
 protected:
  Measurement Measure(std::optional<double> max_error_rate,
                      std::optional<milliseconds> max_latency = std::nullopt,
                      const TrafficSource* source = nullptr, bool use_default = true) {
    Check config = Config();
    config.max_error_rate = max_error_rate;
    config.max_latency = max_latency;
    return MeasureWith(config, use_default ? &traffic_ : source);
  }

  static Check Config() {
    Check config;
    config.name = "errors";
    config.type = CheckType::kTraffic;
    return config;
  }

  Measurement MeasureWith(const Check& config) { return MeasureWith(config, &traffic_); }

  Measurement MeasureWith(const Check& config, const TrafficSource* source) {
    auto check = MakeHealthCheck(config, *runner_, *http_, clock_);
    EXPECT_TRUE(check.ok()) << check.error().message();
    if (!check.ok()) return {};
    CheckContext context;
    context.variables = {{"service", "orders"}, {"environment", "staging"}, {"version", "1.4.0"}};
    context.traffic = source;
    return (*check)->Measure(context);
  }

  FakeClock clock_;
  FakeTrafficSource traffic_;
  std::unique_ptr<ProcessRunner> runner_ = MakePosixProcessRunner();
  std::unique_ptr<HttpClient> http_ = MakeHttplibHttpClient();
};

TEST_F(TrafficCheckTest, ErrorRateAboveTheLimitFails) {
  traffic_.Set("orders", "staging", Sample(300, 25));
  const Measurement m = Measure(0.05);
  EXPECT_EQ(m.result, MeasurementResult::kFail);
  EXPECT_THAT(m.value, Optional(DoubleNear(25.0 / 300, 1e-9)));
  EXPECT_EQ(m.detail, "error rate 0.0833 (25/300) > 0.05 over 30s");
  EXPECT_EQ(m.at, clock_.NowMs());
}

TEST_F(TrafficCheckTest, ErrorRateWithinTheLimitPassesAndShowsStable) {
  traffic_.Set("orders", "staging", Sample(300, 3, 40, {1000, 2, 10, 35}));
  const Measurement m = Measure(0.02);
  EXPECT_EQ(m.result, MeasurementResult::kPass);
  EXPECT_EQ(m.detail, "error rate 0.01 (3/300) <= 0.02 (stable 0.002 (2/1000)) over 30s");
}

TEST_F(TrafficCheckTest, ExactlyAtTheLimitPasses) {
  traffic_.Set("orders", "staging", Sample(100, 5));
  EXPECT_EQ(Measure(0.05).result, MeasurementResult::kPass);
}

TEST_F(TrafficCheckTest, P99AboveMaxLatencyFails) {
  traffic_.Set("orders", "staging", Sample(300, 0, 312, {1000, 0, 10, 120}));
  const Measurement m = Measure(std::nullopt, milliseconds(250));
  EXPECT_EQ(m.result, MeasurementResult::kFail);
  EXPECT_THAT(m.value, Optional(312.0));
  EXPECT_EQ(m.detail, "p99 latency 312 ms > 250 ms (stable 120 ms) over 30s");
}

TEST_F(TrafficCheckTest, EitherLimitFailsTheMeasurementAndBothAreReported) {
  traffic_.Set("orders", "staging", Sample(300, 0, 312));
  const Measurement m = Measure(0.02, milliseconds(250));
  EXPECT_EQ(m.result, MeasurementResult::kFail);
  EXPECT_THAT(m.value, Optional(0.0));  // the error rate, when it is configured
  EXPECT_EQ(m.detail, "error rate 0 (0/300) <= 0.02; p99 latency 312 ms > 250 ms over 30s");
}

TEST_F(TrafficCheckTest, TooFewRequestsIsInconclusive) {
  traffic_.Set("orders", "staging", Sample(9, 9));  // one below the default min_requests
  const Measurement m = Measure(0.05);
  EXPECT_EQ(m.result, MeasurementResult::kInconclusive);
  EXPECT_EQ(m.detail, "too little traffic: 9 canary requests in the last 30s (need 10)");
  EXPECT_FALSE(m.value.has_value());
}

TEST_F(TrafficCheckTest, MinRequestsComesFromTheCheck) {
  traffic_.Set("orders", "staging", Sample(40, 0));
  Check config = Config();
  config.max_error_rate = 0.05;
  config.min_requests = 50;
  const Measurement few = MeasureWith(config);
  EXPECT_EQ(few.result, MeasurementResult::kInconclusive);
  EXPECT_EQ(few.detail, "too little traffic: 40 canary requests in the last 30s (need 50)");

  traffic_.Set("orders", "staging", Sample(3, 1));
  config.min_requests = 3;
  const Measurement enough = MeasureWith(config);
  EXPECT_EQ(enough.result, MeasurementResult::kFail);
  EXPECT_EQ(enough.detail, "error rate 0.333 (1/3) > 0.05 over 30s");
}

TEST_F(TrafficCheckTest, ErrorRateIncreaseOverStableAboveTheLimitFails) {
  traffic_.Set("orders", "staging", Sample(300, 25, 40, {1000, 20, 10, 35}));
  Check config = Config();
  config.max_error_rate_increase = 0.05;
  const Measurement m = MeasureWith(config);
  EXPECT_EQ(m.result, MeasurementResult::kFail);
  EXPECT_THAT(m.value, Optional(DoubleNear(25.0 / 300 - 20.0 / 1000, 1e-9)));
  EXPECT_EQ(m.detail,
            "error rate increase 0.0633 > 0.05 (canary 0.0833 (25/300), stable 0.02 (20/1000)) "
            "over 30s");
}

TEST_F(TrafficCheckTest, HighErrorRateLikeTheStablesPassesTheIncreaseLimit) {
  traffic_.Set("orders", "staging", Sample(100, 10, 40, {900, 81, 10, 35}));
  Check config = Config();
  config.max_error_rate_increase = 0.02;
  const Measurement m = MeasureWith(config);
  EXPECT_EQ(m.result, MeasurementResult::kPass);
  EXPECT_EQ(
      m.detail,
      "error rate increase 0.01 <= 0.02 (canary 0.1 (10/100), stable 0.09 (81/900)) over 30s");
}

TEST_F(TrafficCheckTest, IncreaseExactlyAtTheLimitPasses) {
  traffic_.Set("orders", "staging", Sample(100, 7, 40, {100, 2, 10, 35}));
  Check config = Config();
  config.max_error_rate_increase = 0.05;  // 0.07 - 0.02 is a hair above 0.05 in doubles
  EXPECT_EQ(MeasureWith(config).result, MeasurementResult::kPass);
}

TEST_F(TrafficCheckTest, IncreaseIsNotJudgedWhenTheStableServedTooLittle) {
  traffic_.Set("orders", "staging", Sample(300, 30, 40, {5, 0, 10, 35}));
  Check config = Config();
  config.max_error_rate_increase = 0.01;
  const Measurement alone = MeasureWith(config);
  EXPECT_EQ(alone.result, MeasurementResult::kInconclusive);
  EXPECT_FALSE(alone.value.has_value());
  EXPECT_EQ(alone.detail,
            "error rate increase not judged: the stable served 5 requests (need 10) over 30s");

  config.max_error_rate = 0.2;
  const Measurement with_rate = MeasureWith(config);
  EXPECT_EQ(with_rate.result, MeasurementResult::kPass);
  EXPECT_THAT(with_rate.value, Optional(DoubleNear(0.1, 1e-9)));
  EXPECT_EQ(with_rate.detail,
            "error rate 0.1 (30/300) <= 0.2 (stable 0 (0/5)); error rate increase not judged: the "
            "stable served 5 requests (need 10) over 30s");
}

TEST_F(TrafficCheckTest, StableMustServeMinRequestsOfTheCheck) {
  traffic_.Set("orders", "staging", Sample(300, 30, 40, {40, 0, 10, 35}));
  Check config = Config();
  config.max_error_rate_increase = 0.01;
  config.min_requests = 50;
  EXPECT_EQ(MeasureWith(config).result, MeasurementResult::kInconclusive);
  config.min_requests = 40;
  EXPECT_EQ(MeasureWith(config).result, MeasurementResult::kFail);
}

TEST_F(TrafficCheckTest, ValueIsTheQuantityOfTheFirstLimitSet) {
  traffic_.Set("orders", "staging", Sample(200, 20, 300, {800, 40, 10, 120}));
  Check increase_and_latency = Config();
  increase_and_latency.max_error_rate_increase = 0.1;
  increase_and_latency.max_latency = milliseconds(250);
  const Measurement m = MeasureWith(increase_and_latency);
  EXPECT_EQ(m.result, MeasurementResult::kFail);
  EXPECT_THAT(m.value, Optional(DoubleNear(0.1 - 0.05, 1e-9)));
  EXPECT_EQ(m.detail,
            "error rate increase 0.05 <= 0.1 (canary 0.1 (20/200), stable 0.05 (40/800)); p99 "
            "latency 300 ms > 250 ms (stable 120 ms) over 30s");

  Check all = increase_and_latency;
  all.max_error_rate = 0.5;
  EXPECT_THAT(MeasureWith(all).value, Optional(DoubleNear(0.1, 1e-9)));
}

TEST_F(TrafficCheckTest, InconsistentStableIsAnErrorOnlyWhenCompared) {
  traffic_.Set("orders", "staging", Sample(300, 0, 40, {10, 11, 10, 35}));
  const Measurement absolute = Measure(0.05);
  EXPECT_EQ(absolute.result, MeasurementResult::kPass);
  EXPECT_EQ(absolute.detail, "error rate 0 (0/300) <= 0.05 over 30s");

  Check config = Config();
  config.max_error_rate_increase = 0.05;
  const Measurement relative = MeasureWith(config);
  EXPECT_EQ(relative.result, MeasurementResult::kError);
  EXPECT_EQ(relative.detail, "inconsistent traffic sample: stable 11 errors in 10 requests");
}

TEST_F(TrafficCheckTest, NoSampleForTheServiceIsInconclusive) {
  traffic_.Set("billing", "staging", Sample(300, 0));
  const Measurement m = Measure(0.05);
  EXPECT_EQ(m.result, MeasurementResult::kInconclusive);
  EXPECT_EQ(m.detail, "no traffic data for orders in staging");
}

TEST_F(TrafficCheckTest, NoTrafficSourceIsInconclusive) {
  const Measurement m = Measure(0.05, std::nullopt, nullptr, /*use_default=*/false);
  EXPECT_EQ(m.result, MeasurementResult::kInconclusive);
  EXPECT_THAT(m.detail, HasSubstr("has no routing proxy"));
}

TEST_F(TrafficCheckTest, InconsistentSampleIsAnError) {
  traffic_.Set("orders", "staging", Sample(10, 11));
  const Measurement m = Measure(0.05);
  EXPECT_EQ(m.result, MeasurementResult::kError);
  EXPECT_EQ(m.detail, "inconsistent traffic sample: canary 11 errors in 10 requests");
}

TEST_F(TrafficCheckTest, ContextWithoutServiceIsAnError) {
  Check config;
  config.name = "errors";
  config.type = CheckType::kTraffic;
  config.max_error_rate = 0.05;
  auto check = MakeHealthCheck(config, *runner_, *http_, clock_);
  ASSERT_TRUE(check.ok());
  CheckContext context;
  context.traffic = &traffic_;
  EXPECT_EQ((*check)->Measure(context).result, MeasurementResult::kError);
}

}  // namespace
}  // namespace shipd
