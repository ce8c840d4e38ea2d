// Health checks: one measurement of a canary (http, prometheus, exec, traffic) -> pass, fail,
// inconclusive or error, with the value measured and a line saying what was seen. A HealthCheck
// is built once from its config and borrows the runner, client and clock it is given, which must
// outlive it. Measure() blocks (run it on a worker thread), never throws, and is safe to call from
// several threads at once; TrafficSource implementations must be thread-safe too.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "shipd/common/clock.h"
#include "shipd/common/http_client.h"
#include "shipd/common/process.h"
#include "shipd/common/result.h"
#include "shipd/config/pipelines.h"
#include "shipd/model/registry.h"

namespace shipd {

enum class MeasurementResult {
  kPass,
  kFail,          // the canary is unhealthy: counts towards failure_limit
  kInconclusive,  // not enough data to judge (no traffic, empty query): pauses for a person
  kError,         // the check itself could not run (Prometheus down): counts towards
                  // consecutive_error_limit
};
std::string_view MeasurementResultName(MeasurementResult result);  // "pass", ...

struct Measurement {
  MeasurementResult result = MeasurementResult::kError;
  // http: latency in ms; prometheus: the query's number; exec: the exit code; traffic: the
  // quantity of the first limit set and judged, in the order max_error_rate (the canary's error
  // rate), max_error_rate_increase (canary minus stable error rate), max_latency (p99 in ms).
  std::optional<double> value;
  // What was seen, for people: "HTTP 503 in 12 ms", "error rate 0.0833 (25/300) > 0.05 over
  // 30s". Valid UTF-8, at most about 4 KiB.
  std::string detail;
  TimeMs at = 0;  // when the measurement started, from the injected Clock
};

// Requests served by one version over the source's window.
struct VersionTraffic {
  int64_t requests = 0;
  int64_t errors = 0;  // 5xx answers and failed upstream connections
  double latency_p50_ms = 0;
  double latency_p99_ms = 0;
};

struct TrafficSample {
  VersionTraffic canary;
  VersionTraffic stable;
  std::chrono::milliseconds window{0};  // what "recent" covered
};

// What the routing proxy (the local driver) saw recently. Thread-safe.
class TrafficSource {
 public:
  virtual ~TrafficSource() = default;
  // nullopt: the source routes nothing for this service in this environment.
  virtual std::optional<TrafficSample> Sample(const std::string& service,
                                              const std::string& environment) const = 0;
};

struct CheckContext {
  // Every name of kTemplateVariables; empty values where not applicable.
  std::map<std::string, std::string> variables;
  // nullptr when the environment's driver has no proxy; traffic checks are then inconclusive.
  const TrafficSource* traffic = nullptr;
  // Working directory of exec checks; empty: the daemon's.
  std::string working_directory;
};

class HealthCheck {
 public:
  virtual ~HealthCheck() = default;
  virtual Measurement Measure(const CheckContext& context) = 0;
};

// Validates the fields of the check's type and the {{variables}} they use (kInvalid naming the
// check) and builds it. The returned check stamps `at` from `clock` and turns an exception from
// below into a kError measurement.
Result<std::unique_ptr<HealthCheck>> MakeHealthCheck(const Check& config, ProcessRunner& runner,
                                                     HttpClient& http, const Clock& clock);

}  // namespace shipd
