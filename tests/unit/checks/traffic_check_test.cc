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
    Check config;
    config.name = "errors";
    config.type = CheckType::kTraffic;
    config.max_error_rate = max_error_rate;
    config.max_latency = max_latency;
    auto check = MakeHealthCheck(config, *runner_, *http_, clock_);
    EXPECT_TRUE(check.ok()) << check.error().message();
    if (!check.ok()) return {};
    CheckContext context;
    context.variables = {{"service", "orders"}, {"environment", "staging"}, {"version", "1.4.0"}};
    context.traffic = use_default ? &traffic_ : source;
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
  traffic_.Set("orders", "staging", Sample(kMinTrafficRequests - 1, kMinTrafficRequests - 1));
  const Measurement m = Measure(0.05);
  EXPECT_EQ(m.result, MeasurementResult::kInconclusive);
  EXPECT_EQ(m.detail, "too little traffic: 9 canary requests in the last 30s (need 10)");
  EXPECT_FALSE(m.value.has_value());
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
  EXPECT_EQ(Measure(0.05).result, MeasurementResult::kError);
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
