// TrafficCheck: judges the canary on what the routing proxy saw over its recent window — error
// rate against max_error_rate, error rate above the stable's against max_error_rate_increase, p99
// latency against max_latency. Fewer than min_requests canary requests, or no proxy at all, is
// inconclusive; so is a window in which the only limit set needs more stable requests. The stable
// version's numbers are shown for comparison.

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

// Tolerance for differences of two rates: an increase exactly at the limit passes, though
// 0.07 - 0.02 is a little above 0.05 in binary floating point.
constexpr double kRateEpsilon = 1e-9;

bool Consistent(const VersionTraffic& traffic) {
  return traffic.requests >= 0 && traffic.errors >= 0 && traffic.errors <= traffic.requests;
}

double ErrorRate(const VersionTraffic& traffic) {
  return static_cast<double>(traffic.errors) / static_cast<double>(traffic.requests);
}

// "25 errors in 300 requests"
std::string Counts(const VersionTraffic& traffic) {
  return std::to_string(traffic.errors) + " errors in " + std::to_string(traffic.requests) +
         " requests";
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
  explicit TrafficCheck(const Check& config) : config_(config) {}

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
    const VersionTraffic& stable = sample->stable;
    const std::string window = FormatDuration(sample->window);
    // The stable's numbers matter only to max_error_rate_increase; elsewhere they are shown.
    const bool compare_stable = config_.max_error_rate_increase.has_value();
    if (!Consistent(canary) || (compare_stable && !Consistent(stable))) {
      m.result = MeasurementResult::kError;
      m.detail = !Consistent(canary) ? "inconsistent traffic sample: canary " + Counts(canary)
                                     : "inconsistent traffic sample: stable " + Counts(stable);
      return;
    }
    const int64_t min_requests = config_.min_requests;
    if (canary.requests < min_requests) {
      m.result = MeasurementResult::kInconclusive;
      m.detail = "too little traffic: " + std::to_string(canary.requests) +
                 " canary requests in the last " + window + " (need " +
                 std::to_string(min_requests) + ")";
      return;
    }

    bool failed = false;
    bool judged = false;  // whether any limit was compared
    std::string detail;
    auto add = [&detail](const std::string& part) {
      if (!detail.empty()) detail += "; ";
      detail += part;
    };
    const bool have_stable = stable.requests > 0 && Consistent(stable);
    if (config_.max_error_rate) {
      const double rate = ErrorRate(canary);
      const bool bad = rate > *config_.max_error_rate;
      failed = failed || bad;
      judged = true;
      m.value = rate;
      add("error rate " + DescribeRate(canary) + (bad ? " > " : " <= ") +
          FormatNumber(*config_.max_error_rate) +
          (have_stable ? " (stable " + DescribeRate(stable) + ")" : ""));
    }
    if (config_.max_error_rate_increase) {
      const double limit = *config_.max_error_rate_increase;
      if (stable.requests < min_requests) {
        add("error rate increase not judged: the stable served " + std::to_string(stable.requests) +
            " requests (need " + std::to_string(min_requests) + ")");
      } else {
        const double increase = ErrorRate(canary) - ErrorRate(stable);
        const bool bad = increase > limit + kRateEpsilon;
        failed = failed || bad;
        judged = true;
        if (!m.value) m.value = increase;
        add("error rate increase " + FormatNumber(increase) + (bad ? " > " : " <= ") +
            FormatNumber(limit) + " (canary " + DescribeRate(canary) + ", stable " +
            DescribeRate(stable) + ")");
      }
    }
    if (config_.max_latency) {
      const double limit_ms = static_cast<double>(config_.max_latency->count());
      const bool bad = canary.latency_p99_ms > limit_ms;
      failed = failed || bad;
      judged = true;
      if (!m.value) m.value = canary.latency_p99_ms;
      add("p99 latency " + FormatMs(canary.latency_p99_ms) + (bad ? " > " : " <= ") +
          FormatMs(limit_ms) +
          (have_stable ? " (stable " + FormatMs(stable.latency_p99_ms) + ")" : ""));
    }
    if (failed) {
      m.result = MeasurementResult::kFail;
    } else if (judged) {
      m.result = MeasurementResult::kPass;
    } else {
      m.result = MeasurementResult::kInconclusive;  // the only limit set could not be compared
    }
    m.detail = detail + " over " + window;
  }

  const Check config_;
};

}  // namespace

std::unique_ptr<HealthCheck> MakeTrafficCheck(const Check& config) {
  return std::make_unique<TrafficCheck>(config);
}

}  // namespace shipd
