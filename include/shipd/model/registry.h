// Value types of the registry: services, their immutable versions and the API contracts each
// version provides and requires. Plain data, no I/O; safe to share once built.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shipd/common/result.h"
#include "shipd/model/range.h"
#include "shipd/model/semver.h"

namespace shipd {

// Milliseconds since the Unix epoch, UTC. All persisted times use this.
using TimeMs = int64_t;

// Service names: [a-z0-9][a-z0-9-]{0,62}. Also used for API and environment names.
Status ValidateName(std::string_view kind, std::string_view name);

struct Provide {
  std::string api;
  Semver version;
  std::string spec;  // the OpenAPI document as JSON text; empty when none was given
};

struct Require {
  std::string api;
  Range range;
  bool optional = false;
};

struct Version {
  std::string service;
  Semver version;
  std::string artifact;
  std::string commit;
  std::string tag;
  std::vector<Provide> provides;
  std::vector<Require> requires_;
  std::string content_hash;  // SHA-256 over the canonical content; equal hash = identical
  TimeMs created_at = 0;
};

struct Service {
  std::string name;
  std::string repo;
  TimeMs created_at = 0;
};

// What runs of one service in one environment.
struct Deployment {
  std::string environment;
  std::string service;
  std::optional<Semver> stable;
  std::optional<Semver> canary;
  int canary_weight = 0;  // percent of traffic on the canary, 0..100
  TimeMs updated_at = 0;
  std::optional<Semver> previous;  // the stable before the current one: the rollback target
};

enum class RolloutState {
  kQueued,
  kWaiting,
  kProgressing,
  kPaused,
  kSucceeded,
  kRolledBack,
  kFailed,
  kAborted,
};
std::string_view RolloutStateName(RolloutState state);  // "rolled_back", ...
std::optional<RolloutState> ParseRolloutState(std::string_view name);
bool IsTerminal(RolloutState state);

// One check's measurements in the current analyze step.
struct CheckTally {
  int measurements = 0;
  int failures = 0;
  int consecutive_errors = 0;
  std::string last_result;  // "pass", "fail", "inconclusive", "error"; empty before the first
  std::optional<double> last_value;
  std::string last_detail;
};

// Where a rollout is in its strategy. Persisted with the promotion after every transition, so a
// restarted daemon continues from here.
struct RolloutProgress {
  // What the rollout is doing: "queued", "deploy", "weight", "analyze", "pause", "approve",
  // "promote", "rollback", "done".
  std::string phase = "queued";
  int step = -1;   // index into the strategy's steps; -1 before the first
  int steps = 0;   // how many steps the strategy has
  int weight = 0;  // canary traffic percent applied (or being applied)
  std::string strategy;
  std::string previous_version;  // the stable when the rollout started; empty: none
  TimeMs step_started_at = 0;
  TimeMs step_ends_at = 0;    // pause/analyze with a duration: when the step ends; 0: none
  int64_t remaining_ms = -1;  // paused in a timed step: the time it had left; -1: none
  TimeMs deadline_at = 0;     // progress deadline of the driver operation in flight; 0: none
  std::string reason;         // why waiting, paused, rolled back, failed or aborted
  std::string resume_phase;   // paused: the phase `resume` returns to
  int64_t behind = 0;         // waiting: the rollout of the same service × environment ahead
  std::map<std::string, CheckTally, std::less<>> checks;  // the current analyze step
  // Non-empty: a hotfix promoted with override_freeze and this reason; no freeze holds it back.
  std::string override_freeze_reason;
};

// One request to move a version into an environment, and what became of it.
struct Promotion {
  int64_t id = 0;
  std::string service;
  Semver version;
  std::string environment;
  RolloutState state = RolloutState::kQueued;
  std::string requested_by;     // token name
  std::string override_reason;  // non-empty when lifecycle rules were overridden
  std::string verdict;          // the gate's verdict at request time, JSON object text
  TimeMs created_at = 0;
  TimeMs updated_at = 0;
  TimeMs finished_at = 0;  // 0 while not terminal
  RolloutProgress progress;
};

// One entry of the append-only journal.
struct Event {
  int64_t id = 0;
  TimeMs time = 0;
  std::string actor;    // token name, "system", "webhook:github", ...
  std::string kind;     // "service.registered", "version.registered", ...
  std::string subject;  // "orders", "orders@3.2.0", rollout id, ...
  std::string data;     // JSON object text
};

}  // namespace shipd
