// The in-memory indexes the contract gate and the planner read. EnvironmentIndex is what is live in
// one environment, by service and by API; ProviderCatalog is every registered version by the APIs
// it provides. Both are immutable values that share structure: With() returns a new index that
// shares everything untouched with this one, so the engine can publish one per snapshot.
// Reading is thread-safe; versions are held by shared_ptr and outlive every index that names them.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shipd/model/registry.h"

namespace shipd {

// What runs of one service in one environment, with the versions themselves.
struct LiveService {
  std::string service;
  std::shared_ptr<const Version> stable;  // null: none
  std::shared_ptr<const Version> canary;  // null: no rollout in progress
  int canary_weight = 0;
  std::shared_ptr<const Version> rollback_target;  // the previous stable; null: none

  bool empty() const { return !stable && !canary; }
};

// The transitions the engine performs, shared with the gate so both agree on what comes next.
// `current` may be null (the service is not live yet). Promoting drops any canary and makes the
// replaced stable the rollback target; promoting the stable again changes nothing.
LiveService AfterPromotion(const LiveService* current, std::shared_ptr<const Version> version);
// `version` runs as canary beside the current stable, replacing any other canary.
LiveService AfterCanary(const LiveService* current, std::shared_ptr<const Version> version,
                        int weight);

// Finds a registered version; returns null when there is none.
using VersionLookup =
    std::function<std::shared_ptr<const Version>(std::string_view service, const Semver& version)>;
// The LiveService a Deployment describes; versions `lookup` cannot find are left null.
LiveService LiveServiceFromDeployment(const Deployment& deployment, const VersionLookup& lookup);

// One live version's requirement of an API.
struct ConsumerSlot {
  std::shared_ptr<const Version> version;
  const Require* require = nullptr;  // points into *version
  bool canary = false;
};

// The live consumers of one API that share a range and optionality, by service name; the gate
// checks a group once however many consumers it has.
struct ConsumerGroup {
  Range range;
  bool optional = false;
  std::vector<ConsumerSlot> members;
};

class EnvironmentIndex {
 public:
  explicit EnvironmentIndex(std::string environment = "");

  // O(live services + their contracts); for loading an environment at start.
  static EnvironmentIndex Build(std::string environment, std::vector<LiveService> live);

  // A new index where `live.service` runs as `live` says; an empty `live` removes the service.
  // Costs O(entries of the APIs the old and the new versions provide or require).
  [[nodiscard]] EnvironmentIndex With(LiveService live) const;

  const std::string& environment() const;
  size_t size() const;  // live services
  const LiveService* Find(std::string_view service) const;

  // Live services with a stable or canary providing `api`, by service name.
  std::span<const std::shared_ptr<const LiveService>> Providers(std::string_view api) const;
  // Groups of live consumers of `api`.
  std::span<const std::shared_ptr<const ConsumerGroup>> Consumers(std::string_view api) const;

  // Every live service, by name. O(n log n); for the graph and listings, not for the gate.
  std::vector<const LiveService*> SortedServices() const;

 private:
  struct Tables;
  explicit EnvironmentIndex(std::shared_ptr<const Tables> tables);
  std::shared_ptr<const Tables> tables_;
};

// One registered version's offer of one API.
struct CatalogEntry {
  std::shared_ptr<const Version> version;
  const Provide* provide = nullptr;  // points into *version
};

class ProviderCatalog {
 public:
  ProviderCatalog();

  static ProviderCatalog Build(const std::vector<std::shared_ptr<const Version>>& versions);

  // A new catalog that also holds `version` (replacing an entry for the same service@version).
  // Per provided API it copies one chunk of at most 64 entries and the list of chunks.
  [[nodiscard]] ProviderCatalog With(std::shared_ptr<const Version> version) const;

  // Calls `fn` for each registered provider of `api`: highest API version first, then by service
  // name, then newest service version first. Stops early when `fn` returns false.
  void ForEachProvider(std::string_view api,
                       const std::function<bool(const CatalogEntry&)>& fn) const;
  size_t ProviderCount(std::string_view api) const;
  size_t size() const;  // versions added

 private:
  struct Tables;
  explicit ProviderCatalog(std::shared_ptr<const Tables> tables);
  std::shared_ptr<const Tables> tables_;
};

}  // namespace shipd
