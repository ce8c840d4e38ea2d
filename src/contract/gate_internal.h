// Pieces of the gate the planner reuses: a view of an environment with some services replaced
// (the state after some changes, without building a new index), the requirement check with its
// coexistence semantics, and the lifecycle rule. Defined in gate.cc. Not thread-safe to modify;
// const use is thread-safe.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shipd/contract/gate.h"
#include "shipd/contract/index.h"

namespace shipd {

// "orders@4.0.0".
std::string Label(const Version& version);
bool SameVersion(const Version& a, const Version& b);
// The version's offer of `api`; null when it provides no such API.
const Provide* FindProvide(const Version& version, std::string_view api);
// The stable, then the canary; either may be null.
std::array<const Version*, 2> LiveVersions(const LiveService& live);

// An EnvironmentIndex with some services replaced. Copying it copies only the replacements.
class LiveView {
 public:
  explicit LiveView(const EnvironmentIndex& base) : base_(&base) {}

  // Replaces what runs of live->service; an empty LiveService means nothing runs.
  void Set(std::shared_ptr<const LiveService> live);
  // Null when nothing runs of that service.
  const LiveService* Find(std::string_view service) const;
  bool Replaced(std::string_view service) const;

  // Calls fn(const LiveService&) for each service with a live version providing `api`.
  template <typename Fn>
  void ForEachProvider(std::string_view api, Fn&& fn) const {
    for (const auto& live : base_->Providers(api)) {
      if (!Replaced(live->service)) fn(*live);
    }
    for (const auto& live : replaced_) {
      for (const Version* version : LiveVersions(*live)) {
        if (version != nullptr && FindProvide(*version, api) != nullptr) {
          fn(*live);
          break;
        }
      }
    }
  }

  const EnvironmentIndex& base() const { return *base_; }
  const std::vector<std::shared_ptr<const LiveService>>& replaced() const { return replaced_; }

 private:
  const EnvironmentIndex* base_;
  std::vector<std::shared_ptr<const LiveService>> replaced_;
};

// How a requirement (api, range) fares in a view. A provider service satisfies it when every
// live version of it (stable and canary: both serve traffic) provides the API within the range;
// the requirement is satisfied when some provider service does.
struct RequirementCheck {
  bool satisfied = false;
  int satisfiers = 0;                      // provider services that satisfy it
  const LiveService* satisfier = nullptr;  // one of them, one with a stable if any has
  bool stable_satisfier = false;           // some satisfier has a stable
  // When unsatisfied: a live version that would serve the API out of range, and its offer
  // (null when that version does not provide the API); both null when nothing provides it.
  const Version* offender = nullptr;
  const Provide* offender_provide = nullptr;
};

// `blame`: when that service provides the API and fails, the offender is taken from it.
RequirementCheck CheckRequirement(const LiveView& view, std::string_view api, const Range& range,
                                  std::string_view blame = {});

// Rule 5 for one version; nullopt when it passes. The reason is not yet overridden.
std::optional<Reason> CheckLifecycle(const Version& version, const std::string& environment,
                                     const GateContext& context);

}  // namespace shipd
