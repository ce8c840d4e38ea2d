// The gate's verdict: whether a change set may go to an environment, with every reason it may not
// and every warning, as one structured document shared by the API, the CLI and the dashboard
// (ARCHITECTURE.md §3; the rules are described in docs/contracts.md). Plain values.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shipd/model/registry.h"

namespace shipd {

// Rule names as they appear in the "rule" key.
inline constexpr std::string_view kRuleUnsatisfiedRequirement = "unsatisfied-requirement";
inline constexpr std::string_view kRuleOptionalRequirementMissing = "optional-requirement-missing";
inline constexpr std::string_view kRuleConsumerBroken = "consumer-broken";
inline constexpr std::string_view kRuleOptionalConsumerBroken = "optional-consumer-broken";
inline constexpr std::string_view kRuleConsumerAlreadyBroken = "consumer-already-broken";
inline constexpr std::string_view kRuleRollbackUnsafe = "rollback-unsafe";
inline constexpr std::string_view kRuleDishonestSemver = "dishonest-semver";
inline constexpr std::string_view kRuleSpecDiffFailed = "spec-diff-failed";
inline constexpr std::string_view kRuleNotPromotedUpstream = "not-promoted-upstream";
inline constexpr std::string_view kRuleSoakNotElapsed = "soak-not-elapsed";

// One breaking difference between two OpenAPI documents.
struct SpecFinding {
  std::string where;  // "GET /orders/{}", a JSON pointer, ...
  std::string message;
};

// One reason (or warning). Only the fields the rule uses are set; empty ones are left out of JSON.
struct Reason {
  std::string rule;
  int step = 0;                 // 1-based position in the change set
  std::string version;          // the version the rule is about: "web@5.3.0"
  std::string consumer;         // a live consumer: "web@5.2.0"
  std::string provider;         // the version that serves (or would serve) the API
  std::string api;              // the API name
  std::string requires_;        // the required range, as written
  std::string would_have;       // the API version there would be; "none" when no version serves it
  std::string rollback_target;  // rollback-unsafe: the version a rollback would bring back
  std::string against;          // dishonest-semver: the live provider compared with
  std::string from;             // dishonest-semver: the live API version
  std::string to;               // dishonest-semver: the candidate's API version
  std::vector<SpecFinding> findings;
  std::string environment;  // lifecycle: the target environment
  std::string upstream;     // lifecycle: where the version must have succeeded first
  std::optional<TimeMs> succeeded_at;
  std::optional<int64_t> soak_ms;
  std::optional<int64_t> remaining_ms;
  std::string override_reason;  // set when an override turned this reason into a warning
  std::string message;          // one sentence for people
};

struct Verdict {
  bool allowed = true;  // no reasons
  std::string environment;
  std::vector<std::string> changes;  // "orders@4.0.0" or "orders@4.0.0 (canary)", in order
  std::vector<Reason> reasons;
  std::vector<Reason> warnings;
};

// {"allowed": false, "environment": ..., "changes": [...], "reasons": [{"rule": ..., ...}],
// "warnings": [...], "summary": "..."}; "step" appears only for change sets of several versions.
nlohmann::json VerdictToJson(const Verdict& verdict);
nlohmann::json ReasonToJson(const Reason& reason, bool with_step);

// "10m", "1h30m", "45s", "250ms".
std::string FormatDurationMs(int64_t ms);

}  // namespace shipd
