// Store: durable state of shipd. Every mutating call is one transaction that also appends its
// journal events; when it returns Ok the data is on disk (synchronous=FULL). Implementations are
// not thread-safe: the engine calls mutations from its one strand. Reads used by other threads
// (FindToken, LoadSpec) go through their own connection and are safe to call concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shipd/common/result.h"
#include "shipd/model/registry.h"
#include "shipd/model/train.h"
#include "shipd/store/audit_chain.h"

namespace shipd {

struct TokenRecord {
  std::string name;
  std::string sha256_hex;  // of the token text; the token itself is never stored
  std::string role;
  TimeMs created_at = 0;
};

struct EnvironmentRecord {
  std::string name;
  int position = 0;   // pipeline order
  std::string after;  // empty when none
};

// An operator's hold on promotions: a lock of one service in one environment, or an ad-hoc
// freeze of the whole environment (service empty). docs/governance.md.
struct Hold {
  std::string environment;
  std::string service;  // empty: the environment is frozen
  std::string owner;    // the token name that set it
  std::string reason;
  TimeMs created_at = 0;
  std::optional<TimeMs> expires_at;  // nullopt: until removed

  bool IsFreeze() const { return service.empty(); }
  bool ActiveAt(TimeMs now) const { return !expires_at || now < *expires_at; }
};

// One token's approval of one promotion at one gate: step -1 is the environment's `approvals`
// before the rollout starts, N >= 0 the strategy's approve step N. docs/governance.md.
struct Approval {
  int64_t promotion = 0;
  int step = -1;
  std::string service;
  std::string version;  // semver text: what was approved
  std::string environment;
  std::string approver;            // the token name
  std::vector<std::string> roles;  // the token's roles when it approved
  std::string reason;
  TimeMs created_at = 0;
};

// Everything needed to rebuild the in-memory state at start-up.
struct StoreContents {
  std::vector<Service> services;
  std::vector<Version> versions;  // with contracts; `spec` left empty (load on demand)
  std::vector<EnvironmentRecord> environments;
  std::vector<Deployment> deployments;
  // Promotions that succeeded (verdict left empty): the lifecycle history of the gate.
  std::vector<Promotion> succeeded_promotions;
  // Promotions not yet in a terminal state, oldest first.
  std::vector<Promotion> active_promotions;
  std::vector<Hold> holds;    // expired ones included
  std::vector<Train> trains;  // with every trip and its cars
  int64_t last_event_id = 0;
  int64_t last_promotion_id = 0;
};

struct PromotionFilter {
  std::string service;      // empty: any
  std::string environment;  // empty: any
  std::optional<RolloutState> state;
  int64_t before_id = 0;  // only ids below this (paging, newest first); 0: no bound
  int limit = 100;
};

class Store {
 public:
  virtual ~Store() = default;

  virtual Result<StoreContents> LoadAll() = 0;

  // Each mutation writes its rows and `events` in one transaction. Event ids are assigned by the
  // store and returned in order.
  virtual Result<std::vector<int64_t>> InsertService(const Service& service,
                                                     const std::vector<Event>& events) = 0;
  virtual Result<std::vector<int64_t>> InsertVersion(const Version& version,
                                                     const std::vector<Event>& events) = 0;
  // Replaces the environment list from the pipelines; deployments of removed environments stay.
  virtual Result<std::vector<int64_t>> SyncEnvironments(
      const std::vector<EnvironmentRecord>& environments, const std::vector<Event>& events) = 0;
  virtual Result<std::vector<int64_t>> UpsertDeployment(const Deployment& deployment,
                                                        const std::vector<Event>& events) = 0;
  virtual Result<std::vector<int64_t>> AppendEvents(const std::vector<Event>& events) = 0;

  // Inserts a promotion with the id the caller assigned and, when given, the deployment it
  // changes, in one transaction with `events`.
  virtual Result<std::vector<int64_t>> InsertPromotion(const Promotion& promotion,
                                                       const std::optional<Deployment>& deployment,
                                                       const std::vector<Event>& events) = 0;
  // Saves a promotion's state and progress (and the deployment it changes) with `events`.
  virtual Result<std::vector<int64_t>> UpdatePromotion(const Promotion& promotion,
                                                       const std::optional<Deployment>& deployment,
                                                       const std::vector<Event>& events) = 0;
  // Newest first.
  virtual Result<std::vector<Promotion>> ListPromotions(const PromotionFilter& filter) = 0;
  virtual Result<std::optional<Promotion>> GetPromotion(int64_t id) = 0;

  // Records a webhook delivery with `events`; kConflict (and nothing written) when that host's
  // delivery id was recorded before.
  virtual Result<std::vector<int64_t>> RecordDelivery(const std::string& host,
                                                      const std::string& delivery_id,
                                                      const std::string& service,
                                                      TimeMs received_at,
                                                      const std::vector<Event>& events) = 0;

  // The OpenAPI documents are kept out of memory; fetched when needed. Thread-safe (own
  // connection).
  virtual Result<std::string> LoadSpec(const std::string& service, const std::string& version,
                                       const std::string& api) = 0;

  // The events whose data names this promotion ("promotion": id), oldest first.
  virtual Result<std::vector<Event>> PromotionEvents(int64_t id, int limit) = 0;

  // Events with id > after, oldest first, at most `limit`.
  virtual Result<std::vector<Event>> ListEvents(int64_t after, int limit) = 0;

  // Inserts or replaces the hold on (environment, service) with `events`.
  virtual Result<std::vector<int64_t>> PutHold(const Hold& hold,
                                               const std::vector<Event>& events) = 0;
  // Removes the hold on (environment, service) with `events`; kNotFound when there is none.
  virtual Result<std::vector<int64_t>> DeleteHold(const std::string& environment,
                                                  const std::string& service,
                                                  const std::vector<Event>& events) = 0;
  // Inserts or replaces the train's row and, for each number in `trips`, that trip with all its
  // cars (cars no longer on it are removed), with `events`.
  virtual Result<std::vector<int64_t>> PutTrain(const Train& train,
                                                const std::vector<int64_t>& trips,
                                                const std::vector<Event>& events) = 0;
  // Records an approval with `events`; kConflict (and nothing written) when the same approver
  // approved the same promotion at the same step before.
  virtual Result<std::vector<int64_t>> InsertApproval(const Approval& approval,
                                                      const std::vector<Event>& events) = 0;
  // The approvals of one promotion, oldest first.
  virtual Result<std::vector<Approval>> ListApprovals(int64_t promotion) = 0;

  // Walks the journal's hash chain oldest first, streaming (constant memory), on a connection of
  // its own and one read snapshot: thread-safe, and writers are not blocked. A broken chain is an
  // ok Result with `ok` false; an error means the walk itself failed. `anchor`: see ChainAnchor.
  virtual Result<ChainVerification> VerifyChain(const ChainAnchor& anchor) = 0;

  virtual Status InsertToken(const TokenRecord& token, const std::vector<Event>& events) = 0;
  // Every token, by name (hashes included: callers showing them must leave them out).
  virtual Result<std::vector<TokenRecord>> ListTokens() = 0;
  // Deletes the token of that name with `events`; kNotFound when there is none.
  virtual Result<std::vector<int64_t>> DeleteToken(const std::string& name,
                                                   const std::vector<Event>& events) = 0;
  // Thread-safe (own connection). nullopt when no token has that hash.
  virtual Result<std::optional<TokenRecord>> FindToken(const std::string& sha256_hex) = 0;
};

struct SqliteOptions {
  std::string path;        // the database file
  std::string migrations;  // directory with NNNN_name.sql files; empty = the compiled-in set
};

// Opens (creating if needed) and migrates the database. Refuses a schema newer than this binary.
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options);

}  // namespace shipd
