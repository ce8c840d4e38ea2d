// Rollouts: the rollout state machine (docs/rollouts.md). Every method except Urls() runs on the
// engine's strand; driver operations and measurements block, so they run on a worker pool and
// post their result back to the strand. Each transition is written to the store (promotion row +
// event, and the deployment it changes) before it counts; a restarted daemon continues from what
// was written (Resume).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "clock_wake.h"
#include "shipd/engine/engine.h"

namespace shipd {

// What the rollout state machine needs from the engine that owns it. Strand only.
class RolloutHost {
 public:
  virtual ~RolloutHost() = default;
  virtual std::shared_ptr<const State> Snapshot() const = 0;
  virtual Store& store() = 0;
  // The gate's verdict on `version` as a canary at `weight` (kCanary) or as the new stable
  // (kPromote) in `environment`.
  virtual Verdict Evaluate(const State& state, std::shared_ptr<const Version> version,
                           const EnvironmentState& environment, ChangeKind kind, int weight,
                           const std::string& override_reason) const = 0;
  // Publishes a snapshot in which `deployment` is live (and, when given, its stable version
  // succeeded at that time), with the journal advanced to `last_event_id`.
  virtual void PublishDeployment(const Deployment& deployment, std::optional<TimeMs> succeeded_at,
                                 int64_t last_event_id, int64_t last_promotion_id) = 0;
  // Publishes a snapshot whose journal (and, when non-zero, promotion ids) advanced.
  virtual void PublishEventId(int64_t last_event_id, int64_t last_promotion_id = 0) = 0;
  // After a rollout reached a terminal state (persisted): a train may move on.
  virtual void RolloutFinished(const Promotion& promotion) { (void)promotion; }
};

class Rollouts {
 public:
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

  Rollouts(RolloutHost& host, const Pipelines& pipelines, RolloutDeps deps, const Clock& clock,
           Strand strand);
  ~Rollouts();
  Rollouts(const Rollouts&) = delete;
  Rollouts& operator=(const Rollouts&) = delete;

  // At start: continues every promotion that was not finished, re-applying current weights, and
  // starts again the stable versions of drivers whose processes died with the daemon.
  void Resume(std::vector<Promotion> active);
  // An allowed promotion: records it (`created` events ride along) and starts its rollout or
  // queues it behind the one in progress for the same service and environment.
  Result<Promotion> Create(Promotion promotion, nlohmann::json created_data, const Actor& actor);
  Result<Promotion> Act(int64_t id, RolloutAction action, const Actor& actor,
                        const std::string& reason);
  // Records one approval of a rollout waiting at an approval gate and, when it is the last one
  // needed, lets the rollout go on (approvals.h has the rule).
  Result<ApprovalOutcome> Approve(int64_t id, const Actor& actor, const std::string& reason);
  // Whether the environment can run rollouts at all (its driver exists).
  Status CanRun(std::string_view environment) const;
  // Any thread.
  Endpoints Urls(std::string_view service, std::string_view environment) const;
  // Cancels timers and waits for the worker pool (operations in flight finish first). Strand
  // callbacks arriving later are ignored.
  void Shutdown();

 private:
  struct Runtime;
  enum class TimerKind { kStepEnd, kMeasure, kDeadline, kRetry };
  struct Timer {
    int64_t id = 0;
    uint64_t generation = 0;
    TimerKind kind = TimerKind::kRetry;
    std::string check;
  };
  using Lane = std::pair<std::string, std::string>;  // service, environment

  // Transitions.
  void Admit(Runtime& r);
  void Start(Runtime& r, const Actor& actor);
  void EnterStep(Runtime& r, int step, const Actor& actor);
  void Continue(Runtime& r);
  // When the environment is frozen: the rollout waits ("frozen") at step (-1: before it starts)
  // and a timer at the freeze's end calls Thaw. Returns whether it is frozen.
  bool Freeze(Runtime& r, int step, const Actor& actor);
  void Thaw(Runtime& r);
  // The environment's `approvals` gate before the start: the rollout waits (phase "approve",
  // step -1) until they are complete, then is admitted to its lane.
  void AwaitApprovals(Runtime& r);
  // The gate r waits at has all its approvals: start (step -1) or enter the next step.
  void PassApprovalGate(Runtime& r, const Actor& actor);
  void StartRollback(Runtime& r, const std::string& reason, bool abort, const Actor& actor,
                     nlohmann::json extra = nlohmann::json::object());
  void PauseRollout(Runtime& r, const std::string& reason, const std::string& resume_phase,
                    const Actor& actor, nlohmann::json extra = nlohmann::json::object());
  void Finish(Runtime& r, RolloutState state, const std::string& kind, const Actor& actor,
              nlohmann::json extra);
  // Persists r's promotion as changed by `change`, with one event of `kind` and, when given, the
  // deployment (and a second event `also` with the same data, when given); applies it in memory
  // only after the store succeeded. On a store error the rollout is retried from its last
  // persisted phase a little later. Returns whether it stuck.
  bool Commit(Runtime& r, const std::function<void(Promotion&)>& change, const std::string& kind,
              nlohmann::json data, const Actor& actor, std::optional<Deployment> deployment = {},
              bool new_generation = true, const std::string& also = {});
  // An event that changes nothing by itself (a step passed, a weight was applied), written in the
  // transaction of r's next Commit, which follows at once: one fsync per step, not two. Dropped
  // if that commit fails; the retry from the persisted phase records it again.
  void Carry(Runtime& r, const std::string& kind, nlohmann::json data);

  // Side effects.
  void RunDriver(Runtime& r, DriverAction action, int weight);
  void OnDriverDone(int64_t id, uint64_t generation, DriverAction action, const Status& status,
                    const std::string& detail);
  void Measure(Runtime& r, const std::string& check);
  void OnMeasured(int64_t id, uint64_t generation, const std::string& check,
                  const Measurement& measurement);
  void ScheduleMeasurements(Runtime& r);
  void MaybeFinishAnalysis(Runtime& r);

  // Timers on the injected clock: one Asio timer wakes the strand at the earliest deadline.
  void AddTimer(TimeMs at, const Runtime& r, TimerKind kind, std::string check = {});
  void ArmWake();
  void OnWake();

  // Helpers.
  Runtime* Find(int64_t id);
  const Environment* EnvironmentConfig(std::string_view name) const;
  const Strategy* StrategyOf(const Runtime& r) const;
  std::shared_ptr<DeployDriver> DriverOf(std::string_view environment) const;
  DriverContext ContextOf(const Runtime& r, int weight) const;
  std::map<std::string, std::string> VariablesOf(const Runtime& r, int weight) const;
  Deployment CurrentDeployment(const std::string& service, const std::string& environment) const;
  std::chrono::milliseconds ProgressDeadline(std::string_view environment) const;
  void StartNextInLane(const Lane& lane);
  void RestoreEphemeral();
  Event MakeEvent(const Actor& actor, const std::string& kind, const Promotion& promotion,
                  nlohmann::json data) const;

  RolloutHost& host_;
  const Pipelines& pipelines_;
  RolloutDeps deps_;
  const Clock& clock_;
  Strand strand_;
  boost::asio::thread_pool workers_;
  ClockWake wake_;
  bool stopping_ = false;

  std::map<int64_t, std::unique_ptr<Runtime>> active_;  // not terminal, by id
  std::map<Lane, std::deque<int64_t>> lanes_;           // front: the one that runs
  std::multimap<TimeMs, Timer> timers_;
  std::map<std::string, std::unique_ptr<TrafficSource>, std::less<>> traffic_;  // by driver
  uint64_t next_generation_ = 1;
};

}  // namespace shipd
