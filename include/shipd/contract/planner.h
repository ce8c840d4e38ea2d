// The planner (ARCHITECTURE.md §3): what must happen before a version can go to an environment.
// It walks unmet requirements, picks for each the newest eligible provider, recurses, and returns
// the promotions in dependency order (providers first), checked with the gate step by step.
// A pure function over the indexes; thread-safe when its inputs are.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
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
  std::string reason;  // "provides orders 4.1.0 for web@6.0.0 (requires ^4.1)", "requested"
};

// Why a plan is not possible.
struct PlanProblem {
  std::string kind;  // "no-eligible-provider", "cycle", "not-eligible", "blocked", "search-limit"
  std::string message;
  std::string version;                  // whose requirement or promotion it is
  std::string api;                      // no-eligible-provider
  std::string requires_;                // no-eligible-provider
  std::vector<std::string> candidates;  // no-eligible-provider: what is registered, and why not
  std::vector<std::string> cycle;       // cycle: "a@2.0.0", "b@2.0.0", "a@2.0.0"
  std::vector<Reason> reasons;          // blocked: the gate's reasons
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

// Eligible providers are those rule 5 lets into the environment (per `context`'s lifecycle and
// history). `override_reason` applies to the requested version only, never to providers.
Plan PlanPromotion(const std::shared_ptr<const Version>& target,
                   const EnvironmentIndex& environment, const ProviderCatalog& catalog,
                   const GateContext& context, std::string_view override_reason = {});

// {"service", "version", "environment", "possible", "steps": [{service, version, environment,
// reason}], "problems": [{kind, message, ...}], "verdict": {...}}
nlohmann::json PlanToJson(const Plan& plan);

}  // namespace shipd
