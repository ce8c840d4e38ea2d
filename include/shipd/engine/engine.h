// Engine: owns all mutable state of shipd. Every mutation runs on one Asio strand: it is written
// to the store (one transaction with its journal events) and only then applied in memory and
// published as a new immutable State snapshot. Reads use Snapshot() and never wait on the engine.
// All methods are thread-safe; mutating calls block the caller until the mutation is durable.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "shipd/common/clock.h"
#include "shipd/common/result.h"
#include "shipd/config/pipelines.h"
#include "shipd/model/registry.h"
#include "shipd/store/store.h"

namespace shipd {

struct ServiceState {
  Service service;
  std::vector<std::shared_ptr<const Version>> versions;  // ascending semver precedence

  const Version* FindVersion(const Semver& version) const;
};

struct EnvironmentState {
  EnvironmentRecord environment;
  std::map<std::string, Deployment, std::less<>> live;  // by service
};

// Services by name in fixed shards that are copied on write: publishing a change to one service
// copies one shard (about 1/64 of the registry), and every other shard is shared with the
// previous snapshot.
class ServiceIndex {
 public:
  ServiceIndex() = default;
  explicit ServiceIndex(std::vector<std::shared_ptr<const ServiceState>> services);

  const ServiceState* Find(std::string_view name) const;
  // Adds or replaces the service of that name.
  void Put(std::shared_ptr<const ServiceState> service);
  size_t size() const { return size_; }
  std::vector<const ServiceState*> SortedByName() const;

 private:
  using Shard = std::map<std::string, std::shared_ptr<const ServiceState>, std::less<>>;
  static constexpr size_t kShards = 64;
  static size_t ShardOf(std::string_view name);

  std::array<std::shared_ptr<const Shard>, kShards> shards_;
  size_t size_ = 0;
};

// An immutable view of everything the engine knows. Shares unchanged parts with older snapshots.
struct State {
  ServiceIndex services;
  std::vector<std::shared_ptr<const EnvironmentState>> environments;  // pipeline order
  size_t version_count = 0;
  int64_t last_event_id = 0;

  const ServiceState* FindService(std::string_view name) const;
  const EnvironmentState* FindEnvironment(std::string_view name) const;
};

// Who asked for a mutation; recorded in the journal.
struct Actor {
  std::string name;    // token name, or "system"
  std::string source;  // remote address, or empty
};

enum class Outcome { kCreated, kUnchanged };

class Engine {
 public:
  virtual ~Engine() = default;

  virtual std::shared_ptr<const State> Snapshot() const = 0;

  // Idempotent: the same content again is kUnchanged; different content is kConflict.
  virtual Result<Outcome> RegisterService(const Service& service, const Actor& actor) = 0;
  // The service must exist (kNotFound otherwise). Same content hash again is kUnchanged.
  virtual Result<Outcome> RegisterVersion(const Version& version, const Actor& actor) = 0;

  virtual Result<std::vector<Event>> ListEvents(int64_t after, int limit) = 0;
  virtual Result<std::string> LoadSpec(const std::string& service, const std::string& version,
                                       const std::string& api) = 0;
  // Thread-safe token lookup by SHA-256 of the token text.
  virtual Result<std::optional<TokenRecord>> FindToken(const std::string& sha256_hex) = 0;

  // Finishes the mutation in progress, then stops accepting new ones.
  virtual void Stop() = 0;
};

// Loads the store's contents, records the pipelines' environments, and starts the engine thread.
Result<std::unique_ptr<Engine>> StartEngine(std::unique_ptr<Store> store,
                                            const Pipelines& pipelines, const Clock& clock);

}  // namespace shipd
