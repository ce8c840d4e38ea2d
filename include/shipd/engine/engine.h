// Engine: owns all mutable state of shipd. Every mutation runs on one Asio strand: it is written
// to the store (one transaction with its journal events) and only then applied in memory and
// published as a new immutable State snapshot. Reads use Snapshot() and never wait on the engine.
// All methods are thread-safe; mutating calls block the caller until the mutation is durable.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "shipd/checks/health_check.h"
#include "shipd/common/clock.h"
#include "shipd/common/result.h"
#include "shipd/config/freeze.h"
#include "shipd/config/pipelines.h"
#include "shipd/contract/gate.h"
#include "shipd/contract/index.h"
#include "shipd/contract/planner.h"
#include "shipd/drivers/deploy_driver.h"
#include "shipd/model/registry.h"
#include "shipd/model/train.h"
#include "shipd/store/store.h"

namespace shipd {

struct ServiceState {
  Service service;
  std::vector<std::shared_ptr<const Version>> versions;  // ascending semver precedence

  const Version* FindVersion(const Semver& version) const;
  std::shared_ptr<const Version> FindShared(const Semver& version) const;
};

struct EnvironmentState {
  EnvironmentRecord environment;
  LifecyclePolicy lifecycle;                            // after, soak: from the pipelines
  std::map<std::string, Deployment, std::less<>> live;  // by service
  EnvironmentIndex index;                               // the same, as the gate reads it
  // When each version last succeeded here: service -> version text -> time.
  std::map<std::string, std::shared_ptr<const std::map<std::string, TimeMs>>, std::less<>>
      succeeded;

  std::optional<TimeMs> SucceededAt(std::string_view service, const Semver& version) const;
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
  ProviderCatalog catalog;  // every registered version by the APIs it provides
  std::vector<std::shared_ptr<const EnvironmentState>> environments;  // pipeline order
  std::vector<Hold> holds;  // locks and ad-hoc freezes, expired ones included
  size_t version_count = 0;
  int64_t last_event_id = 0;
  int64_t last_promotion_id = 0;

  const ServiceState* FindService(std::string_view name) const;
  const EnvironmentState* FindEnvironment(std::string_view name) const;
};

// Who asked for a mutation; recorded in the journal.
struct Actor {
  std::string name;    // token name, or "system"
  std::string source;  // remote address, or empty
  // The token's roles, judged by an environment's approvals.roles; none for the system.
  std::vector<std::string> roles = {};
};

enum class Outcome { kCreated, kUnchanged };

// A request to move service@version into an environment.
struct PromotionRequest {
  std::string service;
  std::string version;  // semver text
  std::string environment;
  std::string override_reason;  // non-empty: overrides the lifecycle rule, audited
  // The hotfix lane: promote during a freeze (not past a lock), with a reason; audited.
  bool override_freeze = false;
  std::string override_freeze_reason = {};
};

struct PromotionOutcome {
  Verdict verdict;
  std::optional<Promotion> promotion;  // none when the gate blocked the request
};

// A car to board: service@version.
struct CarRequest {
  std::string service;
  std::string version;  // semver text
};

// What a train request did: the train afterwards and, when boarding was refused, why.
struct TrainChange {
  Train train;
  Outcome outcome = Outcome::kCreated;
  // Boarding refused: per route environment, the gate's reasons the new cars added there.
  std::vector<std::pair<std::string, Verdict>> refused;
};

// When a train with a cadence departs next, after `after` (in the cadence's zone); nullopt
// without a cadence or when it never matches.
std::optional<TimeMs> NextDeparture(const Train& train, TimeMs after);

// Operator actions on a rollout (POST /v1/promotions/{id}/approve|resume|abort|rollback).
enum class RolloutAction { kApprove, kResume, kAbort, kRollback };
std::string_view RolloutActionName(RolloutAction action);  // "approve", ...
std::optional<RolloutAction> ParseRolloutAction(std::string_view name);

// One approval recorded (POST /v1/promotions/{id}/approve): "approved (count of needed)".
struct ApprovalOutcome {
  Promotion promotion;  // after the approval (it may have started its next step)
  Approval approval;
  int count = 0;   // approvals of this gate so far, this one included
  int needed = 0;  // approvals the gate needs; the rollout went on when count reached it
};

// What the rollout engine runs with. The daemon builds drivers and checks from the pipelines
// (MakeDriver, MakeHealthCheck); the engine owns them from here on.
struct RolloutDeps {
  // By the pipelines' driver names; an environment whose driver is missing here cannot promote.
  std::map<std::string, std::shared_ptr<DeployDriver>, std::less<>> drivers;
  // By the pipelines' check names.
  std::map<std::string, std::shared_ptr<HealthCheck>, std::less<>> checks;
  size_t workers = 4;  // threads for driver operations and measurements (which block)
  // Default of an environment's progress_deadline.
  std::chrono::milliseconds progress_deadline{std::chrono::minutes(10)};
  std::string check_working_directory;  // exec checks' working directory; empty: the daemon's
};

class Engine {
 public:
  virtual ~Engine() = default;

  virtual std::shared_ptr<const State> Snapshot() const = 0;

  // Idempotent: the same content again is kUnchanged; different content is kConflict.
  virtual Result<Outcome> RegisterService(const Service& service, const Actor& actor) = 0;
  // The service must exist (kNotFound otherwise). Same content hash again is kUnchanged.
  virtual Result<Outcome> RegisterVersion(const Version& version, const Actor& actor) = 0;

  // The gate's verdict for a promotion, over the current snapshot (no waiting on the engine).
  // kNotFound for an unknown service, version or environment.
  virtual Result<Verdict> CanIDeploy(const PromotionRequest& request) const = 0;
  // What must be promoted first, providers first.
  virtual Result<Plan> PlanPromotion(const PromotionRequest& request) const = 0;
  // Consults the gate on the strand; when allowed, records the promotion and starts its rollout
  // (or queues it behind the one in progress for the same service and environment). Returns at
  // once: the rollout proceeds on the engine; follow it with GetPromotion or the journal.
  virtual Result<PromotionOutcome> Promote(const PromotionRequest& request, const Actor& actor) = 0;
  virtual Result<std::vector<Promotion>> ListPromotions(const PromotionFilter& filter) = 0;
  virtual Result<std::optional<Promotion>> GetPromotion(int64_t id) = 0;
  // The journal entries of one promotion, oldest first: its step history.
  virtual Result<std::vector<Event>> PromotionEvents(int64_t id) = 0;
  // An operator action, recorded with the actor. kNotFound for an unknown id; kConflict when the
  // action does not apply in the rollout's state ("rollout 12 is succeeded: nothing to abort").
  // Returns the promotion after the action was recorded (its effect may still be under way).
  virtual Result<Promotion> Act(int64_t id, RolloutAction action, const Actor& actor,
                                const std::string& reason) = 0;
  // Approves a rollout waiting for approvals (before its start, or at an approve step) under
  // the environment's `approvals` rule (docs/governance.md): kPermissionDenied for the requester
  // when not_requester is set or for a token without one of the roles; kConflict when the token
  // approved this gate before, or the rollout waits for no approval. Act(kApprove) is the same.
  virtual Result<ApprovalOutcome> Approve(int64_t id, const Actor& actor,
                                          const std::string& reason) = 0;
  // Every approval of one promotion, oldest first.
  virtual Result<std::vector<Approval>> PromotionApprovals(int64_t id) = 0;
  // Locks a service in an environment (hold.service set) or freezes the environment
  // (hold.service empty; a freeze needs expires_at); replaces an existing hold on the same pair.
  // Owner and created_at are set from the actor and the clock. kNotFound for an unknown
  // environment or service; kInvalid for an expiry not in the future.
  virtual Result<Hold> PutHold(Hold hold, const Actor& actor) = 0;
  // kNotFound when there is no hold on the pair.
  virtual Status RemoveHold(const std::string& environment, const std::string& service,
                            const Actor& actor) = 0;
  // The holds in force now (not expired), by environment then service.
  virtual std::vector<Hold> ActiveHolds() const = 0;
  // Per frozen environment (pipeline order), the freeze in force now: its windows and its
  // ad-hoc freeze, the one that ends last.
  virtual std::vector<std::pair<std::string, FreezeSpan>> FreezesInForce() const = 0;
  // Where checks and people reach a service in an environment (the driver's answer).
  virtual Endpoints Urls(std::string_view service, std::string_view environment) const = 0;

  // Release trains (docs/trains.md). Create is idempotent for the same route and cadence
  // (kUnchanged) and kConflict otherwise. Board judges the cars with the ones aboard as one
  // change set against every route environment: a refusal is an ok result with `refused` set.
  // Leave takes a car off the boarding trip; Depart freezes the manifest and starts promoting.
  virtual Result<TrainChange> CreateTrain(const Train& spec, const Actor& actor) = 0;
  virtual Result<TrainChange> BoardTrain(const std::string& name,
                                         const std::vector<CarRequest>& cars,
                                         const Actor& actor) = 0;
  virtual Result<TrainChange> LeaveTrain(const std::string& name, const std::string& service,
                                         const Actor& actor) = 0;
  virtual Result<TrainChange> DepartTrain(const std::string& name, const Actor& actor) = 0;
  // Any thread, no waiting on the engine.
  virtual std::optional<Train> GetTrain(std::string_view name) const = 0;
  virtual std::vector<Train> ListTrains() const = 0;

  virtual Result<std::vector<Event>> ListEvents(int64_t after, int limit) = 0;
  // Walks the journal's hash chain (Store::VerifyChain): off the strand, so writes go on.
  virtual Result<ChainVerification> VerifyAuditChain(const ChainAnchor& anchor) = 0;
  // Blocks until some event newer than `after` exists or `timeout` passes (then the list may be
  // empty). For long-polling readers: shipctl events --follow, tests.
  virtual Result<std::vector<Event>> WaitForEvents(int64_t after, int limit,
                                                   std::chrono::milliseconds timeout) = 0;
  // Appends one event to the journal (for outcomes that change no other state: an ignored tag,
  // a rejected webhook).
  virtual Status RecordEvent(const Actor& actor, const std::string& kind,
                             const std::string& subject, const std::string& data_json) = 0;
  // Records a webhook delivery; false when the same host's delivery id was recorded before.
  virtual Result<bool> RecordDelivery(const std::string& host, const std::string& delivery_id,
                                      const std::string& service, const Actor& actor,
                                      const std::string& data_json) = 0;
  virtual Result<std::string> LoadSpec(const std::string& service, const std::string& version,
                                       const std::string& api) = 0;
  // Thread-safe token lookup by SHA-256 of the token text.
  virtual Result<std::optional<TokenRecord>> FindToken(const std::string& sha256_hex) = 0;
  // Every token (without hashes), by name.
  virtual Result<std::vector<TokenRecord>> ListTokens() = 0;
  // Deletes the token, recorded as token.revoked; kNotFound for an unknown name.
  virtual Status RevokeToken(const std::string& name, const Actor& actor) = 0;

  // Finishes the mutation in progress, then stops accepting new ones.
  virtual void Stop() = 0;
};

// Loads the store's contents, records the pipelines' environments, starts the engine thread and
// resumes every rollout that was not finished (re-applying its current weight).
Result<std::unique_ptr<Engine>> StartEngine(std::unique_ptr<Store> store,
                                            const Pipelines& pipelines, const Clock& clock,
                                            RolloutDeps deps = {});

}  // namespace shipd
