// EnvironmentIndex and ProviderCatalog on persistent hash maps (cow_hash_map.h): an update copies
// the lists of the APIs it touches and shares the rest with the index it came from.

#include "shipd/contract/index.h"

#include <algorithm>
#include <array>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "cow_hash_map.h"
#include "shipd/contract/graph.h"

namespace shipd {

namespace {

using ProviderList = std::vector<std::shared_ptr<const LiveService>>;  // by service name
using ConsumerList = std::vector<std::shared_ptr<const ConsumerGroup>>;

bool SameVersion(const Version* a, const Version* b) {
  if (a == b) return true;
  return a != nullptr && b != nullptr && a->service == b->service && a->version == b->version;
}

// The live versions of a service: the stable, then the canary.
std::array<const Version*, 2> LiveVersions(const LiveService* live) {
  if (live == nullptr) return {nullptr, nullptr};
  return {live->stable.get(), live->canary.get()};
}

bool ProvidesApi(const LiveService& live, std::string_view api) {
  for (const Version* version : LiveVersions(&live)) {
    if (version == nullptr) continue;
    for (const Provide& provide : version->provides) {
      if (provide.api == api) return true;
    }
  }
  return false;
}

// Orders consumer slots by service, the stable before the canary.
bool SlotLess(const ConsumerSlot& a, const ConsumerSlot& b) {
  return std::tie(a.version->service, a.canary) < std::tie(b.version->service, b.canary);
}

void AddApi(std::vector<std::string_view>& apis, std::string_view api) {
  if (std::find(apis.begin(), apis.end(), api) == apis.end()) apis.push_back(api);
}

}  // namespace

LiveService AfterPromotion(const LiveService* current, std::shared_ptr<const Version> version) {
  LiveService next;
  next.service = version->service;
  if (current != nullptr && SameVersion(current->stable.get(), version.get())) {
    next = *current;
    next.canary.reset();
    next.canary_weight = 0;
    return next;
  }
  if (current != nullptr) next.rollback_target = current->stable;
  next.stable = std::move(version);
  return next;
}

LiveService AfterCanary(const LiveService* current, std::shared_ptr<const Version> version,
                        int weight) {
  LiveService next;
  if (current != nullptr) next = *current;
  next.service = version->service;
  next.canary = std::move(version);
  next.canary_weight = weight;
  return next;
}

LiveService LiveServiceFromDeployment(const Deployment& deployment, const VersionLookup& lookup) {
  LiveService live;
  live.service = deployment.service;
  if (deployment.stable) live.stable = lookup(deployment.service, *deployment.stable);
  if (deployment.canary) live.canary = lookup(deployment.service, *deployment.canary);
  if (deployment.previous) live.rollback_target = lookup(deployment.service, *deployment.previous);
  live.canary_weight = deployment.canary_weight;
  return live;
}

// ---- EnvironmentIndex ----

struct EnvironmentIndex::Tables {
  std::string environment;
  CowHashMap<std::shared_ptr<const LiveService>> services;
  CowHashMap<std::shared_ptr<const ProviderList>> providers;  // by API
  CowHashMap<std::shared_ptr<const ConsumerList>> consumers;  // by API
};

EnvironmentIndex::EnvironmentIndex(std::string environment)
    : tables_(std::make_shared<Tables>(Tables{std::move(environment), {}, {}, {}})) {}

EnvironmentIndex::EnvironmentIndex(std::shared_ptr<const Tables> tables)
    : tables_(std::move(tables)) {}

EnvironmentIndex EnvironmentIndex::Build(std::string environment, std::vector<LiveService> live) {
  auto tables = std::make_shared<Tables>();
  tables->environment = std::move(environment);
  std::unordered_map<std::string_view, ProviderList> providers;
  // By API, then by (range text, optional): the groups in first-seen order.
  std::unordered_map<std::string_view, std::vector<ConsumerGroup>> consumers;
  std::vector<std::shared_ptr<const LiveService>> services;
  services.reserve(live.size());
  for (auto& entry : live) {
    if (entry.empty()) continue;
    services.push_back(std::make_shared<const LiveService>(std::move(entry)));
  }
  std::sort(services.begin(), services.end(),
            [](const auto& a, const auto& b) { return a->service < b->service; });
  for (const auto& service : services) {
    tables->services.Put(service->service, service);
    std::vector<std::string_view> provided;
    for (const Version* version : LiveVersions(service.get())) {
      if (version == nullptr) continue;
      for (const Provide& provide : version->provides) AddApi(provided, provide.api);
    }
    for (std::string_view api : provided) providers[api].push_back(service);
    for (int canary = 0; canary < 2; ++canary) {
      const auto& version = canary != 0 ? service->canary : service->stable;
      if (!version) continue;
      for (const Require& require : version->requires_) {
        auto& groups = consumers[require.api];
        auto group = std::find_if(groups.begin(), groups.end(), [&](const ConsumerGroup& g) {
          return g.optional == require.optional && g.range.text() == require.range.text();
        });
        if (group == groups.end()) {
          groups.push_back(ConsumerGroup{require.range, require.optional, {}});
          group = std::prev(groups.end());
        }
        group->members.push_back(ConsumerSlot{version, &require, canary != 0});
      }
    }
  }
  for (auto& [api, list] : providers) {
    tables->providers.Put(api, std::make_shared<const ProviderList>(std::move(list)));
  }
  for (auto& [api, groups] : consumers) {
    ConsumerList list;
    for (auto& group : groups)
      list.push_back(std::make_shared<const ConsumerGroup>(std::move(group)));
    tables->consumers.Put(api, std::make_shared<const ConsumerList>(std::move(list)));
  }
  return EnvironmentIndex(std::move(tables));
}

EnvironmentIndex EnvironmentIndex::With(LiveService live) const {
  auto tables = std::make_shared<Tables>(*tables_);
  const std::string name = live.service;
  const auto* found = tables->services.Find(name);
  const std::shared_ptr<const LiveService> old = found != nullptr ? *found : nullptr;
  std::shared_ptr<const LiveService> next;
  if (!live.empty()) next = std::make_shared<const LiveService>(std::move(live));

  // Providers: every API the old or the new versions provide.
  std::vector<std::string_view> provided;
  std::vector<std::string_view> required;
  for (const auto* entry : {old.get(), next.get()}) {
    for (const Version* version : LiveVersions(entry)) {
      if (version == nullptr) continue;
      for (const Provide& provide : version->provides) AddApi(provided, provide.api);
      for (const Require& require : version->requires_) AddApi(required, require.api);
    }
  }
  for (std::string_view api : provided) {
    ProviderList list;
    if (const auto* current = tables->providers.Find(api)) list = **current;
    auto pos = std::lower_bound(list.begin(), list.end(), name,
                                [](const auto& l, const std::string& n) { return l->service < n; });
    if (pos != list.end() && (*pos)->service == name) pos = list.erase(pos);
    if (next && ProvidesApi(*next, api)) list.insert(pos, next);
    if (list.empty()) {
      tables->providers.Erase(api);
    } else {
      tables->providers.Put(api, std::make_shared<const ProviderList>(std::move(list)));
    }
  }

  // Consumers: drop this service's slots from the groups of every API the old or the new versions
  // require, then add the new versions' slots; untouched groups stay shared.
  for (std::string_view api : required) {
    ConsumerList groups;
    if (const auto* current = tables->consumers.Find(api)) groups = **current;
    for (auto& group : groups) {
      const auto& members = group->members;
      if (std::none_of(members.begin(), members.end(),
                       [&](const ConsumerSlot& s) { return s.version->service == name; })) {
        continue;
      }
      auto copy = std::make_shared<ConsumerGroup>(*group);
      std::erase_if(copy->members,
                    [&](const ConsumerSlot& s) { return s.version->service == name; });
      group = std::move(copy);
    }
    for (int canary = 0; next && canary < 2; ++canary) {
      const auto& version = canary != 0 ? next->canary : next->stable;
      if (!version) continue;
      for (const Require& require : version->requires_) {
        if (require.api != api) continue;
        auto group = std::find_if(groups.begin(), groups.end(), [&](const auto& g) {
          return g->optional == require.optional && g->range.text() == require.range.text();
        });
        ConsumerSlot slot{version, &require, canary != 0};
        if (group == groups.end()) {
          groups.push_back(std::make_shared<const ConsumerGroup>(
              ConsumerGroup{require.range, require.optional, {std::move(slot)}}));
          continue;
        }
        auto copy = std::make_shared<ConsumerGroup>(**group);
        copy->members.insert(
            std::upper_bound(copy->members.begin(), copy->members.end(), slot, SlotLess),
            std::move(slot));
        *group = std::move(copy);
      }
    }
    std::erase_if(groups, [](const auto& g) { return g->members.empty(); });
    if (groups.empty()) {
      tables->consumers.Erase(api);
    } else {
      tables->consumers.Put(api, std::make_shared<const ConsumerList>(std::move(groups)));
    }
  }

  if (next) {
    tables->services.Put(name, std::move(next));
  } else {
    tables->services.Erase(name);
  }
  return EnvironmentIndex(std::move(tables));
}

const std::string& EnvironmentIndex::environment() const { return tables_->environment; }

size_t EnvironmentIndex::size() const { return tables_->services.size(); }

const LiveService* EnvironmentIndex::Find(std::string_view service) const {
  const auto* found = tables_->services.Find(service);
  return found != nullptr ? found->get() : nullptr;
}

std::span<const std::shared_ptr<const LiveService>> EnvironmentIndex::Providers(
    std::string_view api) const {
  const auto* found = tables_->providers.Find(api);
  if (found == nullptr) return {};
  return {(*found)->data(), (*found)->size()};
}

std::span<const std::shared_ptr<const ConsumerGroup>> EnvironmentIndex::Consumers(
    std::string_view api) const {
  const auto* found = tables_->consumers.Find(api);
  if (found == nullptr) return {};
  return {(*found)->data(), (*found)->size()};
}

std::vector<const LiveService*> EnvironmentIndex::SortedServices() const {
  std::vector<const LiveService*> out;
  out.reserve(size());
  tables_->services.ForEach(
      [&](const std::string&, const auto& live) { out.push_back(live.get()); });
  std::sort(out.begin(), out.end(),
            [](const LiveService* a, const LiveService* b) { return a->service < b->service; });
  return out;
}

// ---- ProviderCatalog ----

namespace {

constexpr size_t kChunkSize = 64;

// Catalog order: highest API version first, then service name, then newest service version.
bool Precedes(const CatalogEntry& a, const CatalogEntry& b) {
  if (auto c = a.provide->version <=> b.provide->version; c != 0) return c > 0;
  if (a.version->service != b.version->service) return a.version->service < b.version->service;
  return a.version->version > b.version->version;
}

struct Chunk {
  std::vector<CatalogEntry> entries;  // catalog order, 1..kChunkSize entries
};

// One API's providers: a sorted sequence cut into shared chunks, so adding one copies one chunk
// and the list of chunk pointers.
struct ProviderHistory {
  std::vector<std::shared_ptr<const Chunk>> chunks;
  size_t size = 0;
};

std::shared_ptr<const ProviderHistory> Insert(const ProviderHistory* history, CatalogEntry entry) {
  auto next = history != nullptr ? std::make_shared<ProviderHistory>(*history)
                                 : std::make_shared<ProviderHistory>();
  auto& chunks = next->chunks;
  // The first chunk whose last entry does not precede the new one.
  auto it = std::partition_point(chunks.begin(), chunks.end(), [&](const auto& chunk) {
    return Precedes(chunk->entries.back(), entry);
  });
  if (it == chunks.end() && !chunks.empty()) it = std::prev(chunks.end());
  Chunk chunk = it != chunks.end() ? **it : Chunk{};
  auto pos = std::lower_bound(chunk.entries.begin(), chunk.entries.end(), entry, Precedes);
  if (pos != chunk.entries.end() && !Precedes(entry, *pos) &&
      SameVersion(pos->version.get(), entry.version.get())) {
    *pos = std::move(entry);
  } else {
    chunk.entries.insert(pos, std::move(entry));
    ++next->size;
  }
  if (it == chunks.end()) {
    chunks.push_back(std::make_shared<const Chunk>(std::move(chunk)));
  } else if (chunk.entries.size() > kChunkSize) {
    Chunk tail;
    tail.entries.assign(chunk.entries.begin() + kChunkSize / 2, chunk.entries.end());
    chunk.entries.resize(kChunkSize / 2);
    *it = std::make_shared<const Chunk>(std::move(chunk));
    chunks.insert(std::next(it), std::make_shared<const Chunk>(std::move(tail)));
  } else {
    *it = std::make_shared<const Chunk>(std::move(chunk));
  }
  return next;
}

}  // namespace

struct ProviderCatalog::Tables {
  CowHashMap<std::shared_ptr<const ProviderHistory>> apis;
  size_t versions = 0;
};

ProviderCatalog::ProviderCatalog() : tables_(std::make_shared<const Tables>()) {}

ProviderCatalog::ProviderCatalog(std::shared_ptr<const Tables> tables)
    : tables_(std::move(tables)) {}

ProviderCatalog ProviderCatalog::Build(
    const std::vector<std::shared_ptr<const Version>>& versions) {
  auto tables = std::make_shared<Tables>();
  std::unordered_map<std::string_view, std::vector<CatalogEntry>> by_api;
  for (const auto& version : versions) {
    for (const Provide& provide : version->provides) {
      by_api[provide.api].push_back(CatalogEntry{version, &provide});
    }
  }
  for (auto& [api, entries] : by_api) {
    std::sort(entries.begin(), entries.end(), Precedes);
    auto history = std::make_shared<ProviderHistory>();
    Chunk chunk;
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i > 0 && SameVersion(entries[i - 1].version.get(), entries[i].version.get())) continue;
      chunk.entries.push_back(entries[i]);
      ++history->size;
      // Half-full chunks leave room for versions registered later.
      if (chunk.entries.size() == kChunkSize / 2) {
        history->chunks.push_back(std::make_shared<const Chunk>(std::move(chunk)));
        chunk = Chunk{};
      }
    }
    if (!chunk.entries.empty()) {
      history->chunks.push_back(std::make_shared<const Chunk>(std::move(chunk)));
    }
    tables->apis.Put(api, std::move(history));
  }
  tables->versions = versions.size();
  return ProviderCatalog(std::move(tables));
}

ProviderCatalog ProviderCatalog::With(std::shared_ptr<const Version> version) const {
  auto tables = std::make_shared<Tables>(*tables_);
  for (const Provide& provide : version->provides) {
    const auto* found = tables->apis.Find(provide.api);
    tables->apis.Put(provide.api, Insert(found != nullptr ? found->get() : nullptr,
                                         CatalogEntry{version, &provide}));
  }
  ++tables->versions;
  return ProviderCatalog(std::move(tables));
}

void ProviderCatalog::ForEachProvider(std::string_view api,
                                      const std::function<bool(const CatalogEntry&)>& fn) const {
  const auto* found = tables_->apis.Find(api);
  if (found == nullptr) return;
  for (const auto& chunk : (*found)->chunks) {
    for (const CatalogEntry& entry : chunk->entries) {
      if (!fn(entry)) return;
    }
  }
}

size_t ProviderCatalog::ProviderCount(std::string_view api) const {
  const auto* found = tables_->apis.Find(api);
  return found != nullptr ? (*found)->size : 0;
}

size_t ProviderCatalog::size() const { return tables_->versions; }

// ---- Dependency graph ----

DependencyGraph BuildDependencyGraph(const EnvironmentIndex& environment) {
  DependencyGraph graph;
  graph.environment = environment.environment();
  const std::vector<const LiveService*> services = environment.SortedServices();
  for (const LiveService* live : services) {
    for (const Version* version : LiveVersions(live)) {
      if (version == nullptr) continue;
      const bool canary = version == live->canary.get();
      const int weight =
          canary ? live->canary_weight : (live->canary ? 100 - live->canary_weight : 100);
      graph.nodes.push_back(GraphNode{version->service + "@" + version->version.ToString(),
                                      version->service, version->version.ToString(), canary,
                                      weight});
    }
  }
  for (const LiveService* live : services) {
    for (const Version* consumer : LiveVersions(live)) {
      if (consumer == nullptr) continue;
      const std::string from = consumer->service + "@" + consumer->version.ToString();
      for (const Require& require : consumer->requires_) {
        bool any = false;
        for (const auto& provider : environment.Providers(require.api)) {
          for (const Version* version : LiveVersions(provider.get())) {
            if (version == nullptr) continue;
            for (const Provide& provide : version->provides) {
              if (provide.api != require.api) continue;
              any = true;
              graph.edges.push_back(
                  GraphEdge{from, version->service + "@" + version->version.ToString(), require.api,
                            require.range.text(), provide.version.ToString(), require.optional,
                            require.range.Satisfies(provide.version)});
            }
          }
        }
        if (!any) {
          graph.edges.push_back(
              GraphEdge{from, "", require.api, require.range.text(), "", require.optional, false});
        }
      }
    }
  }
  return graph;
}

}  // namespace shipd
