// The planner (ARCHITECTURE.md §3): what must happen before a version can go to an environment.
// It walks unmet requirements, picks for each the newest eligible provider, recurses, upgrades the
// live consumers the version would break, and returns the promotions in dependency order
// (providers first, the requested version last), checked with the gate step by step.
// A pure function over the indexes; thread-safe when its inputs are.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shipd/contract/gate.h"
#include "shipd/contract/index.h"
#include "shipd/contract/verdict.h"
#include "shipd/model/registry.h"

namespace shipd {

struct PlanStep {
  std::string service;
  Semver version;
  std::string environment;
  // "provides orders 4.1.0 for web@6.0.0 (requires ^4.1)", "accepts orders 4.0.0 (requires
  // >=3.1.0 <5.0.0); web@5.2.0 does not (requires ^3.0)", "requested"
  std::string reason;
};

// Why a plan is not possible.
struct PlanProblem {
  // "no-eligible-provider", "no-compatible-consumer", "cycle", "not-eligible", "blocked",
  // "search-limit"
  std::string kind;
  std::string message;
  std::string version;    // whose requirement or promotion it is; the live consumer it would break
  std::string api;        // no-eligible-provider, no-compatible-consumer
  std::string requires_;  // no-eligible-provider, no-compatible-consumer
  // no-eligible-provider, no-compatible-consumer: what is registered, and why it was not taken
  std::vector<std::string> candidates;
  std::vector<std::string> cycle;  // cycle: "a@2.0.0", "b@2.0.0", "a@2.0.0"
  std::vector<Reason> reasons;     // blocked: the gate's reasons
};

struct Plan {
  std::string service;
  Semver version;
  std::string environment;
  bool possible = false;
  std::vector<PlanStep> steps;  // the requested version last; empty when it is already stable
  std::vector<PlanProblem> problems;
  Verdict verdict;  // the gate's verdict over `steps` in order (warnings included)
};

// Every registered version of one service, in ascending semver precedence; empty when none. The
// planner asks only for the services of the live consumers the requested version would break.
using ServiceVersions =
    std::function<std::span<const std::shared_ptr<const Version>>(std::string_view service)>;

// Eligible providers and consumer upgrades are those rule 5 lets into the environment (per
// `context`'s lifecycle and history). `override_reason` applies to the requested version only.
Plan PlanPromotion(const std::shared_ptr<const Version>& target,
                   const EnvironmentIndex& environment, const ProviderCatalog& catalog,
                   const ServiceVersions& versions, const GateContext& context,
                   std::string_view override_reason = {});

// {"service", "version", "environment", "possible", "steps": [{service, version, environment,
// reason}], "problems": [{kind, message, ...}], "verdict": {...}}
nlohmann::json PlanToJson(const Plan& plan);

}  // namespace shipd
