// DeployDriver: how shipd changes an environment (exec command, webhook, local processes behind a
// weighted proxy, nginx upstream weights). Every operation is declarative and idempotent: it
// converges the environment to the state the context describes, so the engine may re-apply the
// current step after a crash. Drivers are thread-safe; operations block the calling thread.
// The engine owns drivers (MakeDriver); DriverDeps pointers must outlive them.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shipd/common/result.h"

namespace shipd {

class Clock;
class HttpClient;
class ProcessRunner;
struct Driver;

// What one operation applies to one service in one environment. During a canary both versions
// run: `version` is the canary and `previous_version` the stable one it will replace.
struct DriverContext {
  std::string service;
  std::string version;           // the canary; for Promote the new stable
  std::string previous_version;  // the stable; empty when nothing ran there before
  std::string environment;
  // The version's artifact: exec/webhook pass it on; nginx: its address "host:port"; local: its
  // command line, in which the driver fills in {{port}}, {{service}}, {{version}}, {{environment}}.
  std::string artifact;
  std::string previous_artifact;  // the stable's: lets a driver restart or address it
  int weight = 0;                 // percent of traffic on the canary, 0..100
  // More template variables: canary_url, stable_url, and optionally operation_id (a key that is
  // the same each time the engine re-applies one step; the webhook sends it as Idempotency-Key).
  std::map<std::string, std::string> variables;
};

enum class DriverAction { kDeploy, kWeight, kPromote, kRollback };
std::string_view DriverActionName(DriverAction action);  // SHIP_ACTION: "deploy", "weight", ...

// One running copy of a version, as far as the driver can tell.
struct DriverInstance {
  std::string version;
  std::string role;  // "stable" or "canary"
  std::string url;   // its own address; empty when unknown
  int pid = 0;       // local driver only
  int restarts = 0;  // local driver: times the supervisor restarted it
  bool running = false;
};

// What the driver last applied (exec, webhook: remembered from the last successful operation in
// this process; nginx: read back from the upstreams file; local: the live processes).
struct DriverStatus {
  std::string stable_version;
  std::string canary_version;  // empty: no canary
  int weight = 0;              // the canary's share; 0 without a canary
  std::vector<DriverInstance> instances;
  std::string detail;  // the last operation's output or answer, trimmed
};

// Where checks reach the versions ({{canary_url}}, {{stable_url}}). Empty when unknown.
struct Endpoints {
  std::string canary_url;  // the canary itself; with no canary, the stable version itself
  std::string stable_url;  // the front door that splits traffic (local), else the stable
};

// Requests seen for one version over the traffic window.
struct TrafficCounters {
  int64_t requests = 0;
  int64_t errors = 0;  // 5xx answers and transport failures
  double latency_p50_ms = 0;
  double latency_p99_ms = 0;

  double ErrorRate() const {
    return requests == 0 ? 0 : static_cast<double>(errors) / static_cast<double>(requests);
  }
};

// A sliding window (DriverDeps::local.traffic_window, on the injected clock) ending now: reading
// it changes nothing, so any number of checks may read it. Counters of a version start afresh
// when it is deployed again.
struct TrafficReport {
  std::string canary_version;  // empty: no canary
  TrafficCounters canary;
  std::string stable_version;
  TrafficCounters stable;
  std::chrono::milliseconds window{0};
};

class DeployDriver {
 public:
  virtual ~DeployDriver() = default;

  // Starts (or keeps) the canary next to the stable version and sends it ctx.weight percent.
  virtual shipd::Status Deploy(const DriverContext& ctx) = 0;
  // Moves ctx.weight percent of the traffic to the canary; also used to re-apply after a crash.
  virtual shipd::Status SetWeight(const DriverContext& ctx) = 0;
  // The canary (ctx.version) becomes the stable version at 100 %; the old stable is removed.
  virtual shipd::Status Promote(const DriverContext& ctx) = 0;
  // Weight 0 and the canary removed; ctx.previous_version stays (or becomes again) the stable.
  virtual shipd::Status Rollback(const DriverContext& ctx) = 0;

  virtual Result<DriverStatus> Status(std::string_view service,
                                      std::string_view environment) const = 0;
  virtual Endpoints Urls(std::string_view service, std::string_view environment) const = 0;
  // True when what the driver runs dies with the daemon (local processes): on start the engine
  // re-applies every stable version through it. Others keep their state outside shipd.
  virtual bool Ephemeral() const { return false; }
  // The live traffic split for the traffic check; nullopt when the driver does not see traffic
  // (only the local driver does).
  virtual std::optional<TrafficReport> Traffic(std::string_view service,
                                               std::string_view environment) const {
    (void)service;
    (void)environment;
    return std::nullopt;
  }
};

// What drivers need from the outside, plus tuning. Pointers are not owned.
struct DriverDeps {
  ProcessRunner* processes = nullptr;  // exec and nginx drivers
  HttpClient* http = nullptr;          // webhook driver
  const Clock* clock = nullptr;        // local driver's traffic window
  // Waits between webhook attempts; empty: std::this_thread::sleep_for.
  std::function<void(std::chrono::milliseconds)> sleep;
  // Reads an environment variable (the webhook secret); empty: ::getenv.
  std::function<std::optional<std::string>(const std::string&)> get_env;

  struct Exec {
    std::chrono::milliseconds timeout{std::chrono::minutes(15)};
    size_t output_limit = 64 * 1024;
  } exec;
  struct Webhook {
    int max_attempts = 5;  // 5xx, 408, 429 and transport errors are retried
    std::chrono::milliseconds initial_backoff{std::chrono::milliseconds(500)};  // doubled
    std::chrono::milliseconds max_backoff{std::chrono::seconds(8)};
    std::chrono::milliseconds timeout{std::chrono::seconds(30)};  // one attempt
  } webhook;
  struct Nginx {
    std::chrono::milliseconds reload_timeout{std::chrono::seconds(30)};
  } nginx;
  struct Local {
    std::filesystem::path work_dir;  // process logs; empty: a fresh directory under /tmp
    // Searched for an artifact's program (no '/' in it) before PATH, e.g. the daemon's bin dir.
    std::vector<std::filesystem::path> search_path;
    std::chrono::milliseconds start_timeout{std::chrono::seconds(10)};  // until it listens
    std::chrono::milliseconds stop_grace{std::chrono::seconds(2)};      // SIGTERM to SIGKILL
    std::chrono::milliseconds traffic_window{std::chrono::seconds(10)};
  } local;
};

// The driver for one `drivers:` entry. Errors are kInvalid when a dependency it needs is missing.
Result<std::unique_ptr<DeployDriver>> MakeDriver(const Driver& config, const DriverDeps& deps);

}  // namespace shipd
