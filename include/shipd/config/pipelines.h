// Pipelines: the daemon's delivery configuration (pipelines/*.yaml) — environments in pipeline
// order with the strategies, checks and drivers they name — and its loader, which validates
// everything and reports each mistake as "file:line:column: message". Plain values; a loaded
// Pipelines is immutable in practice and safe to share between threads. Keys: docs/pipelines.md.
#pragma once

#include <array>
#include <bitset>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "shipd/common/result.h"

namespace shipd {

// Where a definition starts; line and column are 1-based.
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;

  std::string ToString() const;  // "pipelines/a.yaml:12:5"
};

// Variables that may appear as {{name}} in check url/address/query/command and in driver
// command/url; the engine substitutes them (exec commands also get SHIP_<NAME> variables).
inline constexpr std::array<std::string_view, 8> kTemplateVariables = {
    "service", "version",  "previous_version", "environment",
    "weight",  "artifact", "canary_url",       "stable_url"};

// A 5-field cron expression (minute hour day-of-month month day-of-week), evaluated in a
// FreezeWindow's timezone. Day of week 0 is Sunday (7 is accepted for Sunday too).
struct CronSchedule {
  std::string text;
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days_of_month;  // bits 1..31
  std::bitset<13> months;         // bits 1..12
  std::bitset<7> days_of_week;    // bit 0 = Sunday
  // Whether the day fields started with '*'. As in Vixie cron, when both day fields are
  // restricted a day matches if either matches; otherwise both must match.
  bool day_of_month_star = true;
  bool day_of_week_star = true;

  // True when the civil minute (in the window's timezone) is one at which a window opens.
  // month is 1..12, day_of_week 0..6 with 0 = Sunday.
  bool Matches(int minute, int hour, int day_of_month, int month, int day_of_week) const;
};

// No rollout into the environment may start, and no running one raise its weight, inside a
// window: either [cron match, cron match + duration), or a one-off range [from, to). Evaluated
// by ActiveFreeze (shipd/config/freeze.h).
struct FreezeWindow {
  CronSchedule cron;  // cron windows only
  std::chrono::milliseconds duration{0};
  // One-off ranges only (both set): civil date-times in `timezone`, as seconds since the epoch
  // read as if they were UTC.
  std::optional<int64_t> from_civil_s;
  std::optional<int64_t> to_civil_s;
  std::string timezone = "UTC";  // an IANA name present in the zoneinfo database
  std::string reason;            // shown when a promotion is refused; may be empty
};

// What a promotion request does inside a freeze.
enum class OnFreeze { kRefuse, kWait };

// Who must approve before a rollout into the environment starts; also the rule for the
// strategy's `approve` steps in that environment.
struct Approvals {
  int count = 1;
  std::vector<std::string> roles;  // empty: any token holding approve:<environment>
  bool not_requester = false;      // the requester's approval does not count
};

struct Environment {
  std::string name;                               // [a-z0-9][a-z0-9-]{0,62}
  std::optional<std::string> after;               // a version must have succeeded there first
  std::string driver;                             // key of Pipelines::drivers
  std::string strategy;                           // key of Pipelines::strategies
  std::optional<std::chrono::milliseconds> soak;  // ...and been there at least this long
  std::optional<Approvals> approvals;             // nullopt: no approval before starting
  std::vector<FreezeWindow> freeze;
  OnFreeze on_freeze = OnFreeze::kRefuse;
  // How long one driver operation or measurement round may take before the rollout is rolled
  // back ("progress deadline"); nullopt: the daemon's default (10m).
  std::optional<std::chrono::milliseconds> progress_deadline;
  SourceLocation location;
};

struct WeightStep {
  int percent = 0;  // 0..100, traffic on the canary
};
struct PauseStep {
  std::optional<std::chrono::milliseconds> duration;  // nullopt: until an operator resumes
};
// Runs each check every `interval` until `duration` has passed and each check has been measured
// `count` times (at least one of the two is set; each check is measured at least once).
struct AnalyzeStep {
  std::vector<std::string> checks;  // keys of Pipelines::checks, at least one
  std::chrono::milliseconds duration{0};
  int count = 0;  // measurements of each check; 0: as many as fit in `duration`
};
struct ApproveStep {};
using Step = std::variant<WeightStep, PauseStep, AnalyzeStep, ApproveStep>;

struct Strategy {
  std::string name;
  std::vector<Step> steps;  // empty: switch at once
  SourceLocation location;
};

enum class CheckType { kHttp, kPrometheus, kExec, kTraffic };
std::string_view CheckTypeName(CheckType type);  // "http", ...

// One measurement every `interval`; `failure_limit` failed measurements fail an analyze step;
// `consecutive_error_limit` measurements in a row that could not be taken (kError) fail it too.
// Only the fields of the check's type are set; the loader rejects the others.
struct Check {
  std::string name;
  CheckType type = CheckType::kHttp;
  std::chrono::milliseconds interval{std::chrono::seconds(10)};
  int failure_limit = 1;
  int consecutive_error_limit = 4;
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
  std::string url;                       // http: passes on a 2xx answer (or expected_status)
  std::vector<int> expected_status;      // http: statuses that pass; empty: any 2xx
  std::string body_contains;             // http: the body must contain this text
  std::string address;                   // prometheus: server base URL
  std::string query;                     // prometheus: PromQL, one scalar
  std::optional<double> min;             // prometheus: pass when >= min
  std::optional<double> max;             // prometheus: pass when <= max
  std::vector<std::string> command;      // exec: argv; passes on exit 0
  std::optional<double> max_error_rate;  // traffic: 0..1 of canary requests
  std::optional<std::chrono::milliseconds> max_latency;  // traffic: canary p99; http: answer
  // traffic: fail when the canary's error rate exceeds the stable's by more than this (absolute,
  // 0..1); judged only when the stable served at least min_requests too.
  std::optional<double> max_error_rate_increase;
  int min_requests = 10;  // traffic: fewer canary requests in the window is inconclusive
  SourceLocation location;
};

enum class DriverType { kLocal, kExec, kWebhook, kNginx };
std::string_view DriverTypeName(DriverType type);  // "local", ...

// Only the fields of the driver's type are set; the loader rejects the others.
struct Driver {
  std::string name;
  DriverType type = DriverType::kLocal;
  std::vector<std::string> command;  // exec: argv, run with SHIP_ACTION and SHIP_* variables
  std::string url;                   // webhook: POSTed one JSON document per operation
  std::string secret_env;            // webhook: variable holding the HMAC key; empty: unsigned
  std::string upstreams_file;        // nginx: the file shipd rewrites
  std::vector<std::string> reload;   // nginx: argv run after rewriting; default nginx -s reload
  SourceLocation location;
};

// Everything validated: every name referenced exists and `after` has no cycle.
struct Pipelines {
  std::vector<Environment> environments;  // pipeline order: each after the one it names
  std::map<std::string, size_t, std::less<>> environment_index;  // name -> environments[i]
  std::map<std::string, Strategy, std::less<>> strategies;
  std::map<std::string, Check, std::less<>> checks;
  std::map<std::string, Driver, std::less<>> drivers;
  std::vector<std::string> files;  // the files read, in merge order

  const Environment* FindEnvironment(std::string_view name) const;  // nullptr when unknown
};

// `path` is one file, or a directory whose *.yaml and *.yml files (not hidden ones, not in
// subdirectories) are read in name order and merged; a name defined twice is an error. Errors:
// kNotFound / kIo for the file system, kInvalid for content, with every problem found
// ("file:line:col: ...", one per line).
Result<Pipelines> LoadPipelines(const std::filesystem::path& path);

// The same for one document held in memory; `file_name` is used in messages.
Result<Pipelines> ParsePipelines(std::string_view yaml_text, std::string_view file_name);

// "500ms", "30s", "10m", "62h", "1h30m", "2d": integers with units from largest to smallest,
// each at most once, no spaces; at most 3650d. Errors are kInvalid and quote the text.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// The inverse of ParseDuration: 5400000ms -> "1h30m", 0 -> "0s".
std::string FormatDuration(std::chrono::milliseconds duration);

// Errors are kInvalid and name the field ("hour: 25 is out of range 0-23").
Result<CronSchedule> ParseCron(std::string_view text);

}  // namespace shipd
