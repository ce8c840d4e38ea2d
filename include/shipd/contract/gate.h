// The contract gate (ARCHITECTURE.md §3): may this change set go to this environment? A pure
// function over an EnvironmentIndex; the lifecycle history, the OpenAPI differ and "now" are
// inputs, so the gate does no I/O and reads no clock. Thread-safe when its inputs are.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shipd/common/result.h"
#include "shipd/contract/index.h"
#include "shipd/contract/verdict.h"
#include "shipd/model/registry.h"

namespace shipd {

enum class ChangeKind {
  kPromote,  // the version becomes the stable; the replaced stable becomes the rollback target
  kCanary,   // the version runs beside the stable: both serve traffic
};

struct Change {
  std::shared_ptr<const Version> version;
  ChangeKind kind = ChangeKind::kPromote;
  int canary_weight = 0;  // kCanary only
};

// One version, or a train's cars in the order they will be applied.
struct ChangeSet {
  std::vector<Change> changes;
  // Non-empty: the audited reason to override the lifecycle rule (its reasons become warnings).
  std::string override_reason;
};

// When a version succeeded in an environment. Implementations must be thread-safe.
class PromotionHistory {
 public:
  virtual ~PromotionHistory() = default;
  // The time `version` last succeeded (became stable) in `environment`; nullopt if it never did.
  virtual std::optional<TimeMs> SucceededAt(const Version& version,
                                            std::string_view environment) const = 0;
};

// Compares the OpenAPI documents of two versions for one API. Implementations load the documents
// (the gate does no I/O) and must be thread-safe.
class SpecDiffer {
 public:
  virtual ~SpecDiffer() = default;
  // The breaking findings of `candidate`'s document for `api` against `live`'s; empty when there
  // are none or when either version has no document for `api`.
  virtual Result<std::vector<SpecFinding>> BreakingChanges(const Version& live,
                                                           const Version& candidate,
                                                           std::string_view api) const = 0;
};

// The target environment's lifecycle rule.
struct LifecyclePolicy {
  std::string after;                              // empty: no upstream environment
  std::optional<std::chrono::milliseconds> soak;  // minimum time since success upstream
};

struct GateContext {
  LifecyclePolicy lifecycle;
  TimeMs now = 0;
  const PromotionHistory* history = nullptr;  // null: nothing ever succeeded anywhere
  const SpecDiffer* differ = nullptr;         // null: no OpenAPI documents to compare
};

// Evaluates rules 1-5 for the state after each change in order and reports, per reason, the
// 1-based step at which it arises. Cost: O(contracts of the changed versions and the consumer
// groups of the APIs they provide), independent of how many versions are registered.
Verdict Evaluate(const ChangeSet& changes, const EnvironmentIndex& target,
                 const GateContext& context);

}  // namespace shipd
