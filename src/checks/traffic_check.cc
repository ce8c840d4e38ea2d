// TrafficCheck: judges the canary on what the routing proxy saw over its recent window — error
// rate against max_error_rate, p99 latency against max_latency. Too few canary requests, or no
// proxy at all, is inconclusive. The stable version's numbers are shown for comparison.

#include <array>
#include <cstdio>
#include <string>

#include "shipd/checks/health_check.h"

namespace shipd {
namespace {

std::string FormatNumber(double value) {
  std::array<char, 32> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "%.3g", value);
  return buffer.data();
}

std::string FormatMs(double value) {
  std::array<char, 32> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "%.0f ms", value);
  return buffer.data();
}

double ErrorRate(const VersionTraffic& traffic) {
  return static_cast<double>(traffic.errors) / static_cast<double>(traffic.requests);
}

// "0.0833 (25/300)"
std::string DescribeRate(const VersionTraffic& traffic) {
  return FormatNumber(ErrorRate(traffic)) + " (" + std::to_string(traffic.errors) + "/" +
         std::to_string(traffic.requests) + ")";
}

const std::string& Variable(const CheckContext& context, const std::string& name) {
  static const std::string kEmpty;
  const auto it = context.variables.find(name);
  return it == context.variables.end() ? kEmpty : it->second;
}

class TrafficCheck final : public HealthCheck {
 public:
  TrafficCheck(const Check& config, int64_t min_requests)
      : config_(config), min_requests_(min_requests) {}

  Measurement Measure(const CheckContext& context) override {
    Measurement m;
    Run(context, m);
    return m;
  }

 private:
  void Run(const CheckContext& context, Measurement& m) {
    const std::string& service = Variable(context, "service");
    const std::string& environment = Variable(context, "environment");
    if (service.empty() || environment.empty()) {
      m.result = MeasurementResult::kError;
      m.detail = "the check context names no service or environment";
      return;
    }
    if (context.traffic == nullptr) {
      m.result = MeasurementResult::kInconclusive;
      m.detail = "no traffic data: the driver of " + environment +
                 " has no routing proxy (use an http or prometheus check there)";
      return;
    }
    const std::optional<TrafficSample> sample = context.traffic->Sample(service, environment);
    if (!sample) {
      m.result = MeasurementResult::kInconclusive;
      m.detail = "no traffic data for " + service + " in " + environment;
      return;
    }
    const VersionTraffic& canary = sample->canary;
    const std::string window = FormatDuration(sample->window);
    if (canary.requests < 0 || canary.errors < 0 || canary.errors > canary.requests) {
      m.result = MeasurementResult::kError;
      m.detail = "inconsistent traffic sample: " + std::to_string(canary.errors) + " errors in " +
                 std::to_string(canary.requests) + " requests";
      return;
    }
    if (canary.requests < min_requests_) {
      m.result = MeasurementResult::kInconclusive;
      m.detail = "too little traffic: " + std::to_string(canary.requests) +
                 " canary requests in the last " + window + " (need " +
                 std::to_string(min_requests_) + ")";
      return;
    }

    bool failed = false;
    std::string detail;
    auto add = [&detail](const std::string& part) {
      if (!detail.empty()) detail += "; ";
      detail += part;
    };
    const VersionTraffic& stable = sample->stable;
    const bool have_stable =
        stable.requests > 0 && stable.errors >= 0 && stable.errors <= stable.requests;
    if (config_.max_error_rate) {
      const double rate = ErrorRate(canary);
      const bool bad = rate > *config_.max_error_rate;
      failed = failed || bad;
      m.value = rate;
      add("error rate " + DescribeRate(canary) + (bad ? " > " : " <= ") +
          FormatNumber(*config_.max_error_rate) +
          (have_stable ? " (stable " + DescribeRate(stable) + ")" : ""));
    }
    if (config_.max_latency) {
      const double limit_ms = static_cast<double>(config_.max_latency->count());
      const bool bad = canary.latency_p99_ms > limit_ms;
      failed = failed || bad;
      if (!m.value) m.value = canary.latency_p99_ms;
      add("p99 latency " + FormatMs(canary.latency_p99_ms) + (bad ? " > " : " <= ") +
          FormatMs(limit_ms) +
          (have_stable ? " (stable " + FormatMs(stable.latency_p99_ms) + ")" : ""));
    }
    m.result = failed ? MeasurementResult::kFail : MeasurementResult::kPass;
    m.detail = detail + " over " + window;
  }

  const Check config_;
  const int64_t min_requests_;
};

}  // namespace

std::unique_ptr<HealthCheck> MakeTrafficCheck(const Check& config) {
  return std::make_unique<TrafficCheck>(config, kMinTrafficRequests);
}

}  // namespace shipd
